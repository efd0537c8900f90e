"""Never oversell, proven with bookings that really run in parallel: each thread has its own PostgreSQL
connection and they are released together by a barrier. A control run with the lock switched off shows
the race, so these tests are known to bite."""

import random
import threading
import time as clock
from collections import Counter
from datetime import date, time, timedelta

import pytest
from django.db import connection

from inventory import availability, locks, services
from inventory.exceptions import SlotFullError, SoldOutError
from inventory.models import Item, Reservation, Slot
from inventory.tests.factories import ItemFactory, RepeatingEventFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from tests.parallel import run_together

pytestmark = pytest.mark.django_db(transaction=True)

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


def run_in_parallel(attempts: list[dict]) -> Counter:
    """Call reservation_create once per attempt, all at the same instant; count the outcomes by type."""
    return run_together(
        [
            lambda kwargs=kwargs: services.reservation_create(
                payment_method="free", now=NOW, by=kwargs["member"], **kwargs
            )
            for kwargs in attempts
        ],
        expected=(SoldOutError, SlotFullError),
    )


def peak_units(item: Item) -> int:
    """The most live units out at any instant, from the reservations themselves."""
    live = list(
        Reservation.objects.filter(item=item, status__in=Reservation.LIVE_STATUSES).values_list(
            "starts_at", "ends_at", "quantity"
        )
    )
    return availability.peak_quantity(live, jst(MONDAY, "00:00"), jst(MONDAY + timedelta(days=1), "00:00"))


@pytest.fixture
def settings_row():
    return ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")))


@pytest.mark.parametrize("capacity", [1, 5])
def test_fifty_parallel_bookings_of_a_slot_give_exactly_its_capacity(settings_row, capacity):
    # given a lesson slot with `capacity` places and 50 members
    item = ItemFactory(fixed=True, stock=capacity)
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11))
    members = MemberFactory.create_batch(50)
    attempts = [
        {"member": m, "item": item, "starts_at": jst(MONDAY, "10:00"), "ends_at": jst(MONDAY, "11:00")}
        for m in members
    ]
    # when all 50 book at once
    outcomes = run_in_parallel(attempts)
    # then exactly `capacity` succeed, the rest are told the slot is full
    assert outcomes == Counter({"booked": capacity, "SlotFullError": 50 - capacity})
    assert Reservation.objects.filter(item=item).count() == capacity
    assert Slot.objects.get(item=item).booked == capacity


def _overlapping_ranges(seed: int, count: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    ranges = []
    for _ in range(count):
        start = rng.randrange(10 * 60, 17 * 60, 30)
        end = rng.randrange(start + 30, 18 * 60 + 1, 30)
        ranges.append(
            (f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}", rng.choice([1, 1, 2]))
        )
    return ranges


def test_stock_three_with_many_overlapping_ranges_never_exceeds_three(settings_row):
    # given stock 3 and 40 members booking random overlapping ranges (1 or 2 units) at the same instant
    item = ItemFactory(stock=3)
    members = MemberFactory.create_batch(40)
    attempts = [
        {"member": m, "item": item, "starts_at": jst(MONDAY, s), "ends_at": jst(MONDAY, e), "quantity": q}
        for m, (s, e, q) in zip(members, _overlapping_ranges(seed=20261123, count=40), strict=True)
    ]
    # when
    outcomes = run_in_parallel(attempts)
    # then only sold-out refusals, some bookings, and never more than 3 units out at any instant
    assert set(outcomes) <= {"booked", "SoldOutError"}, outcomes
    assert outcomes["booked"] >= 1
    assert outcomes["SoldOutError"] >= 1
    assert peak_units(item) <= 3


def _slow_peak(real):
    """The stock check, slowed down so that parallel bookings overlap between check and insert."""

    def slow(*args, **kwargs):
        result = real(*args, **kwargs)
        clock.sleep(0.05)
        return result

    return slow


def test_the_item_lock_holds_even_when_the_check_is_slow(settings_row, monkeypatch):
    # given stock 3, a slow stock check, and 20 members all wanting the same hour
    monkeypatch.setattr(services, "peak_quantity", _slow_peak(availability.peak_quantity))
    item = ItemFactory(stock=3)
    attempts = [
        {"member": m, "item": item, "starts_at": jst(MONDAY, "10:00"), "ends_at": jst(MONDAY, "11:00")}
        for m in MemberFactory.create_batch(20)
    ]
    # when
    outcomes = run_in_parallel(attempts)
    # then
    assert outcomes == Counter({"booked": 3, "SoldOutError": 17})
    assert peak_units(item) == 3


def test_control_without_the_item_lock_the_race_oversells(settings_row, monkeypatch):
    # given the same bookings with the row lock switched off (a plain read instead of SELECT … FOR UPDATE)
    monkeypatch.setattr(services, "peak_quantity", _slow_peak(availability.peak_quantity))
    monkeypatch.setattr(
        locks,
        "item_stock_for_update",
        lambda item_id: Item.objects.values_list("stock", flat=True).get(pk=item_id),
    )
    item = ItemFactory(stock=3)
    attempts = [
        {"member": m, "item": item, "starts_at": jst(MONDAY, "10:00"), "ends_at": jst(MONDAY, "11:00")}
        for m in MemberFactory.create_batch(20)
    ]
    # when
    outcomes = run_in_parallel(attempts)
    # then more than the stock is booked: the guard is what prevents it
    assert outcomes["booked"] > 3
    assert peak_units(item) > 3


def test_parallel_cancellations_give_back_each_place_once(settings_row):
    # given a full slot of 5
    item = ItemFactory(fixed=True, stock=5)
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11))
    reservations = [
        services.reservation_create(
            member=m, by=m, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"),
            payment_method="free", now=NOW,
        )
        for m in MemberFactory.create_batch(5)
    ]  # fmt: skip
    staff = MemberFactory(is_staff=True)
    barrier = threading.Barrier(10)
    errors = []

    def cancel(reservation):
        try:
            barrier.wait()
            services.reservation_cancel(reservation=reservation, by=staff, as_staff=True, now=NOW)
        except Exception as error:
            errors.append(type(error).__name__)
        finally:
            connection.close()

    # when every reservation is cancelled twice at the same instant
    threads = [threading.Thread(target=cancel, args=(r,)) for r in reservations * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then each cancel lands once, the second is refused, and the slot is empty again (not negative)
    assert sorted(errors) == ["CancelError"] * 5
    assert Slot.objects.get(item=item).booked == 0
