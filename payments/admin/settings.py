"""The shop's payment settings (決済設定): one row, edited by staff with the permission. The list page goes
straight to the row; there is nothing to add beyond it and nothing to delete. Each change is written to the
audit trail with what changed."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.audit import audit_log
from payments.models import PaymentSettings


class PaymentSettingsForm(forms.ModelForm):
    class Meta:
        model = PaymentSettings
        fields = ("refund_policy", "counter_payment_enabled", "show_member_discount")
        widgets = {"refund_policy": forms.RadioSelect}
        help_texts = {
            "refund_policy": _(
                "When a member cancels a card-paid booking before its cancellation deadline: refund the "
                "whole amount through Stripe at once, or leave it to staff (the order is flagged 要返金 and "
                "listed for you to decide). Cancellations by staff always ask whether to refund and how much."
            ),
            "counter_payment_enabled": _(
                "Offer 'Pay at the counter' when booking. Each item can also switch it off for itself (item "
                "› price settings); it is offered only where both allow it, also for bookings staff take. "
                "Bookings already made at the counter keep their unpaid orders."
            ),
            "show_member_discount": _(
                "Show the member discount as its own line before paying. When off, members see prices "
                "already net of their discount: what is shown always equals what is charged."
            ),
        }


@admin.register(PaymentSettings)
class PaymentSettingsAdmin(admin.ModelAdmin):
    form = PaymentSettingsForm
    fields = ("refund_policy", "counter_payment_enabled", "show_member_discount")

    def changelist_view(self, request, extra_context=None):
        # One row: the list would only ever show it, so go to it (made with its defaults on first visit).
        row = PaymentSettings.current()
        return redirect(reverse("admin:payments_paymentsettings_change", args=[row.pk]))

    def has_add_permission(self, request):
        return False  # the one row is made by PaymentSettings.current(), with its defaults

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The admin's change view runs in a transaction: the row and its audit entry are saved together.
        super().save_model(request, obj, form, change)
        if form.changed_data:
            audit_log(
                action="payments.settings_changed",
                obj=obj,
                by=request.user,
                payload={field: form.cleaned_data[field] for field in form.changed_data},
            )
