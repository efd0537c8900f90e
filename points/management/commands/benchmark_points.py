"""Prints figures for the points ledger at scale (issue 14, "Speed"): the nightly expiry against raw SQL that
writes the same rows, measured in the same run on the same database, and the ledger CSV download.

    python manage.py benchmark_points [--lots 1000000] [--members N] [--keep]      (make bench ARGS=points)

Run it on a throwaway database (`make bench` makes one): the expiry run is the real service, which expires
every member's points that are due, not only the benchmark's.

Setup, with set-based SQL (generate_series): `--members` members (default: one per 10 lots) with a point
account, and `--lots` per-record lots, each with its purchase-points entry (balance_after the member's
running sum), spread over the members; 1 lot in 10 (a fixed pseudo-random choice) is valid through 1–3
days before the run date, the rest later. Every balance equals its entries' sum and its lots' remaining.

Then:
- the reference: the fastest correct raw SQL, one statement with data-modifying CTEs: for every due lot one
  失効 entry (balance_after = the account's balance minus the member's running sum of what expires, in the
  order the service expires them: valid-through date, then lot), its allocation, the lot emptied and each
  account's balance decreased by what expired. It runs in a transaction whose rows are fingerprinted and
  then rolled back (the tables vacuumed after);
- the expiry run (points.services.points_expire, what the nightly job and `manage.py expire_points` run)
  on the same due lots, checked to write the same rows as the reference (entries, allocations, lots,
  balances), and to leave every balance equal to its ledger (points.selectors.ledger_report);
- the ledger CSV (points.ledger_csv.stream_ledger_csv) of all the benchmark's entries (grants and expiries,
  at least `--lots`), consumed to the end: time, bytes, and the process's peak RSS during the step (VmHWM,
  reset before the step through /proc/self/clear_refs, as benchmark_tickets_csv does). The process holds
  Django and the apps before the step; the goal (flat, under 100 MB) is checked on what the step adds.

The last lines are issue 14's goals, met or not, and `ratio: X.XX` (expiry run s ÷ reference s). Everything
it made is deleted afterwards, even on error, unless --keep (but the run's audit entry: audit entries are
never deleted). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import subprocess
import sys
import time

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from core.memory import read_status
from points.models import PointAccount, PointAllocation, PointEntry, PointLot, PointSettings
from points.services import EXPIRY_JOB, points_expire

GOAL_RATIO = 2.0  # the expiry run ≤ 2× the raw SQL
GOAL_CSV_RSS_BYTES = 100 * 1000 * 1000  # 100 MB
MIB = 1024 * 1024

T_MEMBERS = get_user_model()._meta.db_table
T_ACCOUNTS = PointAccount._meta.db_table
T_ENTRIES = PointEntry._meta.db_table
T_LOTS = PointLot._meta.db_table
T_ALLOCATIONS = PointAllocation._meta.db_table

# Lot n (1..lots) belongs to member 1 + n % members (the benchmark's members in id order) and is due when a
# multiplicative hash of n modulo a prime falls in its lowest tenth: 10 % of the lots, spread over the members
# unevenly (with 10 lots each, about a third have none due, a third one, a third two or more).
_SETUP = f"""
    CREATE TEMP TABLE bench_points_members ON COMMIT DROP AS
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM {T_MEMBERS} WHERE email LIKE %(like)s;
    CREATE TEMP TABLE bench_points_lots ON COMMIT DROP AS
    SELECT g.n, m.id AS member_id, 1 + (g.n * 7) %% 500 AS amount,
           CASE WHEN (g.n::bigint * 7919) %% 10007 < 1001 THEN %(on)s::date - 1 - (g.n %% 3)::integer
                ELSE %(on)s::date + (g.n %% 365)::integer END AS expires_on,
           nextval(pg_get_serial_sequence('{T_ENTRIES}', 'id')) AS entry_id,
           nextval(pg_get_serial_sequence('{T_LOTS}', 'id')) AS lot_id
    FROM generate_series(1, %(lots)s) AS g(n)
    JOIN bench_points_members m ON m.k = g.n %% %(members)s;
    INSERT INTO {T_ENTRIES} (id, member_id, kind, delta, balance_after, expires_on, system, reason, comment,
                             created_at)
    SELECT entry_id, member_id, 'purchase', amount,
           sum(amount) OVER (PARTITION BY member_id ORDER BY entry_id), expires_on, 'benchmark', '', '',
           %(now)s - interval '400 days'
    FROM bench_points_lots ORDER BY entry_id;
    INSERT INTO {T_LOTS} (id, member_id, entry_id, amount, remaining, expires_on)
    SELECT lot_id, member_id, entry_id, amount, amount, expires_on FROM bench_points_lots ORDER BY lot_id;
    INSERT INTO {T_ACCOUNTS} (created_at, updated_at, member_id, balance)
    SELECT %(now)s, %(now)s, m.id, coalesce(sum(l.amount), 0)
    FROM bench_points_members m LEFT JOIN bench_points_lots l ON l.member_id = m.id
    GROUP BY m.id;
