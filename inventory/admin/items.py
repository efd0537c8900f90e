"""アイテム管理: items with their images, prices and events; duplicate, price preview and warnings."""

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
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from inventory import quotes, services
from inventory.admin_forms import (
    IrregularEventForm,
    PricePreviewForm,
    RepeatingEventForm,
    WeekdayPriceRuleForm,
)
from inventory.exceptions import CapacityChangeError
from inventory.models import (
    IrregularEvent,
    Item,
    ItemImage,
    PriceUnit,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    WeekdayPriceRule,
)
from inventory.quotes import quote_booking

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
                "fields": ("display_price", "price_type", "counter_payment_allowed"),
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

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except CapacityChangeError as refusal:
            # The save ran in the view's transaction, which the refusal rolled back: nothing was saved.
            # Show the page again with what staff typed and the refusal as the form's error.
            request._capacity_refusal = refusal
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, "_capacity_refusal", None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self):
                cleaned_data = super().clean()
                self.add_error(None, str(refusal))
                return cleaned_data

        return RefusedForm

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        item = form.instance
        if change:
            # Stock and capacity edits reach the occurrences already booked, or the whole save is refused
            # (CapacityChangeError, shown by changeform_view). The service's audit entry stands for the
            # whole save (the admin's own "changed" entry is then not written), so it names all it touched.
            changes = {
                name: [form.initial.get(name), form.cleaned_data.get(name)]
                for name in ("stock", "reservation_type")
                if name in form.changed_data
            }
            events = [
                formset.prefix
                for formset in formsets
                if formset.model in (RepeatingEvent, IrregularEvent) and formset.has_changed()
            ]
            if changes or events:
                edited = [name for name in form.changed_data if name not in changes] + [
                    formset.prefix for formset in formsets if formset.has_changed()
                ]
                services.item_capacity_apply(item=item, by=request.user, changes=changes, edited=edited)
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
            copy = services.item_duplicate(item=item, by=request.user)
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
            existing = services.item_own_settings_enable(item=item, by=request.user)
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
