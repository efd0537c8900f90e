"""Reviews (レビュー, SPEC §4): a member who completed a booking of an item may review it once per booking
(stars 1–5 and text); staff approve or reject reviews in the admin; approved reviews show on the item page.

Services (keyword-only, one transaction each, `by` and an audit entry, `now` injected): review_create,
review_approve, review_reject. Each calls the review listeners (inventory.review_hooks) inside its
transaction; what they return (a sentence such as "50 points were added") is left on the returned review
as `notes`, for the page to show.

Whether a new review waits for staff: inventory cannot read the point settings, so the listeners answer
(review_hooks.needs_approval). points answers yes when its review rule is "points when staff approve"
(承認あり). Otherwise a review is shown as soon as it is posted; staff can still reject (hide) any review
later, pending or shown.

The text is stored as plain text: markup is removed with nh3 (scripts and styles with their content), and
the page renders it escaped, so nothing a member types becomes HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

import nh3
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count
from django.utils import timezone
from django.utils.translation import gettext

from core.audit import audit_log
from inventory import review_hooks
from inventory.exceptions import ReviewError
from inventory.models import REVIEW_TEXT_MAX, Item, Reservation, Review

Status = Review.Status


def clean_review_text(text: str) -> str:
    """Plain text from what a member typed: tags dropped (script and style with their content), entities
    decoded — repeated until nothing changes, so "&lt;script&gt;" cannot become a tag — line breaks
    normalised, control characters and surrounding space removed."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    for _attempt in range(5):
        cleaned = html.unescape(nh3.clean(text, tags=set(), attributes={}))
        if cleaned == text:
            break
        text = cleaned
    text = "".join(char for char in text if char in "\n\t" or char.isprintable())
    return text.strip()


def _check_stars(stars) -> int:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ReviewError(gettext("Choose from 1 to 5 stars."), field="stars")
    return stars


def _check_text(text: str) -> str:
    cleaned = clean_review_text(text)
    if not cleaned:
        raise ReviewError(gettext("Write a few words about the item."), field="text")
    if len(cleaned) > REVIEW_TEXT_MAX:
        raise ReviewError(
            gettext("A review can be at most {max} characters long (this one has {length}).").format(
                max=REVIEW_TEXT_MAX, length=len(cleaned)
            ),
            field="text",
        )
    return cleaned


def _notes(results) -> list[str]:
    return [str(result) for result in results if result]


@transaction.atomic
def review_create(
    *, reservation: Reservation, member, stars: int, text: str, by, now: datetime | None = None
) -> Review:
    """The member's review of the item of `reservation`, which must be theirs and completed, and not yet
    reviewed. Pending when a listener wants approval, else shown at once."""
    now = now or timezone.now()
    # The reservation's row lock serialises two posts of the same booking (the unique constraint stands
    # behind it).
    locked = Reservation.objects.select_for_update(of=("self",)).select_related("item").get(pk=reservation.pk)
    if locked.member_id != getattr(member, "pk", None):
        raise ReviewError(gettext("You can review only your own bookings."))
    if locked.status != Reservation.Status.COMPLETED:
        raise ReviewError(gettext("You can review an item once your booking of it is completed."))
    if Review.objects.filter(reservation=locked).exists():
        raise ReviewError(gettext("You have already reviewed this booking."))
    review = Review(
        member=member, item=locked.item, reservation=locked, stars=_check_stars(stars), text=_check_text(text)
    )
    review.status = Status.PENDING if review_hooks.needs_approval(review=review) else Status.APPROVED
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError:
        raise ReviewError(gettext("You have already reviewed this booking.")) from None
    audit_log(
        action="review.posted",
        obj=review,
        by=by,
        now=now,
        payload={
            "item": locked.item_id,
            "reservation": locked.pk,
            "stars": review.stars,
            "status": review.status,
        },
    )
    review.notes = _notes(
        listener.posted(review=review, by=by, now=now) for listener in review_hooks.review_listeners()
    )
    return review


def _review_for_update(review: Review) -> Review:
    return Review.objects.select_for_update(of=("self",)).select_related("item", "member").get(pk=review.pk)


@transaction.atomic
def review_approve(*, review: Review, by, now: datetime | None = None) -> Review:
    """Staff approve a review awaiting approval: it is shown on the item page from now on."""
    now = now or timezone.now()
    review = _review_for_update(review)
    if review.status != Status.PENDING:
        raise ReviewError(gettext("Only a review awaiting approval can be approved."))
    review.status = Status.APPROVED
    review.decided_by = by if getattr(by, "pk", None) else None
    review.decided_at = now
    review.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_log(
        action="review.approved",
        obj=review,
        by=by,
        now=now,
        payload={"changes": {"status": [Status.PENDING, Status.APPROVED]}},
    )
    review.notes = _notes(
        listener.approved(review=review, by=by, now=now) for listener in review_hooks.review_listeners()
    )
    return review


@transaction.atomic
def review_reject(*, review: Review, by, reason: str = "", now: datetime | None = None) -> Review:
    """Staff reject a review, awaiting approval or already shown: it is never shown (again). Listeners undo
    what they did for it (points takes back review points)."""
    now = now or timezone.now()
    review = _review_for_update(review)
    was = review.status
    if was == Status.REJECTED:
        raise ReviewError(gettext("This review is already rejected."))
    review.status = Status.REJECTED
    review.decided_by = by if getattr(by, "pk", None) else None
    review.decided_at = now
    review.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_log(
        action="review.rejected",
        obj=review,
        by=by,
        now=now,
        payload={"changes": {"status": [was, Status.REJECTED]}, "reason": reason[:200]},
    )
    review.notes = _notes(
        listener.rejected(review=review, by=by, now=now, was_status=was)
        for listener in review_hooks.review_listeners()
    )
    return review


# --- reads ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewSummary:
    count: int
    average: float | None

    @property
    def average_label(self) -> str:
        return f"{self.average:.1f}" if self.average is not None else ""

    @property
    def rounded_marks(self) -> str:
        if self.average is None:
            return ""
        full = int(self.average + 0.5)
        return "★" * full + "☆" * (5 - full)


def shown_reviews(item: Item):
    """The item's approved reviews, newest first, with their authors (one query per page)."""
    return (
        Review.objects.filter(item=item, status=Status.APPROVED)
        .select_related("member")
        .order_by("-created_at", "-id")
    )


def review_summary(item: Item) -> ReviewSummary:
    """The number and average stars of the item's shown reviews (one query)."""
    found = Review.objects.filter(item=item, status=Status.APPROVED).aggregate(
        count=Count("id"), average=Avg("stars")
    )
    average = found["average"]
    return ReviewSummary(found["count"], float(average) if average is not None else None)


def reviewable_reservations(*, member, item: Item | None = None):
    """The member's completed bookings (of `item`) not reviewed yet, most recent first."""
    if not getattr(member, "is_authenticated", False):
        return Reservation.objects.none()
    found = Reservation.objects.filter(
        member=member, status=Reservation.Status.COMPLETED, reviews__isnull=True
    ).order_by("-starts_at", "-id")
    return found.filter(item=item) if item is not None else found


def reviewer_name(review: Review) -> str:
    """How the page names the author: the first character of their name (privacy), 'a member' otherwise."""
    name = (review.member.name or "").strip()
    return f"{name[:1]}***" if name else gettext("A member")
