"""Every change to a member's points (SPEC §8, seed 004): grant, use, give a use back, take a grant back,
adjust by hand, expire. Each writes its ledger entry (and lot or allocations) in the same transaction as the
cached balance, under the lock on the member's account row (points.locks), and one audit entry naming who
acted (`by`: the member or staff member; None for a system job named in `system`).

Expiry (the shop's PointSettings, read when the change is made, so a new period never rewrites dates
already set):
- per record: a grant's lot is valid through the same day `period_months` later, clamped to that month's
  last day (2018-01-31 + 1 → 2018-02-28; 2028-01-31 + 1 → 2028-02-29); uses draw from the lot that expires
  first; a cancelled use comes back as a new lot valid through the cancellation day + the period;
- whole balance: lots carry no date; a grant or a use moves the balance's one date to the activity day +
  the period, and a cancelled use puts back the date it moved (only while nothing later has moved it, and
  never to a day already past: then the cancellation day + the period). Expiries, take-backs, use
  reversals and "other" entries leave it (an "other" plus entered by staff may set one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from core.audit import audit_log
from core.periods import add_months_clamped
from points import locks
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import MAX_POINTS, PointAccount, PointAllocation, PointEntry, PointLot, PointSettings

Kind = PointEntry.Kind
Method = PointSettings.ExpiryMethod


def _actor(by):
    return by if getattr(by, "pk", None) is not None else None


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or amount < 1:
        raise PointsError(gettext("Enter a number of points of 1 or more."), field="amount")
    if amount > MAX_POINTS:
        raise PointsError(
            gettext("At most {max} points can be changed at once.").format(max=MAX_POINTS), field="amount"
        )


def _new_entry(account: PointAccount, *, kind: str, delta: int, now: datetime, by, system: str, **fields):
    """Move the cached balance by `delta` and write its entry (under the account's lock)."""
    if account.balance + delta > MAX_POINTS:
        raise PointsError(gettext("A member can hold at most {max} points.").format(max=MAX_POINTS))
    account.balance += delta
    account.save(update_fields=["balance", "expires_on", "updated_at"])
    return PointEntry.objects.create(
        member_id=account.member_id,
        kind=kind,
        delta=delta,
        balance_after=account.balance,
        created_by=_actor(by),
        system="" if _actor(by) else system,
        created_at=now,
        **fields,
    )


def _lots_to_draw(member_id: int, *, first_lot_id: int | None = None) -> list[PointLot]:
    """The member's lots with points left, the one expiring first first (undated lots last, oldest first);
    `first_lot_id` before all (a take-back draws from the grant's own lot first). Locked: the account's lock
    already serialises their writers, this keeps the expiry job's reads honest too."""
    lots = list(
        PointLot.objects.select_for_update()
        .filter(member_id=member_id, remaining__gt=0)
        .order_by(F("expires_on").asc(nulls_last=True), "pk")
    )
    if first_lot_id is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot_id)
    return lots


def _draw(entry: PointEntry, lots: list[PointLot], amount: int) -> list[PointAllocation]:
    """Take `amount` points from `lots` in their order, recording where each came from."""
    allocations = []
    for lot in lots:
        if amount == 0:
            break
        take = min(lot.remaining, amount)
        if take == 0:
            continue
        PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        lot.remaining -= take
        allocations.append(PointAllocation(entry=entry, lot=lot, amount=take))
        amount -= take
    if amount:
        # The balance said there were enough: the lots disagree with it (check_ledgers would report it).
        raise PointsError(gettext("The member's points are inconsistent; please contact the shop."))
    return PointAllocation.objects.bulk_create(allocations)


# --- granting ---------------------------------------------------------------------------------------------


