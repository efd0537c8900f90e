"""The forms of the plan admin (SPEC §7): time bands with their windows, plans with their band allowances
and the three tables of the チケット自動付与 part.

Rules that need more than one row or table are formset `clean`s: a band's windows must not overlap; a
per-band plan needs a band allowance; a carry-over row must match the plan's mode (SPEC §7: a band on a
total plan, or 月間全体 on a per-band plan, carries nothing — refused here rather than stored). The plan
admin links its formsets to each other (`siblings`) so a grant table can read the band allowances typed
in the same POST, and each formset reads its plan (`self.instance`) as the plan form left it after
validation (Django validates the plan form before the inlines)."""

from __future__ import annotations

import itertools

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inventory.admin_forms import weekdays_field
from payments.models import Product
from plans.models import GrantRule, Plan, PlanBandAllowance, TimeBand, TimeBandWindow

# ---------------------------------------------------------------------------------------------------------
# Time bands
# ---------------------------------------------------------------------------------------------------------


class TimeBandForm(forms.ModelForm):
    weekdays = weekdays_field()

    class Meta:
        model = TimeBand
        fields = ("name", "weekdays", "display_order")

    def clean_weekdays(self) -> list[int]:
        return sorted(set(self.cleaned_data["weekdays"]))


class TimeBandWindowForm(forms.ModelForm):
    class Meta:
        model = TimeBandWindow
        fields = ("starts_at", "ends_at")

    def clean(self):
        cleaned_data = super().clean()
        starts_at, ends_at = cleaned_data.get("starts_at"), cleaned_data.get("ends_at")
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            self.add_error("ends_at", gettext("A window must end after it starts (from < until)."))
        return cleaned_data


def kept_forms(formset) -> list[tuple[int, forms.Form]]:
    """(row number from 1, form) of the rows that will be saved: filled in, valid, not marked deleted."""
    return [
        (number, form)
        for number, form in enumerate(formset.forms, start=1)
        if form.has_changed() or form.instance.pk is not None
        if not (formset.can_delete and formset._should_delete_form(form))
        if not form.errors
    ]


class TimeBandWindowFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        windows = sorted(
            (form.cleaned_data["starts_at"], form.cleaned_data["ends_at"], number)
            for number, form in kept_forms(self)
        )
        if not windows and not any(form.errors for form in self.forms):
            raise ValidationError(gettext("A time band needs at least one window."))
        for (start, end, number), (next_start, next_end, next_number) in itertools.pairwise(windows):
            if next_start < end:
                raise ValidationError(
                    gettext(
                        "Windows %(first)s (%(first_from)s–%(first_until)s) and %(second)s "
                        "(%(second_from)s–%(second_until)s) overlap: a time may be in one window only."
                    )
                    % {
                        "first": min(number, next_number),
                        "second": max(number, next_number),
                        "first_from": f"{start:%H:%M}",
                        "first_until": f"{end:%H:%M}",
                        "second_from": f"{next_start:%H:%M}",
                        "second_until": f"{next_end:%H:%M}",
                    }
                )


# ---------------------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------------------


