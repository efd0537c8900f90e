"""Review points under concurrency: the same booking posted ten times at the same instant makes one review
and one grant; ten staff approving the same review at once grant its points once (the row locks, with the
unique constraints behind them)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from inventory.exceptions import ReviewError
from inventory.models import Review
from inventory.reviews import review_approve, review_create
from inventory.tests.factories import ReservationFactory, jst
from members.tests.factories import MemberFactory
from points import selectors
from points.models import PointEntry, PointSettings
from tests.parallel import run_together

pytestmark = pytest.mark.django_db(transaction=True)

NOW = jst(date(2027, 6, 10), "12:00")


def review_rule(rule: str, points: int) -> None:
    PointSettings.objects.update_or_create(pk=1, defaults={"review_rule": rule, "review_points": points})


def test_ten_parallel_posts_of_one_booking_make_one_review_and_one_grant():
    review_rule(PointSettings.ReviewRule.WITHOUT_APPROVAL, 50)
    reservation = ReservationFactory(completed=True)
    member = reservation.member
    outcomes = run_together(
        [
            lambda n=n: review_create(
                reservation=reservation, member=member, stars=5, text=f"レビュー {n}", by=member, now=NOW
            )
            for n in range(10)
        ],
        expected=(ReviewError,),
        success="posted",
    )
    assert outcomes == Counter({"posted": 1, "ReviewError": 9})
    assert Review.objects.count() == 1
    assert PointEntry.objects.filter(kind=PointEntry.Kind.REVIEW).count() == 1
    assert selectors.balance_of(member) == 50


def test_ten_parallel_approvals_grant_once():
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL, 30)
    reservation = ReservationFactory(completed=True)
    review = review_create(
        reservation=reservation,
        member=reservation.member,
        stars=4,
        text="良い",
        by=reservation.member,
        now=NOW,
    )
    staff = MemberFactory.create_batch(10, is_staff=True)
    outcomes = run_together(
        [lambda user=user: review_approve(review=review, by=user, now=NOW) for user in staff],
        expected=(ReviewError,),
        success="approved",
    )
    assert outcomes == Counter({"approved": 1, "ReviewError": 9})
    assert PointEntry.objects.filter(kind=PointEntry.Kind.REVIEW).count() == 1
    assert selectors.balance_of(reservation.member) == 30
