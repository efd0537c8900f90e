"""Prints figures for the ticket CSV import and export at scale (SPEC §6, issue 12), against a raw-SQL
reference measured in the same run on the same database.

    python manage.py benchmark_tickets_csv [--rows 20000] [--items 200] [--tracemalloc] [--keep]

It creates its own store, items and one-time products (codes and SKUs BENCH-…), builds a CSV that creates
`--rows` ticket types (Japanese names, 1–3 usable items each), then measures, each on the real services:

- the dry run the admin preview makes (every row validated, nothing written);
- the reference: the fastest correct way to write the same rows without the pipeline, raw SQL through the
  same connection: one transaction with one INSERT … SELECT FROM unnest(…) for the ticket types (every
  column filled as the import fills it) and one for their items, then one UPDATE … FROM unnest(…) of the
  same rows' name and concurrency limit; its rows are then deleted (and the tables vacuumed);
- the import that creates every row;
- the export of everything (cp932, CRLF);
- the import of that export again (every row unchanged: nothing written);
- an import that changes every benchmark row's name and concurrency limit.

For each: wall time, rows/s, database queries and the process's peak resident set size (RSS) during the
step: the kernel's high-water mark (VmHWM) is reset before the step by writing 5 to /proc/self/clear_refs
and read from /proc/self/status after it; where that is not possible, ru_maxrss (the process's maximum so
far, which only grows) is printed instead. --tracemalloc adds the Python heap's peak (it slows Python code
down, so it is off by default). The rows the pipeline wrote are compared with the reference's. The last
lines are issue 12's goals, met or not, and `ratio: X.XX`: (import create s + import update s) ÷
(reference create s + reference update s). Everything it made is deleted, even on error, unless --keep.
Nothing is asserted: the figures are for the README and for spotting regressions.
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import io
import resource
import time
import tracemalloc
from contextlib import contextmanager
from functools import partial

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from core.memory import read_status, reset_peak_rss
from inventory.models import Category, Item, Store
from payments.models import Product
from tickets.csv_jobs import export_ticket_types, import_ticket_types
from tickets.models import TicketType
from tickets.resources import COLUMNS, KIND_LABELS, NAME

NAMES = ["ヨガ", "ピラティス", "ネイル", "ｶﾗｵｹ", "①回券", "㈱髙島屋コラボ", "朝活～夜活", "体験"]
PRODUCT_BATCH = 2_000
# The columns the update phase changes (headers of the ticket CSV).
SKU_HEADER = "商品SKUID"
LIMIT_HEADER = "同時予約数制限"
# Issue 12's goals for 20,000 rows.
GOAL_SECONDS = 5.0
GOAL_RSS_BYTES = 200 * 1000 * 1000  # 200 MB
MIB = 1024 * 1024


def _spec(n: int, product_id: int, price_yen: int, item_ids: list[int]) -> dict:
    """Row n as the import stores it: the ticket type's field values (by attname) and its items."""
    free = price_yen == 0
    return {
        "is_visible": n % 7 != 0,
        "name": f"{NAMES[n % len(NAMES)]} {n}",
        "kind": (TicketType.Kind.FREE_TRIAL if free else TicketType.Kind.PUNCH_CARD).value,
        "uses": 1 if free else 1 + n % 20,
        "max_concurrent": n % 3,
        "max_concurrent_per_day": n % 2,
        "max_purchases_per_member": 1 if free else 0,
        "validity_days": (n % 4) * 30,
        "product_id": product_id,
        "display_order": 1 + n % 50,
        "items": [item_ids[(n + k) % len(item_ids)] for k in range(1 + n % 3)],
    }


