"""Review points (SPEC §8, seed 004 レビューポイント付与ルール): none → nothing; without approval (承認なし) →
granted when the member posts; after approval (承認あり) → the review waits and the points are granted
when staff approve it. Once per review. Rejecting a review that earned points takes them back
(レビューポイント付与取消); when they are already spent the rejection still goes through, nothing is taken
(the balance never goes negative) and the shortfall is recorded and reported to staff."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.utils import translation

from core.exceptions import DomainError
from core.models import AuditEntry
from inventory.models import Review
from inventory.reviews import review_approve, review_create, review_reject
from inventory.tests.factories import ReservationFactory, jst
from members.tests.factories import MemberFactory
from points import selectors
from points.models import PointEntry, PointSettings
from points.reviews import review_grant
from points.services import points_use

pytestmark = pytest.mark.django_db

Rule = PointSettings.ReviewRule
Kind = PointEntry.Kind
NOW = jst(date(2027, 6, 10), "12:00")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def review_rule(rule: str, points: int = 50) -> None:
    PointSettings.objects.update_or_create(pk=1, defaults={"review_rule": rule, "review_points": points})


def post(*, member=None, now=NOW):
    reservation = ReservationFactory(completed=True, **({"member": member} if member else {}))
    return review_create(
        reservation=reservation,
        member=reservation.member,
        stars=5,
        text="良かった",
        by=reservation.member,
        now=now,
    )


@pytest.fixture
def staff():
    return MemberFactory(is_staff=True)


def test_rule_none_grants_nothing_and_shows_the_review_at_once(staff):
    review_rule(Rule.NONE)
    review = post()
    assert review.status == Review.Status.APPROVED
    assert review.notes == []
    assert not PointEntry.objects.exists()


def test_without_approval_grants_when_posted_and_the_review_is_shown(staff):
    # given
    review_rule(Rule.WITHOUT_APPROVAL, 50)
    # when
    review = post()
    # then
    assert review.status == Review.Status.APPROVED
    entry = review_grant(review)
    assert (entry.kind, entry.delta, entry.member) == (Kind.REVIEW, 50, review.member)
    assert entry.created_by == review.member
    assert entry.expires_on == date(2028, 6, 10)  # the shop's 12 months, like any grant
    assert selectors.balance_of(review.member) == 50
    assert review.notes == ["50 points were added to your balance for this review."]


def test_without_approval_with_0_points_grants_nothing():
    review_rule(Rule.WITHOUT_APPROVAL, 0)
    review = post()
    assert review.status == Review.Status.APPROVED
    assert not PointEntry.objects.exists()


def test_after_approval_the_review_waits_and_points_come_with_the_approval_once(staff):
    # given
    review_rule(Rule.AFTER_APPROVAL, 30)
    review = post()
    assert review.status == Review.Status.PENDING
    assert review.notes == ["You will receive 30 points when the shop approves it."]
    assert not PointEntry.objects.exists()
    # when
    approved = review_approve(review=review, by=staff, now=NOW + timedelta(days=1))
    # then
    entry = review_grant(review)
    assert (entry.kind, entry.delta, entry.created_by) == (Kind.REVIEW, 30, staff)
    assert entry.expires_on == date(2028, 6, 11)
    assert selectors.balance_of(review.member) == 30
    assert approved.notes == [f"30 review points were granted to {review.member.name}."]
    # once only: a second approval is refused and a second grant is not made
    with pytest.raises(DomainError, match="Only a review awaiting approval"):
        review_approve(review=review, by=staff)
    assert PointEntry.objects.filter(kind=Kind.REVIEW).count() == 1


def test_a_review_waiting_when_the_rule_changes_to_none_earns_nothing_on_approval(staff):
    review_rule(Rule.AFTER_APPROVAL, 30)
    review = post()
    review_rule(Rule.NONE, 30)
    review_approve(review=review, by=staff)
    assert not PointEntry.objects.exists()


def test_rejecting_a_waiting_review_takes_nothing(staff):
    review_rule(Rule.AFTER_APPROVAL, 30)
    review = post()
    rejected = review_reject(review=review, by=staff)
    assert rejected.status == Review.Status.REJECTED
    assert rejected.notes == []
    assert not PointEntry.objects.exists()


def test_rejecting_a_review_that_earned_points_takes_them_back(staff):
    # given
    review_rule(Rule.WITHOUT_APPROVAL, 50)
    review = post()
    # when
    rejected = review_reject(review=review, by=staff, now=NOW + timedelta(days=2))
    # then
    grant = review_grant(review)
    (reversal,) = grant.reversals.all()
    assert (reversal.kind, reversal.delta, reversal.created_by) == (Kind.REVIEW_REVERSAL, -50, staff)
    assert (reversal.review_type, reversal.review_id) == (grant.review_type, review.pk)
    assert reversal.expires_on is None  # a review-grant reversal sets no expiry (seed 004)
    assert selectors.balance_of(review.member) == 0
    assert rejected.notes == [f"50 review points were taken back from {review.member.name}."]
    call_command("check_ledgers")


def test_a_rejection_after_the_points_were_spent_goes_through_without_taking_them(staff):
    # given the member spent 40 of the 50 review points
    review_rule(Rule.WITHOUT_APPROVAL, 50)
    review = post()
    points_use(member=review.member, amount=40, by=review.member, now=NOW + timedelta(hours=1))
    # when
    rejected = review_reject(review=review, by=staff, now=NOW + timedelta(days=1))
    # then the review is rejected, nothing is taken back, the balance stays 10
    assert Review.objects.get(pk=review.pk).status == Review.Status.REJECTED
    assert not PointEntry.objects.filter(kind=Kind.REVIEW_REVERSAL).exists()
    assert selectors.balance_of(review.member) == 10
    refused = AuditEntry.objects.get(action="points.review_reversal_refused")
    assert refused.actor == staff
    assert refused.object_id == str(review.pk)
    assert refused.payload == {
        "member": review.member.pk,
        "grant": review_grant(review).pk,
        "points": 50,
        "missing": 40,
    }
    (note,) = rejected.notes
    assert note.startswith(f"The 50 review points of {review.member.name} were not taken back:")
    assert "40 points are missing" in note
    assert "Adjust their points by hand" in note


def test_review_points_count_once_per_review_across_reviews(staff):
    review_rule(Rule.WITHOUT_APPROVAL, 20)
    member = MemberFactory()
    post(member=member)
    post(member=member)
    assert selectors.balance_of(member) == 40
    assert PointEntry.objects.filter(kind=Kind.REVIEW, member=member).count() == 2