@transaction.atomic
def points_grant(
    *,
    member,
    amount: int,
    kind: str,
    by,
    system: str = "",
    reason: str = "",
    order=None,
    review=None,
    now: datetime | None = None,
) -> PointEntry:
    """Give a member points earned on sign-up, on a purchase (`order`) or for a review (`review`): one entry
    and one lot, valid per the shop's expiry method and the period in force today."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if kind not in PointEntry.GRANT_KINDS:
        raise ValueError(f"points_grant: {kind!r} is not a grant kind")
    _check_amount(amount)
    settings = PointSettings.current()
    account = _account_for_change(member.pk, settings=settings, now=now)
    expires_on = add_months_clamped(today, settings.period_months)
    previous = account.expires_on
    lot_expires_on = expires_on
    if settings.expiry_method == Method.WHOLE_BALANCE:
        account.expires_on = expires_on
        lot_expires_on = None
    review_fields = {}
    if review is not None:
        review_fields = {"review_type": ContentType.objects.get_for_model(review), "review_id": review.pk}
    entry = _new_entry(
        account,
        kind=kind,
        delta=amount,
        now=now,
        by=by,
        system=system,
        reason=reason[:200],
        order=order,
        expires_on=expires_on,
        previous_expires_on=previous if settings.expiry_method == Method.WHOLE_BALANCE else None,
        **review_fields,
    )
    PointLot.objects.create(
        member_id=member.pk, entry=entry, amount=amount, remaining=amount, expires_on=lot_expires_on
    )
    audit_log(
        action="points.granted",
        obj=account,
        by=by,
        system=system,
        now=now,
        payload={
            "entry": entry.pk,
            "kind": kind,
            "points": amount,
            "order": order,
            "expires_on": expires_on,
            "changes": {"balance": [account.balance - amount, account.balance]},
            "reason": reason[:200],
        },
    )
    return entry


# --- using ------------------------------------------------------------------------------------------------


@transaction.atomic
def points_use(
    *,
    member,
    amount: int,
    by,
    system: str = "",
    order=None,
    reason: str = "",
    now: datetime | None = None,
    first_lot_id: int | None = None,
) -> PointEntry:
    """Spend `amount` of the member's points (1 point = 1 yen), from the lot that expires first
    (`first_lot_id` before all). More than the balance is refused with how many are available. Whole
    balance: the date moves to today + the period."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    _check_amount(amount)
    settings = PointSettings.current()
    account = _account_for_change(member.pk, settings=settings, now=now)
    if amount > account.balance:
        raise NotEnoughPointsError(
            gettext("You have {balance} points available; {amount} points cannot be used.").format(
                balance=account.balance, amount=amount
            ),
            field="points",
        )
    fields = {}
    if settings.expiry_method == Method.WHOLE_BALANCE:
        fields = {"previous_expires_on": account.expires_on}
        account.expires_on = add_months_clamped(today, settings.period_months)
        fields["expires_on"] = account.expires_on
    entry = _new_entry(
        account,
        kind=Kind.USE,
        delta=-amount,
        now=now,
        by=by,
        system=system,
        order=order,
        reason=reason[:200],
        **fields,
    )
    allocations = _draw(entry, _lots_to_draw(member.pk, first_lot_id=first_lot_id), amount)
    audit_log(
        action="points.used",
        obj=account,
        by=by,
        system=system,
        now=now,
        payload={
            "entry": entry.pk,
            "points": amount,
            "order": order,
            "lots": {allocation.lot_id: allocation.amount for allocation in allocations},
            "changes": {"balance": [account.balance + amount, account.balance]},
        },
    )
    return entry


def _entries_for(*, entry: PointEntry | None, order, kinds) -> list[PointEntry]:
    if (entry is None) == (order is None):
        raise ValueError("give either entry or order")
    if entry is not None:
        if entry.kind not in kinds:
            raise PointsError(gettext("This history entry cannot be reversed that way."))
        return [entry]
    return list(PointEntry.objects.filter(order=order, kind__in=kinds).order_by("pk"))


def use_reversal_dates(
    *, use: PointEntry, balance_expires_on: date | None, settings: PointSettings, today: date
) -> tuple[date | None, date | None]:
    """When the points of `use` given back on `today` expire: (the new lot's date, the balance's date).
    Per record, the lot is valid through today + the period and the balance has no date. Whole balance, the
    lot has none and the balance's date is put back (only the date this use set, never to a day already
    past). The preview of a cancellation (points.spending) asks this too, so it says what will happen."""
    if settings.expiry_method != Method.WHOLE_BALANCE:
        return add_months_clamped(today, settings.period_months), balance_expires_on
    if use.expires_on is not None and balance_expires_on == use.expires_on:
        put_back = use.previous_expires_on
        if put_back is None or put_back < today:
            put_back = add_months_clamped(today, settings.period_months)
        balance_expires_on = put_back
    if balance_expires_on is None or balance_expires_on < today:
        # The balance's date has passed (it expired meanwhile): points given back would be lost at the next
        # run, so they get the period from the cancellation, as per record.
        balance_expires_on = add_months_clamped(today, settings.period_months)
    return None, balance_expires_on


