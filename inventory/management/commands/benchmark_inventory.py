"""Prints figures for the availability calendar and booking throughput on an item with many reservations.

    python manage.py benchmark_inventory [--reservations 10000] [--bookings 300]

It creates its own store, item and members (code BENCH-…), measures, then deletes them unless --keep.
Throughput is compared with a trivial Django view that does one INSERT, measured in the same run on the
same database, so the ratio means something on any machine.
"""

import random
import statistics
import time
from datetime import date, datetime, timedelta

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import Count
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.periods import JST
from inventory.availability import month_availability
from inventory.models import AcceptanceOverride, Item, Reservation, ReservationSettings, Store
from inventory.services import reservation_create
from members.models import Member


def _trivial_insert_view(request, store):
    with transaction.atomic():
        AcceptanceOverride.objects.create(store=store, start_date=date(2099, 1, 1), end_date=date(2099, 1, 1))
    return HttpResponse("ok")


class Command(BaseCommand):
    help = "Benchmark the month calendar and booking throughput on an item with many reservations."

    def add_arguments(self, parser):
        parser.add_argument("--reservations", type=int, default=10_000)
        parser.add_argument("--bookings", type=int, default=300)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data afterwards.")

    def handle(self, *args, reservations: int, bookings: int, keep: bool, **options):
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        rng = random.Random(42)  # noqa: S311 - reproducible data
        today = timezone.localdate()
        first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)  # next month, all bookable
        store = Store.objects.create(name=f"BENCH-{stamp}")
        item = Item.objects.create(store=store, code=f"BENCH-{stamp}", name="Benchmark item", stock=10_000)
        settings_row = ReservationSettings.objects.create(
            item=item, time_step_minutes=30, min_minutes=30, book_ahead_days=0, cancel_deadline_minutes=0
        )
        for weekday in range(8):
            settings_row.hours.create(weekday=weekday, opens_at="09:00", closes_at="21:00")
        item.uses_own_settings = True
        item.save(update_fields=["uses_own_settings"])
        member = Member.objects.create_user(email=f"bench-{stamp}@example.com", password=None, name="bench")
        try:
            self._fill(item, member, first, reservations, rng)
            self._calendar(item, first)
            self._item_page(item, first)
            self._throughput(item, member, store, first, bookings, rng)
        finally:
            if not keep:
                Reservation.objects.filter(item=item).delete()
                item.delete()
                AcceptanceOverride.objects.filter(store=store).delete()
                store.delete()
                member.delete()

    def _fill(self, item, member, first: date, count: int, rng) -> None:
        started = time.perf_counter()
        rows = []
        for _ in range(count):
            day = first + timedelta(days=rng.randrange(28))
            start = datetime.combine(day, datetime.min.time(), tzinfo=JST) + timedelta(
                minutes=rng.randrange(9 * 60, 20 * 60, 30)
            )
            rows.append(
                Reservation(
                    member=member, item=item, store_id=item.store_id, starts_at=start,
                    ends_at=start + timedelta(minutes=rng.choice([30, 60, 90])),
                    status=Reservation.Status.CONFIRMED, payment_method="free",
                )
            )  # fmt: skip
        Reservation.objects.bulk_create(rows, batch_size=2000)
        busiest = (
            Reservation.objects.filter(item=item)
            .values("starts_at__date")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        self.stdout.write(
            f"data: {count:,} reservations on one item in {first:%Y-%m} "
            f"(busiest day {busiest['n'] if busiest else 0}), built in {time.perf_counter() - started:.1f}s"
        )

    def _calendar(self, item, first: date) -> None:
        now = timezone.now()
        timings = []
        for _ in range(5):
            fresh = Item.objects.get(pk=item.pk)
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                days = month_availability(fresh, first.year, first.month, now=now)
                marks = "".join(day.mark for day in days)
                timings.append(time.perf_counter() - started)
        self.stdout.write(
            f"month calendar ({len(days)} days, marks {marks[:7]}…): "
            f"median {statistics.median(timings) * 1000:.1f} ms, {len(queries)} queries"
        )

    def _item_page(self, item, first: date) -> None:
        """The member site's item page with its month calendar, rendered by the real view."""
        from django.contrib.auth.models import AnonymousUser

        from inventory import views

        factory = RequestFactory()
        timings = []
        for _ in range(5):
            request = factory.get(f"/items/{item.pk}/", {"month": f"{first:%Y-%m}"})
            request.user = AnonymousUser()
            request.session = {}
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = views.item_detail(request, pk=item.pk)
                timings.append(time.perf_counter() - started)
        self.stdout.write(
            f"item page with month calendar (HTTP {response.status_code}, {len(response.content):,} bytes): "
            f"median {statistics.median(timings) * 1000:.1f} ms, {len(queries)} queries"
        )

    def _throughput(self, item, member, store, first: date, bookings: int, rng) -> None:
        factory = RequestFactory()
        started = time.perf_counter()
        for _ in range(bookings):
            _trivial_insert_view(factory.post("/trivial"), store)
        trivial = bookings / (time.perf_counter() - started)

        now = timezone.now()
        started = time.perf_counter()
        for _ in range(bookings):
            day = first + timedelta(days=rng.randrange(28))
            start = datetime.combine(day, datetime.min.time(), tzinfo=JST) + timedelta(
                minutes=rng.randrange(9 * 60, 20 * 60, 30)
            )
            reservation_create(
                member=member, by=None, system="benchmark_inventory", item=item, starts_at=start,
                ends_at=start + timedelta(minutes=60),
                payment_method="free", channel=Reservation.Channel.ADMIN, now=now,
            )  # fmt: skip
        booking = bookings / (time.perf_counter() - started)
        self.stdout.write(f"trivial one-INSERT view: {trivial:,.0f} requests/s")
        self.stdout.write(
            f"booking (reservation_create, locks + checks + insert + e-mail queue): {booking:,.0f} bookings/s"
        )
        self.stdout.write("ratio below: bookings/s ÷ trivial requests/s, in-process, one client")
        self.stdout.write(f"ratio: {booking / trivial:.2f}")
