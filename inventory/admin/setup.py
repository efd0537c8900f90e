"""Staff admin of inventory's configuration: stores, categories, seasons, reservation settings, manual
acceptance and slots, edited as ordinary model forms."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_widgets import SafeAutocompleteSelect
from inventory.admin_forms import (
    AcceptanceHoursForm,
    AcceptanceOverrideForm,
    ReservationSettingsForm,
    SeasonForm,
)
from inventory.models import (
    AcceptanceHours,
    AcceptanceOverride,
    Category,
    ReservationSettings,
    Season,
    Slot,
    Store,
    WeekdayPriceRule,
)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "address", "phone", "display_order", "is_public", "updated_at")
    list_editable = ("display_order", "is_public")
    list_filter = ("is_public",)
    search_fields = ("name", "address", "phone")
    fields = ("name", "address", "phone", "opening_hours", "display_order", "is_public", "staff")
    filter_horizontal = ("staff",)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """分類管理."""

    list_display = ("name", "display_order", "item_count")
    list_editable = ("display_order",)
    search_fields = ("name",)
    fields = ("name", "display_order")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_total=Count("items"))

    @admin.display(description=_("items"), ordering="item_total")
    def item_count(self, obj: Category) -> int:
        return obj.item_total


@admin.register(Season)
class SeasonAdmin(admin.ModelAdmin):
    """Seasons of the general settings (e.g. ハイシーズン 2025-07-01|2025-08-31), used by weekday rules."""

    form = SeasonForm
    list_display = ("name", "start_date", "end_date")
    search_fields = ("name",)
    date_hierarchy = "start_date"

    def get_deleted_objects(self, objs, request):
        rules = (
            WeekdayPriceRule.objects.filter(season__in=objs)
            .select_related("item")
            .order_by("item_id", "position", "id")
        )
        if rules:
            protected = [
                gettext("%(item)s: weekday price rule “%(label)s” uses this season.")
                % {"item": rule.item, "label": rule.label}
                for rule in rules
            ]
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)


# ---------------------------------------------------------------------------------------------------------
# Reservation settings (一般設定 › 予約設定, and 個別予約設定)
# ---------------------------------------------------------------------------------------------------------


class AcceptanceHoursInline(admin.TabularInline):
    model = AcceptanceHours
    form = AcceptanceHoursForm
    extra = 0
    max_num = 8
    fields = ("weekday", "opens_at", "closes_at")


@admin.register(ReservationSettings)
class ReservationSettingsAdmin(admin.ModelAdmin):
    """There is one general row; items may have their own row, opened from the item's page."""

    form = ReservationSettingsForm
    inlines = (AcceptanceHoursInline,)
    readonly_fields = ("applies_to",)
    fieldsets = (
        (None, {"fields": ("applies_to", "schedule")}),
        (
            _("Booking length"),
            {"fields": ("time_step_minutes", "min_minutes", "max_minutes")},
        ),
        (
            _("Deadlines"),
            {
                "fields": (
                    "book_ahead_days",
                    "booking_deadline_minutes",
                    "cancel_deadline_minutes",
                    "tentative_hold_minutes",
                )
            },
        ),
        (_("Approval (承認制)"), {"fields": ("approval_required", "approval_hours")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item")

    def changelist_view(self, request, extra_context=None):
        # The list would hold one general row: go straight to it.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        general = ReservationSettings.general()
        return redirect(reverse("admin:inventory_reservationsettings_change", args=[general.pk]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.item_id is not None and super().has_delete_permission(request, obj)

    @admin.display(description=_("applies to"))
    def applies_to(self, obj: ReservationSettings) -> str:
        if obj.item_id is None:
            return gettext("Every item that does not use its own reservation settings.")
        url = reverse("admin:inventory_item_change", args=[obj.item_id])
        note = (
            "" if obj.item.uses_own_settings else gettext(" (not in use: the item uses the general settings)")
        )
        return format_html('<a href="{}">{}</a>{}', url, obj.item, note)

    def response_change(self, request, obj):
        response = super().response_change(request, obj)
        if obj.item_id is not None and "_continue" not in request.POST:
            return redirect(reverse("admin:inventory_item_change", args=[obj.item_id]))
        return response

    def response_delete(self, request, obj_display, obj_id):
        super().response_delete(request, obj_display, obj_id)
        return redirect(reverse("admin:inventory_item_changelist"))


# ---------------------------------------------------------------------------------------------------------
# Manual acceptance (手動受付設定) and slots
# ---------------------------------------------------------------------------------------------------------


@admin.register(AcceptanceOverride)
class AcceptanceOverrideAdmin(admin.ModelAdmin):
    """手動受付設定: close dates or weeks (臨時休業), or open dates for irregular free-type items."""

    form = AcceptanceOverrideForm
    list_display = ("start_date", "end_date", "kind", "store", "item", "note")
    list_filter = ("kind", "store", ("item", admin.RelatedOnlyFieldListFilter), "start_date")
    list_select_related = ("store", "item")
    search_fields = ("note", "item__code", "item__name")
    date_hierarchy = "start_date"
    autocomplete_fields = ("item",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.autocomplete_fields:
            # Django's own widget answers 500 when the form comes back with an item that is no id.
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    fieldsets = (
        (
            None,
            {
                "fields": ("store", "item", "kind", "start_date", "end_date", "note"),
                "description": _(
                    "Closed: no bookings from the first to the last day (臨時休業), for the whole store or "
                    "one item. Open: bookings are accepted on those days, only for free-type items whose "
                    "acceptance schedule is irregular (不定期). For one day, use the same first and last day."
                ),
            },
        ),
    )


@admin.register(Slot)
class SlotAdmin(admin.ModelAdmin):
    """Occurrences of fixed-type events made by bookings: read-only, kept in step by the services."""

    list_display = ("starts_at", "ends_at", "item", "capacity", "booked", "remaining")
    list_filter = ("item__store", ("item", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("item",)
    search_fields = ("item__code", "item__name")
    date_hierarchy = "starts_at"

    @admin.display(description=_("remaining"))
    def remaining(self, obj: Slot) -> int:
        return max(obj.capacity - obj.booked, 0)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
