"""Plan contracts (SPEC §7 PlanContract; issue 13 "Contracts"): every state change of a contract, each taking
`by` (the member or staff acting) or `system` (the webhook, a job) and writing an audit entry in its
transaction.

    contract_start_checkout   member site: a pending contract and its first order (enrollment fee, contract-
                              month fee), paid through Stripe Checkout in subscription mode
    contract_activate         the first payment arrived (webhook, test gateway, counter): pending → active;
                              a later paid invoice brings a past-due contract back
    contract_mark_past_due    an invoice failed: no allowance bookings until it is paid; the member is told
    contract_end              the subscription was deleted at Stripe
    contract_cancel           member or staff: ends at the end of this month (JST); the bookings after the
                              end that the plan's allowance paid for are cancelled (their uses come back)
    contract_change_plan      member: from the 1st of next month; staff: on a chosen date. Not a new contract;
                              Stripe's price switches before the first 1st billing the new plan
                              (plans.price_switches: at once, or by the daily job for a later date)
    contract_create_admin     staff: channel "admin", paid at the counter or through an e-mailed card link

Stripe is called outside any transaction and before the rows change (its calls are idempotent, so a retry
after a failure repeats them harmlessly); the webhook handlers at the end run inside the event's
transaction, which stores the event once (payments.stripe_events), so an event received twice acts once."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import stripe
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from core.audit import audit_log
from core.emails import queue_templated_email
from core.periods import JST, start_of_day
from inventory.models import Reservation
from payments import registry, stripe_api
from payments.gateway import using_test_gateway
from payments.models import Order, OrderLine
from payments.services import CheckoutStart, LineDraft, order_cancel, order_checkout_start, order_create
from plans.exceptions import PlanError
from plans.models import AllowanceEntry, GrantRule, Plan, PlanContract, PlanGrant, PlanMonthlyOrder

logger = logging.getLogger(__name__)

# The audit trail's names for changes no person made.
STRIPE_WEBHOOK = "stripe_webhook"
ORDER_PAID = "plan_order_paid"
ORDER_UNDONE = "plan_order_undone"

OPEN_STATUSES = (PlanContract.Status.PENDING, PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE)


# --- dates -------------------------------------------------------------------------------------------


def month_end(day: date) -> date:
    """The last day of `day`'s month (12/31 in December, 2/29 in a leap year)."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def next_month_start(day: date) -> date:
    return month_end(day) + timedelta(days=1)


def billing_anchor(contract: PlanContract, *, now: datetime) -> datetime:
    """When the monthly price is first billed in full: the 1st of the month after the contract month,
    00:00 JST (the contract-month fee pays for the contract month). Stripe wants the anchor in the future:
    a member paying after it passed (a checkout left open over a month end) is billed from the next 1st."""
    anchor = start_of_day(next_month_start(contract.contracted_on))
    if anchor <= now:
        anchor = start_of_day(next_month_start(timezone.localdate(now, JST)))
    return anchor


def _actor(by, system: str, default: str) -> dict:
    return {"by": by, "system": "" if getattr(by, "pk", None) else (system or default)}


# --- grants (the grants part of plans) ------------------------------------------------------------------


def _grant_new_contract(contract: PlanContract, *, by, system: str, now: datetime, **flags) -> None:
    """The on-contract grants and the start month's monthly grants (plans.grants), in this transaction.
    `flags` are the admin's tick boxes (include_on_contract, include_monthly); a site contract gets both.
    Without the grants module (a build without it) a contract simply gets no tickets."""
    try:
        from plans.grants import grants_for_new_contract
    except ImportError:
        return
    grants_for_new_contract(contract, by=by, system=system or ORDER_PAID, now=now, **flags)


# --- the first order -------------------------------------------------------------------------------------


def first_order_lines(*, plan: Plan, contracted_on: date, new_contract: bool = True) -> list[LineDraft]:
    """What the first payment charges once: the enrollment fee (every new contract, also after cancelling;
    never a plan change) and the contract-month fee; then the plan's monthly product at 0 yen, naming the
    monthly price and the month it is first billed (it recurs on the subscription, never discounted)."""
    lines = []
    if new_contract and plan.enrollment_fee_product is not None:
        fee = plan.enrollment_fee_product
        lines.append(
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=fee.name, unit_price_yen=fee.price_yen, product=fee
            )
        )
    if plan.contract_month_product is not None:
        month_fee = plan.contract_month_product
        lines.append(
            LineDraft(
                kind=OrderLine.Kind.PRODUCT,
                description=month_fee.name,
                unit_price_yen=month_fee.price_yen,
                product=month_fee,
            )
        )
    monthly = plan.monthly_product
    lines.append(
        LineDraft(
            kind=OrderLine.Kind.PRODUCT,
            description=gettext("{name}: {price:,} yen a month from {month}").format(
                name=monthly.name,
                price=monthly.price_yen,
                month=f"{next_month_start(contracted_on):%Y-%m-%d}",
            ),
            unit_price_yen=0,
            product=monthly,
        )
    )
    return lines


