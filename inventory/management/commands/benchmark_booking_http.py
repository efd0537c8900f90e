"""Prints the member booking POST's throughput over HTTP against a trivial one-INSERT view on one server.

    python manage.py benchmark_booking_http [--clients 32] [--workers 4] [--threads 4] [--seconds 5]
                                            [--rounds 3] [--keep]

It starts gunicorn (gthread workers, CONN_MAX_AGE=60: database connections kept open, as in production) on
a free local port against this database, with BENCHMARK_VIEWS=1 so that config/urls.py routes the trivial
view (inventory/benchmark_views.py; production settings never route it). It creates its own store, items
(free-type and fixed-slot, 0 yen, each with its own reservation settings) and members (code/e-mail
BENCH-…), logs the members in through the login form, and takes each client's CSRF token from the booking
page, as a browser does. Then, with `--clients` client threads each on its own keep-alive connection:

- rounds of the trivial view and of the real booking POST (site:book, step "book", paid "free"),
  alternating which goes first; the clients spread over many items, days and times, so every booking
  must succeed (a refusal is counted as an error); half the bookings are free-type, half fixed-slot;
- the queries one booking takes (in-process, through the same view, CaptureQueriesContext);
- a hammer phase: every client books the same slot (capacity 10) and the same hour of an item of stock 5,
  twice each; exactly the capacity must be booked;
- the check that no slot and no item is over capacity afterwards (slot counters against the live
  reservations, and each free-type item's peak against its stock).

Each figure is the median of the rounds. The last line is `ratio: X.XX` (bookings/s over trivial
requests/s). The benchmark data is deleted afterwards unless --keep (the members stay: their audit
entries keep them, and `make bench` throws its database away anyway).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import F, Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory import benchmark_views
from inventory.availability import peak_quantity
from inventory.models import (
    AcceptanceOverride,
    Item,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    Slot,
    Store,
)
from members.models import Member

PASSWORD = "bench-password-0123"  # noqa: S105 - throwaway members of a throwaway database
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HOURS = range(9, 20)  # bookable hours: 09:00–20:00 starts, every day
HAMMER_CAPACITY = 10
HAMMER_STOCK = 5


# --- a minimal browser: one keep-alive connection, cookies, CSRF tokens from pages -----------------------


class Browser:
    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.conn: http.client.HTTPConnection | None = None

    def reconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method: str, path: str, fields: dict | None = None) -> tuple[int, str, str]:
        """(status, Location, body) of one request on the kept-alive connection."""
        if self.conn is None:
            self.reconnect()
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or ():
            for name, morsel in SimpleCookie(header).items():
                # "messages" holds the "booked" notice for the page the booking redirects to, which shows
                # (and clears) it; the benchmark does not fetch that page, so it does not keep the notice
                # either (sent back, it would grow with every booking and then spill into the session).
                if name != CookieStorage.cookie_name:
                    self.cookies[name] = morsel.value
        if response.getheader("Connection", "").lower() == "close":
            self.reconnect()
        return response.status, response.getheader("Location", ""), text

    def take_token(self, path: str) -> None:
        status, _location, body = self.request("GET", path)
        found = TOKEN_RE.search(body)
        if status != 200 or not found:
            raise CommandError(f"GET {path}: HTTP {status}, no CSRF token in the page")
        self.token = found.group(1)

    def log_in(self, email: str, booking_page: str) -> None:
        login = reverse("members:login")
        self.take_token(login)
        status, _location, _body = self.request(
            "POST", login, {"username": email, "password": PASSWORD, "csrfmiddlewaretoken": self.token}
        )
        if status != 302:
            raise CommandError(f"login of {email}: HTTP {status}")
        self.take_token(booking_page)  # the login rotated the token: a page after it gives the new one


# --- phases ------------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # latencies per kind of request
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float, kind: str | None = None) -> float:
        ordered = sorted(self.latencies if kind is None else self.by_kind.get(kind, []))
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


# One request of client `index` (its k-th): returns (method, path, fields, expected status, kind).
Request = Callable[[int, int, "Browser"], tuple[str, str, dict, int, str]]


def run_phase(browsers: list[Browser], make: Request, seconds: float) -> PhaseResult:
    """Every client sends requests back to back for `seconds` (released together by a barrier)."""
    result = PhaseResult()
    lock = threading.Lock()
    barrier = threading.Barrier(len(browsers) + 1)
    for browser in browsers:
        browser.reconnect()  # an idle kept-alive connection may have timed out between phases

    def client(index: int, browser: Browser) -> None:
        latencies, errors, k, by_kind = [], [], 0, {}
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            method, path, fields, expected, kind = make(index, k, browser)
            k += 1
            started = time.perf_counter()
            try:
                status, location, body = browser.request(method, path, fields)
            except (OSError, http.client.HTTPException) as error:
                errors.append(f"{path}: {error!r}")
                browser.reconnect()
                continue
            latencies.append(time.perf_counter() - started)
            by_kind.setdefault(kind, []).append(latencies[-1])
            if status != expected:
                errors.append(f"{path}: HTTP {status} {location} {_error_text(body)}")
        with lock:
            result.latencies.extend(latencies)
            for kind, values in by_kind.items():
                result.by_kind.setdefault(kind, []).extend(values)
            result.errors.extend(errors)

    threads = [threading.Thread(target=client, args=(i, b)) for i, b in enumerate(browsers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    result.requests = len(result.latencies) - len(result.errors)
    return result


def _error_text(body: str) -> str:
    found = re.search(r'class="(?:errorlist|form-errors)[^"]*"[^>]*>(.*?)</', body, re.S)
    return re.sub(r"<[^>]+>|\s+", " ", found.group(1)).strip()[:120] if found else ""


# --- the server ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(port: int, *, workers: int, threads: int) -> Iterator[None]:
    env = {
        **os.environ,
        "BENCHMARK_VIEWS": "1",
        "CONN_MAX_AGE": "60",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
        "DEBUG": "False",
    }
    argv = [
        str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30",
        "--backlog", "256", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, start_new_session=True)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"gunicorn did not start (exit code {process.poll()})")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the command -----------------------------------------------------------------------------------------


@dataclass
class Data:
    store: Store
    free_items: list[Item]
    fixed_items: list[Item]
    hammer_slot_item: Item
    hammer_stock_item: Item
    members: list[Member]
    first_day: date
    days: int


class Command(BaseCommand):
    help = "Benchmark the member booking POST over HTTP against a trivial one-INSERT view (gunicorn)."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=32)
        parser.add_argument("--workers", type=int, default=4)
        parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
        parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured phase")
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--items", type=int, default=24, help="items of each reservation type")
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data afterwards.")

    def handle(self, *args, clients, workers, threads, seconds, rounds, items, keep, **options):
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        data = self._data(stamp, clients, items)
        try:
            self._run(data, clients=clients, workers=workers, threads=threads, seconds=seconds, rounds=rounds)
        finally:
            if not keep:
                self._clean(data)

    # --- data ------------------------------------------------------------------------------------------

    def _data(self, stamp: str, clients: int, count: int) -> Data:
        started = time.perf_counter()
        store = Store.objects.create(name=f"BENCH-{stamp}")
        today = timezone.localdate()
        first_day = today + timedelta(days=2)

        def item(code: str, *, fixed: bool, stock: int) -> Item:
            made = Item.objects.create(
                store=store, code=f"BENCH-{stamp}-{code}", name=f"Benchmark {code}", stock=stock,
                reservation_type=Item.ReservationType.FIXED if fixed else Item.ReservationType.FREE,
                price_type=Item.PriceType.NONE, uses_own_settings=True,
            )  # fmt: skip
            row = ReservationSettings.objects.create(
                item=made, time_step_minutes=60, min_minutes=60, book_ahead_days=0,
                booking_deadline_minutes=0, cancel_deadline_minutes=0,
            )  # fmt: skip
            for weekday in range(8):
                row.hours.create(weekday=weekday, opens_at="09:00", closes_at="21:00")
            if fixed:
                RepeatingEvent.objects.bulk_create(
                    RepeatingEvent(
                        item=made, weekday=weekday, starts_at=f"{hour:02d}:00", ends_at=f"{hour + 1:02d}:00"
                    )
                    for weekday in range(7)
                    for hour in HOURS
                )
            return made

        # Stock far above what a run can book: every booking of the throughput rounds must succeed.
        free_items = [item(f"F{n:03d}", fixed=False, stock=10_000) for n in range(count)]
        fixed_items = [item(f"S{n:03d}", fixed=True, stock=10_000) for n in range(count)]
        hammer_slot_item = item("HAMMER-SLOT", fixed=True, stock=HAMMER_CAPACITY)
        hammer_stock_item = item("HAMMER-STOCK", fixed=False, stock=HAMMER_STOCK)
        password = make_password(PASSWORD)  # hashed once: the members share it
        members = Member.objects.bulk_create(
            Member(
                email=f"bench-{stamp}-{n}@example.com",
                name=f"bench {n}",
                password=password,
                email_verified_at=timezone.now(),
            )
            for n in range(clients)
        )
        self.stdout.write(
            f"data: {len(free_items)} free-type and {len(fixed_items)} fixed-slot items, "
            f"{len(members)} members, built in {time.perf_counter() - started:.1f}s"
        )
        return Data(
            store, free_items, fixed_items, hammer_slot_item, hammer_stock_item, members, first_day, 56
        )

    def _clean(self, data: Data) -> None:
        items = [*data.free_items, *data.fixed_items, data.hammer_slot_item, data.hammer_stock_item]
        Reservation.objects.filter(item__in=items).delete()
        for item in items:
            item.delete()
        AcceptanceOverride.objects.filter(store=data.store).delete()
        data.store.delete()
        Member.objects.filter(pk__in=[m.pk for m in data.members]).update(is_active=False)

    # --- measuring ---------------------------------------------------------------------------------------

    def _run(self, data: Data, *, clients: int, workers: int, threads: int, seconds: float, rounds: int):
        self.stdout.write(
            f"queries per booking (in-process, same view, BEGIN and COMMIT included): "
            f"{self._queries_per_booking(data)}"
        )
        port = free_port()
        self.stdout.write(
            f"server: gunicorn on 127.0.0.1:{port}, {workers} gthread workers × {threads} threads, "
            f"CONN_MAX_AGE=60; {clients} client threads on keep-alive connections; {os.cpu_count()} CPUs"
        )
        with gunicorn(port, workers=workers, threads=threads):
            booking_page = reverse("site:book", args=[data.free_items[0].pk])
            browsers = [Browser(port) for _ in data.members]
            started = time.perf_counter()
            for browser, member in zip(browsers, data.members, strict=True):
                browser.log_in(member.email, booking_page)
            self.stdout.write(
                f"{clients} members logged in through the login form in {time.perf_counter() - started:.1f}s"
            )

            trivial_path = f"/{benchmark_views.PATH}"

            def trivial(index: int, k: int, browser: Browser):
                return (
                    "POST",
                    trivial_path,
                    {"store": data.store.pk, "csrfmiddlewaretoken": browser.token},
                    200,
                    "trivial",
                )

            booking = self._booking_requests(data, clients)
            run_phase(browsers, trivial, 1.0)  # warm-up: workers import everything, connections open
            run_phase(browsers, booking, 1.0)
            results: dict[str, list[PhaseResult]] = {"trivial": [], "booking": []}
            for number in range(rounds):
                order = ["trivial", "booking"] if number % 2 == 0 else ["booking", "trivial"]
                for name in order:
                    result = run_phase(browsers, trivial if name == "trivial" else booking, seconds)
                    results[name].append(result)
                    self.stdout.write(
                        f"  round {number + 1} {name:8}: {result.rate:7.1f}/s  "
                        f"p50 {result.percentile(0.5):6.1f} ms  p95 {result.percentile(0.95):6.1f} ms  "
                        f"errors {len(result.errors)}"
                    )
                    for error in result.errors[:3]:
                        self.stdout.write(f"    {error}")
            hammer = self._hammer(data, browsers)
        over = self._over_capacity(data)

        def median(name: str, value: Callable[[PhaseResult], float]) -> float:
            return statistics.median(value(result) for result in results[name])

        trivial_rate = median("trivial", lambda r: r.rate)
        booking_rate = median("booking", lambda r: r.rate)
        errors = sum(len(result.errors) for result in results["booking"])
        for name, label in (("trivial", "trivial one-INSERT view"), ("booking", "member booking POST")):
            self.stdout.write(
                f"{label}: {median(name, lambda r: r.rate):,.1f}/s, "
                f"p50 {median(name, lambda r: r.percentile(0.5)):.1f} ms, "
                f"p95 {median(name, lambda r: r.percentile(0.95)):.1f} ms (median of {rounds} rounds)"
            )
        for kind in ("free-type", "fixed slot"):
            p50 = median("booking", lambda r, kind=kind: r.percentile(0.5, kind))
            p95 = median("booking", lambda r, kind=kind: r.percentile(0.95, kind))
            self.stdout.write(f"  {kind} bookings: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        bookings = Reservation.objects.filter(
            item__store=data.store, status__in=Reservation.LIVE_STATUSES
        ).count()
        self.stdout.write(
            f"bookings refused or failed in the throughput rounds: {errors}; live bookings made: {bookings:,}"
        )
        self.stdout.write(hammer)
        self.stdout.write(f"over capacity afterwards: {over or 'none'}")
        self.stdout.write(f"ratio: {booking_rate / trivial_rate:.2f}")
        if over:
            raise CommandError(f"over capacity: {over}")

    def _booking_requests(self, data: Data, clients: int) -> Request:
        """Client i's k-th booking: free-type on even k, fixed-slot on odd k, each on an item, day and hour
        of its own (no two clients ever want the same unit: stock and capacity are far above the run's)."""
        rngs = [random.Random(index) for index in range(clients)]  # noqa: S311 - spreading, not secrets
        free_paths = [reverse("site:book", args=[item.pk]) for item in data.free_items]
        fixed_paths = [reverse("site:book", args=[item.pk]) for item in data.fixed_items]

        def make(index: int, k: int, browser: Browser):
            rng = rngs[index]
            day = data.first_day + timedelta(days=rng.randrange(data.days))
            hour = rng.choice(HOURS)
            fields = {"date": day.isoformat(), "quantity": 1, "step": "book", "payment_method": "free"}
            fields["csrfmiddlewaretoken"] = browser.token
            if k % 2 == 0:
                fields.update(start_time=f"{hour:02d}:00", end_time=f"{hour + 1:02d}:00")
                return "POST", rng.choice(free_paths), fields, 302, "free-type"
            fields["slot"] = f"{hour:02d}:00-{hour + 1:02d}:00"
            return "POST", rng.choice(fixed_paths), fields, 302, "fixed slot"

        return make

    def _queries_per_booking(self, data: Data) -> str:
        client = Client(HTTP_HOST="localhost")
        client.force_login(data.members[0])
        day = (data.first_day + timedelta(days=data.days + 1)).isoformat()
        counts = []
        for item, fields in (
            (data.free_items[0], {"start_time": "10:00", "end_time": "11:00"}),
            (data.fixed_items[0], {"slot": "10:00-11:00"}),
        ):
            post = {"date": day, "quantity": 1, "step": "book", "payment_method": "free", **fields}
            client.post(reverse("site:book", args=[item.pk]), post)  # warm (content types, templates)
            post["date"] = (data.first_day + timedelta(days=data.days + 2)).isoformat()
            with CaptureQueriesContext(connection) as queries:
                response = client.post(reverse("site:book", args=[item.pk]), post)
            if response.status_code != 302:
                raise CommandError(f"in-process booking of {item.code}: HTTP {response.status_code}")
            counts.append(len(queries))
        return f"{counts[0]} (free-type item), {counts[1]} (fixed slot)"

    def _hammer(self, data: Data, browsers: list[Browser]) -> str:
        """Every client books the same slot, and the same hour of an item of small stock, twice each."""
        day = data.first_day + timedelta(days=data.days + 3)
        slot_path = reverse("site:book", args=[data.hammer_slot_item.pk])
        stock_path = reverse("site:book", args=[data.hammer_stock_item.pk])
        outcomes = {"slot": [], "stock": []}
        lock = threading.Lock()
        barrier = threading.Barrier(len(browsers))

        def client(browser: Browser) -> None:
            barrier.wait()
            for _attempt in range(2):
                for kind, path, extra in (
                    ("slot", slot_path, {"slot": "10:00-11:00"}),
                    ("stock", stock_path, {"start_time": "10:00", "end_time": "11:00"}),
                ):
                    fields = {
                        "date": day.isoformat(),
                        "quantity": 1,
                        "step": "book",
                        "payment_method": "free",
                    }
                    status, _location, _body = browser.request(
                        "POST", path, {**fields, **extra, "csrfmiddlewaretoken": browser.token}
                    )
                    with lock:
                        outcomes[kind].append(status)

        for browser in browsers:
            browser.reconnect()
        threads = [threading.Thread(target=client, args=(browser,)) for browser in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        slot = Slot.objects.get(item=data.hammer_slot_item)
        slot_live = Reservation.objects.filter(
            item=data.hammer_slot_item, status__in=Reservation.LIVE_STATUSES
        )
        stock_live = Reservation.objects.filter(
            item=data.hammer_stock_item, status__in=Reservation.LIVE_STATUSES
        )
        booked_slot = outcomes["slot"].count(302)
        booked_stock = outcomes["stock"].count(302)
        exact = (
            booked_slot == slot.booked == slot_live.count() == HAMMER_CAPACITY
            and booked_stock == stock_live.count() == HAMMER_STOCK
        )
        return (
            f"hammer ({len(browsers)} clients × 2 attempts each): slot of capacity {HAMMER_CAPACITY} → "
            f"{booked_slot} booked (slot counter {slot.booked}); hour of stock {HAMMER_STOCK} → "
            f"{booked_stock} booked; refused: {len(outcomes['slot']) - booked_slot} + "
            f"{len(outcomes['stock']) - booked_stock}; "
            f"{'exactly the capacity' if exact else 'NOT exactly the capacity'}"
        )

    def _over_capacity(self, data: Data) -> list[str]:
        """Slots whose counter is above their capacity or differs from their live reservations, and free-type
        items with more units out at some instant than their stock."""
        problems = []
        slots = Slot.objects.filter(item__store=data.store)
        for slot in slots.filter(booked__gt=F("capacity")):
            problems.append(f"slot {slot.pk} booked {slot.booked} > capacity {slot.capacity}")
        live = dict(
            Reservation.objects.filter(slot__in=slots, status__in=Reservation.LIVE_STATUSES)
            .values_list("slot")
            .annotate(total=Sum("quantity"))
        )
        for slot in slots:
            if live.get(slot.pk, 0) != slot.booked:
                problems.append(f"slot {slot.pk} counter {slot.booked} != live places {live.get(slot.pk, 0)}")
        for item in [*data.free_items, data.hammer_stock_item]:
            rows = list(
                Reservation.objects.filter(item=item, status__in=Reservation.LIVE_STATUSES).values_list(
                    "starts_at", "ends_at", "quantity"
                )
            )
            if rows:
                start = min(row[0] for row in rows)
                end = max(row[1] for row in rows)
                peak = peak_quantity(rows, start, end)
                if peak > item.stock:
                    problems.append(f"item {item.code}: {peak} out at once > stock {item.stock}")
        return problems
