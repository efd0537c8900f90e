"""Prints figures for the monthly ticket grants at scale (issue 13, "Speed"), against raw SQL measured in the
same run on the same database.

    python manage.py benchmark_grants [--contracts 100000] [--keep]      (make bench ARGS=grants)

It makes 4 per-band plans (each with 2 bookable stores, 4 bookings a month in one band), each with 2
monthly rules and a carry-over rule of its band, and `--contracts` members with an active (1 in 20 past
due) contract spread over the plans, half of them with some of last month's allowance used. Then, for the
month before this one (M):

- the reference: the same grants written by hand-written raw SQL in one transaction — per kind, one
  `INSERT … SELECT … ON CONFLICT DO NOTHING` over every rule at once for the grants, then the tickets, their
  ledger entries and usable stores (data-modifying CTEs, ticket IDs from the sequence); its rows are
  fingerprinted and deleted (the tables vacuumed);
- the grant run (plans.grants.grants_run) for M, checked to write the same rows as the reference;
- the grant run again (nothing left to grant), and the reference again (every row conflicts);
- `--contracts` more contracts, and the run for this month (twice as many contracts), from the tables the
  first run started from (its rows deleted and the tables vacuumed), so the figure is how a run grows with
  the contracts rather than with the grants already stored.

The last lines are issue 13's goals, met or not, and `ratio: X.XX` (grant run ÷ reference at `--contracts`).
Everything it made is deleted afterwards, even on error, unless --keep. Nothing is asserted.
"""

from __future__ import annotations

import time
from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from core import periods
from inventory.models import Store
from payments.models import Product
from plans import grants
from plans.models import AllowanceUsage, GrantRule, Plan, PlanBandAllowance, PlanContract, PlanGrant, TimeBand
from tickets.models import MemberTicket, TicketEntry, TicketType

PLANS = 4
GOAL_RUN = 2.0  # grant run ≤ 2× the raw SQL
GOAL_RERUN = 2.0  # re-run ≤ 2× the raw re-run
GOAL_SCALE = 2.1  # twice the contracts ≤ 2.1× the time

T_GRANTS = PlanGrant._meta.db_table
T_TICKETS = MemberTicket._meta.db_table
T_ENTRIES = TicketEntry._meta.db_table
T_TICKET_STORES = MemberTicket.stores.through._meta.db_table
T_CONTRACTS = PlanContract._meta.db_table
T_RULES = GrantRule._meta.db_table
T_TYPES = TicketType._meta.db_table
T_USAGE = AllowanceUsage._meta.db_table
T_BANDS = PlanBandAllowance._meta.db_table
T_PLAN_STORES = Plan.stores.through._meta.db_table
T_MEMBERS = get_user_model()._meta.db_table

