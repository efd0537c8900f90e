"""The Stripe event log."""

from __future__ import annotations

from django.contrib import admin

from payments.models import StripeEvent


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    """The Stripe event log: every webhook received, once, with what it did."""

    list_display = ("received_at", "type", "event_id", "order", "result", "livemode")
    list_filter = ("type", "livemode")
    search_fields = ("event_id", "type", "order__id")
    list_select_related = ("order",)
    date_hierarchy = "received_at"
    readonly_fields = (
        "event_id",
        "type",
        "livemode",
        "stripe_created",
        "received_at",
        "order",
        "result",
        "payload",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
