"""Reviews (SPEC §4): a member who completed a booking of an item reviews it once per booking (stars 1–5,
plain text with markup removed); staff approve or reject them (admin actions with a confirmation page);
approved reviews show on the item page (average, count, newest first) in a constant number of queries;
pending and rejected ones never do. The review listeners (inventory.review_hooks) are called inside the
services' transactions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
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
def _english():
    # The refusals are asserted in English (the source strings; pages default to Japanese).
    with translation.override("en"):
        yield


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


@pytest.fixture
def member(client):
    made = MemberFactory(name="山田 花子")
    client.force_login(made)
    return made


def write_url(reservation) -> str:
    return reverse("site:review_write", args=[reservation.pk])


def test_the_reservation_page_offers_a_review_once_completed(english, member):
    done = completed(member=member)
    upcoming = ReservationFactory(member=member)
    html = english.get(reverse("site:reservation_detail", args=[done.pk])).content.decode()
    assert "Write a review" in html
    assert write_url(done) in html
    assert (
        write_url(upcoming)
        not in english.get(reverse("site:reservation_detail", args=[upcoming.pk])).content.decode()
    )


def test_a_member_posts_a_review_and_is_told_it_is_shown(english, member):
    reservation = completed(member=member)
    response = english.post(write_url(reservation), {"stars": "4", "text": "<b>最高</b>でした"}, follow=True)
    html = response.content.decode()
    assert "Thank you for your review. It is now shown on the item page." in html
    assert "Your review is shown on the item page." in html
    review = Review.objects.get()
    assert (review.stars, review.text, review.status) == (4, "最高でした", Review.Status.APPROVED)
    # a second visit to the form says it is done
    again = english.get(write_url(reservation), follow=True).content.decode()
    assert "You have already reviewed this booking." in again


def test_a_review_waiting_for_approval_says_so_with_the_points_to_come(english, member):
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL, 30)
    reservation = completed(member=member)
    html = english.post(write_url(reservation), {"stars": "5", "text": "良い"}, follow=True).content.decode()
    assert "It will appear on the item page after the shop approves it." in html
    assert "You will receive 30 points when the shop approves it." in html
    assert "Your review will appear on the item page after the shop approves it." in html


def test_points_earned_on_posting_are_told(english, member):
    review_rule(PointSettings.ReviewRule.WITHOUT_APPROVAL, 50)
    reservation = completed(member=member)
    html = english.post(write_url(reservation), {"stars": "5", "text": "良い"}, follow=True).content.decode()
    assert "50 points were added to your balance for this review." in html


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"stars": "6", "text": "良い"}, "Choose from 1 to 5 stars."),
        ({"stars": "", "text": "良い"}, "Choose from 1 to 5 stars."),
        ({"stars": "3", "text": ""}, "This field is required."),
        ({"stars": "3", "text": "<script>alert(1)</script>"}, "Write a few words about the item."),
        ({"stars": "3", "text": "あ" * 2001}, "at most 2000 characters"),
    ],
)
def test_the_form_says_what_is_wrong(english, member, data, error):
    reservation = completed(member=member)
    response = english.post(write_url(reservation), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Review.objects.exists()


def test_a_booking_not_completed_or_not_ones_own_cannot_be_reviewed(english, member):
    upcoming = ReservationFactory(member=member)
    response = english.post(write_url(upcoming), {"stars": "5", "text": "良い"})
    assert "You can review an item once your booking of it is completed." in response.content.decode()
    assert english.get(write_url(completed())).status_code == 404
    assert not Review.objects.exists()


def test_the_form_needs_a_login(client):
    reservation = completed()
    response = client.get(write_url(reservation))
    assert response.status_code == 302
    assert reverse("members:login") in response["Location"]


def test_the_item_page_shows_approved_reviews_only_escaped_newest_first(english):
    # given
    item = ItemFactory()
    staff = MemberFactory(is_staff=True)
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL)
    older = post(completed(item=item, member=MemberFactory(name="佐藤 一郎")), stars=5, text="古いレビュー")
    newer = post(completed(item=item), stars=4, text="新しい a < b & <i>c</i>", now=NOW + timedelta(days=1))
    waiting = post(completed(item=item), stars=1, text="承認待ちのレビュー")
    rejected = post(completed(item=item), stars=1, text="却下されたレビュー")
    for review in (older, newer):
        review_approve(review=review, by=staff)
    review_reject(review=rejected, by=staff)
    Review.objects.filter(pk=newer.pk).update(created_at=NOW + timedelta(days=1))
    Review.objects.filter(pk=older.pk).update(created_at=NOW)
    # when
    html = english.get(reverse("site:item_detail", args=[item.pk])).content.decode()
    # then
    assert "4.5 out of 5 (2 reviews)" in html
    assert html.index("新しい a &lt; b &amp; c") < html.index("古いレビュー")
    assert "佐***" in html  # the author's initial only
    assert "佐藤" not in html
    assert "承認待ちのレビュー" not in html
    assert "却下されたレビュー" not in html
    assert waiting.status == Review.Status.PENDING


def test_an_item_without_reviews_says_so_and_offers_a_review_to_who_may_write_one(english, member):
    item = ItemFactory()
    reservation = completed(item=item, member=member)
    html = english.get(reverse("site:item_detail", args=[item.pk])).content.decode()
    assert "No reviews yet." in html
    assert write_url(reservation) in html


def test_the_item_page_keeps_its_query_count_with_many_reviews(
    english, member, django_assert_max_num_queries
):
    # given one shown review
    item = ItemFactory()
    completed(item=item, member=member)  # a booking the member may still review: its link is read too
    url = reverse("site:item_detail", args=[item.pk])

    def add(count):
        for _n in range(count):
            post(completed(item=item))

    add(1)
    with CaptureQueriesContext(connection) as one:
        assert english.get(url).status_code == 200
    # when there are 40
    add(39)
    # then
    with django_assert_max_num_queries(len(one)):
        html = english.get(url).content.decode()
    assert "(40 reviews)" in html
    assert html.count('class="review"') == 5
    assert "See all 40 reviews" in html


def test_the_reviews_page_pages_through_shown_reviews_in_constant_queries(
    english, django_assert_max_num_queries
):
    item = ItemFactory()
    for _n in range(3):
        post(completed(item=item))
    url = reverse("site:item_reviews", args=[item.pk])
    with CaptureQueriesContext(connection) as few:
        assert english.get(url).status_code == 200
    for _n in range(40):
        post(completed(item=item))
    with django_assert_max_num_queries(len(few)):
        first = english.get(url).content.decode()
    assert first.count('class="review"') == 20
    assert "Page 1 of 3" in first
    assert english.get(url, {"page": 3}).content.decode().count('class="review"') == 3
    private = ItemFactory(private=True)
    assert english.get(reverse("site:item_reviews", args=[private.pk])).status_code == 404


# --- the staff admin --------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    user = MemberFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    client.staff = user
    return client


def test_the_admin_lists_reviews_with_their_text_escaped_and_filters_by_status(staff_client):
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL)
    waiting = post(completed(), text="<script>x</script>&lt;img src=x onerror=alert(1)&gt;待ち")
    shown = post(completed(), text="a < b")
    review_approve(review=shown, by=staff_client.staff)
    url = reverse("admin:inventory_review_changelist")
    html = staff_client.get(url).content.decode()
    assert "onerror" not in html
    assert "a &lt; b" in html
    pending = staff_client.get(url, {"status__exact": "pending"}).content.decode()
    assert f"#{waiting.pk}" in pending
    assert f"#{shown.pk}<" not in pending
    page = staff_client.get(reverse("admin:inventory_review_change", args=[shown.pk])).content.decode()
    assert "a &lt; b" in page
    assert "Reject this review" in page
    assert "Approve this review" not in page


def test_staff_approve_from_the_list_after_a_confirmation(staff_client):
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL, 30)
    review = post(completed())
    url = reverse("admin:inventory_review_changelist")
    data = {"action": "approve_selected", "_selected_action": [review.pk]}
    # when: first the question
    asked = staff_client.post(url, data)
    assert asked.status_code == 200
    assert "Approve these reviews?" in asked.content.decode()
    assert Review.objects.get().status == Review.Status.PENDING
    # then the answer
    done = staff_client.post(url, {**data, "confirm": "yes"}, follow=True).content.decode()
    assert "1 review was approved." in done
    assert f"30 review points were granted to {review.member.name}." in done
    assert Review.objects.get().status == Review.Status.APPROVED


def test_staff_reject_with_a_reason_and_a_refusal_is_reported(staff_client):
    review = post(completed())
    already = post(completed())
    review_reject(review=already, by=staff_client.staff)
    url = reverse("admin:inventory_review_changelist")
    data = {"action": "reject_selected", "_selected_action": [review.pk, already.pk], "confirm": "yes"}
    done = staff_client.post(url, {**data, "reason": "広告"}, follow=True).content.decode()
    assert "1 review was rejected." in done
    assert f"Review #{already.pk}" in done
    assert "already rejected" in done
    assert Review.objects.get(pk=review.pk).status == Review.Status.REJECTED
    assert AuditEntry.objects.filter(action="review.rejected", payload__reason="広告").count() == 1


def test_staff_of_one_store_see_only_its_reviews(client):
    mine, theirs = ItemFactory(), ItemFactory()
    user = MemberFactory(is_staff=True, is_superuser=False)
    user.user_permissions.add(Permission.objects.get(codename="view_review"))
    mine.store.staff.add(user)
    client.force_login(user)
    post(completed(item=mine), text="うちの店")
    post(completed(item=theirs), text="よその店")
    html = client.get(reverse("admin:inventory_review_changelist")).content.decode()
    assert "うちの店" in html
    assert "よその店" not in html


def test_my_reviews_lists_bookings_to_review_and_reviews_written_with_their_status(
    english, member, django_assert_max_num_queries
):
    # given
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL)
    waiting_booking = completed(member=member)
    post(completed(member=member), text="承認待ちです")
    ReservationFactory(member=member)  # upcoming: nothing to review yet
    url = reverse("site:my_reviews")
    with CaptureQueriesContext(connection) as few:
        assert english.get(url).status_code == 200
    for _n in range(10):
        completed(member=member)
        post(completed(member=member))
    # when
    with django_assert_max_num_queries(len(few)):
        html = english.get(url).content.decode()
    # then
    assert write_url(waiting_booking) in html
    assert "承認待ちです" in html
    assert "Awaiting approval" in html
    assert "My reviews" in english.get(reverse("members:mypage")).content.decode()


def test_reviews_awaiting_approval_wait_on_the_staff_home(staff_client):
    review_rule(PointSettings.ReviewRule.AFTER_APPROVAL)
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert "Reviews awaiting approval" not in html
    post(completed())
    post(completed())
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert "Reviews awaiting approval" in html
    assert reverse("admin:inventory_review_changelist") + "?status__exact=pending" in html
