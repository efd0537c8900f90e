"""When Stripe's subscription starts billing a changed plan's monthly price (SPEC §7 plan change).

Stripe bills a plan's subscription on the 1st of each month (the billing is anchored at the 1st 00:00 JST),
in advance, for the plan in force on that 1st. A plan change on `starts_on` is first billed on F, the first
1st on or after `starts_on` (`billed_from`). Stripe's price must therefore be switched after the invoice of
the 1st before F was made and before F itself: at once when F is the next 1st (a member's change, always
from the 1st of next month; a staff change dated before then), otherwise later, by the daily job here (a
staff change dated months ahead must not be billed at the new price on the 1sts before it).

    price_switches_due     the plan changes whose switch is due today and not made
    price_switch           one switch: Stripe first (outside any transaction or row lock, idempotent),
                           then the contract marked switched (`stripe_price_switched_at`) with an audit entry
    price_switches_run     every due switch; one Stripe refusal leaves that change for the next run
    price_switch_job       the run as a job-history row (the daily beat task): a run with a refusal fails,
                           and failed runs show on the admin home until a later run succeeds

A change undone before F sends nothing: its new contract cancelled (ended before F), ended with its
subscription, or followed by another change already switched."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

import stripe
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from core import periods
from core.attention import AttentionItem
from core.audit import audit_log
from core.exceptions import DomainError
from core.jobs import JobOutcome, job_create
from core.models import Job
from core.periods import JST
from payments import stripe_api
from plans.models import PlanContract

logger = logging.getLogger(__name__)

SWITCH_JOB = (
    "plans.price_switches"  # the job-history kind of a run, and the system named on its audit entries
)
JOB_LABEL = gettext_lazy("Plan changes: Stripe price switches")
ACTION_LABELS = {"plan_contract.price_switched": gettext_lazy("Stripe switched to the new plan's price")}

IN_FORCE = (PlanContract.Status.ACTIVE, PlanContract.Status.PAST_DUE)


# --- dates --------------------------------------------------------------------------------------------------


def billed_from(starts_on: date) -> date:
    """F: the first 1st on or after `starts_on`, the first invoice that bills the plan starting then."""
    return starts_on if starts_on.day == 1 else periods.add_months_clamped(periods.month_start(starts_on), 1)


def switch_is_due(starts_on: date, *, today: date) -> bool:
    """Stripe's price is switched once no invoice before F is still to come: F is at most the next 1st. (F is
    the first 1st on or after `starts_on`, and the next 1st is a 1st: F <= it exactly when `starts_on` is.)"""
    return starts_on <= periods.add_months_clamped(periods.month_start(today), 1)


def change_key(*, previous_id: int, plan_id: int, starts_on: date) -> str:
    """The idempotency key of a change's switch made at once (kept as it was before deferred switches)."""
    return f"plan-contract-{previous_id}-change-{plan_id}-{starts_on:%Y%m%d}"


# --- what is due --------------------------------------------------------------------------------------------


def _pending():
    """New contracts of plan changes on a subscription whose price Stripe has not switched yet, in force (an
    ended one's subscription is gone), and not followed by a later change already switched."""
    later_switched = PlanContract.objects.filter(
        previous=OuterRef("pk"), stripe_price_switched_at__isnull=False
    )
    return (
        PlanContract.objects.filter(
            previous__isnull=False, stripe_price_switched_at__isnull=True, status__in=IN_FORCE
        )
        .exclude(stripe_subscription_id="")
        .exclude(Exists(later_switched))
    )


def price_switches_due(*, today: date) -> list[PlanContract]:
    """The changes to switch today, in the order they start (two due at once: the later one's price is the
    one left). A change whose new contract ends before F (cancelled before it was billed) never is."""
    candidates = (
        _pending()
        .filter(starts_on__lte=periods.add_months_clamped(periods.month_start(today), 1))
        .select_related("plan__monthly_product", "member")
        .order_by("starts_on", "pk")
    )
    return [c for c in candidates if c.ends_on is None or c.ends_on >= billed_from(c.starts_on)]


def price_switch_pending(contract: PlanContract) -> bool:
    """For the pages: this contract's new price is still to be switched at Stripe."""
    return (
        contract.previous_id is not None
        and contract.stripe_price_switched_at is None
        and bool(contract.stripe_subscription_id)
        and contract.status in IN_FORCE
        and (contract.ends_on is None or contract.ends_on >= billed_from(contract.starts_on))
    )


# --- one switch ---------------------------------------------------------------------------------------------


def send_price_switch(contract: PlanContract, *, key: str) -> None:
    """Stripe's subscription item to `contract`'s plan's monthly price, without proration. Raises
    stripe.StripeError. Call it outside any transaction: it is idempotent under `key`."""
    monthly = contract.plan.monthly_product
    stripe_api.subscription_change_price(
        contract.stripe_subscription_id,
        name=monthly.name,
        price_yen=monthly.price_yen,
        metadata={"contract_id": str(contract.previous_id), "plan_id": str(contract.plan_id)},
        idempotency_key=key,
    )


