"""Staff admin of inventory (店舗管理 › アイテム管理 and friends).

Reservations change state only through inventory.services (the actions below); the admin never sets a
status itself. Items and their settings are configuration, edited as ordinary model forms.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, ProtectedError
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_operations import StaffOperation, StaffOperationsMixin
from core.exceptions import DomainError
from inventory import payment_methods, quotes, services
from inventory.admin_forms import (
    AcceptanceHoursForm,
    AcceptanceOverrideForm,
    CancelReasonForm,
    IrregularEventForm,
    PricePreviewForm,
    RepeatingEventForm,
    ReservationSettingsForm,
    SeasonForm,
    WeekdayPriceRuleForm,
)
from inventory.models import (
    AcceptanceHours,
    AcceptanceOverride,
    Category,
    IrregularEvent,
    Item,
    ItemImage,
    PriceUnit,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    Season,
    Slot,
    Store,
    WeekdayPriceRule,
)
from inventory.quotes import quote_booking


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "address", "phone", "display_order", "is_public", "updated_at")
    list_editable = ("display_order", "is_public")
    list_filter = ("is_public",)
    search_fields = ("name", "address", "phone")
    fields = ("name", "address", "phone", "opening_hours", "display_order", "is_public")


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
# Items (アイテム管理)
# ---------------------------------------------------------------------------------------------------------


class PlacedInline:
    """Inlines are shown right after the fieldset they belong to (see admin/inventory/item/change_form.html),
    so 料金設定 holds its price units and rules, 詳細設定 its events."""

    after_fieldset = 3
    applies_when: Callable[[Item], bool] | None = None

    def get_classes(self, obj: Item | None) -> list[str]:
        # Folded (not hidden) when the item's current type does not use this inline.
        if obj is not None and self.applies_when is not None and not self.applies_when(obj):
            return ["collapse"]
        return []


class ItemImageInline(PlacedInline, admin.TabularInline):
    model = ItemImage
    extra = 0
    fields = ("image", "caption", "display_order")
    after_fieldset = 1


class PriceUnitInline(PlacedInline, admin.TabularInline):
    model = PriceUnit
    extra = 0
    fields = ("minutes", "price_yen")
    after_fieldset = 2
    applies_when = staticmethod(lambda item: item.price_type == Item.PriceType.PER_UNIT)


class WeekdayPriceRuleInline(PlacedInline, admin.TabularInline):
    model = WeekdayPriceRule
    form = WeekdayPriceRuleForm
    extra = 0
    fields = ("position", "weekdays", "label", "price_yen", "season")
    after_fieldset = 2
    applies_when = staticmethod(lambda item: item.price_type == Item.PriceType.PER_WEEKDAY)


class RepeatingEventInline(PlacedInline, admin.TabularInline):
    model = RepeatingEvent
    form = RepeatingEventForm
    extra = 0
    fields = ("weekday", "starts_at", "ends_at", "capacity", "valid_from", "valid_until")
    after_fieldset = 3
    applies_when = staticmethod(lambda item: item.reservation_type == Item.ReservationType.FIXED)


class IrregularEventInline(PlacedInline, admin.TabularInline):
    model = IrregularEvent
    form = IrregularEventForm
    extra = 0
    fields = ("date", "starts_at", "ends_at", "capacity")
    after_fieldset = 3
    applies_when = staticmethod(lambda item: item.reservation_type == Item.ReservationType.FIXED)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    """アイテム管理."""

    list_display = (
        "code",
        "name",
        "store",
        "category",
        "is_public",
        "stock",
        "price_type",
        "reservation_type",
        "display_order",
    )
    list_display_links = ("code", "name")
    list_editable = ("is_public", "display_order")
    list_filter = ("store", "category", "is_public", "price_type", "reservation_type")
    list_select_related = ("store", "category")
    search_fields = ("code", "name")
    search_help_text = _("Item code or name.")
    ordering = ("store__display_order", "display_order", "id")
    actions = ("duplicate_selected",)
    save_on_top = True
    readonly_fields = ("own_settings_link",)
    inlines = (
        ItemImageInline,
        PriceUnitInline,
        WeekdayPriceRuleInline,
        RepeatingEventInline,
        IrregularEventInline,
    )
    fieldsets = (
        (
            _("Basic settings"),
            {
                "fields": (
                    "is_public",
                    "display_order",
                    "code",
                    "name",
                    "store",
                    "category",
                    "stock",
                    "staff_memo",
                )
            },
        ),
        (
            _("Display settings"),
            {"fields": ("main_image", "catchphrase", "summary", "free_area")},
        ),
        (
            _("Price settings"),
            {
                "fields": ("display_price", "price_type"),
                "description": _(
                    "Per time unit: the cheapest combination of units that covers the booking is charged. "
                    "Per weekday: rules are checked from the top (lowest order first) and the first rule "
                    "that matches the day gives its price; a day no rule matches costs 0 yen."
                ),
            },
        ),
        (
            _("Details"),
            {"fields": ("reservation_type", "uses_own_settings", "own_settings_link")},
        ),
    )

    # --- pages ----------------------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/price-preview/",
                view(self.price_preview_view),
                name="{}_{}_price_preview".format(*info),
            ),
            path(
                "<path:object_id>/duplicate/", view(self.duplicate_view), name="{}_{}_duplicate".format(*info)
            ),
            path(
                "<path:object_id>/own-settings/",
                view(self.own_settings_view),
                name="{}_{}_own_settings".format(*info),
            ),
            *super().get_urls(),
        ]

    def get_inline_instances(self, request, obj=None):
        instances = super().get_inline_instances(request, obj)
        for inline in instances:
            inline.classes = inline.get_classes(obj)
        return instances

    def change_view(self, request, object_id, form_url="", extra_context=None):
        item = self.get_object(request, unquote(object_id))
        extra = {}
        if item is not None:
            extra = {
                "price_warnings": quotes.item_price_warnings(item),
                "preview_url": self._url("price_preview", item),
                "duplicate_url": self._url("duplicate", item),
                "own_settings_url": self._url("own_settings", item),
                "overrides_url": reverse("admin:inventory_acceptanceoverride_changelist")
                + f"?item__id__exact={item.pk}",
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _url(self, name: str, item: Item) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[item.pk])

    @admin.display(description=_("own reservation settings (個別予約設定)"))
    def own_settings_link(self, obj: Item | None) -> str:
        if obj is None or obj.pk is None:
            return gettext("Save the item first; then its own reservation settings can be made.")
        own = ReservationSettings.objects.filter(item=obj).first()
        if own is None:
            return gettext(
                "Not made yet: this item uses the general reservation settings. Use “Own reservation "
                "settings” at the top of this page to make them (they start as a copy of the general ones)."
            )
        state = (
            gettext("In use.")
            if obj.uses_own_settings
            else gettext("Not in use: tick “own reservation settings” above to use them.")
        )
        url = reverse("admin:inventory_reservationsettings_change", args=[own.pk])
        return format_html('<a href="{}">{}</a> {}', url, gettext("Edit the own reservation settings"), state)

    # --- saving ---------------------------------------------------------------------------------------

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        item = form.instance
        # Number the rules 1, 2, 3 … in the order they are checked, so "rule 2" in a warning is the row
        # with order 2.
        for number, rule in enumerate(item.weekday_rules.order_by("position", "id"), start=1):
            if rule.position != number:
                WeekdayPriceRule.objects.filter(pk=rule.pk).update(position=number)
        if "_continue" not in request.POST:  # "save and continue" shows them in the page's warning box
            for warning in quotes.item_price_warnings(item):
                self.message_user(request, warning, messages.WARNING)

    # --- duplicate (複製) -----------------------------------------------------------------------------

    def duplicate_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        item = self.get_object(request, unquote(object_id))
        if item is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not (self.has_add_permission(request) and self.has_view_permission(request, item)):
            raise PermissionDenied
        copy = self._duplicate(request, item)
        if copy is None:
            return redirect(self._change_url(item))
        return redirect(self._change_url(copy))

    def _duplicate(self, request: HttpRequest, item: Item) -> Item | None:
        try:
            copy = services.item_duplicate(item=item)
        except DomainError as error:
            self.message_user(request, str(error), messages.ERROR)
            return None
        self.log_addition(request, copy, [{"added": {}}])
        self.message_user(
            request,
            gettext(
                "%(source)s was duplicated as %(copy)s. The copy is private (非公開) until you publish it."
            )
            % {"source": item, "copy": copy},
            messages.SUCCESS,
        )
        return copy

    @admin.action(description=_("Duplicate the selected items (複製)"), permissions=["add"])
    def duplicate_selected(self, request, queryset):
        copies = [copy for item in queryset.order_by("pk") if (copy := self._duplicate(request, item))]
        if len(copies) == 1:
            return redirect(self._change_url(copies[0]))
        return None

    def _change_url(self, item: Item) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[item.pk])

    # --- own reservation settings (個別予約設定) ------------------------------------------------------

    def own_settings_view(self, request: HttpRequest, object_id: str):
        item = self.get_object(request, unquote(object_id))
        if item is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        existing = ReservationSettings.objects.filter(item=item).first()
        if existing is None:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.has_change_permission(request, item):
                raise PermissionDenied
            existing = services.item_own_settings_enable(item=item)
            self.message_user(
                request,
                gettext(
                    "%(item)s now uses its own reservation settings. They start as a copy of the general "
                    "settings; change them below."
                )
                % {"item": item},
                messages.SUCCESS,
            )
        return redirect(reverse("admin:inventory_reservationsettings_change", args=[existing.pk]))

    # --- price preview --------------------------------------------------------------------------------

    def price_preview_view(self, request: HttpRequest, object_id: str):
        item = self.get_object(request, unquote(object_id))
        if item is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, item):
            raise PermissionDenied
        form = PricePreviewForm(request.GET or None)
        quote = None
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            quote = quote_booking(item, data["starts_at"], data["ends_at"], data["quantity"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Price preview: %(item)s") % {"item": item},
            "subtitle": None,
            "item": item,
            "original": item,
            "form": form,
            "quote": quote,
            "price_warnings": quotes.item_price_warnings(item),
            "change_url": self._change_url(item),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/inventory/item/price_preview.html", context)

    # --- delete: warn, and refuse friendly when reservations refer to the item -----------------------

    def get_deleted_objects(self, objs, request):
        booked = (
            Reservation.objects.filter(item__in=objs)
            .values("item")
            .annotate(total=Count("id"))
            .order_by("item")
        )
        totals = {row["item"]: row["total"] for row in booked}
        if totals:
            protected = [
                ngettext(
                    "%(item)s: %(count)d reservation refers to it.",
                    "%(item)s: %(count)d reservations refer to it.",
                    totals[obj.pk],
                )
                % {"item": obj, "count": totals[obj.pk]}
                for obj in objs
                if obj.pk in totals
            ]
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ProtectedError:  # booked between the confirmation page and the click
            self.message_user(request, self._protected_message(), messages.ERROR)
            return redirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))

    def response_action(self, request, queryset):
        try:
            return super().response_action(request, queryset)
        except ProtectedError:
            self.message_user(request, self._protected_message(), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @staticmethod
    def _protected_message() -> str:
        return gettext(
            "The item could not be deleted because reservations or other records refer to it. "
            "Make it private (非公開) instead."
        )


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


# ---------------------------------------------------------------------------------------------------------
# Reservations
# ---------------------------------------------------------------------------------------------------------


class PaymentMethodFilter(admin.SimpleListFilter):
    title = _("payment method")
    parameter_name = "payment_method"

    def lookups(self, request, model_admin):
        return [(method.key, method.label) for method in payment_methods.all_methods()]

    def queryset(self, request, queryset):
        return queryset.filter(payment_method=self.value()) if self.value() else queryset


def _payment_label(key: str) -> str:
    try:
        return str(payment_methods.get(key).label)
    except DomainError:
        return key


def _started_and_confirmed(reservation: Reservation) -> bool:
    return reservation.status == Reservation.Status.CONFIRMED and reservation.starts_at <= timezone.now()


OPERATIONS = {
    "cancel": StaffOperation(
        key="cancel",
        label=_("Cancel this reservation"),
        title=_("Cancel reservations"),
        question=_(
            "Cancel these reservations? The member is notified by e-mail and what the payment method took is "
            "given back. Staff may cancel at any time, even after the member's cancellation deadline."
        ),
        button=_("Yes, cancel them"),
        done=lambda n: (
            ngettext("%(count)d reservation was cancelled.", "%(count)d reservations were cancelled.", n)
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_cancel(
            reservation=reservation, by=request.user, reason=form.cleaned_data["reason"], as_staff=True
        ),
        possible=lambda reservation: reservation.is_live,
        form_class=CancelReasonForm,
    ),
    "no_show": StaffOperation(
        key="no_show",
        label=_("Mark as no-show"),
        title=_("Mark as no-show (無断キャンセル)"),
        question=_(
            "Mark these reservations as no-shows? Only confirmed reservations that have started can be "
            "marked. The member is not refunded: a ticket use or plan allowance stays used."
        ),
        button=_("Yes, mark as no-show"),
        done=lambda n: (
            ngettext(
                "%(count)d reservation was marked as a no-show.",
                "%(count)d reservations were marked as no-shows.",
                n,
            )
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_mark_no_show(
            reservation=reservation, by=request.user
        ),
        possible=lambda reservation: _started_and_confirmed(reservation),
    ),
    "complete": StaffOperation(
        key="complete",
        label=_("Mark as completed"),
        title=_("Mark as completed"),
        question=_(
            "Mark these reservations as completed? Only confirmed reservations that have started can be."
        ),
        button=_("Yes, mark as completed"),
        done=lambda n: (
            ngettext(
                "%(count)d reservation was marked as completed.",
                "%(count)d reservations were marked as completed.",
                n,
            )
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_complete(reservation=reservation),
        possible=lambda reservation: _started_and_confirmed(reservation),
        confirm=False,
    ),
    "confirm": StaffOperation(
        key="confirm",
        label=_("Confirm this reservation"),
        title=_("Confirm tentative reservations"),
        question=_("Confirm these tentative reservations (payment received or approved by staff)?"),
        button=_("Yes, confirm them"),
        done=lambda n: (
            ngettext("%(count)d reservation was confirmed.", "%(count)d reservations were confirmed.", n)
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_confirm(reservation=reservation),
        possible=lambda reservation: reservation.status == Reservation.Status.TENTATIVE,
        confirm=False,
    ),
}


@admin.register(Reservation)
class ReservationAdmin(StaffOperationsMixin, admin.ModelAdmin):
    """Reservations by date. Read-only: status changes only through the actions, which call the services."""

    list_display = (
        "number",
        "starts_at",
        "ends_at",
        "member_display",
        "item",
        "store",
        "quantity",
        "status",
        "price_display",
        "payment_display",
        "channel",
    )
    list_display_links = ("number", "starts_at")
    list_filter = ("store", "item", "status", PaymentMethodFilter, "channel")
    list_select_related = ("member", "item", "store")
    search_fields = ("member__email", "member__name", "item__code", "item__name")
    search_help_text = _("Member e-mail or name, item code or name.")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at", "-id")
    actions = ("cancel_selected", "mark_no_show", "mark_completed", "confirm_selected")
    fieldsets = (
        (
            _("Booking"),
            {"fields": ("member", "item", "store", "slot", "starts_at", "ends_at", "quantity", "channel")},
        ),
        (
            _("Status"),
            {
                "fields": (
                    "status",
                    "hold_until",
                    "confirmed_at",
                    "cancelled_at",
                    "cancelled_by",
                    "cancel_reason",
                    "completed_at",
                    "no_show_at",
                )
            },
        ),
        (_("Payment"), {"fields": ("price_display", "payment_display", "price_lines")}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "member",
        "item",
        "store",
        "slot",
        "starts_at",
        "ends_at",
        "quantity",
        "channel",
        "status",
        "hold_until",
        "confirmed_at",
        "cancelled_at",
        "cancelled_by",
        "cancel_reason",
        "completed_at",
        "no_show_at",
        "price_display",
        "payment_display",
        "price_lines",
        "created_at",
        "updated_at",
    )

    # --- columns --------------------------------------------------------------------------------------

    @admin.display(description=_("No."), ordering="id")
    def number(self, obj: Reservation) -> str:
        return f"#{obj.pk}"

    @admin.display(description=_("member"), ordering="member__email")
    def member_display(self, obj: Reservation) -> str:
        return format_html("{}<br><small>{}</small>", obj.member.name, obj.member.email)

    @admin.display(description=_("price"), ordering="price_yen")
    def price_display(self, obj: Reservation) -> str:
        return f"¥{obj.price_yen:,}"

    @admin.display(description=_("payment method"), ordering="payment_method")
    def payment_display(self, obj: Reservation) -> str:
        return _payment_label(obj.payment_method)

    @admin.display(description=_("price breakdown"))
    def price_lines(self, obj: Reservation) -> str:
        lines = (obj.price_breakdown or {}).get("lines") or []
        if not lines:
            return "-"
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    # --- permissions: read-only change form; no adding or deleting here -------------------------------

    def has_add_permission(self, request):
        return False  # staff bookings go through reservation_create (a later issue)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the history and the payment ledgers refer to reservations

    def has_change_permission(self, request, obj=None):
        # The change form is view-only (status changes go through the actions); the model-level change
        # permission is what the actions require.
        return obj is None and super().has_change_permission(request)

    # --- actions --------------------------------------------------------------------------------------

    @admin.action(description=_("Cancel the selected reservations…"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["cancel"], action="cancel_selected")

    @admin.action(
        description=_("Mark the selected reservations as no-show (無断キャンセル)…"), permissions=["change"]
    )
    def mark_no_show(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["no_show"], action="mark_no_show")

    @admin.action(description=_("Mark the selected reservations as completed"), permissions=["change"])
    def mark_completed(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["complete"], action="mark_completed")

    @admin.action(description=_("Confirm the selected tentative reservations"), permissions=["change"])
    def confirm_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["confirm"], action="confirm_selected")

    operations = OPERATIONS
    operation_template = "admin/inventory/reservation/confirm_operation.html"

    def operation_rows(self, queryset):
        return queryset.select_related("member", "item", "store").order_by("starts_at", "pk")

    def operation_failed(self, reservation: Reservation, error: DomainError) -> str:
        return gettext("Reservation #%(number)s (%(member)s, %(when)s) was not changed: %(error)s") % {
            "number": reservation.pk,
            "member": reservation.member.name or reservation.member.email,
            "when": f"{timezone.localtime(reservation.starts_at):%Y-%m-%d %H:%M}",
            "error": error,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"operations": self.operation_buttons(request, self.get_object(request, unquote(object_id)))}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})
