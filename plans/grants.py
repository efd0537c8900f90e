"""Ticket grants of plans (SPEC §7 "Grant rules", "Expiry", "Usable-plan restriction", "Usable stores"):
on a new contract, on the 1st of every month, and for the allowance left unused last month — each exactly
once per (contract, rule, month).

Set-based: one SQL statement per rule grants every contract due in one go (data-modifying CTEs): the
PlanGrant rows go in with `ON CONFLICT (contract_id, rule_id, month) DO NOTHING`, each naming a ticket id
taken from the ticket sequence beforehand (the foreign key is checked at commit), then the tickets, their
"issued" ledger entries and their usable stores are inserted from the grants that went in. The unique
constraint is the last line of "exactly once"; an advisory lock serialises the runs so two never wait on
each other's rows in opposite orders (a deadlock) — the second finds nothing left to grant.

`grants_for_new_contract` takes no such lock: it runs inside the activation's transaction, which already
holds the member's and the contract's row locks, and a run's foreign-key checks take KEY SHARE locks on
those rows at commit — waiting for the run's lock there would be a deadlock. It cannot collide with a run
either: the run grants only contracts that are active (or past due) in its snapshot, and a contract being
activated is not, until its transaction commits.

Rules of this module (documented in the README, "Plans: ticket grants"):
- The grant day is the day the grants are made (JST): the 1st when the job runs on time. Expiry counts
  from it (`grant_valid_through`); the rule's expiry wins over the ticket type's own validity.
- A contract gets a month's monthly grant when it was contracted before that month (the month it was
  contracted in is its start month, granted at contract time: `grants_for_new_contract`), has not ended
  before the month's 1st, and is active or past due. Past due is still a contract in force (Stripe is
  retrying the payment; a payment that finally fails ends it); a restricted ticket is not usable while
  the contract is past due, as the contract is not live. Pending (not yet paid) contracts get nothing.
- Carry-over for month P (granted on the 1st of the month after): the band's allowance (or the plan's
  total) minus what was used in P, for contracts in force in P (started on or before P's last day, not
  ended before its 1st); only when the rule's band matches the plan's mode. Nothing left still records
  the grant (quantity 0, no ticket), so it is not looked at again. A contract changed in the admin to a
  plan the rule's tickets are not usable with (this plan only / this plan + selected) gets no carry-over
  for the month before the new plan starts.
- Catching up: the run for month M also grants every month after the month of the last run that
  succeeded, back to CATCH_UP_MONTHS months (M included). With no successful run before (a new
  installation), only M.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from core import periods
from core.attention import AttentionItem
from core.audit import audit_log
from core.exceptions import DomainError
from core.jobs import JobOutcome, job_create
from core.locks import advisory_xact_lock
from core.models import Job
from payments.models import Order
from plans.models import AllowanceUsage, GrantRule, Plan, PlanContract, PlanGrant
from tickets.models import MemberTicket, TicketEntry

GRANT_JOB = "plans.grants"  # the job-history kind of a run, and the system named on its audit entry
CATCH_UP_MONTHS = 12  # how far back a run looks for months missed while the job was down (M included)
GRANT_LOCK = "plans.grants"
LOCK_TIMEOUT_MS = 120_000

ACTION_LABELS = {
    "plans.tickets_granted": gettext_lazy("Monthly ticket grants made"),
    "plans.contract_tickets_granted": gettext_lazy("Tickets granted for a new contract"),
}


JOB_LABEL = gettext_lazy("Ticket grants (monthly and carry-over)")
# The totals in a run's job counts (each rule's tickets are listed under the rule's own label).
COUNT_LABELS = {
    "plan_grants": pgettext_lazy("job count", "grants (carry-overs with nothing left included)"),
    "plan_tickets": pgettext_lazy("job count", "tickets granted"),
}


def _failed_runs() -> int:
    """Failed grant runs with no successful run after them (a success catches their months up)."""
    later_success = Job.objects.filter(
        kind=GRANT_JOB, status=Job.Status.SUCCEEDED, created_at__gt=OuterRef("created_at")
    )
    return Job.objects.filter(kind=GRANT_JOB, status=Job.Status.FAILED).exclude(Exists(later_success)).count()


# A run started by beat has nobody to notify in the header (core.jobs notifies who started a job): staff
# who see every job find a failed run on the admin home until a later run succeeds.
FAILED_RUNS = AttentionItem(
    label=gettext_lazy("Ticket grant runs that failed (start the run again: it grants what is missing)"),
    count=_failed_runs,
    url_name="admin:core_job_changelist",
    query=f"kind={GRANT_JOB}&status__exact=failed",
    permission="core.view_job",
)


class GrantError(DomainError):
    default_message = gettext_lazy("These tickets cannot be granted.")


# --- expiry -------------------------------------------------------------------------------------------------


def grant_valid_through(granted_on: date, amount: int, unit: str) -> date:
    """有効期限 (SPEC §7): "N days" counts the grant day as day 1 (granted 1/5, 31 days → 2/4); "N months"
    ends at the end of a month (granted 1/5, 1 month → 1/31; 2 months → the end of February)."""
    if unit == GrantRule.ExpiryUnit.DAYS:
        return periods.valid_through_days(granted_on, amount)
    if unit == GrantRule.ExpiryUnit.MONTHS:
        return periods.valid_through_months(granted_on, amount)
    raise ValueError(f"unknown expiry unit {unit!r}")


def _months(first: date, last: date) -> list[date]:
    found = []
    month = periods.month_start(first)
    while month <= last:
        found.append(month)
        month = periods.add_months_clamped(month, 1)
    return found


# --- who is due what: the SELECT ----------------------------------------------------------------------------

_CONTRACTS = PlanContract._meta.db_table
_GRANTS = PlanGrant._meta.db_table
_USAGE = AllowanceUsage._meta.db_table
_TICKETS = MemberTicket._meta.db_table
_ENTRIES = TicketEntry._meta.db_table
_TICKET_STORES = MemberTicket.stores.through._meta.db_table
_ALLOWED = GrantRule.allowed_plans.through._meta.db_table

# In force and paid for (see the module's docstring): active or past due; an ended contract counts for the
# months up to its end (a month missed while the job was down is still its due), unless it never started: a
# checkout left unpaid ends the contract on its contracted day with its first order cancelled.
_STATUS = (
    "(c.status IN ('active', 'past_due') OR (c.status = 'ended' AND c.ends_on IS NOT NULL"  # noqa: S608
    f" AND NOT EXISTS (SELECT 1 FROM {Order._meta.db_table} o WHERE o.id = c.first_order_id"
    " AND o.status = 'cancelled')))"
)
# Table names come from the models; every value is a parameter.
_NOT_SELECTED = f" AND n.plan_id NOT IN (SELECT a.plan_id FROM {_ALLOWED} a WHERE a.grantrule_id = %(rule)s)"  # noqa: S608
_CHANGED_IN_ADMIN = (
    f"NOT EXISTS (SELECT 1 FROM {_CONTRACTS} n WHERE n.previous_id = c.id AND n.channel = 'admin'"  # noqa: S608
    " AND date_trunc('month', n.starts_on)::date = m.month AND {usable})"
)
_NOT_GRANTED = (
    f"NOT EXISTS (SELECT 1 FROM {_GRANTS} g"  # noqa: S608
    " WHERE g.contract_id = c.id AND g.rule_id = %(rule)s AND g.month = m.month)"
)


@dataclass(frozen=True)
class _Due:
    """One rule's SELECT of (contract_id, member_id, month, quantity) due, and its parameters."""

    sql: str
    params: dict