def _check_no_open_contract(*, member, starts_on: date, exclude: PlanContract | None = None) -> None:
    """A member holds one contract at a time: another plan is a plan change, not a second contract."""
    overlapping = PlanContract.objects.filter(
        member=member, status__in=(PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE)
    ).exclude(ends_on__lt=starts_on)
    if exclude is not None:
        overlapping = overlapping.exclude(pk=exclude.pk)
    if overlapping.exists():
        raise PlanError(gettext("You already have a plan. Change your plan instead, or start after it ends."))


def _lock_member(member) -> None:
    """One contract change of a member at a time (two clicks on "join" make one contract)."""
    get_user_model().objects.select_for_update().filter(pk=member.pk).first()


@dataclass(frozen=True)
class ContractCheckout:
    contract: PlanContract
    checkout: CheckoutStart  # its url is None with the test gateway (our own page pays the order)


def contract_start_checkout(
    *,
    member,
    plan: Plan,
    starts_on: date | None = None,
    success_url: str = "",
    cancel_url: str = "",
    today: date | None = None,
    now: datetime | None = None,
    options: dict | None = None,
) -> ContractCheckout:
    """The member subscribes on the site: a pending contract (channel "site", contracted today, starting
    `starts_on`, by default today) with its first order, then Stripe Checkout in subscription mode (the
    order's one-time lines, the monthly price from the 1st of next month). The contract starts when the
    first payment succeeds (contract_activate). Subscribing again to the same plan before paying reuses
    the pending contract and its payment; a pending contract on another plan, or with other extras, is
    dropped (its order cancelled, which gives its coupon use and points back).

    `options`: the confirm page's extras (payments.checkout_extras: "coupon", "points") for the first
    order, as `order_create(options=…)`; they discount its one-time lines only, never the monthly price
    (payments.registry.Subscription). A refusal (a DomainError whose `field` is the extra's key) changes
    nothing: the whole contract is made in one transaction."""
    now = now or timezone.now()
    today = today or timezone.localdate(now, JST)
    starts_on = starts_on or today
    if not plan.is_visible:
        raise PlanError(gettext("This plan is not offered."))
    if starts_on < today:
        raise PlanError(gettext("The start date cannot be in the past."))
    contract = _pending_site_contract(
        member=member, plan=plan, starts_on=starts_on, today=today, now=now, options=options or {}
    )
    started = order_checkout_start(
        order=contract.first_order, by=member, success_url=success_url, cancel_url=cancel_url, now=now
    )
    return ContractCheckout(contract=contract, checkout=started)


@transaction.atomic
def _pending_site_contract(
    *, member, plan: Plan, starts_on: date, today: date, now: datetime, options: dict
) -> PlanContract:
    _lock_member(member)
    _check_no_open_contract(member=member, starts_on=starts_on)
    for pending in PlanContract.objects.filter(
        member=member, status=PlanContract.Status.PENDING, channel=PlanContract.Channel.SITE
    ).select_related("first_order"):
        same = (
            pending.plan_id == plan.pk and pending.starts_on == starts_on and pending.contracted_on == today
        )
        if (
            same
            and pending.first_order
            and pending.first_order.status == Order.Status.PENDING
            and _same_extras(pending.first_order, options)
        ):
            return pending
        _drop_pending(pending, by=member, now=now)
    order = order_create(
        member=member,
        lines=first_order_lines(plan=plan, contracted_on=today),
        payment_method=Order.Method.CARD,
        by=member,
        options=options,
        now=now,
    )
    contract = PlanContract.objects.create(
        member=member,
        plan=plan,
        contracted_on=today,
        starts_on=starts_on,
        channel=PlanContract.Channel.SITE,
        status=PlanContract.Status.PENDING,
        first_order=order,
    )
    audit_log(
        action="plan_contract.created",
        obj=contract,
        by=member,
        now=now,
        payload={"plan": plan.pk, "channel": contract.channel, "starts_on": starts_on, "order": order.pk},
    )
    return contract


def _same_extras(order: Order, options: dict) -> bool:
    """Whether a pending first order was made with the extras the member asks for now (the coupon it
    redeemed, the points it spent), so joining again reuses it rather than redeeming them a second time."""
    coupon = str(options.get("coupon") or "")
    try:
        points = int(options.get("points") or 0)
    except (TypeError, ValueError):
        return False
    return order.points_used == points and (registry.order_coupon_code(order) or "") == coupon