class Command(BaseCommand):
    help = "Benchmark the ticket CSV import and export with many rows, against a raw-SQL reference."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=20_000)
        parser.add_argument("--items", type=int, default=200)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data afterwards.")
        parser.add_argument(
            "--tracemalloc", action="store_true", help="Also measure the Python heap's peak (slower)."
        )
        # tracemalloc used to be on by default: its old opt-out is still accepted (and changes nothing).
        parser.add_argument("--no-tracemalloc", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, rows: int, items: int, keep: bool, tracemalloc: bool, **options):
        self.trace = tracemalloc
        self.peak_rss = 0
        self.rss_method = (
            "VmHWM, reset before each step" if reset_peak_rss() else "ru_maxrss, the maximum so far"
        )
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        self.prefix = f"BENCH-{stamp}-"
        try:
            with self._measure() as setup:
                data, products, item_ids = self._setup(stamp, rows, items)
            self.stdout.write(
                f"data: {rows:,} rows ({len(data) / MIB:.1f} MiB cp932), {items} items, {rows:,} products; "
                f"built in {setup['seconds']:.1f}s, {self._rss(setup)}"
            )
            self._phase("dry run (admin preview)", rows, partial(import_ticket_types, data, dry_run=True))
            reference = self._reference(products, item_ids)
            del products, item_ids
            created, create_seconds = self._phase(
                "import, every row created", rows, partial(import_ticket_types, data, dry_run=False)
            )
            del data
            self._compare(reference["created"], "created")
            exported = self._phase("export", rows, export_ticket_types)[0].data
            self._phase(
                "import of the export, every row unchanged",
                rows,
                partial(import_ticket_types, exported, dry_run=False),
            )
            changed = self._changed(exported, self.prefix)
            del exported
            updated, update_seconds = self._phase(
                "import, every row updated", rows, partial(import_ticket_types, changed, dry_run=False)
            )
            del changed
            self._compare(reference["updated"], "updated")
            self._report(rows, reference, (created, create_seconds), (updated, update_seconds))
        finally:
            if not keep:
                self._clean_up(stamp)

    # --- data ---------------------------------------------------------------------------------------------

    def _setup(self, stamp: str, rows: int, items: int) -> tuple[bytes, list[tuple], list[int]]:
        """Makes the store, items and products; returns the CSV, the products as (pk, sku, price_yen) in
        row order and the items' IDs (plain values: 20,000 model instances would weigh on every step)."""
        store = Store.objects.create(name=f"BENCH-{stamp}")
        category = Category.objects.create(name=f"BENCH-{stamp}")
        Item.objects.bulk_create(
            Item(store=store, category=category, code=f"{self.prefix}{n}", name=f"ベンチ用コース {n} 90分")
            for n in range(items)
        )
        item_ids = list(Item.objects.filter(store=store).order_by("pk").values_list("pk", flat=True))
        for start in range(0, rows, PRODUCT_BATCH):
            Product.objects.bulk_create(
                [
                    Product(
                        sku=f"{self.prefix}{n}",
                        name=f"ベンチ用商品 {n}",
                        price_yen=0 if n % 10 == 0 else 3000,
                    )
                    for n in range(start, min(start + PRODUCT_BATCH, rows))
                ]
            )
        products = list(
            Product.objects.filter(sku__startswith=self.prefix)
            .order_by("pk")
            .values_list("pk", "sku", "price_yen")
            .iterator(chunk_size=5_000)
        )
        return self._csv(products, item_ids), products, item_ids

    @staticmethod
    def _csv(products: list[tuple], item_ids: list[int]) -> bytes:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for n, (pk, sku, price_yen) in enumerate(products):
            spec = _spec(n, pk, price_yen, item_ids)
            writer.writerow(
                [
                    "", sku, "", "", "表示" if spec["is_visible"] else "非表示", spec["name"],
                    KIND_LABELS[spec["kind"]], spec["uses"], spec["max_concurrent"],
                    spec["max_concurrent_per_day"], spec["max_purchases_per_member"], spec["validity_days"],
                    ",".join(map(str, spec["items"])), "", spec["display_order"], "",
                ]
            )  # fmt: skip
        return buffer.getvalue().encode("cp932")

    @staticmethod
    def _changed(data: bytes, prefix: str) -> bytes:
        """The benchmark's rows of the export, each with its name and concurrency limit changed."""
        reader = csv.reader(io.StringIO(data.decode("cp932"), newline=""))
        header = next(reader)
        sku, name, limit = header.index(SKU_HEADER), header.index(NAME), header.index(LIMIT_HEADER)
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        for row in reader:
            if not row[sku].startswith(prefix):
                continue  # not the benchmark's: left as it is
            row[name] += " 改"
            row[limit] = str(int(row[limit]) + 1)
            writer.writerow(row)
        return buffer.getvalue().encode("cp932")

    def _clean_up(self, stamp: str) -> None:
        mine = TicketType.objects.filter(product__sku__startswith=self.prefix)
        TicketType.items.through.objects.filter(tickettype__in=mine).delete()
        TicketType.stores.through.objects.filter(tickettype__in=mine).delete()
        mine.delete()
        Product.objects.filter(sku__startswith=self.prefix).delete()
        stores = Store.objects.filter(name=f"BENCH-{stamp}")
        Item.objects.filter(store__in=stores).delete()
        Category.objects.filter(name=f"BENCH-{stamp}").delete()
        stores.delete()

    # --- the reference: raw SQL ---------------------------------------------------------------------------

    def _reference(self, products: list[tuple], item_ids: list[int]) -> dict:
        """Writes the rows the import writes with raw SQL, times the create and the update, and deletes
        them again. Returns the seconds and a fingerprint of the rows after each step. Its input, the
        column arrays, is built before the clock starts, as the import's CSV is."""
        columns: dict[str, list] = {}
        links: tuple[list[int], list[int]] = ([], [])  # (product ID, item ID) per item row
        for n, (pk, _sku, price_yen) in enumerate(products):
            spec = _spec(n, pk, price_yen, item_ids)
            for item_id in spec.pop("items"):
                links[0].append(pk)
                links[1].append(item_id)
            for attname, value in spec.items():
                columns.setdefault(attname, []).append(value)
        ids, create = self._phase(
            "reference create (raw SQL: INSERT … SELECT FROM unnest, one transaction)",
            len(products),
            partial(self._reference_create, columns, links),
        )
        created = self._fingerprint()
        names = [f"{name} 改" for name in columns["name"]]
        limits = [limit + 1 for limit in columns["max_concurrent"]]
        del columns, links
        update = self._phase(
            "reference update (raw SQL: UPDATE … FROM unnest, one transaction)",
            len(products),
            partial(self._reference_update, ids, names, limits),
        )[1]
        del names, limits
        updated = self._fingerprint()
        mine = TicketType.objects.filter(pk__in=ids)
        TicketType.items.through.objects.filter(tickettype__in=mine).delete()
        mine.delete()
        if not connection.in_atomic_block:
            # So the import does not pay for the reference's dead rows (its unique product index has them).
            through = TicketType.items.through._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM {connection.ops.quote_name(TicketType._meta.db_table)}")
                cursor.execute(f"VACUUM {connection.ops.quote_name(through)}")
        return {"create": create, "update": update, "created": created, "updated": updated}

    @staticmethod
    def _reference_create(columns: dict[str, list], links: tuple[list[int], list[int]]) -> list[int]:
        """One transaction: the ticket types in one INSERT (every column filled as the import fills it),
        then their items in another. Returns the new IDs in row order."""
        quote = connection.ops.quote_name
        now = timezone.now()
        names, selected, scalars, casts, arrays, unnested = [], [], [], [], [], []
        for field in TicketType._meta.concrete_fields:
            if field.primary_key:
                continue
            column = quote(field.column)
            names.append(column)
            if field.attname in columns:
                selected.append(f"u.{column}")
                unnested.append(column)
                casts.append(f"%s::{field.db_type(connection)}[]")
                arrays.append(columns[field.attname])
            else:  # created_at and updated_at as the import sets them; any other column its default
                if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                    value = now
                else:
                    value = field.get_db_prep_save(field.get_default(), connection)
                selected.append(f"%s::{field.db_type(connection)}")
                scalars.append(value)
        through = TicketType.items.through
        link_columns = (quote(through._meta.get_field(name).column) for name in ("tickettype", "item"))
        # Only the model's own quoted table and column names are formatted in; every value is a parameter.
        insert = (
            f"INSERT INTO {quote(TicketType._meta.db_table)} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {', '.join(selected)} FROM unnest({', '.join(casts)}) AS u({', '.join(unnested)}) "
            "RETURNING id, product_id"
        )
        link = (
            f"INSERT INTO {quote(through._meta.db_table)} ({', '.join(link_columns)}) "  # noqa: S608
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[])"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert, [*scalars, *arrays])
            by_product = {product_id: pk for pk, product_id in cursor.fetchall()}
            cursor.execute(link, [[by_product[product_id] for product_id in links[0]], links[1]])
        return [by_product[product_id] for product_id in columns["product_id"]]

    @staticmethod
    def _reference_update(ids: list[int], names: list[str], limits: list[int]) -> None:
        """One UPDATE … FROM unnest of the rows' name and concurrency limit (and updated_at, as the
        import does)."""
        quote = connection.ops.quote_name
        name, limit, updated_at = (
            TicketType._meta.get_field(field) for field in ("name", "max_concurrent", "updated_at")
        )
        sql = (
            f"UPDATE {quote(TicketType._meta.db_table)} AS t "  # noqa: S608
            f"SET {quote(name.column)} = u.name, {quote(limit.column)} = u.max_concurrent, "
            f"{quote(updated_at.column)} = %s "
            f"FROM unnest(%s::bigint[], %s::{name.db_type(connection)}[], %s::{limit.db_type(connection)}[]) "
            "AS u(id, name, max_concurrent) WHERE t.id = u.id"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [timezone.now(), ids, names, limits])

    def _fingerprint(self) -> str:
        """A digest of the benchmark's ticket types (every field but the ID and times) and their items."""
        digest = hashlib.sha256()
        fields = [
            field.attname
            for field in TicketType._meta.concrete_fields
            if not field.primary_key and field.attname not in ("created_at", "updated_at")
        ]
        mine = TicketType.objects.filter(product__sku__startswith=self.prefix)
        for row in mine.order_by("product_id").values_list(*fields).iterator(chunk_size=5_000):
            digest.update(repr(row).encode())
        links = TicketType.items.through.objects.filter(tickettype__in=mine)
        for row in (
            links.order_by("tickettype__product_id", "item_id")
            .values_list("tickettype__product_id", "item_id")
            .iterator(chunk_size=5_000)
        ):
            digest.update(repr(row).encode())
        return digest.hexdigest()

    def _compare(self, expected: str, step: str) -> None:
        same = self._fingerprint() == expected
        self.stdout.write(
            f"  rows {step} by the import = rows {step} by the reference: "
            + ("yes" if same else "NO (the reference does not write the same rows)")
        )

    # --- measuring ----------------------------------------------------------------------------------------

    @contextmanager
    def _measure(self):
        figures: dict = {}
        gc.collect()  # what earlier steps left is freed before this one starts
        reset = reset_peak_rss()
        figures["start_rss"] = read_status("VmRSS")
        if self.trace:
            tracemalloc.start()
        queries = [0]

        def count(execute, sql, params, many, context):
            # A counter, not CaptureQueriesContext: that one keeps only the last 9,000 queries, in memory.
            queries[0] += 1
            return execute(sql, params, many, context)

        try:
            with connection.execute_wrapper(count):
                started = time.perf_counter()
                yield figures
                figures["seconds"] = time.perf_counter() - started
        finally:
            if self.trace:
                figures["heap"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        figures["queries"] = queries[0]
        hwm = read_status("VmHWM") if reset else None
        figures["rss"] = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_rss = max(self.peak_rss, figures["rss"])

    def _rss(self, figures: dict) -> str:
        heap = f", peak heap {figures['heap'] / MIB:.1f} MiB" if self.trace else ""
        start = f" (from {figures['start_rss'] / MIB:.0f} MiB)" if figures["start_rss"] is not None else ""
        return f"peak RSS {figures['rss'] / MIB:.0f} MiB{start}{heap}"

    def _phase(self, label: str, rows: int, run):
        with self._measure() as figures:
            result = run()
        counts = ""
        if hasattr(result, "created"):
            counts = (
                f" [created {result.created:,}, updated {result.updated:,}, unchanged {result.unchanged:,}, "
                f"failed {result.failed:,}]"
            )
        elif hasattr(result, "rows"):
            counts = f" [{result.rows:,} rows]"
        self.stdout.write(
            f"{label}: {figures['seconds']:.2f}s, {rows / figures['seconds']:,.0f} rows/s, "
            f"{figures['queries']:,} queries ({figures['queries'] * 1000 / rows:.1f} per 1,000 rows), "
            f"{self._rss(figures)}{counts}"
        )
        return result, figures["seconds"]

    def _report(self, rows: int, reference: dict, create: tuple, update: tuple) -> None:
        (created, pipeline_create), (updated, pipeline_update) = create, update
        reference_create, reference_update = reference["create"], reference["update"]
        self.stdout.write(f"peak RSS over all steps: {self.peak_rss / MIB:.0f} MiB ({self.rss_method})")
        scale = "" if rows == 20_000 else f" (the goals are for 20,000 rows; this run has {rows:,})"
        self.stdout.write(f"goals of issue 12{scale}:")
        for label, value, goal, met in (
            ("import, every row created", f"{pipeline_create:.2f}s", "< 5 s", pipeline_create < GOAL_SECONDS),
            ("import, every row updated", f"{pipeline_update:.2f}s", "< 5 s", pipeline_update < GOAL_SECONDS),
            (
                "peak RSS over all steps",
                f"{self.peak_rss / 1_000_000:.0f} MB ({self.peak_rss / MIB:.0f} MiB)",
                "< 200 MB",
                self.peak_rss < GOAL_RSS_BYTES,
            ),
        ):
            self.stdout.write(f"  {label}: {value} (goal {goal}): {'met' if met else 'NOT met'}")
        failed = created.failed + updated.failed
        if failed or created.created != rows or updated.updated != rows:
            self.stdout.write(
                f"  NOTE: the import did not write every row ({failed:,} failed): not comparable"
            )
        self.stdout.write(
            f"import create + update: {pipeline_create:.2f}s + {pipeline_update:.2f}s; "
            f"reference create + update: {reference_create:.2f}s + {reference_update:.2f}s"
        )
        self.stdout.write(
            "ratio below: (import create s + import update s) ÷ (reference create s + reference update s)"
        )
        self.stdout.write(
            f"ratio: {(pipeline_create + pipeline_update) / (reference_create + reference_update):.2f}"
        )