def _carry_allowance(rule: GrantRule) -> int | None:
    """The allowance a carry-over rule carries, or None when its band does not match the plan's mode
    (SPEC §7: a band on a total plan, or 月間全体 on a per-band plan, carries nothing)."""
    plan = rule.plan
    if rule.carry_total:
        return plan.total_allowance if plan.allowance_mode == Plan.AllowanceMode.TOTAL else None
    if plan.allowance_mode != Plan.AllowanceMode.PER_BAND or rule.carry_band_id is None:
        return None
    for row in plan.band_allowances.all():
        if row.band_id == rule.carry_band_id:
            return row.allowance
    return None


def _due(
    rule: GrantRule, *, months: list[date], contract_id: int | None = None, start_month: bool = False
) -> _Due | None:
    """Who `rule` grants to for `months`, not yet granted. The job (contract_id None) grants the months
    after each contract's start month to contracts in force and paid for; for one contract (`contract_id`)
    the caller has decided, and `start_month` also grants its start month."""
    params: dict = {"rule": rule.pk, "plan": rule.plan_id, "months": months}
    where = ["c.plan_id = %(plan)s", _NOT_GRANTED]
    if contract_id is not None:
        params["contract"] = contract_id
        where.append("c.id = %(contract)s")
    else:
        where.append(_STATUS)
    joins = ""
    if rule.kind == GrantRule.Kind.ON_CONTRACT:
        quantity = "%(quantity)s"
        params["quantity"] = rule.quantity
    elif rule.kind == GrantRule.Kind.MONTHLY:
        quantity = "%(quantity)s"
        params["quantity"] = rule.quantity
        where.append("(c.ends_on IS NULL OR c.ends_on >= m.month)")
        if start_month:
            where.append("date_trunc('month', c.contracted_on)::date <= m.month")
        else:
            where.append("c.contracted_on < m.month")
    else:
        allowance = _carry_allowance(rule)
        if allowance is None:
            return None
        params["allowance"] = allowance
        params["cap"] = rule.quantity  # None: all that was left (LEAST ignores a NULL)
        quantity = "LEAST(GREATEST(%(allowance)s - COALESCE(u.used, 0), 0), %(cap)s::integer)"
        if rule.carry_total:
            band = "u.band_id IS NULL"
        else:
            band = "u.band_id = %(band)s"
            params["band"] = rule.carry_band_id
        joins = (
            f" LEFT JOIN {_USAGE} u ON u.contract_id = c.id"
            f" AND u.month = (m.month - interval '1 month')::date AND {band}"
        )
        # In force in the month carried over (P, the month before m): started by its last day, not ended
        # before its 1st.
        where.append("c.starts_on < m.month")
        where.append("(c.ends_on IS NULL OR c.ends_on >= (m.month - interval '1 month')::date)")
        if rule.restriction in (GrantRule.Restriction.THIS_PLAN, GrantRule.Restriction.THIS_AND_SELECTED):
            # SPEC §7: a plan changed in the admin to a plan the rule's tickets are not usable with gets no
            # carry-over for the month before the new plan starts.
            usable = "n.plan_id <> %(plan)s"
            if rule.restriction == GrantRule.Restriction.THIS_AND_SELECTED:
                usable += _NOT_SELECTED
            where.append(_CHANGED_IN_ADMIN.format(usable=usable))
    # Only table names and clauses written here go into the text; every value is a parameter.
    sql = (
        f"SELECT c.id AS contract_id, c.member_id, m.month, {quantity} AS quantity"  # noqa: S608
        f" FROM {_CONTRACTS} c CROSS JOIN unnest(%(months)s::date[]) AS m(month){joins}"
        f" WHERE {' AND '.join(where)}"
    )
    return _Due(sql=sql, params=params)