@transaction.atomic
def points_reverse_use(
    *,
    entry: PointEntry | None = None,
    order=None,
    by,
    system: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> list[PointEntry]:
    """Give back the points of a use (`entry`) or of every use on `order` (the order was cancelled): per
    record as a new lot valid through today + the period (used 2019-06-01, cancelled 2019-06-03 → valid
    through 2020-06-03 with 12 months); whole balance, the date the use moved is put back. A use given back
    once is not given back again (returns only the entries written now)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    uses = _entries_for(entry=entry, order=order, kinds=[Kind.USE])
    if not uses:
        return []
    settings = PointSettings.current()
    account = _account_for_change(uses[0].member_id, settings=settings, now=now)
    written = []
    for use in uses:
        if PointEntry.objects.filter(reverses=use, kind=Kind.USE_REVERSAL).exists():
            continue
        points = -use.delta
        before = account.expires_on
        lot_expires_on, account.expires_on = use_reversal_dates(
            use=use, balance_expires_on=account.expires_on, settings=settings, today=today
        )
        reversal = _new_entry(
            account,
            kind=Kind.USE_REVERSAL,
            delta=points,
            now=now,
            by=by,
            system=system,
            order=use.order,
            reverses=use,
            reason=reason[:200],
            expires_on=lot_expires_on or account.expires_on,
            previous_expires_on=before if settings.expiry_method == Method.WHOLE_BALANCE else None,
        )
        PointLot.objects.create(
            member_id=account.member_id,
            entry=reversal,
            amount=points,
            remaining=points,
            expires_on=lot_expires_on,
        )
        audit_log(
            action="points.use_reversed",
            obj=account,
            by=by,
            system=system,
            now=now,
            payload={
                "entry": reversal.pk,
                "use": use.pk,
                "points": points,
                "order": use.order_id,
                "expires_on": reversal.expires_on,
                "changes": {"balance": [account.balance - points, account.balance]},
            },
        )
        written.append(reversal)
    return written


@transaction.atomic
def points_reverse_grant(
    *,
    entry: PointEntry | None = None,
    order=None,
    by,
    system: str = "",
    reason: str = "",
    now: datetime | None = None,
    short_ok: bool = False,
) -> list[PointEntry]:
    """Take back points granted for a purchase or a review (`entry`), or every purchase grant of `order`. It
    never makes the balance negative: when the member has spent them, nothing is taken and the error says how
    many points are missing — unless `short_ok` (the undo cannot be stopped, or staff chose to deduct the
    missing points from the refund): then what the balance allows is taken, and the caller records the
    rest. Draws from the grant's own lot first, then from the lot expiring first."""
    now = now or timezone.now()
    grants = _entries_for(entry=entry, order=order, kinds=[Kind.PURCHASE, Kind.REVIEW, Kind.SIGNUP])
    if not grants:
        return []
    settings = PointSettings.current()
    account = _account_for_change(grants[0].member_id, settings=settings, now=now)
    pending = [
        grant
        for grant in grants
        if not PointEntry.objects.filter(
            reverses=grant, kind__in=[Kind.GRANT_REVERSAL, Kind.REVIEW_REVERSAL]
        ).exists()
    ]
    needed = sum(grant.delta for grant in pending)
    if needed > account.balance and not short_ok:
        raise NotEnoughPointsError(
            gettext(
                "{needed} points would be taken back but the member has only {balance}: {missing} points are "
                "missing (they have been spent)."
            ).format(needed=needed, balance=account.balance, missing=needed - account.balance)
        )
    written = []
    for grant in pending:
        take = min(grant.delta, account.balance)
        if take < 1:
            continue
        kind = Kind.REVIEW_REVERSAL if grant.kind == Kind.REVIEW else Kind.GRANT_REVERSAL
        reversal = _new_entry(
            account,
            kind=kind,
            delta=-take,
            now=now,
            by=by,
            system=system,
            order=grant.order,
            review_type=grant.review_type,
            review_id=grant.review_id,
            reverses=grant,
            reason=reason[:200],
        )
        own_lot = PointLot.objects.filter(entry=grant).values_list("pk", flat=True).first()
        _draw(reversal, _lots_to_draw(account.member_id, first_lot_id=own_lot), take)
        payload = {
            "entry": reversal.pk,
            "grant": grant.pk,
            "points": take,
            "order": grant.order_id,
            "changes": {"balance": [account.balance + take, account.balance]},
        }
        if take < grant.delta:
            payload["missing"] = grant.delta - take
        audit_log(action="points.grant_reversed", obj=account, by=by, system=system, now=now, payload=payload)
        written.append(reversal)
    return written


# --- staff ------------------------------------------------------------------------------------------------


@transaction.atomic
def points_adjust(
    *,
    member,
    delta: int,
    by,
    reason: str,
    expires_on: date | None = None,
    now: datetime | None = None,
) -> PointEntry:
    """A manual entry (その他): staff add points (a one-off bonus, a refund in points; optionally valid
    through `expires_on`, else without a date) or take some away (from the lot expiring first, never below
    0)."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise PointsError(gettext("Enter the reason for the change."), field="reason")
    if not isinstance(delta, int) or delta == 0:
        raise PointsError(gettext("Enter a change other than 0."), field="delta")
    _check_amount(abs(delta))
    if expires_on is not None and delta < 0:
        raise PointsError(gettext("Only points added can have an expiry date."), field="expires_on")
    if expires_on is not None and expires_on < timezone.localdate(now):
        raise PointsError(gettext("The expiry date cannot be in the past."), field="expires_on")
    settings = PointSettings.current()
    account = _account_for_change(member.pk, settings=settings, now=now)
    if account.balance + delta < 0:
        raise NotEnoughPointsError(
            gettext("The member has only {balance} points; at most {balance} can be taken away.").format(
                balance=account.balance
            ),
            field="delta",
        )
    previous = account.expires_on
    whole = settings.expiry_method == Method.WHOLE_BALANCE
    if whole and expires_on is not None:
        account.expires_on = expires_on
    entry = _new_entry(
        account,
        kind=Kind.OTHER,
        delta=delta,
        now=now,
        by=by,
        system="",
        reason=reason[:200],
        expires_on=expires_on,
        previous_expires_on=previous if whole and expires_on is not None else None,
    )
    if delta > 0:
        PointLot.objects.create(
            member_id=member.pk,
            entry=entry,
            amount=delta,
            remaining=delta,
            expires_on=None if whole else expires_on,
        )
    else:
        _draw(entry, _lots_to_draw(member.pk), -delta)
    audit_log(
        action="points.adjusted",
        obj=account,
        by=by,
        now=now,
        payload={
            "entry": entry.pk,
            "delta": delta,
            "expires_on": expires_on,
            "changes": {"balance": [account.balance - delta, account.balance]},
            "reason": reason[:200],
        },
    )
    return entry


# --- expiry -----------------------------------------------------------------------------------------------

EXPIRY_JOB = "expire_points"
EXPIRY_BATCH = 2_000  # members per transaction of the expiry run

T_ACCOUNTS = PointAccount._meta.db_table
T_ENTRIES = PointEntry._meta.db_table
T_LOTS = PointLot._meta.db_table
T_ALLOCATIONS = PointAllocation._meta.db_table

# One statement expires every due lot of the members given (their accounts already locked): per lot one
# "expired" entry (balance_after: the balance minus the member's running sum of what expires, in the order
# the lots expire — valid-through date, then lot) and its allocation, the lot emptied, and each balance
# decreased by its member's total. What it reads is read after the accounts' locks were taken (a new
# statement's snapshot), and every writer of a member's lots holds that lock, so nothing changes under it.
_EXPIRE_LOTS = f"""
    WITH due AS (
        SELECT l.id, l.member_id, l.remaining, l.expires_on,
               a.balance - sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_on, l.id)
                   AS balance_after
        FROM {T_LOTS} l JOIN {T_ACCOUNTS} a ON a.member_id = l.member_id
        WHERE l.member_id = ANY(%(members)s) AND l.remaining > 0 AND l.expires_on < %(on)s
    ),
    written AS (
        INSERT INTO {T_ENTRIES} (member_id, kind, delta, balance_after, expires_on, expired_lot_id, system,
                                 reason, comment, created_at)
        SELECT member_id, %(kind)s, -remaining, balance_after, expires_on, id, %(system)s, '', '', %(now)s
        FROM due ORDER BY member_id, expires_on, id
        RETURNING id, expired_lot_id, -delta AS points
    ),
    drawn AS (
        INSERT INTO {T_ALLOCATIONS} (entry_id, lot_id, amount) SELECT id, expired_lot_id, points FROM written
    ),
    emptied AS (
        UPDATE {T_LOTS} l SET remaining = l.remaining - d.remaining FROM due d WHERE l.id = d.id
    ),
    charged AS (
        UPDATE {T_ACCOUNTS} a SET balance = a.balance - t.points, updated_at = now()
        FROM (SELECT member_id, sum(remaining) AS points FROM due GROUP BY member_id) t
        WHERE a.member_id = t.member_id
    )
    SELECT count(*), coalesce(sum(remaining), 0) FROM due
