"""Paying bookings with a plan's monthly allowance (SPEC §7 "Monthly allowance"): which band a booking's
start time falls in, what is left this month, taking one for a booking and giving it back when the booking
is cancelled (a no-show keeps it used).

The allowance is a ledger like the ticket wallet (ARCHITECTURE.md, Ledgers): each change is one
AllowanceEntry written in the same transaction as the cached AllowanceUsage.used, and one audit entry
naming who acted (`by`, or the system job in `system`). `manage.py check_ledgers` compares the two
(`ledger_report`).

Lock order for a booking paid with the plan: (item or slot, taken by inventory) → the advisory lock on
(member, plan), only when the plan has a concurrency limit → the usage rows, in the plan's band order.
Cancelling takes the reservation row (inventory), then the one usage row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from core.audit import audit_log
from core.locks import advisory_xact_lock
from core.periods import month_start
from inventory.models import Reservation
from inventory.pricing import day_type
from plans.exceptions import AllowanceError, AllowanceLimitError, AllowanceUsedUpError
from plans.models import AllowanceEntry, AllowanceUsage, Plan, PlanBandAllowance, PlanContract, TimeBand

# --- which band ------------------------------------------------------------------------------------------


def band_holds(band: TimeBand, starts_at: datetime) -> bool:
    """Whether a booking starting at `starts_at` is in `band`: its JST day is one of the band's weekdays (a
    Japanese national holiday is 祝 (7) instead of its weekday, as in pricing: a Mon–Fri band does not hold
    a Monday holiday) and its JST start time is in one of the band's windows [starts_at, ends_at)."""
    local = timezone.localtime(starts_at)
    if day_type(local.date()) not in band.weekdays:
        return False
    start = local.time()
    return any(window.starts_at <= start < window.ends_at for window in band.windows.all())


def plan_bands(plan: Plan) -> list[PlanBandAllowance]:
    """The plan's band allowances in the plan's order, with their bands and windows."""
    return list(
        PlanBandAllowance.objects.filter(plan=plan)
        .select_related("band")
        .prefetch_related("band__windows")
        .order_by("position", "id")
    )


def bands_holding(plan: Plan, starts_at: datetime) -> list[PlanBandAllowance]:
    """The plan's band allowances whose band holds `starts_at`, in the plan's order."""
    return [row for row in plan_bands(plan) if band_holds(row.band, starts_at)]


# --- what is left ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowanceLeft:
    """One line of a month's allowance: a band of a per-band plan, or (band None) a plan's one total."""

    band: TimeBand | None
    allowance: int
    used: int

    @property
    def left(self) -> int:
        return max(self.allowance - self.used, 0)

    @property
    def name(self) -> str:
        return self.band.name if self.band is not None else gettext("Monthly total")


def allowance_left(contract: PlanContract, month: date) -> list[AllowanceLeft]:
    """The contract's allowance in the month holding `month` (JST): one line per band of a per-band plan,
    in the plan's order, or one line for a plan with one total. A month with no booking yet has the full
    allowance, the contract's first month included (no proration: the contract-month fee pays for it)."""
    month = month_start(month)
    plan = contract.plan
    used = dict(AllowanceUsage.objects.filter(contract=contract, month=month).values_list("band_id", "used"))
    if plan.allowance_mode == Plan.AllowanceMode.TOTAL:
        return [AllowanceLeft(None, plan.total_allowance or 0, used.get(None, 0))]
    return [AllowanceLeft(row.band, row.allowance, used.get(row.band_id, 0)) for row in plan_bands(plan)]


def allowance_left_total(contract: PlanContract, month: date) -> int:
    return sum(line.left for line in allowance_left(contract, month))


def _month_label(month: date) -> str:
    return date_format(month, "YEAR_MONTH_FORMAT")


def _targets(plan: Plan, starts_at: datetime) -> list[tuple[TimeBand | None, int]]:
    """Where a booking starting at `starts_at` may take from, in order: the bands holding it (per band), or
    the one total (a plan with one total whose bands are set still books only in them). Refuses a start
    time that no band of the plan holds."""
    rows = plan_bands(plan)
    holding = [row for row in rows if band_holds(row.band, starts_at)]
    if rows and not holding:
        local = timezone.localtime(starts_at)
        raise AllowanceError(
            gettext(
                "Your plan “{plan}” cannot book at {time} on {day}: that is outside its time bands ({bands})."
            ).format(
                plan=plan.name,
                time=f"{local:%H:%M}",
                day=date_format(local.date(), "SHORT_DATE_FORMAT"),
                bands=", ".join(row.band.name for row in rows),
            )
        )
    if plan.allowance_mode == Plan.AllowanceMode.TOTAL:
        return [(None, plan.total_allowance or 0)]
    return [(row.band, row.allowance) for row in holding]