# --- granting: the INSERTs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Granted:
    grants: int
    tickets: int
    quantity: int


def _ticket_sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [_TICKETS])
        return cursor.fetchone()[0]


def _stores(rule: GrantRule) -> list[int]:
    """Usable stores (SPEC §7): the ticket type's when it has some, else the plan's bookable stores now."""
    own = [store.pk for store in rule.ticket_type.stores.all()]
    return own or [store.pk for store in rule.plan.stores.all()]


def _grant_rule(
    rule: GrantRule,
    due: _Due,
    *,
    granted_on: date,
    now: datetime,
    job_id: int | None,
    by_id: int | None,
    sequence: str,
) -> _Granted:
    """One statement: the grants of `rule` that are due and not yet made, with their tickets, ledger entries
    and usable stores. A grant already made (by a parallel run) is skipped by ON CONFLICT, and so is its
    ticket: tickets are inserted only for the grants that went in."""
    params = {
        **due.params,
        "sequence": sequence,
        "job": job_id,
        "by": by_id,
        "now": now,
        "ticket_type": rule.ticket_type_id,
        "uses": rule.ticket_type.uses,
        "valid_from": granted_on,
        "valid_through": grant_valid_through(granted_on, rule.expiry_amount, rule.expiry_unit),
        "stores": _stores(rule),
    }
    # Table names from the models; every value is a parameter.
    sql = f"""
        WITH due AS ({due.sql}),
        granted AS (
            INSERT INTO {_GRANTS}
                (contract_id, rule_id, month, quantity, member_ticket_id, job_id, granted_by_id, created_at)
            SELECT contract_id, %(rule)s, month, quantity,
                   CASE WHEN quantity > 0 THEN nextval(%(sequence)s::regclass) END,
                   %(job)s, %(by)s, %(now)s
            FROM due
            ORDER BY contract_id, month
            ON CONFLICT (contract_id, rule_id, month) DO NOTHING
            RETURNING contract_id, quantity, member_ticket_id
        ),
        issued AS (
            INSERT INTO {_TICKETS}
                (id, created_at, updated_at, member_id, ticket_type_id, status, uses_total, uses_left,
                 valid_from, valid_through, source, order_line_id, issued_by_id, note)
            SELECT g.member_ticket_id, %(now)s, %(now)s, c.member_id, %(ticket_type)s, 'active',
                   g.quantity * %(uses)s, g.quantity * %(uses)s, %(valid_from)s, %(valid_through)s,
                   'grant', NULL, %(by)s, ''
            FROM granted g JOIN {_CONTRACTS} c ON c.id = g.contract_id
            WHERE g.member_ticket_id IS NOT NULL
            RETURNING id, uses_total
        ),
        entries AS (
            INSERT INTO {_ENTRIES}
                (ticket_id, kind, delta, uses_left_after, reservation_id, order_line_id, created_by_id,
                 reason, created_at)
            SELECT id, 'issued', uses_total, uses_total, NULL, NULL, %(by)s, '', %(now)s FROM issued
        ),
        stores AS (
            INSERT INTO {_TICKET_STORES} (memberticket_id, store_id)
            SELECT i.id, s.store_id FROM issued i CROSS JOIN unnest(%(stores)s::bigint[]) AS s(store_id)
        )
        SELECT count(*), count(member_ticket_id), coalesce(sum(quantity), 0) FROM granted
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        grants, tickets, quantity = cursor.fetchone()
    return _Granted(grants=grants, tickets=tickets, quantity=quantity)


def _rules(*, kinds, plan_id: int | None = None) -> list[GrantRule]:
    rules = GrantRule.objects.filter(kind__in=kinds)
    if plan_id is not None:
        rules = rules.filter(plan_id=plan_id)
    return list(
        rules.select_related("plan", "ticket_type", "carry_band")
        .prefetch_related("ticket_type__stores", "plan__stores", "plan__band_allowances")
        .order_by("plan_id", "kind", "position", "pk")
    )


def rule_label(rule: GrantRule) -> str:
    """How a rule is named in counts, previews and job history: plan / when / ticket (#id)."""
    return f"{rule.plan.name} / {rule.get_kind_display()} / {rule.ticket_type.name} (#{rule.pk})"


# --- the monthly run ----------------------------------------------------------------------------------------


@dataclass
class GrantRun:
    """What a run granted: per rule, how many grants (rows of PlanGrant, a carry-over with nothing left
    included) and tickets."""

    month: date
    months: list[date]
    granted_on: date
    grants: dict[int, int] = field(default_factory=dict)
    tickets: dict[int, int] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)

    @property
    def total_grants(self) -> int:
        return sum(self.grants.values())

    @property
    def total_tickets(self) -> int:
        return sum(self.tickets.values())

    def add(self, rule: GrantRule, granted: _Granted) -> None:
        """What one rule's statement granted, when it granted anything."""
        if granted.grants:
            self.grants[rule.pk] = granted.grants
            self.tickets[rule.pk] = granted.tickets
            self.labels[rule.pk] = rule_label(rule)

    def counts(self) -> dict[str, int]:
        """For the job history: each rule's tickets granted, by its label, and the totals."""
        counts = {self.labels[rule_id]: count for rule_id, count in self.tickets.items()}
        counts["plan_grants"] = self.total_grants
        counts["plan_tickets"] = self.total_tickets
        return counts


