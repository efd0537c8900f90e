"""Higher apps follow reviews here (ARCHITECTURE.md: a lower app defines the interface, a higher app
registers itself in its AppConfig.ready()). inventory keeps reviews and never imports points; points
registers a listener that grants review points (SPEC §8) and answers whether a new review waits for staff.

Every hook runs inside the review service's transaction: raising DomainError stops the change with its
message. A hook may return a sentence for the person acting ("50 points were added to your balance.",
"30 points could not be taken back"), which the page shows after the change; inventory shows them as they
are, without knowing what they are about."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inventory.models import Review


class ReviewListener:
    """A higher app following reviews. Every hook has a default that does nothing."""

    def needs_approval(self, *, review: Review) -> bool:
        """Whether a review just posted waits for staff before it is shown (points: when its review rule is
        "points when staff approve", 承認あり). Asked before the review is saved."""
        return False

    def posted(self, *, review: Review, by, now: datetime) -> str | None:
        """The member just posted `review` (pending or already shown)."""
        return None

    def approved(self, *, review: Review, by, now: datetime) -> str | None:
        """Staff just approved `review`: it is shown from now on."""
        return None

    def rejected(self, *, review: Review, by, now: datetime, was_status: str) -> str | None:
        """Staff just rejected `review` (it was `was_status`: pending or approved): it is never shown."""
        return None


_listeners: dict[str, ReviewListener] = {}


def register_review_listener(key: str, listener: ReviewListener) -> None:
    _listeners[key] = listener


def review_listeners() -> list[ReviewListener]:
    return list(_listeners.values())


def needs_approval(*, review: Review) -> bool:
    """Whether any listener wants `review` to wait for staff approval."""
    return any(listener.needs_approval(review=review) for listener in review_listeners())