def _drop_pending(contract: PlanContract, *, by, now: datetime) -> None:
    """A checkout left unpaid for another: its order is cancelled (order_cancel, whose listeners give back
    the coupon use and the points it took) and the contract ends unstarted."""
    if contract.first_order and contract.first_order.status == Order.Status.PENDING:
        order_cancel(order=contract.first_order, by=by, now=now, undo=False)
    contract.status = PlanContract.Status.ENDED
    contract.ends_on = contract.contracted_on
    contract.save(update_fields=["status", "ends_on", "updated_at"])
    audit_log(action="plan_contract.dropped", obj=contract, by=by, now=now, payload={"unpaid": True})


# --- status changes driven by payments ---------------------------------------------------------------


def _locked(contract: PlanContract | int) -> PlanContract:
    pk = contract if isinstance(contract, int) else contract.pk
    return PlanContract.objects.select_for_update().select_related("plan", "member").get(pk=pk)


@transaction.atomic
def contract_activate(
    *,
    contract: PlanContract,
    by=None,
    system: str = "",
    subscription_id: str = "",
    now: datetime | None = None,
) -> PlanContract:
    """A payment arrived. The first one starts a pending contract (active; a new contract made on the site
    gets its on-contract grants); a later one brings a past-due contract back. An ended contract stays
    ended. Twice is once."""
    now = now or timezone.now()
    contract = _locked(contract)
    if subscription_id and not contract.stripe_subscription_id:
        contract.stripe_subscription_id = subscription_id
        contract.save(update_fields=["stripe_subscription_id", "updated_at"])
    before = contract.status
    if before not in (PlanContract.Status.PENDING, PlanContract.Status.PAST_DUE):
        return contract
    contract.status = PlanContract.Status.ACTIVE
    contract.save(update_fields=["status", "updated_at"])
    action = "plan_contract.activated" if before == PlanContract.Status.PENDING else "plan_contract.recovered"
    audit_log(
        action=action,
        obj=contract,
        now=now,
        payload={"changes": {"status": [before, contract.status]}},
        **_actor(by, system, ORDER_PAID),
    )
    if (
        before == PlanContract.Status.PENDING
        and contract.channel == PlanContract.Channel.SITE
        and contract.previous_id is None
    ):
        _grant_new_contract(contract, by=by, system=system, now=now)
    return contract


@transaction.atomic
def contract_mark_past_due(
    *, contract: PlanContract, by=None, system: str = "", now: datetime | None = None
) -> PlanContract:
    """An invoice failed: the contract is past due (no allowance bookings until it is paid) and the member
    is told by e-mail. Only an active contract becomes past due; twice is once."""
    now = now or timezone.now()
    contract = _locked(contract)
    if contract.status != PlanContract.Status.ACTIVE:
        return contract
    contract.status = PlanContract.Status.PAST_DUE
    contract.save(update_fields=["status", "updated_at"])
    audit_log(
        action="plan_contract.past_due",
        obj=contract,
        now=now,
        payload={"changes": {"status": [PlanContract.Status.ACTIVE, contract.status]}},
        **_actor(by, system, STRIPE_WEBHOOK),
    )
    queue_templated_email(
        template="plans/payment_failed",
        context={"contract": contract, "plan_name": contract.plan.name, "member_name": contract.member.name},
        to=[contract.member.email],
    )
    return contract


# The audit trail's name for the nightly run that ends contracts past their end date.
CONTRACT_EXPIRY = "plan_contract_expiry"


def contracts_past_end(*, today: date):
    """Contracts still marked in force whose last day is before `today` and that no Stripe subscription
    will end (paid at the counter, or a card contract without one): their status says "active" while the
    end date has taken them out of force. Card contracts with a subscription are ended by its webhook."""
    return (
        PlanContract.objects.filter(
            status__in=(PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE),
            ends_on__lt=today,
            stripe_subscription_id="",
        )
        .select_related("member", "plan")
        .order_by("ends_on", "pk")
    )


def contracts_end_past(*, today: date | None = None, now: datetime | None = None) -> list[PlanContract]:
    """Nightly: mark every contract of contracts_past_end ended (status only: its end date stays), each in
    its own transaction with an audit entry; running twice ends nothing twice."""
    now = now or timezone.now()
    today = today or timezone.localdate(now, JST)
    return [
        contract_end(contract=contract, last_day=contract.ends_on, system=CONTRACT_EXPIRY, now=now)
        for contract in contracts_past_end(today=today)
    ]