def months_to_grant(month: date) -> list[date]:
    """The months the run for `month` grants: `month`, and the months missed since the last run that
    succeeded (at most CATCH_UP_MONTHS in all). With no successful run for `month` or before it (a new
    installation), only `month`."""
    done = [
        value
        for value in Job.objects.filter(kind=GRANT_JOB, status=Job.Status.SUCCEEDED).values_list(
            "params__month", flat=True
        )
        if isinstance(value, str)
    ]
    # A successful run for `month` itself caught up on everything before it.
    earlier = [date.fromisoformat(value) for value in done if value <= month.isoformat()]
    if not earlier:
        return [month]
    first = min(periods.add_months_clamped(max(earlier), 1), month)
    first = max(first, periods.add_months_clamped(month, 1 - CATCH_UP_MONTHS))
    return _months(first, month)


def _check_month(month: date, *, today: date) -> None:
    if month.day != 1:
        raise GrantError(gettext("A grant month is given by its first day."))
    if month > periods.month_start(today):
        raise GrantError(
            gettext(
                "The grants for {month} cannot be made before that month begins; preview them instead."
            ).format(month=f"{month:%Y-%m}")
        )


def grants_run(
    *,
    month: date,
    job: Job | None = None,
    months: list[date] | None = None,
    now: datetime | None = None,
) -> GrantRun:
    """The 1st-of-the-month grants for `month` (its first day): every monthly rule for the months after each
    contract's start month, and every carry-over rule for the month before, for `month` and the months
    missed before it (`months_to_grant`, unless `months` is given). One transaction, one statement per rule,
    one audit entry (system job GRANT_JOB) with the counts per rule. Granted on today's JST date.

    Exactly once per (contract, rule, month) however often and however concurrently it runs: the unique
    constraint, with ON CONFLICT DO NOTHING, and the advisory lock that makes a second run wait and then
    find nothing left."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    _check_month(month, today=today)
    months = months if months is not None else months_to_grant(month)
    run = GrantRun(month=month, months=months, granted_on=today)
    with transaction.atomic(durable=True):
        advisory_xact_lock(GRANT_LOCK, timeout_ms=LOCK_TIMEOUT_MS)
        sequence = _ticket_sequence()
        for rule in _rules(kinds=(GrantRule.Kind.MONTHLY, GrantRule.Kind.CARRY_OVER)):
            due = _due(rule, months=months)
            if due is None:
                continue
            granted = _grant_rule(
                rule,
                due,
                granted_on=today,
                now=now,
                job_id=job.pk if job else None,
                by_id=None,
                sequence=sequence,
            )
            run.add(rule, granted)
        if run.total_grants:
            audit_log(
                action="plans.tickets_granted",
                obj=None,
                by=None,
                system=GRANT_JOB,
                now=now,
                payload={
                    "month": month,
                    "months": months,
                    "granted_on": today,
                    "job": job.pk if job else None,
                    "grants": {str(rule_id): count for rule_id, count in run.grants.items()},
                    "tickets": {str(rule_id): count for rule_id, count in run.tickets.items()},
                },
            )
    return run


def grants_job_create(*, month: date, started_by=None) -> Job:
    """A queued job-history row for the run of `month`; run it with `job_run(job.pk, grants_job)`."""
    return job_create(
        kind=GRANT_JOB,
        label=format_lazy(gettext_lazy("Ticket grants for {month}"), month=f"{month:%Y-%m}"),
        started_by=started_by,
        params={"month": month.isoformat()},
    )


def grants_job(job: Job, progress) -> JobOutcome:
    """The job function (core.jobs.job_run): the run for the job's month, its counts per rule."""
    run = grants_run(month=date.fromisoformat(job.params["month"]), job=job)
    messages = []
    if run.months != [run.month]:
        messages.append(
            gettext("Also granted the months missed before: {months}.").format(
                months=", ".join(f"{month:%Y-%m}" for month in run.months if month != run.month)
            )
        )
    return JobOutcome(counts=run.counts(), messages=messages)