class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = (
            "name",
            "is_visible",
            "monthly_product",
            "contract_month_product",
            "enrollment_fee_product",
            "stores",
            "items",
            "allowance_mode",
            "total_allowance",
            "max_concurrent",
            "max_concurrent_per_day",
            "display_order",
        )
        widgets = {"allowance_mode": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        if "monthly_product" in fields:
            # Monthly products not yet another plan's (a plan owns its monthly product).
            taken = Plan.objects.exclude(pk=self.instance.pk).values("monthly_product_id")
            fields["monthly_product"].queryset = Product.objects.filter(kind=Product.Kind.MONTHLY).exclude(
                pk__in=taken
            )
        for name in ("contract_month_product", "enrollment_fee_product"):
            if name in fields:
                # One-time products that are not sold as a ticket.
                fields[name].queryset = Product.objects.filter(
                    kind=Product.Kind.ONE_TIME, ticket_type__isnull=True
                )

    def clean(self):
        cleaned_data = super().clean()
        if (
            cleaned_data.get("allowance_mode") == Plan.AllowanceMode.TOTAL
            and cleaned_data.get("total_allowance") is None
        ):
            self.add_error(
                "total_allowance",
                gettext("With one total across bands (月間全体), enter the bookings per month."),
            )
        return cleaned_data


class PlanInlineFormSet(BaseInlineFormSet):
    """A formset of the plan form that can see the plan's other formsets (set by PlanAdmin)."""

    siblings: list = []

    def sibling(self, model):
        return next((formset for formset in self.siblings if formset.model is model), None)

    def plan_mode(self) -> str:
        return self.instance.allowance_mode


class PlanBandAllowanceFormSet(PlanInlineFormSet):
    def clean(self):
        super().clean()
        rows = kept_forms(self)
        seen: dict[int, int] = {}
        for number, form in rows:
            band = form.cleaned_data.get("band")
            if band is None:
                continue
            if band.pk in seen:
                raise ValidationError(
                    gettext("Band allowance rows %(first)s and %(second)s are both for “%(band)s”.")
                    % {"first": seen[band.pk], "second": number, "band": band}
                )
            seen[band.pk] = number
        if (
            self.plan_mode() == Plan.AllowanceMode.PER_BAND
            and not rows
            and not any(form.errors for form in self.forms)
        ):
            raise ValidationError(
                gettext(
                    "A plan counted per time band needs at least one band allowance: without one it allows "
                    "no bookings. Add a band, or choose one total across bands."
                )
            )

    def bands(self) -> set[int]:
        """The bands of the rows that will be saved."""
        return {
            form.cleaned_data["band"].pk
            for _number, form in kept_forms(self)
            if form.cleaned_data.get("band")
        }


KIND_TABLES = {
    GrantRule.Kind.ON_CONTRACT: _("On a new contract (新規契約時)"),
    GrantRule.Kind.MONTHLY: _("Monthly (毎月の定期付与)"),
    GrantRule.Kind.CARRY_OVER: _("Carry-over (前月残り予約回数の繰越)"),
}


class GrantRuleForm(forms.ModelForm):
    """One row of a grant table. The table's kind is set on the row (`kind`, given by its formset)."""

    kind: str = ""

    class Meta:
        model = GrantRule
        fields = (
            "ticket_type",
            "carry_band",
            "carry_total",
            "quantity",
            "expiry_amount",
            "expiry_unit",
            "restriction",
            "allowed_plans",
            "position",
        )

    def __init__(self, *args, row=None, plan=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.row = row
        self.instance.kind = self.kind
        fields = self.fields
        if "allowed_plans" in fields and plan is not None and plan.pk is not None:
            fields["allowed_plans"].queryset = fields["allowed_plans"].queryset.exclude(pk=plan.pk)
        if "quantity" in fields:
            fields["quantity"].error_messages["min_value"] = self.row_message(
                gettext("the quantity must be at least 1.")
            )
            if self.kind != GrantRule.Kind.CARRY_OVER:
                fields["quantity"].required = True
                fields["quantity"].error_messages["required"] = self.row_message(
                    gettext("enter how many tickets to grant (at least 1).")
                )
        if "expiry_amount" in fields:
            fields["expiry_amount"].error_messages.update(
                required=self.row_message(gettext("enter the expiry: N days or N months, N at least 1.")),
                min_value=self.row_message(gettext("the expiry must be at least 1 day or 1 month.")),
            )
        if "allowed_plans" in fields:
            fields["allowed_plans"].widget.attrs["size"] = 4

    def row_message(self, message: str) -> str:
        table = KIND_TABLES.get(self.kind, "")
        if self.row is None:
            return f"{table}: {message}"
        return gettext("%(table)s, row %(row)s: %(message)s") % {
            "table": table,
            "row": self.row,
            "message": message,
        }

    def clean(self):
        cleaned_data = super().clean()
        restriction = cleaned_data.get("restriction")
        allowed = cleaned_data.get("allowed_plans")
        if restriction == GrantRule.Restriction.THIS_AND_SELECTED and "allowed_plans" in cleaned_data:
            if not allowed:
                self.add_error(
                    "allowed_plans",
                    self.row_message(gettext("“This plan and the selected plans” needs at least one plan.")),
                )
        elif allowed:
            self.add_error(
                "allowed_plans",
                self.row_message(
                    gettext("Select plans only with “This plan and the selected plans”; empty the list.")
                ),
            )
        if self.kind != GrantRule.Kind.CARRY_OVER:
            # The band and 月間全体 are the carry-over table's; another table's row carries nothing.
            cleaned_data["carry_band"], cleaned_data["carry_total"] = None, False
        return cleaned_data


class GrantRuleFormSet(PlanInlineFormSet):
    kind: str = ""

    @classmethod
    def get_default_prefix(cls) -> str:
        return f"grant_rules_{cls.kind}"

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        return {**kwargs, "row": None if index is None else index + 1, "plan": self.instance}

    def clean(self):
        super().clean()
        if self.kind != GrantRule.Kind.CARRY_OVER:
            return
        total_mode = self.plan_mode() == Plan.AllowanceMode.TOTAL
        band_formset = self.sibling(PlanBandAllowance)
        plan_bands = band_formset.bands() if band_formset is not None and band_formset.is_valid() else None
        for _number, form in kept_forms(self):
            band, total = form.cleaned_data.get("carry_band"), form.cleaned_data.get("carry_total")
            if band is not None and total:
                form.add_error(
                    "carry_band",
                    form.row_message(gettext("choose either a time band or 月間全体, not both.")),
                )
            elif band is None and not total:
                form.add_error(
                    "carry_band",
                    form.row_message(
                        gettext("choose the time band whose unused allowance is carried over, or 月間全体.")
                    ),
                )
            elif band is not None and total_mode:
                form.add_error(
                    "carry_band",
                    form.row_message(
                        gettext(
                            "this plan counts one total across bands, so a band's carry-over would never "
                            "grant anything: tick 月間全体 instead."
                        )
                    ),
                )
            elif total and not total_mode:
                form.add_error(
                    "carry_total",
                    form.row_message(
                        gettext(
                            "this plan counts per time band, so 月間全体 would never grant anything: choose "
                            "one of the plan's bands instead."
                        )
                    ),
                )
            elif band is not None and plan_bands is not None and band.pk not in plan_bands:
                form.add_error(
                    "carry_band",
                    form.row_message(
                        gettext(
                            "“%(band)s” is not among this plan's band allowances, so nothing of it is ever "
                            "left to carry over: choose one of the plan's bands."
                        )
                        % {"band": band}
                    ),
                )


def grant_rule_form_and_formset(kind: str):
    form = type(f"GrantRuleForm_{kind}", (GrantRuleForm,), {"kind": kind})
    formset = type(f"GrantRuleFormSet_{kind}", (GrantRuleFormSet,), {"kind": kind})
    return form, formset
