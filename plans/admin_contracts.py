"""What staff do to contracts in the admin (SPEC §7, issue 13 "Contracts"), each page asking first and
calling one service of plans.contracts:

- 契約を追加: a contract made in the admin (channel "admin"), paid at the counter or by an e-mailed card
  link, with the two tick boxes that grant the on-contract tickets and the start month's monthly tickets
  (neither happens by itself for an admin contract);
- 月末で解約: cancel at the end of this month, after a page listing the bookings it cancels;
- プラン変更: change the member's plan on a chosen date (not a new contract: no enrollment fee, no
  on-contract grant).

Permissions: add on plan contracts to make one; change to cancel or change one.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from core.periods import JST
from members.models import Member
from members.normalise import normalise_email
from plans import contracts
from plans.models import Plan, PlanContract


def _today() -> date:
    return timezone.localdate(timezone.now(), JST)


class AdminContractForm(forms.Form):
    member_email = forms.CharField(
        label=_("Member's e-mail address"),
        max_length=254,
        help_text=_("The member must be registered already (会員 › Members, or the phone booking page)."),
    )
    plan = forms.ModelChoiceField(label=_("Plan"), queryset=Plan.objects.select_related("monthly_product"))
    contracted_on = forms.DateField(label=_("Contracted on"), widget=forms.DateInput(attrs={"type": "date"}))
    starts_on = forms.DateField(
        label=_("Starts on (適用開始日)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    pay = forms.ChoiceField(
        label=_("Payment"),
        choices=[
            ("counter", _("At the counter (a pending counter order each month)")),
            ("link", _("By card: e-mail the member a payment link")),
        ],
        widget=forms.RadioSelect,
        initial="counter",
    )
    grant_on_contract = forms.BooleanField(
        label=_("Grant the on-contract tickets (新規契約時) now"), required=False
    )
    grant_start_month = forms.BooleanField(
        label=_("Grant the start month's monthly tickets (毎月の定期付与) now"), required=False
    )

    def clean_member_email(self):
        email = normalise_email(self.cleaned_data["member_email"])
        member = Member.objects.filter(email=email, is_active=True).first()
        if member is None:
            raise forms.ValidationError(gettext("No member has this e-mail address."))
        return member

    def clean(self):
        cleaned = super().clean()
        contracted_on, starts_on = cleaned.get("contracted_on"), cleaned.get("starts_on")
        if contracted_on and starts_on and starts_on < contracted_on:
            self.add_error("starts_on", gettext("The start date cannot be before the contract date."))
        return cleaned


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(label=_("New plan"), queryset=Plan.objects.none())
    starts_on = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, contract: PlanContract, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = Plan.objects.exclude(pk=contract.plan_id).select_related(
            "monthly_product"
        )


class ContractStaffViewsMixin:
    """Adds the three pages above, and their buttons, to the plan contract admin."""

    change_list_template = "admin/plans/plancontract/change_list.html"
    change_form_template = "admin/plans/plancontract/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("new/", view(self.contract_new_view), name="plans_plancontract_new"),
            path("<int:pk>/cancel/", view(self.contract_cancel_view), name="plans_plancontract_cancel"),
            path(
                "<int:pk>/change-plan/",
                view(self.contract_change_view),
                name="plans_plancontract_change_plan",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_add_contract": request.user.has_perm("plans.add_plancontract")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contract = self.get_object(request, unquote(object_id))  # None for an ID that is not one
        may_change = request.user.has_perm("plans.change_plancontract")
        extra = {
            "can_cancel_contract": may_change and contract is not None and _cancellable(contract),
            "can_change_plan": may_change and contract is not None and _changeable(contract),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _page(self, request: HttpRequest, title: str, template: str, **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "subtitle": None,
            "changelist_url": reverse("admin:plans_plancontract_changelist"),
            **extra,
        }
        return TemplateResponse(request, template, context)

    @staticmethod
    def _contract(pk: int) -> PlanContract:
        contract = PlanContract.objects.select_related("member", "plan").filter(pk=pk).first()
        if contract is None:
            raise Http404
        return contract

    @staticmethod
    def _to_contract(contract: PlanContract):
        return redirect(reverse("admin:plans_plancontract_change", args=[contract.pk]))

    def contract_new_view(self, request: HttpRequest):
        if not request.user.has_perm("plans.add_plancontract"):
            raise PermissionDenied
        today = _today()
        form = AdminContractForm(
            request.POST or None, initial={"contracted_on": today, "starts_on": today, "pay": "counter"}
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                contract = contracts.contract_create_admin(
                    member=data["member_email"],
                    plan=data["plan"],
                    contracted_on=data["contracted_on"],
                    starts_on=data["starts_on"],
                    pay=data["pay"],
                    grant_on_contract=data["grant_on_contract"],
                    grant_start_month=data["grant_start_month"],
                    by=request.user,
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                self.message_user(
                    request,
                    gettext("The contract of %(member)s for %(plan)s was made.")
                    % {"member": contract.member, "plan": contract.plan},
                    messages.SUCCESS,
                )
                return self._to_contract(contract)
        return self._page(request, gettext("Add a contract"), "admin/plans/plancontract/new.html", form=form)

    def contract_cancel_view(self, request: HttpRequest, pk: int):
        if not request.user.has_perm("plans.change_plancontract"):
            raise PermissionDenied
        contract = self._contract(pk)
        if request.method == "POST":
            try:
                cancelled = contracts.contract_cancel(contract=contract, by=request.user)
            except DomainError as error:
                self.message_user(request, str(error.message), messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext(
                        "The contract ends on %(day)s. %(count)s later bookings paid with the plan were "
                        "cancelled and the member was e-mailed."
                    )
                    % {"day": f"{cancelled.contract.ends_on:%Y-%m-%d}", "count": len(cancelled.reservations)},
                    messages.SUCCESS,
                )
            return self._to_contract(contract)
        ends_on, bookings = contracts.cancel_preview(contract=contract, today=_today())
        return self._page(
            request,
            gettext("Cancel at the end of this month"),
            "admin/plans/plancontract/cancel.html",
            contract=contract,
            ends_on=ends_on,
            bookings=bookings,
            contract_url=reverse("admin:plans_plancontract_change", args=[contract.pk]),
        )

    def contract_change_view(self, request: HttpRequest, pk: int):
        if not request.user.has_perm("plans.change_plancontract"):
            raise PermissionDenied
        contract = self._contract(pk)
        form = ChangePlanForm(
            request.POST or None,
            contract=contract,
            initial={"starts_on": contracts.next_month_start(_today())},
        )
        if request.method == "POST" and form.is_valid():
            try:
                new = contracts.contract_change_plan(
                    contract=contract,
                    new_plan=form.cleaned_data["plan"],
                    starts_on=form.cleaned_data["starts_on"],
                    by=request.user,
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                self.message_user(
                    request,
                    gettext("%(member)s changes to %(plan)s from %(day)s.")
                    % {"member": new.member, "plan": new.plan, "day": f"{new.starts_on:%Y-%m-%d}"},
                    messages.SUCCESS,
                )
                return self._to_contract(new)
        return self._page(
            request,
            gettext("Change plan"),
            "admin/plans/plancontract/change_plan.html",
            contract=contract,
            form=form,
            contract_url=reverse("admin:plans_plancontract_change", args=[contract.pk]),
        )


def _cancellable(contract: PlanContract) -> bool:
    return contract.status in (PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE) and (
        contract.ends_on is None or contract.ends_on > contracts.month_end(_today())
    )


def _changeable(contract: PlanContract) -> bool:
    return contract.status in (PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE) and (
        contract.ends_on is None or contract.ends_on > _today()
    )