"""  # noqa: S608 (table names from the models; values are parameters)

# The reference: every due lot expired in one statement, as points_expire expires it lot by lot.
_REFERENCE = f"""
    WITH due AS (
        SELECT l.id, l.member_id, l.remaining, l.expires_on,
               a.balance - sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_on, l.id)
                   AS balance_after
        FROM {T_LOTS} l JOIN {T_ACCOUNTS} a ON a.member_id = l.member_id
        WHERE l.remaining > 0 AND l.expires_on < %(on)s
    ),
    written AS (
        INSERT INTO {T_ENTRIES} (member_id, kind, delta, balance_after, expires_on, expired_lot_id, system,
                                 reason, comment, created_at)
        SELECT member_id, 'expired', -remaining, balance_after, expires_on, id, %(system)s, '', '', %(now)s
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
        UPDATE {T_ACCOUNTS} a SET balance = a.balance - t.points, updated_at = %(now)s
        FROM (SELECT member_id, sum(remaining) AS points FROM due GROUP BY member_id) t
        WHERE a.member_id = t.member_id
    )
    SELECT count(*), coalesce(sum(remaining), 0) FROM due
"""  # noqa: S608 (table names from the models; values are parameters)

# What an expiry wrote, independent of entry IDs and times: the fingerprint both must share.
_FINGERPRINT = f"""
    SELECT
        (SELECT count(*) || ':' || md5(coalesce(string_agg(concat_ws('|', e.member_id, e.kind, e.delta,
                    e.balance_after, e.expires_on, e.expired_lot_id, e.system, al.lot_id, al.amount),
                    ';' ORDER BY e.member_id, e.expires_on, e.expired_lot_id), ''))
         FROM {T_ENTRIES} e JOIN bench_points_scope s ON s.member_id = e.member_id
         LEFT JOIN {T_ALLOCATIONS} al ON al.entry_id = e.id
         WHERE e.kind = 'expired'),
        (SELECT md5(string_agg(l.id || ':' || l.remaining, ';' ORDER BY l.id))
         FROM {T_LOTS} l JOIN bench_points_scope s ON s.member_id = l.member_id),
        (SELECT md5(string_agg(a.member_id || ':' || a.balance, ';' ORDER BY a.member_id))
         FROM {T_ACCOUNTS} a JOIN bench_points_scope s ON s.member_id = a.member_id)