@transaction.atomic
def contract_end(
    *, contract: PlanContract, last_day: date, by=None, system: str = "", now: datetime | None = None
) -> PlanContract:
    """The contract is over (its subscription was deleted): ended, in force through `last_day` at most (an
    earlier end already set, a cancellation's month end, stays)."""
    now = now or timezone.now()
    contract = _locked(contract)
    if contract.status == PlanContract.Status.ENDED:
        return contract
    before = {"status": contract.status, "ends_on": contract.ends_on}
    ends_on = min(contract.ends_on or last_day, last_day)
    contract.ends_on = max(ends_on, contract.contracted_on)
    contract.status = PlanContract.Status.ENDED
    contract.save(update_fields=["status", "ends_on", "updated_at"])
    audit_log(
        action="plan_contract.ended",
        obj=contract,
        now=now,
        payload={
            "changes": {
                "status": [before["status"], contract.status],
                "ends_on": [before["ends_on"], contract.ends_on],
            }
        },
        **_actor(by, system, STRIPE_WEBHOOK),
    )
    return contract


# --- cancelling at the end of the month ----------------------------------------------------------------


def bookings_after(contract: PlanContract, ends_on: date) -> list[Reservation]:
    """The live bookings starting after `ends_on` (JST) that the contract paid for: with its allowance, or
    with a ticket granted to it under a usable-plan restriction (which the contract's end makes unusable
    then). Ending the contract on `ends_on` cancels them."""
    from tickets.models import TicketEntry

    paid = AllowanceEntry.objects.filter(usage__contract=contract, kind=AllowanceEntry.Kind.USED).values(
        "reservation_id"
    )
    given_back = AllowanceEntry.objects.filter(
        usage__contract=contract, kind=AllowanceEntry.Kind.RESTORED
    ).values("reservation_id")
    restricted_tickets = PlanGrant.objects.filter(contract=contract, member_ticket__isnull=False).exclude(
        rule__restriction=GrantRule.Restriction.NONE
    )
    by_ticket = TicketEntry.objects.filter(
        kind=TicketEntry.Kind.USED,
        reservation__isnull=False,
        ticket_id__in=restricted_tickets.values("member_ticket_id"),
    ).values("reservation_id")
    return list(
        Reservation.objects.filter(
            Q(pk__in=paid) & ~Q(pk__in=given_back) | Q(pk__in=by_ticket),
            status__in=Reservation.LIVE_STATUSES,
            starts_at__gte=start_of_day(ends_on + timedelta(days=1)),
        )
        .select_related("item")
        .order_by("starts_at", "pk")
    )


def cancel_preview(*, contract: PlanContract, today: date | None = None) -> tuple[date, list[Reservation]]:
    """For the confirmation page: the day a cancellation made today ends the contract (this month's last
    day), and the bookings it would cancel."""
    today = today or timezone.localdate()
    ends_on = month_end(today)
    return ends_on, bookings_after(contract, ends_on)


def _check_cancellable(contract: PlanContract, ends_on: date) -> None:
    if contract.status not in OPEN_STATUSES or contract.status == PlanContract.Status.PENDING:
        raise PlanError(gettext("This contract cannot be cancelled."))
    if contract.ends_on is not None and contract.ends_on <= ends_on:
        raise PlanError(
            gettext("This contract already ends on {day}.").format(day=f"{contract.ends_on:%Y-%m-%d}")
        )
    if PlanContract.objects.filter(previous=contract).exists():
        raise PlanError(gettext("This plan is being changed: cancel the new plan instead."))


@dataclass(frozen=True)
class Cancelled:
    contract: PlanContract
    reservations: list[Reservation]


def contract_cancel(
    *, contract: PlanContract, by, today: date | None = None, now: datetime | None = None
) -> Cancelled:
    """解約 at the end of the month, by the member or staff: the contract is in force through the last day
    of this month (JST), Stripe stops the subscription when the period ends (the 1st 00:00 JST, where the
    billing is anchored), and the bookings after the end that the plan's allowance paid for are cancelled,
    their uses given back, with an e-mail."""
    now = now or timezone.now()
    today = today or timezone.localdate(now, JST)
    ends_on = month_end(today)
    _check_cancellable(contract, ends_on)
    if contract.stripe_subscription_id and not using_test_gateway():
        try:
            stripe_api.subscription_cancel_at_period_end(
                contract.stripe_subscription_id, idempotency_key=f"plan-contract-{contract.pk}-cancel"
            )
        except stripe.StripeError as error:
            logger.warning("Contract #%s: Stripe refused the cancellation: %s", contract.pk, error)
            raise PlanError(
                gettext("The card company could not be reached. Nothing was changed; please try again.")
            ) from error
    return _contract_cancel(contract=contract, ends_on=ends_on, by=by, now=now)