# --- checks ----------------------------------------------------------------------------------------------


def check_live(contract: PlanContract, day: date) -> None:
    """The contract must be in force on the booked day (start ≤ day ≤ end) and not past due."""
    plan, shown_day = contract.plan.name, date_format(day, "SHORT_DATE_FORMAT")
    if contract.status == PlanContract.Status.PAST_DUE:
        raise AllowanceError(
            gettext(
                "The last payment for your plan “{plan}” failed, so it cannot pay for bookings until it is "
                "paid. Please update your payment details on your plan page."
            ).format(plan=plan)
        )
    if contract.status == PlanContract.Status.PENDING:
        raise AllowanceError(
            gettext("Your plan “{plan}” starts once its first payment is received.").format(plan=plan)
        )
    if contract.ends_on is not None and day > contract.ends_on:
        raise AllowanceError(
            gettext("Your plan “{plan}” ends on {end}: it cannot pay for a booking on {day}.").format(
                plan=plan, end=date_format(contract.ends_on, "SHORT_DATE_FORMAT"), day=shown_day
            )
        )
    if contract.status == PlanContract.Status.ENDED:
        raise AllowanceError(gettext("Your plan “{plan}” has ended.").format(plan=plan))
    if day < contract.starts_on:
        raise AllowanceError(
            gettext("Your plan “{plan}” starts on {start}: it cannot pay for a booking on {day}.").format(
                plan=plan, start=date_format(contract.starts_on, "SHORT_DATE_FORMAT"), day=shown_day
            )
        )


def covers(plan: Plan, *, item_id: int, store_id: int) -> bool:
    """The item is among the plan's usable items, at one of its bookable stores (a plan with no bookable
    stores set books at every store)."""
    if not plan.items.filter(pk=item_id).exists():
        return False
    stores = set(plan.stores.values_list("pk", flat=True))
    return not stores or store_id in stores


def check_covers(plan: Plan, reservation: Reservation) -> None:
    if not plan.items.filter(pk=reservation.item_id).exists():
        raise AllowanceError(
            gettext("“{item}” cannot be booked with your plan “{plan}”.").format(
                item=reservation.item.name, plan=plan.name
            )
        )
    stores = set(plan.stores.values_list("pk", flat=True))
    if stores and reservation.store_id not in stores:
        raise AllowanceError(
            gettext("Your plan “{plan}” cannot book at {store}.").format(
                plan=plan.name, store=reservation.store.name
            )
        )


def live_reservations_with_plan(*, member_id: int, plan_id: int):
    """The member's tentative, awaiting and confirmed reservations paid with this plan's allowance."""
    return Reservation.objects.filter(
        member_id=member_id,
        status__in=Reservation.LIVE_STATUSES,
        allowance_entries__kind=AllowanceEntry.Kind.USED,
        allowance_entries__usage__contract__plan_id=plan_id,
    ).distinct()


def places_held_with_plan(*, member_id: int, plan_id: int, on: date, now: datetime) -> tuple[int, int]:
    """The places of the member's live reservations paid with this plan: those not yet over (the limit at
    once), and those on the JST day `on` (the limit per day)."""
    held = held_on_day = 0
    rows = live_reservations_with_plan(member_id=member_id, plan_id=plan_id).values_list(
        "quantity", "starts_at", "ends_at"
    )
    for quantity, starts_at, ends_at in rows:
        if ends_at > now:
            held += quantity
        if timezone.localdate(starts_at) == on:
            held_on_day += quantity
    return held, held_on_day


def limits_lock(*, member_id: int, plan_id: int) -> None:
    """Serialises one member's bookings with one plan, so the two concurrency limits (which count the places
    of live reservations, not a row that could be locked) cannot be overrun by parallel bookings."""
    advisory_xact_lock(f"plans.limits:{member_id}:{plan_id}")


def check_limits(plan: Plan, *, member_id: int, on: date, places: int, now: datetime) -> None:
    held, held_on_day = places_held_with_plan(member_id=member_id, plan_id=plan.pk, on=on, now=now)
    if plan.max_concurrent and held + places > plan.max_concurrent:
        raise AllowanceLimitError(
            gettext(
                "With your plan “{plan}” you can hold at most {limit} bookings at once, and you already "
                "hold {held}. Please wait until one has taken place, or cancel one first."
            ).format(plan=plan.name, limit=plan.max_concurrent, held=held)
        )
    if plan.max_concurrent_per_day and held_on_day + places > plan.max_concurrent_per_day:
        raise AllowanceLimitError(
            gettext(
                "With your plan “{plan}” you can book at most {limit} on one day, and you already hold "
                "{held} on that day."
            ).format(plan=plan.name, limit=plan.max_concurrent_per_day, held=held_on_day)
        )


