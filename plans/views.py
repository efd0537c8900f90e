"""Member-site pages for plans: the plans on offer and subscribing (card checkout in subscription mode), and
my plan (the contract, its status, changing plan from next month, cancelling at the month end with the
bookings that will be cancelled listed first). Views read; every change goes through plans.contracts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import DomainError
from core.periods import JST
from inventory.models import Item
from payments import checkout_extras, pricing
from payments.models import Order
from plans import allowance, contracts
from plans.models import GrantRule, Plan, PlanBandAllowance, PlanContract


def _offered():
    return (
        Plan.objects.filter(is_visible=True)
        .select_related("monthly_product", "enrollment_fee_product", "contract_month_product")
        .prefetch_related(
            Prefetch("band_allowances", queryset=PlanBandAllowance.objects.select_related("band")),
            "stores",
            Prefetch("items", queryset=Item.objects.filter(is_public=True).order_by("display_order", "id")),
            Prefetch(
                "grant_rules",
                queryset=GrantRule.objects.filter(
                    kind__in=(GrantRule.Kind.ON_CONTRACT, GrantRule.Kind.MONTHLY)
                ).select_related("ticket_type"),
            ),
        )
        .order_by("display_order", "id")
    )


@require_http_methods(["GET"])
def plan_list(request):
    """The plans on offer: monthly price, the fees of the first payment, the monthly allowance."""
    return render(request, "site/plans/plan_list.html", {"plans": list(_offered())})


def _current(member) -> PlanContract | None:
    """The member's contract that is not over: in force, past due, or waiting to start."""
    return (
        PlanContract.objects.filter(
            member=member, status__in=(PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE)
        )
        .filter(next__isnull=True)
        .select_related("plan__monthly_product", "previous__plan")
        .order_by("-starts_on", "-pk")
        .first()
    )


@login_required
@require_http_methods(["GET", "POST"])
def subscribe(request, pk: int):
    """GET (or "Apply and show the price", step=confirm): what the first payment charges (through the price
    pipeline, as the order will), with the coupon code and points the member applies, and the monthly
    price from next month, to confirm. POST (step=subscribe, or none): the pending contract, its first
    order made with those extras, and the card checkout. A refused extra is shown next to its field and
    nothing is made."""
    plan = get_object_or_404(_offered(), pk=pk)
    today = timezone.localdate(timezone.now(), JST)
    # The extras the page asked for (coupon code, points), posted with "extras" marking that it showed them.
    extras_data = request.POST if request.method == "POST" and "extras" in request.POST else None
    extras_refusal = None
    if request.method == "POST" and request.POST.get("step") != "confirm":
        parsed = checkout_extras.OrderExtrasForm(extras_data)
        if extras_data is None or parsed.is_valid():
            try:
                started = contracts.contract_start_checkout(
                    member=request.user,
                    plan=plan,
                    success_url=request.build_absolute_uri(reverse("plans:mine")),
                    cancel_url=request.build_absolute_uri(reverse("plans:list")),
                    options=parsed.values() if extras_data is not None else None,
                )
            except DomainError as error:
                if not checkout_extras.is_extras_refusal(error):
                    messages.error(request, error.message)
                    return redirect("plans:subscribe", pk=plan.pk)
                extras_refusal = error  # the page again, the refusal next to its field
            else:
                order = started.contract.first_order
                # Stripe's page, or (no Stripe keys) the test gateway's page of the order.
                return redirect(started.checkout.url or reverse("payments:checkout", args=[order.pk]))
    current = _current(request.user)
    lines = contracts.first_order_lines(plan=plan, contracted_on=today)
    extras_form, draft, unplaced = checkout_extras.priced_with_extras(
        extras_data,
        plain=pricing.price_draft(member=request.user, lines=lines, payment_method=Order.Method.CARD),
        price=lambda options: pricing.price_draft(
            member=request.user, lines=lines, payment_method=Order.Method.CARD, options=options
        ),
        refusal=extras_refusal,
    )
    if unplaced is not None:
        messages.error(request, unplaced.message)  # a field the page no longer offers
    if draft.coupon_discount_yen and "coupon" in extras_form.fields:
        # Next to the coupon field (components/form.html renders help text as HTML); the bound field copied
        # the field's help text when the form was validated, so it is set there.
        extras_form["coupon"].help_text = escape(
            gettext("The coupon discounts this first payment only, not the monthly price.")
        )
    charge = pricing.charge_shown(draft=draft, label=gettext("First payment (fees)"))
    return render(
        request,
        "site/plans/subscribe.html",
        {
            "plan": plan,
            "charge": charge,
            "extras_form": extras_form,
            "billed_from": contracts.next_month_start(today),
            "current": current,
        },
    )