"""  # noqa: S608 (table names from the models; values are parameters)


@dataclass(frozen=True)
class ExpiryResult:
    entries: int
    points: int


def _due_lots(on: date):
    return PointLot.objects.filter(remaining__gt=0, expires_on__lt=on)


def _due_accounts(on: date):
    return PointAccount.objects.filter(balance__gt=0, expires_on__lt=on)


def points_expire(
    *, on: date | None = None, dry_run: bool = False, now: datetime | None = None
) -> ExpiryResult:
    """失効: points valid through a day before `on` (JST) expire — one "expired" entry per lot (per record) or
    per balance (whole balance), drawing what was left. History is never deleted. Run as often as you like:
    what has expired is not found again (and a unique constraint per lot or per balance date is the last
    line), and a run after missed days catches them all up.

    The system job EXPIRY_JOB: the lots of up to EXPIRY_BATCH members at a time in one durable transaction
    (the outermost: the task and the command call this directly) — their accounts locked in pk order, then one
    statement for all their due lots (_EXPIRE_LOTS), the same rows lot by lot code would write; whole
    balances then member by member. One audit entry per run with its counts when it expired anything."""
    now = now or timezone.now()
    on = on or timezone.localdate(now)
    whole = PointSettings.current().expiry_method == Method.WHOLE_BALANCE
    if dry_run:
        lots = _due_lots(on)
        count, points = lots.count(), lots.aggregate(total=Sum("remaining"))["total"] or 0
        if whole:
            accounts = _due_accounts(on)
            count += accounts.count()
            points += accounts.aggregate(total=Sum("balance"))["total"] or 0
        return ExpiryResult(entries=count, points=points)
    entries = points = 0
    try:
        # Lots first, set-based: a batch of members per transaction (their accounts locked in pk order, then
        # one statement for all their due lots), so the run costs a few statements per batch, not per lot.
        member_ids = list(_due_lots(on).order_by("member_id").values_list("member_id", flat=True).distinct())
        for start in range(0, len(member_ids), EXPIRY_BATCH):
            with transaction.atomic(durable=True):
                written, taken = _expire_lots(member_ids[start : start + EXPIRY_BATCH], on=on, now=now)
            entries += written
            points += taken
        if whole:
            # Whole balance: one entry per balance, member by member (after the member's dated lots above).
            for member_id in _due_accounts(on).order_by("member_id").values_list("member_id", flat=True):
                with transaction.atomic(durable=True):
                    written, taken = _expire_member(member_id, on=on, whole=whole, now=now)
                entries += written
                points += taken
    finally:
        # Recorded even when the run stops half-way: what expired so far is committed and not found again.
        if entries:
            with transaction.atomic(durable=True):
                audit_log(
                    action="points.expired",
                    obj=None,
                    by=None,
                    system=EXPIRY_JOB,
                    now=now,
                    payload={"entries": entries, "points": points, "on": on},
                )
    return ExpiryResult(entries=entries, points=points)


def _account_for_change(member_id: int, *, settings: PointSettings, now: datetime) -> PointAccount:
    """The member's account under its lock, with whatever has expired by today (JST) expired first: points
    past their date are never spent, taken back or revived by a grant because the nightly job has not run
    yet (00:30 JST) or missed a day."""
    account = locks.account_for_update(member_id)
    on = timezone.localdate(now)
    written, taken = _expire_due(
        account, on=on, whole=settings.expiry_method == Method.WHOLE_BALANCE, now=now
    )
    if written:
        audit_log(
            action="points.expired",
            obj=account,
            by=None,
            system=EXPIRY_JOB,
            now=now,
            payload={"entries": written, "points": taken, "on": on, "before_a_change": True},
        )
    return account


def _expire_lots(member_ids: list[int], *, on: date, now: datetime, locked: bool = False) -> tuple[int, int]:
    """Per record: one "expired" entry per lot of these members valid through a day before `on`, drawing what
    was left. Takes the members' account locks in pk order (as points.locks does for one) unless the caller
    holds them (`locked`). Returns (entries, points)."""
    with connection.cursor() as cursor:
        if not locked:
            cursor.execute(
                f"SELECT id FROM {T_ACCOUNTS} WHERE member_id = ANY(%s) ORDER BY id FOR UPDATE",  # noqa: S608
                [member_ids],
            )
        cursor.execute(
            _EXPIRE_LOTS,
            {"members": member_ids, "on": on, "now": now, "kind": Kind.EXPIRED, "system": EXPIRY_JOB},
        )
        written, taken = cursor.fetchone()
    return written, int(taken)


def _expire_member(member_id: int, *, on: date, whole: bool, now: datetime) -> tuple[int, int]:
    return _expire_due(locks.account_for_update(member_id), on=on, whole=whole, now=now)


def _expire_due(account: PointAccount, *, on: date, whole: bool, now: datetime) -> tuple[int, int]:
    """Under the account's lock: one "expired" entry per lot valid through a day before `on`, and (whole
    balance) one for the balance when its date is before `on`."""
    member_id = account.member_id
    written, taken = _expire_lots([member_id], on=on, now=now, locked=True)
    account.balance -= taken  # what the statement took from the row, so a later save writes the right sum
    if whole and account.balance > 0 and account.expires_on is not None and account.expires_on < on:
        points = account.balance
        entry = _new_entry(
            account,
            kind=Kind.EXPIRED,
            delta=-points,
            now=now,
            by=None,
            system=EXPIRY_JOB,
            expires_on=account.expires_on,
        )
        _draw(entry, _lots_to_draw(member_id), points)
        written += 1
        taken += points
    return written, taken


# --- staff pages and commands: settings, editing an entry, switching the expiry method ------------------

SETTINGS_FIELDS = (
    "base_rate_percent",
    "signup_points",
    "review_rule",
    "review_points",
    "usage_mode",
    "period_months",
)


@transaction.atomic
def points_settings_update(*, by, now: datetime | None = None, **values) -> PointSettings:
    """ポイント情報: change the shop's point settings (any of SETTINGS_FIELDS), checked by the model's own
    rules. The expiry method is not among them: switching it rewrites every balance's dates, which only
    `points_expiry_switch` (manage.py switch_point_expiry) does. A new period changes no date already set;
    it applies from the next grant or use."""
    now = now or timezone.now()
    unknown = set(values) - set(SETTINGS_FIELDS)
    if "expiry_method" in unknown:
        raise PointsError(
            gettext("The expiry method is switched with the command manage.py switch_point_expiry."),
            field="expiry_method",
        )
    if unknown:
        raise ValueError(f"points_settings_update: unknown settings {sorted(unknown)}")
    PointSettings.current()  # made with its defaults on first use
    row = PointSettings.objects.select_for_update().get(pk=1)
    before = {name: getattr(row, name) for name in SETTINGS_FIELDS}
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    changed = {
        name: [before[name], getattr(row, name)] for name in values if before[name] != getattr(row, name)
    }
    if changed:
        row.save()
        audit_log(action="points.settings_changed", obj=row, by=by, now=now, payload={"changes": changed})
    return row


_UNSET = object()


@transaction.atomic
def points_entry_edit(
    *, entry: PointEntry, comment=_UNSET, expires_on=_UNSET, by, now: datetime | None = None
) -> PointEntry:
    """Edit a history entry's comment, or the expiry of the points it added (seed 004: 履歴の編集やコメント、
    有効期限の設定; e.g. the date of points a cancellation gave back). The entry's change and balance are
    history and never edited. The expiry applies only per record, to an entry with a lot that still holds
    points (a grant, a use given back, a manual plus); the lot's date and the entry's move together.
    Whole balance: the balance has one date, set by a manual plus with a date. One audit entry with before
    and after."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    settings = PointSettings.current()
    account = _account_for_change(entry.member_id, settings=settings, now=now)
    entry = PointEntry.objects.select_for_update().get(pk=entry.pk)
    changes: dict[str, list] = {}
    if comment is not _UNSET:
        comment = (comment or "").strip()
        if len(comment) > 200:
            raise PointsError(gettext("The comment can be at most 200 characters."), field="comment")
        if comment != entry.comment:
            changes["comment"] = [entry.comment, comment]
            entry.comment = comment
    if expires_on is not _UNSET and expires_on != entry.expires_on:
        lot = PointLot.objects.select_for_update().filter(entry=entry).first()
        if settings.expiry_method == Method.WHOLE_BALANCE:
            raise PointsError(
                gettext(
                    "With the whole-balance expiry method the member's points share one date; set it with a "
                    "manual entry that adds points with an expiry date."
                ),
                field="expires_on",
            )
        if lot is None:
            raise PointsError(
                gettext("This entry added no points, so it has no expiry date to change."), field="expires_on"
            )
        if lot.remaining == 0:
            raise PointsError(
                gettext("The points this entry added are all used or expired: there is no date to change."),
                field="expires_on",
            )
        if expires_on is not None and expires_on < today:
            raise PointsError(gettext("The expiry date cannot be in the past."), field="expires_on")
        changes["expires_on"] = [entry.expires_on, expires_on]
        entry.expires_on = expires_on
        lot.expires_on = expires_on
        lot.save(update_fields=["expires_on"])
    if changes:
        entry.save(update_fields=[name for name in ("comment", "expires_on") if name in changes])
        audit_log(
            action="points.entry_edited",
            obj=account,
            by=by,
            now=now,
            payload={"entry": entry.pk, "changes": changes},
        )
    return entry


