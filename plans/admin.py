"""Staff admin of plans (SPEC §7): time bands (予約可能時間帯), plans with their band allowances and the
チケット自動付与 part (three tables of grant rules: 新規契約時 / 毎月の定期付与 / 前月残り予約回数の繰越),
and read-only lists of contracts and grants.

Time bands and plans are configuration: the admin saves them as Django does, and each save is in the audit
trail through the admin's own log (core.audit.install_admin_log_auditing). Contracts and grants change
only through the plans services, so their pages are read-only here. The rules of the forms live in
plans.forms.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import periods
from inventory.models import WEEKDAY_CHOICES
from plans import grants
from plans.admin_contracts import ContractStaffViewsMixin
from plans.forms import (
    GrantRuleForm,
    PlanBandAllowanceFormSet,
    PlanForm,
    TimeBandForm,
    TimeBandWindowForm,
    TimeBandWindowFormSet,
    grant_rule_form_and_formset,
)
from plans.models import GrantRule, Plan, PlanBandAllowance, PlanContract, PlanGrant, TimeBand, TimeBandWindow

WEEKDAY_LABELS = dict(WEEKDAY_CHOICES)

# ---------------------------------------------------------------------------------------------------------
# Time bands (予約可能時間帯)
# ---------------------------------------------------------------------------------------------------------


class TimeBandWindowInline(admin.TabularInline):
    model = TimeBandWindow
    form = TimeBandWindowForm
    formset = TimeBandWindowFormSet
    fields = ("starts_at", "ends_at")
    verbose_name_plural = _("time windows (a booking starting at a time from “from” up to “until”)")

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0


@admin.register(TimeBand)
class TimeBandAdmin(admin.ModelAdmin):
    form = TimeBandForm
    list_display = ("name", "weekdays_display", "windows_display", "display_order")
    list_display_links = ("name",)
    search_fields = ("name",)
    fields = ("name", "weekdays", "display_order")
    inlines = (TimeBandWindowInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("windows")

    @admin.display(description=_("weekdays"))
    def weekdays_display(self, obj: TimeBand) -> str:
        return " ".join(str(WEEKDAY_LABELS.get(day, day)) for day in obj.weekdays)

    @admin.display(description=_("time windows"))
    def windows_display(self, obj: TimeBand) -> str:
        return ", ".join(str(window) for window in obj.windows.all())


# ---------------------------------------------------------------------------------------------------------
# Plans (プラン)
# ---------------------------------------------------------------------------------------------------------


class PlainRowsInline(admin.TabularInline):
    """A table whose select boxes come without the add / change / delete / view links of the related
    object: the rows stay narrow, and bands and tickets are edited on their own pages."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        widget = getattr(formfield, "widget", None)
        for flag in ("can_add_related", "can_change_related", "can_delete_related", "can_view_related"):
            if hasattr(widget, flag):
                setattr(widget, flag, False)
        return formfield


class PlanBandAllowanceInline(PlainRowsInline):
    model = PlanBandAllowance
    formset = PlanBandAllowanceFormSet
    fields = ("band", "allowance", "position")
    verbose_name_plural = _("Bookings per month per time band (予約可能数)")

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0


class GrantRuleInline(PlainRowsInline):
    """One table of the チケット自動付与 part: the rules of one kind, the kind set on each row it saves."""

    model = GrantRule
    kind: str = ""
    extra = 0
    fields = (
        "ticket_type",
        "quantity",
        "expiry_amount",
        "expiry_unit",
        "restriction",
        "allowed_plans",
        "position",
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.form, cls.formset = grant_rule_form_and_formset(cls.kind)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=self.kind).prefetch_related("allowed_plans")


class OnContractGrantInline(GrantRuleInline):
    kind = GrantRule.Kind.ON_CONTRACT
    verbose_name = _("on-contract grant")
    verbose_name_plural = _("Ticket auto-grant (チケット自動付与): on a new contract (新規契約時)")


class MonthlyGrantInline(GrantRuleInline):
    kind = GrantRule.Kind.MONTHLY
    verbose_name = _("monthly grant")
    verbose_name_plural = _(
        "Ticket auto-grant (チケット自動付与): on the 1st of every month (毎月の定期付与)"
    )