@transaction.atomic
def _contract_cancel(*, contract: PlanContract, ends_on: date, by, now: datetime) -> Cancelled:
    from inventory.services import reservation_cancel

    contract = _locked(contract)
    _check_cancellable(contract, ends_on)
    before = contract.ends_on
    contract.ends_on = ends_on
    contract.save(update_fields=["ends_on", "updated_at"])
    audit_log(
        action="plan_contract.cancelled",
        obj=contract,
        now=now,
        payload={"changes": {"ends_on": [before, ends_on]}},
        **_actor(by, "", "plans"),
    )
    reason = gettext("The plan ends on {day}.").format(day=f"{ends_on:%Y-%m-%d}")
    cancelled = [
        reservation_cancel(reservation=reservation, by=by, reason=reason, as_staff=True, now=now)
        for reservation in bookings_after(contract, ends_on)
    ]
    queue_templated_email(
        template="plans/contract_cancelled",
        context={
            "plan_name": contract.plan.name,
            "member_name": contract.member.name,
            "ends_on": ends_on,
            "reservations": [
                {"when": timezone.localtime(r.starts_at, JST), "item": r.item.name} for r in cancelled
            ],
        },
        to=[contract.member.email],
    )
    return Cancelled(contract=contract, reservations=cancelled)


# --- plan change -----------------------------------------------------------------------------------------


def change_starts_on(*, by, starts_on: date | None, today: date) -> date:
    """A member changes from the 1st of next month; staff on the day they choose (default: the same)."""
    if getattr(by, "is_staff", False) and starts_on is not None:
        return starts_on
    if starts_on is not None and starts_on != next_month_start(today):
        raise PlanError(gettext("A plan can be changed from the 1st of next month."))
    return next_month_start(today)


def _check_change(contract: PlanContract, new_plan: Plan, starts_on: date) -> None:
    if contract.status not in (PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE):
        raise PlanError(gettext("Only a contract in force can change its plan."))
    if new_plan.pk == contract.plan_id:
        raise PlanError(gettext("This is already the plan of the contract."))
    if PlanContract.objects.filter(previous=contract).exists():
        raise PlanError(gettext("This contract's plan has already been changed."))
    if starts_on <= contract.starts_on:
        raise PlanError(gettext("The new plan must start after the current one started."))
    if contract.ends_on is not None and starts_on > contract.ends_on:
        raise PlanError(
            gettext("This contract ends on {day}: it cannot change its plan after that.").format(
                day=f"{contract.ends_on:%Y-%m-%d}"
            )
        )