# Switching the expiry method (SPEC §8: "changing it later is an explicit migration command"; seed 004
# leaves it to the vendor's recovery work). The rule chosen, so that no point expires earlier than it would
# have under the old method:
# - per record → whole balance: each balance gets one date, the latest of its lots' dates (points without a
#   date join the balance, as points a manual plus adds without a date do under whole balance; a balance
#   whose lots have no date at all gets none); the lots lose their own dates;
# - whole balance → per record: each member's remaining points keep the balance's date, each lot now
#   carrying it (one date for what remains, as one lot would; the lots stay as they are so a later
#   cancellation still gives back exactly what each use drew); the balance's own date is cleared.
# Whatever is already past its date is expired first (under the old method).


@dataclass(frozen=True)
class ExpirySwitchRow:
    member_id: int
    email: str
    balance: int
    lots: int  # lots with points left
    earliest: date | None  # of the lots' (per record) or the balance's dates before
    latest: date | None
    undated: int  # lots with points left and no date
    after: date | None  # the date the points will have

    @property
    def before(self) -> str:
        if self.earliest is None and self.latest is None:
            return "no date"
        if self.earliest == self.latest and not self.undated:
            return f"valid through {self.latest}"
        text = f"valid through {self.earliest} … {self.latest}"
        return text + (f" and {self.undated} lot(s) without a date" if self.undated else "")