# The reference, by hand: every rule of a kind at once. Expiry in SQL: N days from the grant day (day 1),
# or to the end of the month N-1 after it.
_VALID_THROUGH = (
    "CASE WHEN r.expiry_unit = 'days' THEN %(on)s::date + (r.expiry_amount - 1)"
    " ELSE (date_trunc('month', %(on)s::date) + make_interval(months => r.expiry_amount)"
    " - interval '1 day')::date END"
)
_REFERENCE_DUE = {
    "monthly": f"""
        SELECT c.id AS contract_id, c.member_id, r.id AS rule_id, r.quantity, r.plan_id, tt.id AS type_id,
               tt.uses, {_VALID_THROUGH} AS valid_through
        FROM {T_RULES} r JOIN {T_TYPES} tt ON tt.id = r.ticket_type_id
        JOIN {T_CONTRACTS} c ON c.plan_id = r.plan_id
        WHERE r.kind = 'monthly' AND r.plan_id = ANY(%(plans)s)
          AND c.contracted_on < %(month)s AND (c.ends_on IS NULL OR c.ends_on >= %(month)s)
          AND c.status IN ('active', 'past_due')
    """,  # noqa: S608 (table names from the models; values are parameters)
    "carry_over": f"""
        SELECT c.id AS contract_id, c.member_id, r.id AS rule_id,
               LEAST(GREATEST(b.allowance - COALESCE(u.used, 0), 0), r.quantity) AS quantity, r.plan_id,
               tt.id AS type_id, tt.uses, {_VALID_THROUGH} AS valid_through
        FROM {T_RULES} r JOIN {T_TYPES} tt ON tt.id = r.ticket_type_id
        JOIN {T_BANDS} b ON b.plan_id = r.plan_id AND b.band_id = r.carry_band_id
        JOIN {T_CONTRACTS} c ON c.plan_id = r.plan_id
        LEFT JOIN {T_USAGE} u
            ON u.contract_id = c.id AND u.month = %(previous)s AND u.band_id = r.carry_band_id
        WHERE r.kind = 'carry_over' AND r.plan_id = ANY(%(plans)s)
          AND c.starts_on < %(month)s AND (c.ends_on IS NULL OR c.ends_on >= %(previous)s)
          AND c.status IN ('active', 'past_due')
    """,  # noqa: S608
}
_REFERENCE = """
    WITH due AS ({due}),
    granted AS (
        INSERT INTO {grants} (contract_id, rule_id, month, quantity, member_ticket_id, created_at)
        SELECT contract_id, rule_id, %(month)s, quantity,
               CASE WHEN quantity > 0 THEN nextval(%(sequence)s::regclass) END, %(now)s
        FROM due
        ON CONFLICT (contract_id, rule_id, month) DO NOTHING
        RETURNING contract_id, rule_id, quantity, member_ticket_id
    ),
    issued AS (
        INSERT INTO {tickets} (id, created_at, updated_at, member_id, ticket_type_id, status, uses_total,
                               uses_left, valid_from, valid_through, source, note)
        SELECT g.member_ticket_id, %(now)s, %(now)s, d.member_id, d.type_id, 'active', g.quantity * d.uses,
               g.quantity * d.uses, %(on)s, d.valid_through, 'grant', ''
        FROM granted g JOIN due d ON d.contract_id = g.contract_id AND d.rule_id = g.rule_id
        WHERE g.member_ticket_id IS NOT NULL
        RETURNING id, uses_total, ticket_type_id
    ),
    entries AS (
        INSERT INTO {entries} (ticket_id, kind, delta, uses_left_after, reason, created_at)
        SELECT id, 'issued', uses_total, uses_total, '', %(now)s FROM issued
    ),
    stores AS (
        INSERT INTO {ticket_stores} (memberticket_id, store_id)
        SELECT i.id, ps.store_id FROM issued i
        JOIN {rules} r ON r.ticket_type_id = i.ticket_type_id
        JOIN {plan_stores} ps ON ps.plan_id = r.plan_id
    )
    SELECT count(*) FROM granted
"""

# What a grant wrote, independent of IDs: the fingerprint the run and the reference must share.
_FINGERPRINT = f"""
    SELECT count(*), md5(string_agg(
        concat_ws('|', g.contract_id, g.rule_id, g.month, g.quantity, t.member_id, t.ticket_type_id,
                  t.uses_total, t.uses_left, t.valid_from, t.valid_through, t.source, e.delta,
                  e.uses_left_after, (SELECT string_agg(s.store_id::text, ',' ORDER BY s.store_id)
                                      FROM {T_TICKET_STORES} s WHERE s.memberticket_id = t.id)),
        ';' ORDER BY g.contract_id, g.rule_id))
    FROM {T_GRANTS} g
    LEFT JOIN {T_TICKETS} t ON t.id = g.member_ticket_id
    LEFT JOIN {T_ENTRIES} e ON e.ticket_id = t.id
    JOIN {T_CONTRACTS} c ON c.id = g.contract_id
    WHERE c.plan_id = ANY(%(plans)s) AND g.month = %(month)s
"""  # noqa: S608 (table names from the models; values are parameters)


