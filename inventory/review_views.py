"""Member-site pages for reviews (SPEC §4): writing one for a completed booking, and an item's shown
reviews. The item and reservation pages show theirs through inventory_reviews' inclusion tags."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from core.exceptions import DomainError
from inventory.models import REVIEW_TEXT_MAX, Reservation, Review
from inventory.reviews import (
    review_create,
    review_summary,
    reviewable_reservations,
    reviewer_name,
    shown_reviews,
)
from inventory.views import public_items

REVIEWS_PER_PAGE = 20


class ReviewForm(forms.Form):
    stars = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[(n, "★" * n + "☆" * (5 - n)) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "choice-list"}),
        error_messages={
            "required": _("Choose from 1 to 5 stars."),
            "invalid_choice": _("Choose from 1 to 5 stars."),
        },
    )
    text = forms.CharField(
        label=_("Your review"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=REVIEW_TEXT_MAX,
        help_text=_("Plain text, at most 2000 characters. Other members see it with your initial."),
    )

    def add_domain_error(self, error: DomainError) -> None:
        self.add_error(error.field if error.field in self.fields else None, str(error.message))


def _posted_message(review: Review) -> str:
    if review.status == Review.Status.PENDING:
        done = gettext(
            "Thank you for your review. It will appear on the item page after the shop approves it."
        )
    else:
        done = gettext("Thank you for your review. It is now shown on the item page.")
    return " ".join([done, *review.notes])


@login_required
@require_http_methods(["GET", "POST"])
def review_write(request, pk: int):
    """Write a review of a completed booking of one's own; the service checks it again under its lock."""
    reservation = get_object_or_404(
        Reservation.objects.filter(member=request.user).select_related("item", "store"), pk=pk
    )
    if Review.objects.filter(reservation=reservation).exists():
        messages.info(request, gettext("You have already reviewed this booking."))
        return redirect(reverse("site:reservation_detail", args=[reservation.pk]) + "#review")
    form = ReviewForm(request.POST or None)
    completed = reservation.status == Reservation.Status.COMPLETED
    if request.method == "POST" and form.is_valid():
        try:
            review = review_create(
                reservation=reservation,
                member=request.user,
                stars=form.cleaned_data["stars"],
                text=form.cleaned_data["text"],
                by=request.user,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _posted_message(review))
            return redirect(reverse("site:reservation_detail", args=[reservation.pk]) + "#review")
    return render(
        request,
        "site/inventory/review_write.html",
        {"reservation": reservation, "form": form, "completed": completed},
    )


def item_reviews(request, pk: int):
    """All shown reviews of a public item, newest first, paginated (a fixed number of queries)."""
    item = get_object_or_404(public_items(), pk=pk)
    page = Paginator(shown_reviews(item), REVIEWS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "site/inventory/item_reviews.html",
        {
            "item": item,
            "summary": review_summary(item),
            "page": page,
            "reviews": [(review, reviewer_name(review)) for review in page.object_list],
        },
    )


@login_required
def my_reviews(request):
    """My page › reviews: completed bookings waiting for a review, and the reviews written, with their
    status (two queries for the page, whatever the number)."""
    to_review = list(reviewable_reservations(member=request.user).select_related("item")[:REVIEWS_PER_PAGE])
    mine = Review.objects.filter(member=request.user).select_related("item").order_by("-created_at", "-id")
    page = Paginator(mine, REVIEWS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "site/inventory/my_reviews.html",
        {"to_review": to_review, "page": page, "reviews": page.object_list},
    )