class CarryOverGrantInline(GrantRuleInline):
    kind = GrantRule.Kind.CARRY_OVER
    verbose_name = _("carry-over grant")
    verbose_name_plural = _(
        "Ticket auto-grant (チケット自動付与): last month's unused allowance (前月残り予約回数の繰越)"
    )
    fields = GrantRuleForm.Meta.fields  # every column of a row: the band (or the total) it carries over too


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = (
        "id",
        "name",
        "is_visible",
        "monthly_product",
        "allowance_display",
        "max_concurrent",
        "max_concurrent_per_day",
        "display_order",
    )
    list_display_links = ("id", "name")
    list_filter = ("is_visible", "allowance_mode")
    search_fields = ("name", "monthly_product__sku", "monthly_product__name")
    search_help_text = _("Plan name, or its monthly product's SKU or name.")
    list_select_related = ("monthly_product",)
    filter_horizontal = ("stores", "items")
    save_on_top = True
    fieldsets = (
        (
            None,
            {"fields": ("is_visible", "name", "display_order")},
        ),
        (
            _("Products"),
            {"fields": ("monthly_product", "contract_month_product", "enrollment_fee_product")},
        ),
        (_("Where it can be used"), {"fields": ("stores", "items")}),
        (
            _("Monthly allowance (予約可能数)"),
            {
                "fields": ("allowance_mode", "total_allowance"),
                "description": _(
                    "Per time band: set the bookings per month of each band in the first table below; a "
                    "booking takes from the first band, in the table's order, whose window holds its start "
                    "time and that has some left. One total across bands (月間全体): the total below counts "
                    "bookings whatever the band."
                ),
            },
        ),
        (
            _("Limits (0 means no limit)"),
            {"fields": ("max_concurrent", "max_concurrent_per_day")},
        ),
        (
            _("Ticket auto-grant (チケット自動付与)"),
            {
                "fields": (),
                "description": _(
                    "The three tables at the bottom. On a new contract: granted when a contract is made on "
                    "the member site (an admin contract only when staff tick it). Monthly: on the 1st of "
                    "every month. Carry-over: on the 1st, last month's unused allowance of one band of the "
                    "plan (or 月間全体 on a plan with one total); an empty quantity grants all that was "
                    "left. "
                    "Expiry: N days counts the grant day as day 1; N months ends at a month end."
                ),
            },
        ),
    )
    inlines = (PlanBandAllowanceInline, OnContractGrantInline, MonthlyGrantInline, CarryOverGrantInline)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("band_allowances", PlanBandAllowance.objects.select_related("band")),
            )
        )

    @admin.display(description=_("monthly allowance"))
    def allowance_display(self, obj: Plan) -> str:
        if obj.allowance_mode == Plan.AllowanceMode.TOTAL:
            return gettext("%(count)s a month in total") % {"count": obj.total_allowance}
        rows = [f"{row.band.name} {row.allowance}" for row in obj.band_allowances.all()]
        return " / ".join(rows) if rows else gettext("No band: no bookings")

    def _create_formsets(self, request, obj, change):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        for formset in formsets:
            # A table's rules may depend on another table typed in the same POST (plans.forms).
            formset.siblings = formsets
        return formsets, inline_instances