"""  # noqa: S608 (table names from the models)


class Command(BaseCommand):
    help = "Benchmark the points expiry (against raw SQL) and the ledger CSV with many lots."

    def add_arguments(self, parser):
        parser.add_argument("--lots", type=int, default=1_000_000)
        parser.add_argument("--members", type=int, help="Members holding the lots (default: lots ÷ 10).")
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data afterwards.")
        parser.add_argument("--csv-only", metavar="EMAIL_PREFIX", help=argparse.SUPPRESS)
        parser.add_argument(
            "--csv-in-process",
            action="store_true",
            help="Stream the CSV in this process (tests: a child cannot see their uncommitted data).",
        )

    def handle(
        self,
        *args,
        lots: int,
        members: int | None,
        keep: bool,
        csv_only: str | None,
        csv_in_process: bool,
        **options,
    ):
        self.csv_in_process = csv_in_process
        if csv_only:
            # The child process of the CSV step (see _ledger_csv): only Django's start and the download.
            self.stdout.write(json.dumps(_consume_ledger_csv(csv_only)))
            return
        members = members or max(1, lots // 10)
        now = timezone.now()
        self.on = timezone.localdate(now)
        self.now = now
        self.like = f"bench-points-{now:%Y%m%d%H%M%S%f}-%"
        settings = PointSettings.current()
        saved_method = settings.expiry_method
        try:
            if saved_method != PointSettings.ExpiryMethod.PER_RECORD:
                settings.expiry_method = PointSettings.ExpiryMethod.PER_RECORD
                settings.save(update_fields=["expiry_method", "updated_at"])
            started = time.perf_counter()
            due, due_points, due_members = self._setup(lots, members)
            self.stdout.write(
                f"data: {lots:,} lots (per record) of {members:,} members, {due:,} due on {self.on} "
                f"({due_points:,} points of {due_members:,} members); "
                f"built in {time.perf_counter() - started:.1f}s"
            )
            reference, reference_rows, reference_print = self._reference()
            self.stdout.write(
                f"reference (raw SQL, one statement): {reference:.2f}s ({reference_rows[0]:,} entries, "
                f"{reference_rows[1]:,} points; rolled back)"
            )
            started = time.perf_counter()
            result = points_expire(on=self.on, now=self.now)
            run = time.perf_counter() - started
            same = (
                self._fingerprint() == reference_print and (result.entries, result.points) == reference_rows
            )
            self.stdout.write(
                f"expiry run (points_expire): {run:.2f}s ({result.entries:,} entries, {result.points:,} "
                f"points); same rows as the reference: {'yes' if same else 'NO'}"
            )
            again = time.perf_counter()
            rerun = points_expire(on=self.on, now=self.now)
            self.stdout.write(f"expiry re-run: {time.perf_counter() - again:.2f}s ({rerun.entries} entries)")
            consistent = self._consistent()
            self.stdout.write(
                "every benchmark balance = its entries' sum = its lots' remaining: "
                + ("yes" if consistent else "NO")
            )
            csv = self._ledger_csv()
            self._report(reference=reference, run=run, same=same, consistent=consistent, csv=csv)
        finally:
            if not keep:
                self._clean_up()
            if saved_method != PointSettings.ExpiryMethod.PER_RECORD:
                settings.expiry_method = saved_method
                settings.save(update_fields=["expiry_method", "updated_at"])

    # --- data -----------------------------------------------------------------------------------------------

    def _setup(self, lots: int, members: int) -> tuple[int, int, int]:
        stamp = self.like[:-1]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {T_MEMBERS} (password, is_superuser, email, name, name_kana, phone,
                                         member_discount_pct, is_active, is_staff, date_joined)
                SELECT '!', false, %(stamp)s || n || '@example.com', 'ベンチ会員 ' || n, 'ベンチ',
                       '090-0000-0000', 0, true, false, now()
                FROM generate_series(1, %(members)s) AS n
                """,  # noqa: S608 (table names from the models; values are parameters)
                {"stamp": stamp, "members": members},
            )
            cursor.execute(
                _SETUP,
                {"like": self.like, "lots": lots, "members": members, "on": self.on, "now": self.now},
            )
        with connection.cursor() as cursor:
            for table in (T_MEMBERS, T_ACCOUNTS, T_ENTRIES, T_LOTS, T_ALLOCATIONS):
                cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute(
                f"SELECT count(*), coalesce(sum(remaining), 0), count(DISTINCT member_id) FROM {T_LOTS} "  # noqa: S608
                "WHERE remaining > 0 AND expires_on < %s",
                [self.on],
            )
            return cursor.fetchone()

    def _scope(self, cursor) -> None:
        """A temporary table of the benchmark's members (what the fingerprint and the checks look at)."""
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS bench_points_scope AS "  # noqa: S608
            f"SELECT id AS member_id FROM {T_MEMBERS} WHERE email LIKE %s",
            [self.like],
        )

    # --- the steps ------------------------------------------------------------------------------------------

    def _reference(self) -> tuple[float, tuple[int, int], tuple]:
        """The raw SQL in a transaction rolled back after its rows are fingerprinted; then the tables are
        vacuumed, so the expiry run does not pay for the reference's dead rows."""
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(_REFERENCE, {"on": self.on, "now": self.now, "system": EXPIRY_JOB})
            rows = tuple(cursor.fetchone())
            seconds = time.perf_counter() - started
            printed = self._fingerprint()
            transaction.set_rollback(True)
        with connection.cursor() as cursor:
            for table in (T_ACCOUNTS, T_ENTRIES, T_LOTS, T_ALLOCATIONS):
                cursor.execute(f"VACUUM ANALYZE {table}")
        return seconds, rows, printed

    def _fingerprint(self) -> tuple:
        with connection.cursor() as cursor:
            self._scope(cursor)
            cursor.execute(_FINGERPRINT)
            return cursor.fetchone()

    def _consistent(self) -> bool:
        with connection.cursor() as cursor:
            self._scope(cursor)
            cursor.execute(
                f"""
                SELECT count(*) FROM {T_ACCOUNTS} a JOIN bench_points_scope s ON s.member_id = a.member_id
                LEFT JOIN (SELECT member_id, sum(delta) AS total FROM {T_ENTRIES} GROUP BY member_id) e
                    ON e.member_id = a.member_id
                LEFT JOIN (SELECT member_id, sum(remaining) AS total FROM {T_LOTS} GROUP BY member_id) l
                    ON l.member_id = a.member_id
                WHERE a.balance <> coalesce(e.total, 0) OR a.balance <> coalesce(l.total, 0)
                """  # noqa: S608 (table names from the models)
            )
            return cursor.fetchone()[0] == 0

    def _ledger_csv(self) -> dict | None:
        """The benchmark's ledger as the staff CSV download streams it, consumed to the end in a process of
        its own, as a web worker serving the download would be: its peak RSS (VmHWM, since the process
        started) is the whole process's, Django included, not this process's, which holds the benchmark's
        own data."""
        try:
            importlib.import_module("points.ledger_csv").stream_ledger_csv  # noqa: B018
        except (ImportError, AttributeError):
            self.stdout.write(
                "ledger CSV: not measured: function missing (points.ledger_csv.stream_ledger_csv)"
            )
            return None
        if self.csv_in_process:
            figures = _consume_ledger_csv(self.like[:-1])
            self.stdout.write(f"ledger CSV (in process): {figures['entries']:,} entries")
            return figures
        child = subprocess.run(  # noqa: S603 - our own manage.py, with arguments we built
            [sys.executable, "manage.py", "benchmark_points", "--csv-only", self.like[:-1]],
            capture_output=True,
            text=True,
            check=True,
            cwd=django_settings.BASE_DIR,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        rss = figures["rss"]
        self.stdout.write(
            f"ledger CSV: {figures['entries']:,} entries, {figures['lines']:,} lines, "
            f"{figures['bytes'] / MIB:.1f} MiB cp932 in {figures['seconds']:.2f}s "
            f"({figures['entries'] / figures['seconds']:,.0f} entries/s); "
            f"peak RSS of the downloading process {rss / MIB:.0f} MiB, Django's start included "
            f"(RSS {figures['start_rss'] / MIB:.0f} MiB before the download)"
        )
        return figures

    # --- the end --------------------------------------------------------------------------------------------

    def _clean_up(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            self._scope(cursor)
            cursor.execute(
                f"""
                DELETE FROM {T_ALLOCATIONS} WHERE entry_id IN
                    (SELECT e.id FROM {T_ENTRIES} e JOIN bench_points_scope s ON s.member_id = e.member_id);
                UPDATE {T_ENTRIES} SET expired_lot_id = NULL
                    WHERE member_id IN (SELECT member_id FROM bench_points_scope)
                      AND expired_lot_id IS NOT NULL;
                DELETE FROM {T_LOTS} WHERE member_id IN (SELECT member_id FROM bench_points_scope);
                DELETE FROM {T_ENTRIES} WHERE member_id IN (SELECT member_id FROM bench_points_scope);
                DELETE FROM {T_ACCOUNTS} WHERE member_id IN (SELECT member_id FROM bench_points_scope);
                DELETE FROM {T_MEMBERS} WHERE id IN (SELECT member_id FROM bench_points_scope);
                DROP TABLE bench_points_scope;
                """  # noqa: S608 (table names from the models)
            )

    def _report(self, *, reference: float, run: float, same: bool, consistent: bool, csv: dict | None):
        def met(ok: bool) -> str:
            return "met" if ok else "NOT met"

        self.stdout.write(
            f"goal: expiry run ≤ {GOAL_RATIO}× the raw SQL: {run / reference:.2f}× — "
            f"{met(run <= GOAL_RATIO * reference)}"
        )
        if csv is None:
            self.stdout.write("goal: ledger CSV flat, peak RSS < 100 MB: not measured: function missing")
        else:
            # A fresh process of this project holds ~105 MiB before serving anything (Django, the apps, the
            # admin and the URLconf loaded), so the goal is read as what the download adds to its process:
            # under 100 MB, and flat (the same whatever the ledger's size). Both figures are printed.
            grown = csv["rss"] - csv["start_rss"]
            self.stdout.write(
                f"goal: ledger CSV of {csv['entries']:,} entries flat, under 100 MB: the download added "
                f"{grown / 1_000_000:.0f} MB to its process "
                f"(which peaked at {csv['rss'] / 1_000_000:.0f} MB, "
                f"{csv['start_rss'] / 1_000_000:.0f} MB of it Django and the project before the download) — "
                f"{met(grown < GOAL_CSV_RSS_BYTES)}"
            )
        self.stdout.write(f"same rows as the reference: {'yes' if same else 'NO'}")
        self.stdout.write(f"balances = ledger = lots: {'yes' if consistent else 'NO'}")
        self.stdout.write("ratio below: expiry run s ÷ reference (raw SQL) s")
        self.stdout.write(f"ratio: {run / reference:.2f}")


def _consume_ledger_csv(email_prefix: str) -> dict:
    """Stream the ledger CSV of the members whose e-mail starts with `email_prefix` to the end; the figures
    of this process (a fresh one: the child of the CSV step)."""
    from points.ledger_csv import stream_ledger_csv

    queryset = PointEntry.objects.filter(member__email__startswith=email_prefix)
    count = queryset.count()
    gc.collect()
    start_rss = read_status("VmRSS") or 0
    started = time.perf_counter()
    size = lines = 0
    for chunk in stream_ledger_csv(queryset):
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    return {
        "entries": count,
        "lines": lines,
        "bytes": size,
        "seconds": seconds,
        "start_rss": start_rss,
        "rss": read_status("VmHWM") or 0,
    }