@dataclass(frozen=True)
class ExpirySwitchPlan:
    current: str
    to: str
    rows: list[ExpirySwitchRow]

    @property
    def points(self) -> int:
        return sum(row.balance for row in self.rows)


def expiry_switch_plan(*, to: str, now: datetime | None = None) -> ExpirySwitchPlan:
    """What switching the expiry method to `to` would do, member by member (members holding points): one
    query, nothing written."""
    from django.db.models import Count, Max, Min

    settings = PointSettings.current()
    held = Q(member__point_lots__remaining__gt=0)
    accounts = (
        PointAccount.objects.filter(balance__gt=0)
        .annotate(
            lots=Count("member__point_lots", filter=held),
            earliest=Min("member__point_lots__expires_on", filter=held),
            latest=Max("member__point_lots__expires_on", filter=held),
            undated=Count("member__point_lots", filter=held & Q(member__point_lots__expires_on=None)),
        )
        .values_list(
            "member_id", "member__email", "balance", "lots", "earliest", "latest", "undated", "expires_on"
        )
        .order_by("member_id")
    )
    rows = []
    for member_id, email, balance, lots, earliest, latest, undated, balance_date in accounts:
        if to == Method.WHOLE_BALANCE:
            rows.append(ExpirySwitchRow(member_id, email, balance, lots, earliest, latest, undated, latest))
        else:
            rows.append(
                ExpirySwitchRow(member_id, email, balance, lots, balance_date, balance_date, 0, balance_date)
            )
    return ExpirySwitchPlan(current=settings.expiry_method, to=to, rows=rows)


