"""Staff admin of reviews (商品レビュー): approve or reject them, from the list (bulk actions with a
confirmation page) or from one review's page. Reviews change only through inventory.reviews' services; the
admin shows a review read-only, its text escaped (Django's admin escapes every value it displays). Staff
named at some stores see those stores' reviews only (inventory.stores), as with reservations."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_operations import StaffOperation, StaffOperationsMixin
from core.exceptions import DomainError
from inventory import stores
from inventory.models import Review
from inventory.reviews import review_approve, review_reject


class RejectReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("Optional. Kept in the review's history; the member is not told."),
    )


def _run(service):
    """An operation's run: the service, with what its listeners said (points granted or taken back) shown
    to staff."""

    def run(review, request, form):
        done = service(review, request, form)
        for note in getattr(done, "notes", ()):
            messages.info(request, note)
        return done

    return run


OPERATIONS = {
    "approve": StaffOperation(
        key="approve",
        label=_("Approve this review"),
        title=_("Approve reviews"),
        question=_(
            "Approve these reviews? They are shown on their item's page from now on, and review points are "
            "granted when the shop's point settings say so."
        ),
        button=_("Yes, approve them"),
        done=lambda n: (
            ngettext("%(count)d review was approved.", "%(count)d reviews were approved.", n) % {"count": n}
        ),
        run=_run(lambda review, request, form: review_approve(review=review, by=request.user)),
        possible=lambda review: review.status == Review.Status.PENDING,
    ),
    "reject": StaffOperation(
        key="reject",
        label=_("Reject this review"),
        title=_("Reject reviews"),
        question=_(
            "Reject these reviews? They are never shown (a review already shown disappears from its item's "
            "page). Review points they earned are taken back when the member still has them; otherwise you "
            "are told, and may adjust the member's points by hand."
        ),
        button=_("Yes, reject them"),
        done=lambda n: (
            ngettext("%(count)d review was rejected.", "%(count)d reviews were rejected.", n) % {"count": n}
        ),
        run=_run(
            lambda review, request, form: review_reject(
                review=review, by=request.user, reason=form.cleaned_data["reason"]
            )
        ),
        possible=lambda review: review.status != Review.Status.REJECTED,
        form_class=RejectReasonForm,
    ),
}


@admin.register(Review)
class ReviewAdmin(StaffOperationsMixin, admin.ModelAdmin):
    """Reviews, newest first. Read-only: approve and reject are the actions, which call the services."""

    list_display = (
        "number",
        "created_at",
        "item",
        "store_display",
        "stars_display",
        "excerpt",
        "member_display",
        "status",
    )
    list_display_links = ("number", "created_at")
    # Items: only those with reviews (a shop may have thousands of items; the search finds any of them).
    list_filter = ("status", "item__store", ("item", admin.RelatedOnlyFieldListFilter), "stars")
    list_select_related = ("member", "item", "item__store")
    search_fields = ("member__email", "member__name", "item__code", "item__name", "text")
    search_help_text = _("Member e-mail or name, item code or name, words of the review.")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("approve_selected", "reject_selected")
    fields = (
        "item",
        "reservation",
        "member",
        "stars_display",
        "text_display",
        "status",
        "decided_by",
        "decided_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("No."), ordering="id")
    def number(self, obj: Review) -> str:
        return f"#{obj.pk}"

    @admin.display(description=_("store"), ordering="item__store")
    def store_display(self, obj: Review) -> str:
        return obj.item.store.name

    @admin.display(description=_("stars"), ordering="stars")
    def stars_display(self, obj: Review) -> str:
        return obj.star_marks

    @admin.display(description=_("review"))
    def excerpt(self, obj: Review) -> str:
        return obj.text if len(obj.text) <= 60 else f"{obj.text[:60]}…"

    @admin.display(description=_("review"))
    def text_display(self, obj: Review) -> str:
        # Each line escaped by format_html_join: the member's words are shown, never run.
        lines = format_html_join(mark_safe("<br>"), "{}", ((line,) for line in obj.text.splitlines()))
        return format_html('<div class="review-text">{}</div>', lines)

    @admin.display(description=_("member"), ordering="member__email")
    def member_display(self, obj: Review) -> str:
        return format_html("{}<br><small>{}</small>", obj.member.name, obj.member.email)

    # --- permissions: read-only; no adding or deleting ------------------------------------------------

    def has_add_permission(self, request):
        return False  # members write reviews of their completed bookings on the member site

    def has_delete_permission(self, request, obj=None):
        return False  # reject instead: points and the audit trail refer to reviews

    def has_change_permission(self, request, obj=None):
        # The change form is view-only; the model-level change permission is what the actions require.
        return obj is None and super().has_change_permission(request)

    def get_queryset(self, request):
        return stores.for_user(super().get_queryset(request), request.user, field="item__store")

    # --- actions --------------------------------------------------------------------------------------

    @admin.action(description=_("Approve the selected reviews…"), permissions=["change"])
    def approve_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["approve"], action="approve_selected")

    @admin.action(description=_("Reject the selected reviews…"), permissions=["change"])
    def reject_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["reject"], action="reject_selected")

    operations = OPERATIONS
    operation_template = "admin/inventory/review/confirm_operation.html"

    def operation_rows(self, queryset):
        return queryset.select_related("member", "item", "item__store").order_by("-created_at", "-pk")

    def operation_failed(self, review: Review, error: DomainError) -> str:
        return gettext("Review #%(number)s (%(item)s) was not changed: %(error)s") % {
            "number": review.pk,
            "item": review.item.name,
            "error": error,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"operations": self.operation_buttons(request, self.get_object(request, unquote(object_id)))}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})
