"""Prints figures for the ticket CSV import and export at scale (SPEC §6).

    python manage.py benchmark_tickets_csv [--rows 20000] [--items 200] [--keep] [--no-tracemalloc]

It creates its own store, items and one-time products (codes and SKUs BENCH-…), builds a CSV that creates
`--rows` ticket types (Japanese names, 1–3 usable items each), then measures, each on the real services:

- the dry run the admin preview makes (every row validated, nothing written);
- the import that creates every row (services.TicketTypeBatch: a transaction per 500 rows);
- the export of everything (cp932, CRLF);
- the import of that export again (every row unchanged: nothing written);
- an import that changes every row's name and limits (one update per row).

For each: wall time, rows/s, database queries, and peak memory: the Python heap's peak during the phase
(tracemalloc, which slows Python code down somewhat; --no-tracemalloc for timings without it) and the
process's maximum resident set size so far (ru_maxrss, which only grows). It deletes what it made unless
--keep. Nothing is asserted: the figures are for the README and for spotting regressions.
"""

from __future__ import annotations

import csv
import io
import resource
import time
import tracemalloc
from contextlib import contextmanager

from django.core.management.base import BaseCommand
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from inventory.models import Category, Item, Store
from payments.models import Product
from tickets.csv_jobs import export_ticket_types, import_ticket_types
from tickets.models import TicketType
from tickets.resources import COLUMNS, KIND_LABELS, NAME

NAMES = ["ヨガ", "ピラティス", "ネイル", "ｶﾗｵｹ", "①回券", "㈱髙島屋コラボ", "朝活～夜活", "体験"]


class Command(BaseCommand):
    help = "Benchmark the ticket CSV import and export with many rows."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=20_000)
        parser.add_argument("--items", type=int, default=200)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data afterwards.")
        parser.add_argument("--no-tracemalloc", action="store_true", help="Time without tracemalloc.")

    def handle(self, *args, rows: int, items: int, keep: bool, no_tracemalloc: bool, **options):
        self.trace = not no_tracemalloc
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        started = time.perf_counter()
        store = Store.objects.create(name=f"BENCH-{stamp}")
        category = Category.objects.create(name=f"BENCH-{stamp}")
        made_items = Item.objects.bulk_create(
            Item(store=store, category=category, code=f"BENCH-{stamp}-{n}", name=f"ベンチ用コース {n} 90分")
            for n in range(items)
        )
        products = Product.objects.bulk_create(
            (
                Product(
                    sku=f"BENCH-{stamp}-{n}", name=f"ベンチ用商品 {n}", price_yen=0 if n % 10 == 0 else 3000
                )
                for n in range(rows)
            ),
            batch_size=5000,
        )
        data = self._csv(products, made_items)
        first_new_id = (TicketType.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        self.stdout.write(
            f"data: {rows:,} rows ({len(data) / 1024 / 1024:.1f} MiB cp932), {items} items, "
            f"{rows:,} products; built in {time.perf_counter() - started:.1f}s"
        )
        try:
            self._phase("dry run (admin preview)", rows, lambda: import_ticket_types(data, dry_run=True))
            self._phase("import, every row created", rows, lambda: import_ticket_types(data, dry_run=False))
            exported = self._phase("export", rows, export_ticket_types)
            self._phase(
                "import of the export, every row unchanged",
                rows,
                lambda: import_ticket_types(exported.data, dry_run=False),
            )
            changed = self._changed(exported.data)
            self._phase(
                "import, every row updated", rows, lambda: import_ticket_types(changed, dry_run=False)
            )
        finally:
            if not keep:
                made = TicketType.objects.filter(pk__gte=first_new_id, product__in=products)
                TicketType.items.through.objects.filter(tickettype__in=made).delete()
                made.delete()
                Product.objects.filter(pk__in=[product.pk for product in products]).delete()
                Item.objects.filter(store=store).delete()
                category.delete()
                store.delete()

    def _csv(self, products: list[Product], items: list[Item]) -> bytes:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for n, product in enumerate(products):
            free = product.price_yen == 0
            usable = ",".join(str(items[(n + k) % len(items)].pk) for k in range(1 + n % 3))
            writer.writerow(
                [
                    "", product.sku, "", "", "表示" if n % 7 else "非表示", f"{NAMES[n % len(NAMES)]} {n}",
                    KIND_LABELS[TicketType.Kind.FREE_TRIAL if free else TicketType.Kind.PUNCH_CARD],
                    1 if free else 1 + n % 20, n % 3, n % 2, 1 if free else 0, (n % 4) * 30,
                    usable, "", 1 + n % 50, "",
                ]
            )  # fmt: skip
        return buffer.getvalue().encode("cp932")

    @staticmethod
    def _changed(data: bytes) -> bytes:
        """The export with every row's name and concurrency limit changed."""
        reader = csv.reader(io.StringIO(data.decode("cp932"), newline=""))
        header = next(reader)
        name, limit = header.index(NAME), header.index("同時予約数制限")
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        for row in reader:
            row[name] += " 改"
            row[limit] = str(int(row[limit]) + 1)
            writer.writerow(row)
        return buffer.getvalue().encode("cp932")

    @contextmanager
    def _measure(self):
        figures: dict = {}
        if self.trace:
            tracemalloc.start()
        queries = [0]

        def count(execute, sql, params, many, context):
            # A counter, not CaptureQueriesContext: that one keeps only the last 9,000 queries, in memory.
            queries[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            yield figures
            figures["seconds"] = time.perf_counter() - started
        if self.trace:
            figures["peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        figures["queries"] = queries[0]
        figures["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    def _phase(self, label: str, rows: int, run):
        with self._measure() as figures:
            result = run()
        counts = ""
        if hasattr(result, "created"):
            counts = (
                f" [created {result.created:,}, updated {result.updated:,}, unchanged {result.unchanged:,}, "
                f"failed {result.failed:,}]"
            )
        peak = f"peak heap {figures['peak'] / 1024 / 1024:.1f} MiB, " if self.trace else ""
        self.stdout.write(
            f"{label}: {figures['seconds']:.2f}s, {rows / figures['seconds']:,.0f} rows/s, "
            f"{figures['queries']:,} queries ({figures['queries'] / rows:.1f}/row), "
            f"{peak}max RSS {figures['maxrss'] / 1024 / 1024:.0f} MiB{counts}"
        )
        return result
