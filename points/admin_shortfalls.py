"""Staff admin of purchase points not taken back (PointShortfall): read-only; a refund made in the Stripe
dashboard that could not take them all back waits on the staff home until someone marks it handled (after
adjusting the member's points by hand, or deciding to leave them)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.audit import audit_log
from points.models import PointShortfall


@transaction.atomic
def point_shortfall_mark_handled(*, shortfall: PointShortfall, by, now=None) -> PointShortfall:
    now = now or timezone.now()
    shortfall = PointShortfall.objects.select_for_update().get(pk=shortfall.pk)
    if shortfall.handled_at is not None:
        return shortfall
    shortfall.handled_at = now
    shortfall.handled_by = by
    shortfall.save(update_fields=["handled_at", "handled_by"])
    audit_log(
        action="points.shortfall_handled",
        obj=shortfall.order,
        by=by,
        now=now,
        payload={"shortfall": shortfall.pk, "missing": shortfall.points_missing},
    )
    return shortfall


@admin.register(PointShortfall)
class PointShortfallAdmin(admin.ModelAdmin):
    list_display = (
        "order",
        "member",
        "resolution",
        "points_granted",
        "points_taken",
        "points_missing",
        "deducted_yen",
        "created_at",
        "handled_at",
    )
    list_filter = ("resolution", ("handled_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("order", "member")
    search_fields = ("member__email", "member__name")
    actions = ("mark_handled",)
    readonly_fields = (
        "order",
        "member",
        "grant",
        "resolution",
        "points_granted",
        "points_taken",
        "points_missing",
        "deducted_yen",
        "created_at",
        "created_by",
        "system",
        "handled_at",
        "handled_by",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    @admin.action(description=_("Mark as handled"), permissions=["change"])
    def mark_handled(self, request, queryset):
        count = 0
        for shortfall in queryset.order_by("pk"):
            point_shortfall_mark_handled(shortfall=shortfall, by=request.user)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d entry was marked as handled.", "%(count)d entries were marked as handled.", count
            )
            % {"count": count},
            messages.SUCCESS,
        )