# --- locks ---------------------------------------------------------------------------------------------


def usage_row(*, contract_id: int, month: date, band_id: int | None, lock: bool) -> AllowanceUsage:
    """The month's usage row of one band (or the total), made at 0 on first use. `lock`: held FOR UPDATE
    until the transaction ends. The row is looked for before it is inserted, so a booking against an
    existing row never waits on another transaction's insert."""
    rows = AllowanceUsage.objects.filter(contract_id=contract_id, month=month, band_id=band_id)
    if lock:
        rows = rows.select_for_update()
    usage = rows.first()
    if usage is not None:
        return usage
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AllowanceUsage._meta.db_table} (contract_id, month, band_id, used) "  # noqa: S608
            "VALUES (%s, %s, %s, 0) ON CONFLICT DO NOTHING",
            [contract_id, month, band_id],
        )
    return rows.get()


def usage_for_update(*, contract_id: int, month: date, band_id: int | None) -> AllowanceUsage:
    return usage_row(contract_id=contract_id, month=month, band_id=band_id, lock=True)


# --- taking and giving back -------------------------------------------------------------------------------

RESERVATION_CANCELLED = "reservation_cancelled"


@transaction.atomic
def allowance_take(
    *, contract: PlanContract, reservation: Reservation, by, system: str = "", now: datetime | None = None
) -> AllowanceEntry:
    """Take one of the contract's allowance for `reservation` (inside its booking transaction; `by` is who
    books): from the first band, in the plan's order, whose window holds the start time and that has some
    left in the booked day's month (JST), or from the plan's one total. One place only. Refused, with the
    reason, when the contract is not live on the booked day, the item or store is not the plan's, a
    concurrency limit would be exceeded, or nothing is left. Each usage row is locked before it is read, so
    parallel bookings cannot take more than the allowance."""
    now = now or timezone.now()
    if reservation.quantity != 1:
        raise AllowanceError(
            gettext(
                "Your plan pays for one place per booking: book one place with the plan, and any others "
                "another way."
            ),
            field="quantity",
        )
    contract = PlanContract.objects.select_related("plan").get(pk=contract.pk)
    if contract.member_id != reservation.member_id:
        raise AllowanceError(gettext("This plan belongs to another member."))
    plan = contract.plan
    day = timezone.localdate(reservation.starts_at)
    month = month_start(day)
    check_live(contract, day)
    check_covers(plan, reservation)
    targets = _targets(plan, reservation.starts_at)
    if plan.max_concurrent or plan.max_concurrent_per_day:
        limits_lock(member_id=contract.member_id, plan_id=plan.pk)
        check_limits(plan, member_id=contract.member_id, on=day, places=1, now=now)
    for band, allowance in targets:
        usage = usage_for_update(contract_id=contract.pk, month=month, band_id=band.pk if band else None)
        if usage.used >= allowance:
            continue
        AllowanceUsage.objects.filter(pk=usage.pk).update(used=F("used") + 1)
        entry = AllowanceEntry.objects.create(
            usage=usage,
            kind=AllowanceEntry.Kind.USED,
            delta=-1,
            reservation=reservation,
            created_by=by if getattr(by, "pk", None) else None,
            created_at=now,
        )
        audit_log(
            action="plan_allowance.used",
            obj=contract,
            by=by,
            system=system,
            now=now,
            payload={
                "reservation": reservation.pk,
                "month": month,
                "band": band.name if band else None,
                "changes": {"used": [usage.used, usage.used + 1]},
            },
        )
        return entry
    if plan.allowance_mode == Plan.AllowanceMode.TOTAL:
        message = gettext(
            "Your plan “{plan}” has no bookings left in {month}: all {allowance} of the month are used."
        ).format(plan=plan.name, month=_month_label(month), allowance=targets[0][1])
    else:
        message = gettext(
            "Your plan “{plan}” has no bookings left in {month} for this time ({bands}): they are all used."
        ).format(
            plan=plan.name, month=_month_label(month), bands=", ".join(band.name for band, _n in targets)
        )
    raise AllowanceUsedUpError(message)