def price_switch(*, contract: PlanContract, today: date, now: datetime | None = None) -> bool:
    """Switch one change's price at Stripe, then mark it switched. False when it was already marked (by
    another run meanwhile). The key names the day: a run retried the same day is one switch at Stripe, and a
    refusal Stripe kept under the key (for 24 hours) is not answered again to the next day's run."""
    now = now or timezone.now()
    key = change_key(previous_id=contract.previous_id, plan_id=contract.plan_id, starts_on=contract.starts_on)
    send_price_switch(contract, key=f"{key}-on-{today:%Y%m%d}")
    return _mark_switched(contract=contract, now=now)


@transaction.atomic
def _mark_switched(*, contract: PlanContract, now: datetime) -> bool:
    locked = PlanContract.objects.select_for_update().get(pk=contract.pk)
    if locked.stripe_price_switched_at is not None:
        return False
    locked.stripe_price_switched_at = now
    locked.save(update_fields=["stripe_price_switched_at", "updated_at"])
    audit_log(
        action="plan_contract.price_switched",
        obj=locked,
        by=None,
        system=SWITCH_JOB,
        now=now,
        payload={
            "plan": locked.plan_id,
            "price_yen": contract.plan.monthly_product.price_yen,
            "billed_from": billed_from(locked.starts_on),
        },
    )
    contract.stripe_price_switched_at = now
    return True


# --- the daily run ------------------------------------------------------------------------------------------


@dataclass
class SwitchRun:
    today: date
    switched: list[int] = field(default_factory=list)  # contract ids
    failed: dict[int, str] = field(default_factory=dict)  # contract id → Stripe's message


def price_switches_run(*, now: datetime | None = None) -> SwitchRun:
    """Every due switch (`price_switches_due` on today's JST date). A switch Stripe refuses is logged and
    left pending: the next run tries it again."""
    now = now or timezone.now()
    today = timezone.localdate(now, JST)
    run = SwitchRun(today=today)
    for contract in price_switches_due(today=today):
        try:
            if price_switch(contract=contract, today=today, now=now):
                run.switched.append(contract.pk)
        except stripe.StripeError as error:
            logger.warning(
                "Contract #%s: Stripe refused the price switch of a plan change: %s", contract.pk, error
            )
            run.failed[contract.pk] = str(getattr(error, "user_message", None) or error)
    return run


class PriceSwitchError(DomainError):
    default_message = gettext_lazy("Stripe refused some price switches of plan changes.")


def price_switch_job_create(*, today: date, started_by=None) -> Job:
    return job_create(
        kind=SWITCH_JOB,
        label=format_lazy(
            gettext_lazy("Stripe price switches of plan changes, {day}"), day=f"{today:%Y-%m-%d}"
        ),
        started_by=started_by,
        params={"day": today.isoformat()},
    )


def price_switch_job(job: Job, progress) -> JobOutcome:
    """The job function (core.jobs.job_run): the run; with a refusal the job fails, naming the contracts."""
    run = price_switches_run()
    if run.failed:
        raise PriceSwitchError(
            gettext(
                "Stripe refused the price switch of {count} plan change(s): {contracts}. They stay "
                "pending and the next daily run tries again. Switched: {switched}."
            ).format(
                count=len(run.failed),
                contracts="; ".join(f"#{pk} ({message})" for pk, message in run.failed.items()),
                switched=len(run.switched),
            )
        )
    return JobOutcome(counts={"plan_price_switches": len(run.switched)})


def _unresolved_failures():
    later_success = Job.objects.filter(
        kind=SWITCH_JOB, status=Job.Status.SUCCEEDED, created_at__gt=OuterRef("created_at")
    )
    return Job.objects.filter(kind=SWITCH_JOB, status=Job.Status.FAILED).exclude(Exists(later_success))


def needs_run(*, today: date) -> bool:
    """Beat records a run (a job-history row) only when a switch is due, or to clear an earlier failed run
    (its change may since have been undone): not an empty row every day."""
    return bool(price_switches_due(today=today)) or _unresolved_failures().exists()


# A run started by beat has nobody to notify in the header: staff who see every job find a failed run on the
# admin home until a later run succeeds (as failed ticket grant runs).
FAILED_RUNS = AttentionItem(
    label=gettext_lazy(
        "Stripe price switches of plan changes that failed (retried daily; until then Stripe bills the "
        "old price)"
    ),
    count=lambda: _unresolved_failures().count(),
    url_name="admin:core_job_changelist",
    query=f"kind={SWITCH_JOB}&status__exact=failed",
    permission="core.view_job",
)

COUNT_LABELS = {"plan_price_switches": pgettext_lazy("job count", "plan prices switched at Stripe")}

__all__ = [
    "billed_from",
    "change_key",
    "price_switch",
    "price_switch_job",
    "price_switch_job_create",
    "price_switch_pending",
    "price_switches_due",
    "price_switches_run",
    "switch_is_due",
]