# --- one new contract ---------------------------------------------------------------------------------------


@transaction.atomic
def grants_for_new_contract(
    contract: PlanContract,
    *,
    by,
    system: str = "",
    include_on_contract: bool = True,
    include_monthly: bool = True,
    now: datetime | None = None,
) -> GrantRun:
    """The grants of a contract that has just become active (SPEC §7), granted today (JST): the on-contract
    rules (新規契約時; never for a plan change, which is not a new contract) and the monthly rules for its
    start month (the month it was contracted in) when `include_monthly` — a site contract gets both at
    activation; for an admin contract the staff's tick boxes decide. The months after the start month that
    have already begun are the job's, granted here too (the job's run for them happened before this
    contract was active), with their carry-over. Same exactly-once table as the job: calling it twice grants
    once. Call it inside the activation's transaction."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    start = periods.month_start(contract.contracted_on)
    later = _months(periods.add_months_clamped(start, 1), periods.month_start(today))
    run = GrantRun(month=start, months=[start, *later], granted_on=today)
    by_id = by.pk if by is not None and contract.channel == PlanContract.Channel.ADMIN else None
    sequence = _ticket_sequence()  # no advisory lock here: see the module's docstring
    for rule in _rules(kinds=tuple(GrantRule.Kind), plan_id=contract.plan_id):
        if rule.kind == GrantRule.Kind.ON_CONTRACT:
            if not include_on_contract or contract.previous_id is not None:
                continue
            due = _due(rule, months=[start], contract_id=contract.pk)
        elif rule.kind == GrantRule.Kind.MONTHLY:
            months = [start, *later] if include_monthly else later
            if not months:
                continue
            due = _due(rule, months=months, contract_id=contract.pk, start_month=True)
        else:
            if not later:
                continue
            due = _due(rule, months=later, contract_id=contract.pk)
        if due is None:
            continue
        granted = _grant_rule(
            rule, due, granted_on=today, now=now, job_id=None, by_id=by_id, sequence=sequence
        )
        run.add(rule, granted)
    if run.total_grants:
        audit_log(
            action="plans.contract_tickets_granted",
            obj=contract,
            by=by,
            system=system,
            now=now,
            payload={
                "months": run.months,
                "granted_on": today,
                "grants": {str(rule_id): count for rule_id, count in run.grants.items()},
                "tickets": {str(rule_id): count for rule_id, count in run.tickets.items()},
            },
        )
    return run


# --- preview ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    contract_id: int
    member_id: int
    member_email: str
    member_name: str
    plan_name: str
    rule_id: int
    rule: str
    ticket_type_name: str
    month: date
    quantity: int
    uses: int
    valid_from: date
    valid_through: date | None


@dataclass(frozen=True)
class PreviewRule:
    """One rule's part of a preview: the contracts it would grant to (grants, a carry-over with nothing
    left included) and the tickets (grants of at least one)."""

    rule_id: int
    label: str
    plan_name: str
    when: str
    ticket_type_name: str
    grants: int
    tickets: int
    valid_through: date


@dataclass
class GrantPreview:
    """Who the run for `month` would grant what (rows), and how many tickets per rule (counts, by label;
    `rules` has each rule's grants and tickets, `total_grants` every row, also those past a limit)."""

    month: date
    months: list[date]
    granted_on: date
    rows: list[PreviewRow]
    counts: dict[str, int]
    rules: list[PreviewRule] = field(default_factory=list)

    @property
    def total_grants(self) -> int:
        return sum(rule.grants for rule in self.rules)

    @property
    def total_tickets(self) -> int:
        return sum(rule.tickets for rule in self.rules)


PREVIEW_HEADER = (
    "会員ID",
    "メールアドレス",
    "氏名",
    "契約ID",
    "プラン",
    "付与ルール",
    "チケット",
    "対象月",
    "付与枚数",
    "利用回数",
    "有効期間開始",
    "有効期限",
)


def grants_preview(month: date, *, today: date | None = None, limit: int | None = None) -> GrantPreview:
    """The grants the run for `month` would make if it ran now (before the 1st: as if on the 1st): the same
    SELECT as the run, without the INSERT. Writes nothing. `limit` caps the rows (not the counts), which
    are counted in the database: a page can show the counts and the first rows of a month with 100,000
    contracts, and the CSV takes every row."""
    today = today or timezone.localdate()
    granted_on = max(month, today)
    months = months_to_grant(month)
    rows: list[PreviewRow] = []
    counts: dict[str, int] = {}
    rules: list[PreviewRule] = []
    for rule in _rules(kinds=(GrantRule.Kind.MONTHLY, GrantRule.Kind.CARRY_OVER)):
        due = _due(rule, months=months)
        if due is None:
            continue
        label = rule_label(rule)
        valid_through = grant_valid_through(granted_on, rule.expiry_amount, rule.expiry_unit)
        with connection.cursor() as cursor:
            # The counts over every row, in the database; only the rows shown (at most `limit`) come back.
            cursor.execute(
                f"SELECT count(*), count(*) FILTER (WHERE quantity > 0) FROM ({due.sql}) d",  # noqa: S608
                due.params,
            )
            due_count, tickets = cursor.fetchone()
            if not due_count:
                continue
            counts[label] = tickets
            rules.append(
                PreviewRule(
                    rule_id=rule.pk,
                    label=label,
                    plan_name=rule.plan.name,
                    when=str(rule.get_kind_display()),
                    ticket_type_name=rule.ticket_type.name,
                    grants=due_count,
                    tickets=tickets,
                    valid_through=valid_through,
                )
            )
            room = None if limit is None else limit - len(rows)
            if room is not None and room <= 0:
                continue
            cursor.execute(
                f"SELECT d.contract_id, d.member_id, u.email, u.name, d.month, d.quantity"  # noqa: S608
                f" FROM ({due.sql}) d JOIN {get_user_model()._meta.db_table} u ON u.id = d.member_id"
                " ORDER BY d.month, d.contract_id" + ("" if room is None else " LIMIT %(room)s"),
                {**due.params, "room": room},
            )
            found = cursor.fetchall()
        for contract_id, member_id, email, name, due_month, quantity in found:
            rows.append(
                PreviewRow(
                    contract_id=contract_id,
                    member_id=member_id,
                    member_email=email,
                    member_name=name,
                    plan_name=rule.plan.name,
                    rule_id=rule.pk,
                    rule=label,
                    ticket_type_name=rule.ticket_type.name,
                    month=due_month,
                    quantity=quantity,
                    uses=quantity * rule.ticket_type.uses,
                    valid_from=granted_on,
                    valid_through=valid_through if quantity else None,
                )
            )
    return GrantPreview(
        month=month, months=months, granted_on=granted_on, rows=rows, counts=counts, rules=rules
    )


def grants_preview_csv(preview: GrantPreview) -> bytes:
    """The preview as a cp932 CSV (core.csvio.Cp932CsvWriter), one line per grant."""
    from core.csvio import Cp932CsvWriter

    writer = Cp932CsvWriter(PREVIEW_HEADER)
    for row in preview.rows:
        writer.writerow(
            [
                row.member_id,
                row.member_email,
                row.member_name,
                row.contract_id,
                row.plan_name,
                row.rule,
                row.ticket_type_name,
                f"{row.month:%Y/%m}",
                row.quantity,
                row.uses,
                f"{row.valid_from:%Y/%m/%d}",
                f"{row.valid_through:%Y/%m/%d}" if row.valid_through else "",
            ],
            where=f"契約ID {row.contract_id}",
        )
    return writer.getvalue()


# --- the usable-plan restriction (tickets.hooks) ------------------------------------------------------------


def restriction_refusals(*, member_id: int, on: date):
    """The tickets a plan grant's usable-plan restriction refuses for this member on the booked day `on`
    (SPEC §7, 利用可能プラン), as an expression over MemberTicket for tickets' use check: no restriction →
    usable; all plans → while the member has a contract live on `on`; this plan only → a live contract of
    the rule's plan; this plan + selected → of the rule's plan or one of its selected plans. Live: active,
    started on or before `on`, not ended before it (PlanContract.is_live_on)."""
    live = PlanContract.objects.filter(
        member_id=member_id, status=PlanContract.Status.ACTIVE, starts_on__lte=on
    ).filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
    live_plans = live.values("plan_id")
    selected = GrantRule.allowed_plans.through.objects.filter(
        grantrule_id=OuterRef("rule_id"), plan_id__in=live_plans
    )
    modes = GrantRule.Restriction
    refused = PlanGrant.objects.filter(member_ticket_id=OuterRef("pk")).filter(
        (Q(rule__restriction=modes.ANY_PLAN) & ~Exists(live))
        | (Q(rule__restriction=modes.THIS_PLAN) & ~Q(rule__plan_id__in=live_plans))
        | (
            Q(rule__restriction=modes.THIS_AND_SELECTED)
            & ~Q(rule__plan_id__in=live_plans)
            & ~Exists(selected)
        )
    )
    return Exists(refused)