class Command(BaseCommand):
    help = "Benchmark the monthly ticket grants with many contracts, against raw SQL."

    def add_arguments(self, parser):
        parser.add_argument("--contracts", type=int, default=100_000)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data afterwards.")

    def handle(self, *args, contracts: int, keep: bool, **options):
        now = timezone.now()
        this_month = periods.month_start(timezone.localdate(now))
        month = periods.add_months_clamped(this_month, -1)
        stamp = now.strftime("%Y%m%d%H%M%S%f")
        self.plan_ids: list[int] = []
        self.stamp = stamp
        try:
            started = time.perf_counter()
            self._setup(contracts, month)
            self.stdout.write(
                f"data: {contracts:,} contracts on {PLANS} plans × (2 monthly rules + 1 carry-over); "
                f"built in {time.perf_counter() - started:.1f}s"
            )
            reference, reference_rows, reference_print = self._reference(month, now)
            self._clear(month)
            run_seconds, run = self._run(month, now)
            same = self._fingerprint(month) == reference_print
            self.stdout.write(
                f"grant run, month {month:%Y-%m}: {run_seconds:.2f}s ({run.total_grants:,} grants, "
                f"{run.total_tickets:,} tickets; same rows as the reference: {'yes' if same else 'NO'})"
            )
            rerun_seconds, rerun = self._run(month, now)
            self.stdout.write(f"grant re-run: {rerun_seconds:.2f}s ({rerun.total_grants} grants)")
            raw_rerun, raw_rerun_rows = self._reference(month, now, fingerprint=False)[:2]
            self.stdout.write(f"reference re-run: {raw_rerun:.2f}s ({raw_rerun_rows} grants)")
            # The doubled run starts from the tables the first run started from (its rows deleted, the tables
            # vacuumed): it measures how a run grows with the contracts, not with the grants already stored.
            self._clear(month)
            self._add_contracts(contracts, offset=contracts, month=month)
            double_seconds, double = self._run(this_month, now)
            self.stdout.write(
                f"grant run, month {this_month:%Y-%m}, {2 * contracts:,} contracts: {double_seconds:.2f}s "
                f"({double.total_grants:,} grants)"
            )
            self._report(
                reference=reference,
                run=run_seconds,
                raw_rerun=raw_rerun,
                rerun=rerun_seconds,
                double=double_seconds,
                same=same and reference_rows == run.total_grants,
            )
        finally:
            if not keep:
                self._clean_up()

    # --- data -----------------------------------------------------------------------------------------------

    def _setup(self, contracts: int, month: date) -> None:
        stores = [Store.objects.create(name=f"BENCH-{self.stamp}-{n}") for n in range(2)]
        band = TimeBand.objects.create(name=f"BENCH-{self.stamp}", weekdays=list(range(8)))
        for n in range(PLANS):
            product = Product.objects.create(
                sku=f"BENCH-{self.stamp}-P{n}",
                name=f"ベンチ用プラン {n}",
                kind=Product.Kind.MONTHLY,
                price_yen=9800,
            )
            plan = Plan.objects.create(name=f"ベンチ用プラン {n}", monthly_product=product)
            plan.stores.set(stores)
            PlanBandAllowance.objects.create(plan=plan, band=band, allowance=4)
            self.plan_ids.append(plan.pk)
            for kind, quantity, position in (("monthly", 1, 1), ("monthly", 2, 2), ("carry_over", 3, 3)):
                ticket_type = TicketType.objects.create(
                    name=f"ベンチ用チケット {n}-{position}", uses=1 + position
                )
                GrantRule.objects.create(
                    plan=plan,
                    kind=kind,
                    ticket_type=ticket_type,
                    quantity=quantity,
                    carry_band=band if kind == "carry_over" else None,
                    expiry_amount=1 if position < 3 else 45,
                    expiry_unit="months" if position < 3 else "days",
                    position=position,
                )
        self.band_id = band.pk
        self._add_contracts(contracts, offset=0, month=month)

    def _add_contracts(self, count: int, *, offset: int, month: date) -> None:
        """`count` members, each with a contract made 1–60 days before `month`, and for half of them some of
        the allowance of the month before `month` and of `month` used."""
        previous = periods.add_months_clamped(month, -1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH members AS (
                    INSERT INTO {T_MEMBERS} (password, is_superuser, email, name, name_kana, phone,
                                             member_discount_pct, is_active, is_staff, date_joined)
                    SELECT '!', false, 'bench-' || %(stamp)s || '-' || n || '@example.com',
                           'ベンチ会員 ' || n, 'ベンチ', '090-0000-0000', 0, true, false, now()
                    FROM generate_series(%(first)s, %(last)s) AS n
                    RETURNING id
                ),
                numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM members),
                made AS (
                    INSERT INTO {T_CONTRACTS} (created_at, updated_at, member_id, plan_id, contracted_on,
                                               starts_on, channel, status, stripe_subscription_id)
                    SELECT now(), now(), id, (%(plans)s::bigint[])[1 + n %% %(plan_count)s],
                           %(month)s::date - (1 + n %% 60)::integer, %(month)s::date - (1 + n %% 60)::integer,
                           'site', CASE WHEN n %% 20 = 0 THEN 'past_due' ELSE 'active' END, ''
                    FROM numbered
                    RETURNING id
                )
                INSERT INTO {T_USAGE} (contract_id, month, band_id, used)
                SELECT id, m.month, %(band)s, id %% 5
                FROM made CROSS JOIN (VALUES (%(previous)s::date), (%(month)s::date)) AS m(month)
                WHERE id %% 2 = 0
                """,  # noqa: S608 (table names from the models; values are parameters)
                {
                    "stamp": self.stamp,
                    "first": offset + 1,
                    "last": offset + count,
                    "plans": self.plan_ids,
                    "plan_count": len(self.plan_ids),
                    "month": month,
                    "previous": previous,
                    "band": self.band_id,
                },
            )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {T_MEMBERS}; ANALYZE {T_CONTRACTS}; ANALYZE {T_USAGE}")

    # --- the steps --------------------------------------------------------------------------------------

    def _reference(self, month: date, now, *, fingerprint: bool = True) -> tuple[float, int, tuple | None]:
        params = {
            "month": month,
            "previous": periods.add_months_clamped(month, -1),
            "plans": self.plan_ids,
            "on": timezone.localdate(now),  # granted the day it runs, as the run grants
            "now": now,
        }
        started = time.perf_counter()
        rows = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [T_TICKETS])
            params["sequence"] = cursor.fetchone()[0]
            for due in _REFERENCE_DUE.values():
                cursor.execute(
                    _REFERENCE.format(
                        due=due,
                        grants=T_GRANTS,
                        tickets=T_TICKETS,
                        entries=T_ENTRIES,
                        ticket_stores=T_TICKET_STORES,
                        rules=T_RULES,
                        plan_stores=T_PLAN_STORES,
                    ),
                    params,
                )
                rows += cursor.fetchone()[0]
        seconds = time.perf_counter() - started
        printed = None
        if fingerprint:
            printed = self._fingerprint(month)
            self.stdout.write(f"reference (raw SQL), month {month:%Y-%m}: {seconds:.2f}s ({rows:,} grants)")
        return seconds, rows, printed

    def _run(self, month: date, now) -> tuple[float, grants.GrantRun]:
        started = time.perf_counter()
        run = grants.grants_run(month=month, months=[month], now=now)
        return time.perf_counter() - started, run

    def _fingerprint(self, month: date) -> tuple:
        with connection.cursor() as cursor:
            cursor.execute(_FINGERPRINT, {"plans": self.plan_ids, "month": month})
            return cursor.fetchone()

    def _clear(self, month: date | None = None) -> None:
        """Deletes the grants of the benchmark's plans (of `month`, or all), their tickets and ledger."""
        only = " AND g.month = %(month)s" if month else ""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                CREATE TEMP TABLE bench_gone ON COMMIT DROP AS
                SELECT g.id AS grant_id, g.member_ticket_id AS ticket_id
                FROM {T_GRANTS} g JOIN {T_CONTRACTS} c ON c.id = g.contract_id
                WHERE c.plan_id = ANY(%(plans)s){only};
                DELETE FROM {T_GRANTS} WHERE id IN (SELECT grant_id FROM bench_gone);
                DELETE FROM {T_TICKET_STORES} WHERE memberticket_id IN (SELECT ticket_id FROM bench_gone);
                DELETE FROM {T_ENTRIES} WHERE ticket_id IN (SELECT ticket_id FROM bench_gone);
                DELETE FROM {T_TICKETS} WHERE id IN (SELECT ticket_id FROM bench_gone);
                """,  # noqa: S608 (table names from the models; values are parameters)
                {"plans": self.plan_ids, "month": month},
            )
        with connection.cursor() as cursor:
            for table in (T_GRANTS, T_TICKET_STORES, T_ENTRIES, T_TICKETS):
                cursor.execute(f"VACUUM ANALYZE {table}")

    def _clean_up(self) -> None:
        if self.plan_ids:
            self._clear()
        with transaction.atomic(), connection.cursor() as cursor:
            params = {"plans": self.plan_ids, "stamp": f"bench-{self.stamp}-%"}
            cursor.execute(
                f"""
                DELETE FROM {T_USAGE} WHERE contract_id IN
                    (SELECT id FROM {T_CONTRACTS} WHERE plan_id = ANY(%(plans)s));
                DELETE FROM {T_CONTRACTS} WHERE plan_id = ANY(%(plans)s);
                DELETE FROM {T_MEMBERS} WHERE email LIKE %(stamp)s;
                """,  # noqa: S608 (table names from the models; values are parameters)
                params,
            )
            type_ids = list(
                GrantRule.objects.filter(plan_id__in=self.plan_ids).values_list("ticket_type_id", flat=True)
            )
            GrantRule.objects.filter(plan_id__in=self.plan_ids).delete()
            TicketType.objects.filter(pk__in=type_ids).delete()
            products = list(
                Plan.objects.filter(pk__in=self.plan_ids).values_list("monthly_product_id", flat=True)
            )
            Plan.objects.filter(pk__in=self.plan_ids).delete()
            Product.objects.filter(pk__in=products).delete()
            TimeBand.objects.filter(name=f"BENCH-{self.stamp}").delete()
            Store.objects.filter(name__startswith=f"BENCH-{self.stamp}-").delete()

    def _report(self, *, reference, run, raw_rerun, rerun, double, same) -> None:
        def met(ok: bool) -> str:
            return "met" if ok else "NOT met"

        self.stdout.write(
            f"goal: grant run ≤ {GOAL_RUN}× the raw SQL: {run / reference:.2f}× — "
            f"{met(run <= GOAL_RUN * reference)}"
        )
        self.stdout.write(
            f"goal: re-run ≤ {GOAL_RERUN}× the raw re-run: {rerun / raw_rerun:.2f}× — "
            f"{met(rerun <= GOAL_RERUN * raw_rerun)}"
        )
        self.stdout.write(
            f"goal: twice the contracts ≤ {GOAL_SCALE}× the time: {double / run:.2f}× — "
            f"{met(double <= GOAL_SCALE * run)}"
        )
        self.stdout.write(f"same rows as the reference: {'yes' if same else 'NO'}")
        self.stdout.write(f"ratio: {run / reference:.2f}")