# ---------------------------------------------------------------------------------------------------------
# Contracts and grants: read-only (the plans services change them)
# ---------------------------------------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PlanContract)
class PlanContractAdmin(ContractStaffViewsMixin, ReadOnlyAdmin):
    """Read-only rows (contracts change through plans.contracts); the pages that make, cancel or change one
    come from plans.admin_contracts."""

    list_display = ("id", "member", "plan", "contracted_on", "starts_on", "ends_on", "channel", "status")
    list_display_links = ("id", "member")
    list_filter = ("status", "channel", "plan")
    search_fields = ("member__name", "member__name_kana", "member__email")
    search_help_text = _("Member name, kana or e-mail.")
    list_select_related = ("member", "plan")
    date_hierarchy = "contracted_on"
    fields = (
        "member",
        "plan",
        "contracted_on",
        "starts_on",
        "ends_on",
        "channel",
        "status",
        "previous",
        "stripe_subscription_id",
        "new_price_billing",
        "stripe_price_switched_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("new plan's price at Stripe"))
    def new_price_billing(self, obj: PlanContract) -> str:
        """A plan change on a subscription: the 1st Stripe first bills the new price, and whether the switch
        is made or waits for the daily job (plans.price_switches)."""
        from plans import price_switches

        if obj.previous_id is None or not obj.stripe_subscription_id:
            return "-"
        day = f"{price_switches.billed_from(obj.starts_on):%Y-%m-%d}"
        if obj.stripe_price_switched_at is not None:
            return gettext("Billed from {day} (switched at Stripe).").format(day=day)
        if price_switches.price_switch_pending(obj):
            return gettext(
                "Billed from {day}: Stripe switches to it after the invoice of the 1st before (daily job)."
            ).format(day=day)
        return "-"


class MonthFilter(admin.SimpleListFilter):
    title = _("month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = PlanGrant.objects.dates("month", "month", order="DESC")
        return [(f"{month:%Y-%m}", f"{month:%Y-%m}") for month in months]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            year, month = self.value().split("-")
            month = datetime.date(int(year), int(month), 1)
        except (OverflowError, TypeError, ValueError) as error:
            raise IncorrectLookupParameters(error) from error
        return queryset.filter(month=month)


class RuleFilter(admin.SimpleListFilter):
    title = _("ticket grant rule")
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        rules = GrantRule.objects.select_related("plan", "ticket_type").order_by(
            "plan__display_order", "plan_id", "kind", "position", "id"
        )
        return [(str(rule.pk), f"{rule.plan.name} — {rule}") for rule in rules]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        if not self.value().isascii() or not self.value().isdigit() or len(self.value()) > 18:
            raise IncorrectLookupParameters(self.value())
        return queryset.filter(rule_id=int(self.value()))


class GrantPreviewForm(forms.Form):
    """The month of the grants preview, YYYY-MM (the browser's month picker sends that form)."""

    month = forms.CharField(
        label=_("Month"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "pattern": r"\d{4}-\d{2}", "placeholder": "YYYY-MM"}),
        help_text=_("The month whose 1st-of-the-month grants to preview, as YYYY-MM."),
    )

    def clean_month(self) -> datetime.date:
        text = self.cleaned_data["month"].strip()
        try:
            year, month = text.split("-")
            if len(year) != 4 or len(month) != 2 or not (year + month).isdigit():
                raise ValueError(text)
            first = datetime.date(int(year), int(month), 1)
        except ValueError as error:
            raise forms.ValidationError(
                gettext("Enter a month as YYYY-MM, for example 2027-04."), code="invalid"
            ) from error
        if first.year < 2000:
            raise forms.ValidationError(gettext("Enter a month from 2000-01 on."), code="invalid")
        return first


@admin.register(PlanGrant)
class PlanGrantAdmin(ReadOnlyAdmin):
    change_list_template = "admin/plans/plangrant/change_list.html"
    preview_rows = 100  # the rows the preview page shows; the CSV has every row
    list_display = (
        "id",
        "contract",
        "rule_display",
        "month_display",
        "quantity",
        "member_ticket",
        "created_at",
    )
    list_filter = (MonthFilter, RuleFilter)
    search_fields = ("contract__member__name", "contract__member__email")
    search_help_text = _("Member name or e-mail.")
    list_select_related = (
        "contract__plan",
        "contract__member",
        "rule__plan",
        "rule__ticket_type",
        "member_ticket__ticket_type",
    )
    fields = (
        "contract",
        "rule",
        "month",
        "quantity",
        "member_ticket",
        "job",
        "granted_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("ticket grant rule"), ordering="rule")
    def rule_display(self, obj: PlanGrant) -> str:
        return f"{obj.rule.plan.name} — {obj.rule}"

    @admin.display(description=_("month"), ordering="month")
    def month_display(self, obj: PlanGrant) -> str:
        return f"{obj.month:%Y-%m}"

    # --- the preview of a month's grants (SPEC §7: who gets what, before the 1st) ------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="plans_plangrant_preview"),
            path("preview/csv/", view(self.preview_csv_view), name="plans_plangrant_preview_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_preview": self.has_view_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def _preview_form(self, request: HttpRequest) -> GrantPreviewForm:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if "month" in request.GET:
            return GrantPreviewForm(request.GET)
        today = timezone.localdate(timezone.now(), periods.JST)
        next_month = periods.add_months_clamped(periods.month_start(today), 1)
        return GrantPreviewForm({"month": f"{next_month:%Y-%m}"})

    def preview_view(self, request: HttpRequest):
        """Who the run on the 1st of a month would grant what (next month by default, JST): the counts per
        rule, the first `preview_rows` rows, and the whole list as CSV. Writes nothing."""
        form = self._preview_form(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Preview a month's ticket grants"),
            "subtitle": None,
            "changelist_url": reverse("admin:plans_plangrant_changelist"),
            "form": form,
        }
        if form.is_valid():
            month = form.cleaned_data["month"]
            preview = grants.grants_preview(month, limit=self.preview_rows)
            by_rule = {rule.rule_id: rule for rule in preview.rules}
            context.update(
                month=month,
                preview=preview,
                rows=[(row, by_rule[row.rule_id]) for row in preview.rows],
                rows_hidden=preview.total_grants - len(preview.rows),
                catch_up=[day for day in preview.months if day != month],
                csv_url=reverse("admin:plans_plangrant_preview_csv") + f"?month={month:%Y-%m}",
                has_rules=bool(preview.rules)
                or GrantRule.objects.filter(
                    kind__in=(GrantRule.Kind.MONTHLY, GrantRule.Kind.CARRY_OVER)
                ).exists(),
            )
        return TemplateResponse(request, "admin/plans/plangrant/preview.html", context)

    def preview_csv_view(self, request: HttpRequest):
        """The whole preview as a cp932 CSV (plans.grants.grants_preview_csv); a bad month goes back to the
        preview page, which says what is wrong."""
        form = self._preview_form(request)
        if not form.is_valid():
            return redirect(reverse("admin:plans_plangrant_preview") + "?" + request.GET.urlencode())
        month = form.cleaned_data["month"]
        data = grants.grants_preview_csv(grants.grants_preview(month))
        response = HttpResponse(data, content_type="text/csv; charset=Windows-31J")
        response["Content-Disposition"] = content_disposition_header(
            True, f"plan_grants_preview_{month:%Y-%m}.csv"
        )
        return response
