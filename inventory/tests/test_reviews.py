"""Reviews (SPEC §4): a member who completed a booking of an item reviews it once per booking (stars 1–5,
plain text with markup removed); staff approve or reject them (admin actions with a confirmation page);
approved reviews show on the item page (average, count, newest first) in a constant number of queries;
pending and rejected ones never do. The review listeners (inventory.review_hooks) are called inside the
services' transactions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import translation

from core.exceptions import DomainError
from core.models import AuditEntry
from inventory import review_hooks
from inventory.models import Review
from inventory.reviews import (
    clean_review_text,
    review_approve,
    review_create,
    review_reject,
    review_summary,
)
from inventory.tests.factories import ItemFactory, ReservationFactory, jst
from members.tests.factories import MemberFactory
from points.models import PointSettings

pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 10), "12:00")


def review_rule(rule: str, points: int = 0) -> None:
    PointSettings.objects.update_or_create(pk=1, defaults={"review_rule": rule, "review_points": points})


@pytest.fixture(autouse=True)
def _shown_at_once():
    # By default a review is shown when posted (no listener asks for approval).
    review_rule(PointSettings.ReviewRule.NONE)


def completed(**kwargs):
    return ReservationFactory(completed=True, **kwargs)


def post(reservation, *, stars=5, text="とても良かったです。", member=None, now=NOW):
    member = member or reservation.member
    return review_create(reservation=reservation, member=member, stars=stars, text=text, by=member, now=now)


# --- services ---------------------------------------------------------------------------------------------


def test_a_member_reviews_a_completed_booking_and_it_is_shown_with_an_audit_entry():
    # given
    reservation = completed()
    # when
    review = post(reservation, stars=4, text="  スタッフの方が親切でした。\r\nまた来ます。 ")
    # then
    assert (review.item, review.member, review.reservation) == (
        reservation.item,
        reservation.member,
        reservation,
    )
    assert review.stars == 4
    assert review.text == "スタッフの方が親切でした。\nまた来ます。"
    assert review.status == Review.Status.APPROVED
    entry = AuditEntry.objects.get(action="review.posted")
    assert entry.object_id == str(review.pk)
    assert entry.actor == reservation.member


@pytest.mark.parametrize("trait", ["tentative", "cancelled", "no_show", None])
def test_only_a_completed_booking_can_be_reviewed(trait):
    reservation = ReservationFactory(**({trait: True} if trait else {}))
    with pytest.raises(DomainError, match="once your booking of it is completed"):
        post(reservation)
    assert not Review.objects.exists()


def test_only_the_member_who_booked_can_review():
    reservation = completed()
    other = MemberFactory()
    with pytest.raises(DomainError, match="only your own bookings"):
        post(reservation, member=other)
    assert not Review.objects.exists()


def test_one_review_per_booking_and_the_database_refuses_a_second():
    reservation = completed()
    post(reservation)
    with pytest.raises(DomainError, match="already reviewed"):
        post(reservation, stars=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(
            member=reservation.member, item=reservation.item, reservation=reservation, stars=3, text="x"
        )
    assert Review.objects.count() == 1


def test_a_second_booking_of_the_same_item_may_be_reviewed_too():
    first = completed()
    second = completed(member=first.member, item=first.item)
    post(first)
    post(second, stars=3)
    assert Review.objects.filter(item=first.item).count() == 2


@pytest.mark.parametrize("stars", [0, 6, -1, None, "5", True])
def test_stars_out_of_range_are_refused(stars):
    with pytest.raises(DomainError, match="1 to 5 stars") as refused:
        post(completed(), stars=stars)
    assert refused.value.field == "stars"
    assert not Review.objects.exists()


def test_the_database_refuses_stars_out_of_range():
    reservation = completed()
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(
            member=reservation.member, item=reservation.item, reservation=reservation, stars=6, text="x"
        )


def test_empty_or_too_long_text_is_refused():
    reservation = completed()
    with pytest.raises(DomainError, match="Write a few words") as empty:
        post(reservation, text="<b> </b>  ")
    assert empty.value.field == "text"
    with pytest.raises(DomainError, match="at most 2000 characters") as long:
        post(reservation, text="あ" * 2001)
    assert long.value.field == "text"
    assert post(reservation, text="あ" * 2000).text == "あ" * 2000


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("<script>alert(1)</script>Great", "Great"),
        ('<img src=x onerror="alert(1)">Nice <b>bold</b>', "Nice bold"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;OK", "OK"),
        ("<style>body{display:none}</style>a < b & c > d", "a < b & c > d"),
        ('<a href="javascript:alert(1)">link</a>', "link"),
        ("tab\tand\x00null\x07bell", "tab\tandnullbell"),
    ],
)
def test_markup_in_the_text_is_removed_and_the_rest_kept_as_plain_text(typed, stored):
    assert clean_review_text(typed) == stored
    assert post(completed(), text=f"{typed} ★").text == f"{stored} ★".strip()


def test_staff_approve_a_pending_review_once():
    # given a review waiting (a listener asks for approval)
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL)
    review = post(completed())
    assert review.status == Review.Status.PENDING
    staff = MemberFactory(is_staff=True)
    # when
    approved = review_approve(review=review, by=staff, now=NOW + timedelta(hours=1))
    # then
    assert approved.status == Review.Status.APPROVED
    assert (approved.decided_by, approved.decided_at) == (staff, NOW + timedelta(hours=1))
    assert AuditEntry.objects.filter(action="review.approved", actor=staff).count() == 1
    with pytest.raises(DomainError, match="Only a review awaiting approval"):
        review_approve(review=review, by=staff)


def test_staff_reject_a_pending_or_a_shown_review_but_not_twice():
    staff = MemberFactory(is_staff=True)
    shown = post(completed())
    rejected = review_reject(review=shown, by=staff, reason="不適切な表現", now=NOW)
    assert rejected.status == Review.Status.REJECTED
    entry = AuditEntry.objects.get(action="review.rejected")
    assert entry.payload["changes"] == {"status": ["approved", "rejected"]}
    assert entry.payload["reason"] == "不適切な表現"
    with pytest.raises(DomainError, match="already rejected"):
        review_reject(review=shown, by=staff)
    with pytest.raises(DomainError, match="Only a review awaiting approval"):
        review_approve(review=shown, by=staff)


class Recorder(review_hooks.ReviewListener):
    def __init__(self):
        self.calls = []

    def needs_approval(self, *, review):
        return True

    def posted(self, *, review, by, now):
        self.calls.append(("posted", review.pk, review.status))
        return "posted note"

    def approved(self, *, review, by, now):
        self.calls.append(("approved", review.pk, review.status))
        return None

    def rejected(self, *, review, by, now, was_status):
        self.calls.append(("rejected", review.pk, was_status))
        return "rejected note"


@pytest.fixture
def recorder(monkeypatch):
    listeners = dict(review_hooks._listeners)
    recorder = Recorder()
    monkeypatch.setattr(review_hooks, "_listeners", {**listeners, "test": recorder})
    return recorder


def test_listeners_hear_of_each_change_and_their_notes_come_back(recorder):
    staff = MemberFactory(is_staff=True)
    review = post(completed())
    assert review.status == Review.Status.PENDING  # the recorder wants approval
    assert review.notes == ["posted note"]
    assert review_approve(review=review, by=staff).notes == []
    assert review_reject(review=review, by=staff).notes == ["rejected note"]
    assert recorder.calls == [
        ("posted", review.pk, "pending"),
        ("approved", review.pk, "approved"),
        ("rejected", review.pk, "approved"),
    ]


def test_a_listener_refusing_undoes_the_whole_post(recorder, monkeypatch):
    def refuse(*, review, by, now):
        raise DomainError("refused by a listener")

    monkeypatch.setattr(recorder, "posted", refuse)
    with pytest.raises(DomainError, match="refused by a listener"):
        post(completed())
    assert not Review.objects.exists()
    assert not AuditEntry.objects.filter(action="review.posted").exists()


def test_the_summary_counts_only_shown_reviews():
    item = ItemFactory()
    staff = MemberFactory(is_staff=True)
    post(completed(item=item), stars=5)
    post(completed(item=item), stars=4)
    review_reject(review=post(completed(item=item), stars=1), by=staff)
    summary = review_summary(item)
    assert (summary.count, summary.average_label, summary.rounded_marks) == (2, "4.5", "★★★★★")
    assert review_summary(ItemFactory()).count == 0


# --- the member's pages -----------------------------------------------------------------------------------


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield client
