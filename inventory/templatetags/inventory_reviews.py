"""The review parts of the member site's item and reservation pages, as inclusion tags, so those pages'
views need not know about reviews. Each reads a fixed number of queries, whatever the number of reviews."""

from __future__ import annotations

from django import template

from inventory.models import Review
from inventory.reviews import review_summary, reviewable_reservations, reviewer_name, shown_reviews

register = template.Library()

ON_ITEM_PAGE = 5  # the newest shown reviews on the item page; the rest on its reviews page


@register.inclusion_tag("site/inventory/_item_reviews.html", takes_context=True)
def item_reviews(context, item) -> dict:
    """The item's average stars and count, its newest shown reviews, and a link to review it for a member
    with a completed booking of it not reviewed yet (three queries; two for a visitor)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    reviews = list(shown_reviews(item)[:ON_ITEM_PAGE])
    return {
        "item": item,
        "summary": review_summary(item),
        "reviews": [(review, reviewer_name(review)) for review in reviews],
        "to_review": reviewable_reservations(member=user, item=item).first() if user else None,
    }


@register.inclusion_tag("site/inventory/_reservation_review.html")
def reservation_review(reservation) -> dict:
    """On a reservation's page: the member's review of it (with its status), or the way to write one once
    the booking is completed (one query)."""
    review = Review.objects.filter(reservation=reservation).first()
    return {
        "reservation": reservation,
        "review": review,
        "can_review": review is None and reservation.status == reservation.Status.COMPLETED,
    }