def contract_change_plan(
    *,
    contract: PlanContract,
    new_plan: Plan,
    by,
    starts_on: date | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> PlanContract:
    """Change plan: the contract ends the day before `starts_on` and a new one on `new_plan` starts then,
    naming it as `previous`. Not a new contract: no enrollment fee, no on-contract grant, the same
    subscription, whose monthly price Stripe switches without proration. Stripe bills on the 1st, so the
    price is switched at once only when the first 1st the new plan is in force on (F) is the next 1st;
    a change dated later is switched by the daily job after the invoice of the 1st before F
    (plans.price_switches). Returns the new contract."""
    from plans import price_switches

    now = now or timezone.now()
    today = today or timezone.localdate(now, JST)
    starts_on = change_starts_on(by=by, starts_on=starts_on, today=today)
    _check_change(contract, new_plan, starts_on)
    switched_at = None
    if (
        contract.stripe_subscription_id
        and not using_test_gateway()
        and price_switches.switch_is_due(starts_on, today=today)
    ):
        try:
            stripe_api.subscription_change_price(
                contract.stripe_subscription_id,
                name=new_plan.monthly_product.name,
                price_yen=new_plan.monthly_product.price_yen,
                metadata={"contract_id": str(contract.pk), "plan_id": str(new_plan.pk)},
                idempotency_key=price_switches.change_key(
                    previous_id=contract.pk, plan_id=new_plan.pk, starts_on=starts_on
                ),
            )
        except stripe.StripeError as error:
            logger.warning("Contract #%s: Stripe refused the plan change: %s", contract.pk, error)
            raise PlanError(
                gettext("The card company could not be reached. Nothing was changed; please try again.")
            ) from error
        switched_at = now
    return _contract_change_plan(
        contract=contract,
        new_plan=new_plan,
        by=by,
        starts_on=starts_on,
        today=today,
        now=now,
        switched_at=switched_at,
    )


@transaction.atomic
def _contract_change_plan(
    *,
    contract: PlanContract,
    new_plan: Plan,
    by,
    starts_on: date,
    today: date,
    now: datetime,
    switched_at: datetime | None = None,
) -> PlanContract:
    contract = _locked(contract)
    _check_change(contract, new_plan, starts_on)
    before = contract.ends_on
    contract.ends_on = starts_on - timedelta(days=1)
    contract.save(update_fields=["ends_on", "updated_at"])
    staff = getattr(by, "is_staff", False)
    new = PlanContract.objects.create(
        member=contract.member,
        plan=new_plan,
        contracted_on=min(today, starts_on),
        starts_on=starts_on,
        ends_on=before,
        channel=PlanContract.Channel.ADMIN if staff else PlanContract.Channel.SITE,
        status=contract.status,
        previous=contract,
        stripe_subscription_id=contract.stripe_subscription_id,
        stripe_price_switched_at=switched_at,
    )
    actor = _actor(by, "", "plans")
    audit_log(
        action="plan_contract.plan_changed",
        obj=contract,
        now=now,
        payload={"changes": {"ends_on": [before, contract.ends_on]}, "next": new.pk, "plan": new_plan.pk},
        **actor,
    )
    audit_log(
        action="plan_contract.created",
        obj=new,
        now=now,
        payload={
            "plan": new_plan.pk,
            "channel": new.channel,
            "starts_on": starts_on,
            "previous": contract.pk,
            "stripe_price_switched": switched_at is not None,
        },
        **actor,
    )
    return new


# --- admin contracts ---------------------------------------------------------------------------------------


@transaction.atomic
def contract_create_admin(
    *,
    member,
    plan: Plan,
    contracted_on: date,
    starts_on: date,
    pay: str,
    grant_on_contract: bool,
    grant_start_month: bool,
    by,
    now: datetime | None = None,
) -> PlanContract:
    """Staff make a contract (channel "admin"). `pay="counter"`: in force at once, its first order
    (enrollment fee, contract-month fee) pending until staff receive the money at the counter.
    `pay="link"`: the member is e-mailed a card link for that order, whose checkout also starts the
    monthly subscription; the contract starts when it is paid. Nothing is granted by itself for an admin
    contract: the tick boxes grant the on-contract tickets and the start month's monthly tickets now."""
    now = now or timezone.now()
    if pay not in ("counter", "link"):
        raise PlanError(gettext("Choose how the contract is paid."))
    if starts_on < contracted_on:
        raise PlanError(gettext("The start date cannot be before the contract date."))
    _lock_member(member)
    _check_no_open_contract(member=member, starts_on=starts_on)
    order = order_create(
        member=member,
        lines=first_order_lines(plan=plan, contracted_on=contracted_on),
        payment_method=Order.Method.COUNTER if pay == "counter" else Order.Method.CARD,
        by=by,
        now=now,
    )
    contract = PlanContract.objects.create(
        member=member,
        plan=plan,
        contracted_on=contracted_on,
        starts_on=starts_on,
        channel=PlanContract.Channel.ADMIN,
        status=PlanContract.Status.ACTIVE if pay == "counter" else PlanContract.Status.PENDING,
        first_order=order,
    )
    audit_log(
        action="plan_contract.created",
        obj=contract,
        by=by,
        now=now,
        payload={
            "plan": plan.pk,
            "channel": contract.channel,
            "starts_on": starts_on,
            "order": order.pk,
            "pay": pay,
            "grant_on_contract": grant_on_contract,
            "grant_start_month": grant_start_month,
        },
    )
    if grant_on_contract or grant_start_month:
        _grant_new_contract(
            contract,
            by=by,
            system="",
            now=now,
            include_on_contract=grant_on_contract,
            include_monthly=grant_start_month,
        )
    if pay == "link":
        from payments.links import payment_link_url

        queue_templated_email(
            template="plans/contract_payment_link",
            context={
                "plan_name": plan.name,
                "member_name": member.name,
                "order": order,
                "link": payment_link_url(order),
            },
            to=[member.email],
        )
    return contract


# --- counter contracts: a pending order each month -----------------------------------------------------

COUNTER_ORDERS = "plan_counter_orders"


def counter_orders_due(month: date):
    """The contracts paid at the counter that owe `month` (its first day) an order and have none: admin
    contracts without a card subscription whose first order (if any) is a counter order, in force during
    the month, and contracted before it (the contract month is paid by the first order's contract-month
    fee). After a plan change only the contract made before the month owes it, so a month is billed once."""
    return (
        PlanContract.objects.filter(
            channel=PlanContract.Channel.ADMIN,
            status__in=(PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE),
            stripe_subscription_id="",
            contracted_on__lt=month,
            starts_on__lte=month_end(month),
        )
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=month))
        .filter(Q(first_order__isnull=True) | Q(first_order__payment_method=Order.Method.COUNTER))
        .exclude(monthly_orders__month=month)
        .select_related("plan__monthly_product", "member")
        .order_by("pk")
    )