def points_expiry_switch(*, to: str, by, system: str = "", now: datetime | None = None) -> ExpirySwitchPlan:
    """Switch the shop's expiry method to `to`, rewriting every balance's dates by the rule above, in one
    transaction (durable: the command calls it), with one audit entry per member changed and one for the
    setting. Returns the plan it carried out."""
    now = now or timezone.now()
    if to not in Method.values:
        raise PointsError(gettext("Unknown expiry method: {method}.").format(method=to))
    with transaction.atomic(durable=True):
        PointSettings.current()
        row = PointSettings.objects.select_for_update().get(pk=1)
        if row.expiry_method == to:
            raise PointsError(
                gettext("The expiry method is already {method}.").format(
                    method=row.get_expiry_method_display()
                )
            )
        # Every account with points, locked in pk order (as every change locks one), and what is past its
        # date expired under the method in force until now.
        for member_id in (
            PointAccount.objects.filter(balance__gt=0).order_by("pk").values_list("member_id", flat=True)
        ):
            _account_for_change(member_id, settings=row, now=now)
        plan = expiry_switch_plan(to=to, now=now)
        for change in plan.rows:
            lots = PointLot.objects.filter(member_id=change.member_id, remaining__gt=0)
            if to == Method.WHOLE_BALANCE:
                lots.update(expires_on=None)
                PointAccount.objects.filter(member_id=change.member_id).update(
                    expires_on=change.after, updated_at=now
                )
            else:
                lots.update(expires_on=change.after)
                PointAccount.objects.filter(member_id=change.member_id).update(
                    expires_on=None, updated_at=now
                )
            audit_log(
                action="points.expiry_switched",
                obj=PointAccount.objects.get(member_id=change.member_id),
                by=by,
                system=system,
                now=now,
                payload={
                    "to": to,
                    "balance": change.balance,
                    "lots": change.lots,
                    "before": {
                        "earliest": change.earliest,
                        "latest": change.latest,
                        "undated": change.undated,
                    },
                    "after": change.after,
                },
            )
        # Accounts without points keep no date of their own.
        PointAccount.objects.filter(balance=0).exclude(expires_on=None).update(
            expires_on=None, updated_at=now
        )
        before = row.expiry_method
        row.expiry_method = to
        row.save(update_fields=["expiry_method", "updated_at"])
        audit_log(
            action="points.settings_changed",
            obj=row,
            by=by,
            system=system,
            now=now,
            payload={
                "changes": {"expiry_method": [before, to]},
                "members": len(plan.rows),
                "points": plan.points,
            },
        )
    return ExpirySwitchPlan(current=before, to=to, rows=plan.rows)