@login_required
@require_http_methods(["GET"])
def mine(request):
    """My plan: the contract, its status and dates, changing plan from next month, cancelling."""
    today = timezone.localdate(timezone.now(), JST)
    current = _current(request.user)
    others = [plan for plan in _offered() if current is None or plan.pk != current.plan_id]
    # This month's allowance left, per band, of the contract in force today (before a plan change starts,
    # the previous one).
    live = current if current is None or current.starts_on <= today else current.previous
    left = allowance.allowance_left(live, today) if live is not None and live.starts_on <= today else []
    next_grant_on = contracts.next_month_start(today)
    next_grants = _next_grants(current, next_grant_on) if current is not None else []
    # A plan change's new monthly price is first billed by Stripe on the first 1st it is in force.
    price_billed_from = None
    if current is not None and current.previous_id is not None and current.stripe_subscription_id:
        from plans.price_switches import billed_from

        price_billed_from = billed_from(current.starts_on)
        ended_before = current.ends_on is not None and current.ends_on < price_billed_from
        if price_billed_from <= today or ended_before:
            price_billed_from = None
    history = (
        PlanContract.objects.filter(member=request.user)
        .exclude(status=PlanContract.Status.PENDING)
        .select_related("plan")
        .order_by("-starts_on", "-pk")[:12]
    )
    return render(
        request,
        "site/plans/mine.html",
        {
            "current": current,
            "allowance_left": left,
            "others": others,
            "history": history,
            "change_from": contracts.next_month_start(today),
            "price_billed_from": price_billed_from,
            "next_grant_on": next_grant_on,
            "next_grants": next_grants,
            "can_cancel": current is not None and (current.ends_on is None or current.ends_on > today),
        },
    )


def _next_grants(contract: PlanContract, on) -> list[str]:
    """What the contract's plan grants on the 1st of next month, in words, if the contract is still in
    force then (the monthly rules; a carry-over rule grants what is left of this month's allowance)."""
    if contract.ends_on is not None and contract.ends_on < on:
        return []
    lines = []
    rules = contract.plan.grant_rules.filter(
        kind__in=(GrantRule.Kind.MONTHLY, GrantRule.Kind.CARRY_OVER)
    ).select_related("ticket_type", "carry_band")
    # The monthly tickets first, then the carry-over.
    for rule in sorted(rules, key=lambda rule: (rule.kind != GrantRule.Kind.MONTHLY, rule.position, rule.pk)):
        if rule.kind == GrantRule.Kind.MONTHLY:
            lines.append(
                ngettext("%(ticket)s × %(count)s", "%(ticket)s × %(count)s", rule.quantity)
                % {"ticket": rule.ticket_type.name, "count": rule.quantity}
            )
        elif rule.quantity:
            lines.append(
                gettext("%(ticket)s for the bookings you leave unused this month (at most %(count)s)")
                % {"ticket": rule.ticket_type.name, "count": rule.quantity}
            )
        else:
            lines.append(
                gettext("%(ticket)s for the bookings you leave unused this month")
                % {"ticket": rule.ticket_type.name}
            )
    return lines


def _own_current(request, pk: int) -> PlanContract:
    return get_object_or_404(
        PlanContract.objects.select_related("plan"),
        pk=pk,
        member=request.user,
        status__in=(PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE),
    )


@login_required
@require_http_methods(["GET", "POST"])
def cancel(request, pk: int):
    """GET: the day the plan would end (this month's last day) and the bookings after it that will be
    cancelled. POST: cancel."""
    contract = _own_current(request, pk)
    if request.method == "POST":
        try:
            done = contracts.contract_cancel(contract=contract, by=request.user)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("plans:mine")
        messages.success(
            request,
            gettext("Your plan ends on {day}. {count} booking(s) after that were cancelled.").format(
                day=f"{done.contract.ends_on:%Y-%m-%d}", count=len(done.reservations)
            ),
        )
        return redirect("plans:mine")
    ends_on, reservations = contracts.cancel_preview(contract=contract)
    return render(
        request,
        "site/plans/cancel.html",
        {"contract": contract, "ends_on": ends_on, "reservations": reservations},
    )


@login_required
@require_POST
def change(request, pk: int):
    """Change plan from the 1st of next month."""
    contract = _own_current(request, pk)
    new_plan = get_object_or_404(_offered(), pk=request.POST.get("plan") or 0)
    try:
        new = contracts.contract_change_plan(contract=contract, new_plan=new_plan, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            gettext("Your plan changes to {name} on {day}.").format(
                name=new_plan.name, day=f"{new.starts_on:%Y-%m-%d}"
            ),
        )
    return redirect("plans:mine")
