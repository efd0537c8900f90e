"""ポイント情報: the shop's point settings, one row, edited through points.services.points_settings_update
(checked by the model's rules, with an audit entry). The expiry method is shown, not edited: switching it
rewrites every balance's dates, which the command `manage.py switch_point_expiry` does after saying what
it will do."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from points import services
from points.models import PointSettings


@admin.register(PointSettings)
class PointSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        (_("Earning"), {"fields": ("base_rate_percent", "signup_points", "review_rule", "review_points")}),
        (_("Using"), {"fields": ("usage_mode",)}),
        (
            _("Expiry"),
            {
                "fields": ("expiry_method", "period_months"),
                "description": _(
                    "The expiry method is switched with the command manage.py switch_point_expiry --to "
                    "per_record|whole_balance: without --apply it says what it will do to each member's "
                    "dates, with --apply it does it."
                ),
            },
        ),
    )
    readonly_fields = ("expiry_method",)

    def changelist_view(self, request, extra_context=None):
        # One row: the list would only ever show it, so go to it (made with its defaults on first visit).
        row = PointSettings.current()
        return redirect(reverse("admin:points_pointsettings_change", args=[row.pk]))

    def has_add_permission(self, request):
        return False  # the one row is made by PointSettings.current(), with its defaults

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The change goes through the service (which writes the audit entry); the admin's change view runs
        # in a transaction, so the row and its entry are saved together.
        services.points_settings_update(
            by=request.user, **{name: form.cleaned_data[name] for name in form.changed_data}
        )