def counter_orders_create(
    *, month: date, system: str = COUNTER_ORDERS, now: datetime | None = None
) -> list[PlanMonthlyOrder]:
    """The month's pending counter order (the plan's monthly price) for every contract that owes one, each
    in its own short transaction under the contract's lock: twice, or two runs at once, make one per
    (contract, month) (and the unique constraint stands behind it)."""
    now = now or timezone.now()
    month = month.replace(day=1)
    made = []
    for contract in counter_orders_due(month):
        with transaction.atomic():
            locked = _locked(contract)
            if PlanMonthlyOrder.objects.filter(contract=locked, month=month).exists():
                continue
            monthly = locked.plan.monthly_product
            order = order_create(
                member=locked.member,
                lines=[
                    LineDraft(
                        kind=OrderLine.Kind.PRODUCT,
                        description=f"{monthly.name} ({month:%Y-%m})",
                        unit_price_yen=monthly.price_yen,
                        product=monthly,
                    )
                ],
                payment_method=Order.Method.COUNTER,
                by=None,
                system=system,
                now=now,
            )
            made.append(
                PlanMonthlyOrder.objects.create(contract=locked, month=month, order=order, created_at=now)
            )
            audit_log(
                action="plan_contract.monthly_order",
                obj=locked,
                by=None,
                system=system,
                now=now,
                payload={"month": month, "order": order.pk, "total_yen": order.total_yen},
            )
    return made


# --- plugins: the subscription of a first order, and what paying it does ----------------------------------


class ContractSubscriptions(registry.SubscriptionSource):
    """A pending contract's first order is paid by card with the plan's monthly subscription."""

    def subscription_for(self, *, order, now: datetime) -> registry.Subscription | None:
        contract = (
            PlanContract.objects.filter(first_order=order, status=PlanContract.Status.PENDING)
            .select_related("plan__monthly_product")
            .first()
        )
        if contract is None:
            return None
        monthly = contract.plan.monthly_product
        return registry.Subscription(
            name=monthly.name,
            price_yen=monthly.price_yen,
            billing_cycle_anchor=billing_anchor(contract, now=now),
            metadata={"contract_id": str(contract.pk)},
        )


class ContractOrderFulfiller(registry.ProductFulfiller):
    """The first order of a contract carries the plan's monthly product (at 0 yen): paying the order (the
    Checkout webhook, the test gateway, the counter) starts the contract."""

    def claims(self, *, product) -> bool:
        return product is not None and Plan.objects.filter(monthly_product=product).exists()

    def check(self, *, line, now) -> None:
        contract = PlanContract.objects.filter(first_order_id=line.order_id).first()
        if contract is not None and contract.status == PlanContract.Status.ENDED:
            raise PlanError(gettext("This contract has ended: its order can no longer be paid."))

    def fulfil(self, *, line, now) -> None:
        for contract in PlanContract.objects.filter(first_order_id=line.order_id):
            contract_activate(contract=contract, system=ORDER_PAID, now=now)

    def undo(self, *, line, now, by) -> None:
        """An unpaid first order cancelled: its pending contract never starts. A contract in force is left
        to staff (cancel it at the month end)."""
        for contract in PlanContract.objects.filter(
            first_order_id=line.order_id, status=PlanContract.Status.PENDING
        ):
            locked = _locked(contract)
            locked.status = PlanContract.Status.ENDED
            locked.ends_on = locked.contracted_on
            locked.save(update_fields=["status", "ends_on", "updated_at"])
            audit_log(
                action="plan_contract.dropped",
                obj=locked,
                now=now,
                payload={"order": line.order_id},
                **_actor(by, "", ORDER_UNDONE),
            )


# --- Stripe webhooks (run inside the event's transaction; the event is stored once) ---------------------


def _subscription_of(obj: dict) -> tuple[str, dict]:
    """The subscription id and its metadata an invoice names (older and newer API versions)."""
    details = obj.get("subscription_details") or {}
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    subscription = obj.get("subscription") or parent.get("subscription") or ""
    if isinstance(subscription, dict):
        subscription = subscription.get("id") or ""
    metadata = details.get("metadata") or parent.get("metadata") or {}
    return str(subscription), metadata