@transaction.atomic
def allowance_restore(
    *, reservation: Reservation, by, system: str = "", now: datetime | None = None
) -> AllowanceEntry | None:
    """The booking was cancelled: give back the one it took, to the month and band it was taken from.
    Giving back twice gives back once (the unique constraint on (reservation, kind) is the last line)."""
    now = now or timezone.now()
    used = AllowanceEntry.objects.filter(reservation=reservation, kind=AllowanceEntry.Kind.USED).first()
    if used is None:
        return None
    usage = (
        AllowanceUsage.objects.select_for_update(of=("self",))
        .select_related("band", "contract")
        .get(pk=used.usage_id)
    )
    if AllowanceEntry.objects.filter(reservation=reservation, kind=AllowanceEntry.Kind.RESTORED).exists():
        return None
    AllowanceUsage.objects.filter(pk=usage.pk).update(used=F("used") - 1)
    entry = AllowanceEntry.objects.create(
        usage=usage,
        kind=AllowanceEntry.Kind.RESTORED,
        delta=1,
        reservation=reservation,
        created_by=by if getattr(by, "pk", None) else None,
        created_at=now,
    )
    audit_log(
        action="plan_allowance.restored",
        obj=usage.contract,
        by=by,
        system=system or ("" if getattr(by, "pk", None) else RESERVATION_CANCELLED),
        now=now,
        payload={
            "reservation": reservation.pk,
            "month": usage.month,
            "band": usage.band.name if usage.band else None,
            "changes": {"used": [usage.used, usage.used - 1]},
        },
    )
    return entry


# --- which contract pays ---------------------------------------------------------------------------------


def usable_contracts(*, member, item, starts_at: datetime) -> list[tuple[PlanContract, int]]:
    """The member's contracts that could pay for one place of `item` starting at `starts_at`, with how many
    are left for that time this month: live on the booked day, covering the item and its store, the start
    time in one of the plan's bands, some left. Read without locks (the booking checks again)."""
    if not getattr(member, "pk", None):
        return []
    day = timezone.localdate(starts_at)
    contracts = (
        PlanContract.objects.filter(
            member=member, status=PlanContract.Status.ACTIVE, starts_on__lte=day, plan__items=item
        )
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=day))
        .select_related("plan")
        .order_by("starts_on", "pk")
    )
    found = []
    for contract in contracts:
        if not covers(contract.plan, item_id=item.pk, store_id=item.store_id):
            continue
        try:
            targets = _targets(contract.plan, starts_at)
        except AllowanceError:
            continue
        used = dict(
            AllowanceUsage.objects.filter(contract=contract, month=month_start(day)).values_list(
                "band_id", "used"
            )
        )
        left = sum(max(allowance - used.get(band.pk if band else None, 0), 0) for band, allowance in targets)
        if left:
            found.append((contract, left))
    return found


def contract_for_booking(*, reservation: Reservation, contract_id: int | None) -> PlanContract:
    """The contract that pays: the one the member chose, else the first that could pay; failing that the
    contract whose refusal explains best why none can (past due, not started, ended), so the member is
    told."""
    contracts = PlanContract.objects.filter(member_id=reservation.member_id).select_related("plan")
    if contract_id is not None:
        chosen = contracts.filter(pk=contract_id).first()
        if chosen is None:
            raise AllowanceError(gettext("The plan you chose cannot pay for this booking."))
        return chosen
    usable = usable_contracts(
        member=reservation.member, item=reservation.item, starts_at=reservation.starts_at
    )
    if usable:
        return usable[0][0]
    day = timezone.localdate(reservation.starts_at)
    candidates = list(contracts.exclude(status=PlanContract.Status.PENDING).order_by("-starts_on", "-pk"))
    for contract in candidates:
        if contract.starts_on <= day and (contract.ends_on is None or day <= contract.ends_on):
            return contract
    if candidates:
        return candidates[0]
    raise AllowanceError(gettext("You have no plan that can pay for this booking."))


# --- the ledger ---------------------------------------------------------------------------------------


def ledger_differences() -> list[tuple[AllowanceUsage, int, int]]:
    """Usage rows whose cached `used` is not minus the sum of their entries: (usage, used, ledger_used)."""
    rows = (
        AllowanceUsage.objects.annotate(ledger=Coalesce(Sum("entries__delta"), 0))
        .annotate(difference=F("used") + F("ledger"))
        .exclude(difference=0)
        .select_related("contract__member", "contract__plan", "band")
        .order_by("pk")
    )
    return [(row, row.used, -row.ledger) for row in rows]


def ledger_report() -> list[str]:
    return [
        f"plan allowance #{usage.pk} ({usage.contract.member.email}, {usage.contract.plan.name}, "
        f"{usage.month:%Y-%m}, {usage.band.name if usage.band else 'total'}): used {used} but ledger says "
        f"{ledger_used}"
        for usage, used, ledger_used in ledger_differences()
    ]
