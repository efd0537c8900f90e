"""Review points (レビューポイント, SPEC §8, seed 004): points follows inventory's reviews through its review
listener (inventory.review_hooks; inventory never imports points) and applies the shop's review rule:

- none (no points): nothing, and reviews are shown when posted;
- without approval (承認なし): `review_points` are granted when the member posts the review; the review is
  shown at once;
- after approval (承認あり): the review waits for staff; the points are granted when staff approve it.
  A review still waiting when the rule changes is granted its points on approval unless the rule is now
  "none" (never twice: one review grant per review, a unique constraint behind the check).

A rejected review that earned points has them taken back (レビューポイント付与取消) through
points_reverse_grant. A rejection is moderation and is never stopped by points: when the member has already
spent them (the reversal is refused, taking nothing, so the balance never goes negative), the review is
rejected anyway, the points stay with the member, an audit entry `points.review_reversal_refused` on the
review records how many are missing, and staff are told so they may adjust the balance by hand (a manual
entry). (PointShortfall, the flag for purchase points, belongs to an order, so it cannot hold these.)"""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.audit import audit_log, register_action_labels
from inventory.review_hooks import ReviewListener, register_review_listener
from points.exceptions import NotEnoughPointsError
from points.models import PointAccount, PointEntry, PointSettings
from points.services import points_grant, points_reverse_grant

SYSTEM = "points.review"
Rule = PointSettings.ReviewRule
Kind = PointEntry.Kind


def review_grant(review) -> PointEntry | None:
    """The review points granted for `review`, if any."""
    return PointEntry.objects.filter(
        kind=Kind.REVIEW, review_type=ContentType.objects.get_for_model(review), review_id=review.pk
    ).first()


def _grant(review, *, by, now: datetime, amount: int) -> PointEntry | None:
    if review_grant(review) is not None:
        return None
    try:
        return points_grant(
            member=review.member,
            amount=amount,
            kind=Kind.REVIEW,
            by=by,
            system=SYSTEM,
            reason=gettext("Review of %(item)s") % {"item": review.item.name},
            review=review,
            now=now,
        )
    except IntegrityError:
        return None  # granted a moment ago by a concurrent call (the unique constraint per review)


class ReviewPoints(ReviewListener):
    def needs_approval(self, *, review) -> bool:
        return PointSettings.current().review_rule == Rule.AFTER_APPROVAL

    def posted(self, *, review, by, now: datetime) -> str | None:
        settings = PointSettings.current()
        if not settings.review_points:
            return None
        if settings.review_rule == Rule.WITHOUT_APPROVAL:
            entry = _grant(review, by=by, now=now, amount=settings.review_points)
            if entry is not None:
                return gettext("%(points)s points were added to your balance for this review.") % {
                    "points": f"{entry.delta:,}"
                }
        elif settings.review_rule == Rule.AFTER_APPROVAL:
            return gettext("You will receive %(points)s points when the shop approves it.") % {
                "points": f"{settings.review_points:,}"
            }
        return None

    def approved(self, *, review, by, now: datetime) -> str | None:
        settings = PointSettings.current()
        if settings.review_rule == Rule.NONE or not settings.review_points:
            return None
        entry = _grant(review, by=by, now=now, amount=settings.review_points)
        if entry is None:
            return None
        return gettext("%(points)s review points were granted to %(member)s.") % {
            "points": f"{entry.delta:,}",
            "member": review.member.name or review.member.email,
        }

    def rejected(self, *, review, by, now: datetime, was_status: str) -> str | None:
        grant = review_grant(review)
        if grant is None or grant.reversals.exists():
            return None
        member = review.member.name or review.member.email
        try:
            points_reverse_grant(
                entry=grant,
                by=by,
                system=SYSTEM,
                reason=gettext("Review rejected"),
                now=now,
            )
        except NotEnoughPointsError as error:
            account = PointAccount.objects.get(member_id=grant.member_id)
            missing = grant.delta - account.balance
            # On the review, so its history page shows it next to the rejection.
            audit_log(
                action="points.review_reversal_refused",
                obj=review,
                by=by,
                system=SYSTEM,
                now=now,
                payload={
                    "member": grant.member_id,
                    "grant": grant.pk,
                    "points": grant.delta,
                    "missing": missing,
                },
            )
            return gettext(
                "The %(points)s review points of %(member)s were not taken back: %(error)s Adjust their "
                "points by hand if needed."
            ) % {"points": f"{grant.delta:,}", "member": member, "error": error}
        return gettext("%(points)s review points were taken back from %(member)s.") % {
            "points": f"{grant.delta:,}",
            "member": member,
        }


def register() -> None:
    """Called from PointsConfig.ready()."""
    register_action_labels(
        {"points.review_reversal_refused": _("Review points not taken back (already spent)")}
    )
    register_review_listener("points", ReviewPoints())