def _contracts_of(subscription_id: str, metadata: dict) -> list[PlanContract]:
    """The contracts a subscription pays, not ended (a plan change's two contracts share it)."""
    found = []
    if subscription_id:
        found = list(
            PlanContract.objects.filter(stripe_subscription_id=subscription_id)
            .exclude(status=PlanContract.Status.ENDED)
            .order_by("pk")
        )
    reference = str(metadata.get("contract_id") or "")
    if not found and reference.isdigit():
        found = list(PlanContract.objects.filter(pk=int(reference)).exclude(status=PlanContract.Status.ENDED))
    return found


def on_checkout_completed(*, obj: dict, now: datetime) -> str:
    """A subscription checkout completed: the contract learns its subscription (payments' own handler has
    paid the first order, which started the contract)."""
    if obj.get("mode") != "subscription" or not obj.get("subscription"):
        return ""
    subscription = obj["subscription"]
    subscription = subscription.get("id") if isinstance(subscription, dict) else subscription
    reference = str((obj.get("metadata") or {}).get("contract_id") or "")
    if not reference.isdigit():
        return ""
    contract = PlanContract.objects.filter(pk=int(reference)).first()
    if contract is None:
        return ""
    paid = obj.get("payment_status") in ("paid", "no_payment_required")
    if paid:
        contract_activate(contract=contract, system=STRIPE_WEBHOOK, subscription_id=subscription, now=now)
    elif not contract.stripe_subscription_id:
        PlanContract.objects.filter(pk=contract.pk).update(stripe_subscription_id=subscription)
    return f"contract #{contract.pk}: subscription {subscription}"


def on_invoice_paid(*, obj: dict, now: datetime) -> str:
    """Each paid invoice keeps the contract active: the first starts it, one after a failure restores it."""
    subscription, metadata = _subscription_of(obj)
    contracts = _contracts_of(subscription, metadata)
    for contract in contracts:
        contract_activate(contract=contract, system=STRIPE_WEBHOOK, subscription_id=subscription, now=now)
    return f"contracts {[c.pk for c in contracts]} active" if contracts else ""


def on_invoice_failed(*, obj: dict, now: datetime) -> str:
    subscription, metadata = _subscription_of(obj)
    contracts = _contracts_of(subscription, metadata)
    for contract in contracts:
        contract_mark_past_due(contract=contract, system=STRIPE_WEBHOOK, now=now)
    return f"contracts {[c.pk for c in contracts]} past due" if contracts else ""


def on_subscription_deleted(*, obj: dict, now: datetime) -> str:
    """The subscription ended: its contracts end on the last day it paid for. A subscription stopped at a
    period end (the 1st 00:00 JST) was in force through the day before."""
    ended = obj.get("ended_at") or obj.get("canceled_at")
    at = datetime.fromtimestamp(int(ended), tz=JST) if ended else timezone.localtime(now, JST)
    last_day = (at - timedelta(microseconds=1)).date() if at.time() == datetime.min.time() else at.date()
    contracts = _contracts_of(str(obj.get("id") or ""), obj.get("metadata") or {})
    for contract in contracts:
        contract_end(contract=contract, last_day=last_day, system=STRIPE_WEBHOOK, now=now)
    return f"contracts {[c.pk for c in contracts]} ended" if contracts else ""


def register() -> None:
    """Called from PlansConfig.ready()."""
    from payments import stripe_events

    registry.register_subscription_source("plans", ContractSubscriptions())
    registry.register_product_fulfiller(ContractOrderFulfiller())
    stripe_events.register_event_handler("checkout.session.completed", on_checkout_completed)
    stripe_events.register_event_handler("checkout.session.async_payment_succeeded", on_checkout_completed)
    stripe_events.register_event_handler("invoice.paid", on_invoice_paid)
    stripe_events.register_event_handler("invoice.payment_failed", on_invoice_failed)
    stripe_events.register_event_handler("customer.subscription.deleted", on_subscription_deleted)
    registry.register_order_link("plans", order_link)


__all__ = [
    "Cancelled",
    "ContractCheckout",
    "bookings_after",
    "cancel_preview",
    "contract_activate",
    "contract_cancel",
    "contract_change_plan",
    "contract_create_admin",
    "contract_end",
    "contract_mark_past_due",
    "contract_start_checkout",
    "month_end",
    "next_month_start",
]


def order_link(order) -> tuple[str, str] | None:
    """A plan's first order leads to the member's plan page (payments.registry.register_order_link)."""
    if not PlanContract.objects.filter(first_order=order).exists():
        return None
    return gettext("My plan"), reverse("plans:mine")
