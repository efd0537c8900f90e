"""The month calendar's marks (○ free, △ partly full, × full or closed), whose free-type peaks PostgreSQL
sums up (availability.segment_peaks_in_db), checked against the Python sweep they replace and at the
edges: a booking across midnight JST, a closed day, a partly full day, stock 0.

June 2027 has no national holiday; 06-07 is a Monday.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import pytest

from core.periods import JST
from inventory.availability import (
    ItemSchedule,
    bookings_by_day,
    item_availability,
    live_bookings,
    month_availability,
    segment_peaks_in_db,
)
from inventory.models import Reservation
from inventory.tests.factories import (
    AcceptanceOverrideFactory,
    ItemFactory,
    RepeatingEventFactory,
    ReservationFactory,
    ReservationSettingsFactory,
    SlotFactory,
    jst,
)
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MON = date(2027, 6, 7)
TUE = MON + timedelta(days=1)
WED = MON + timedelta(days=2)


def marks(item, first: date, last: date) -> dict[date, str]:
    return {day.date: day.mark for day in item_availability(item, first, last, now=NOW)}


@pytest.fixture
def rental():
    item = ItemFactory(stock=2)
    ReservationSettingsFactory(item=item, book_ahead_days=0)
    return item


def test_month_marks_and_segments_match_the_python_sweep():
    # given an item open all day, bookings of every length (some across midnight, some cancelled)
    item = ItemFactory(stock=4)
    ReservationSettingsFactory(
        item=item, book_ahead_days=0, time_step_minutes=30, hours=dict.fromkeys(range(8), ("00:00", "23:30"))
    )
    AcceptanceOverrideFactory(item=item, start_date=date(2027, 7, 20), end_date=date(2027, 7, 21))
    rng = random.Random(7)  # noqa: S311 - reproducible data
    member = MemberFactory()
    rows = []
    for _ in range(600):
        start = jst(date(2027, 6, 28), "00:00") + timedelta(minutes=15 * rng.randrange(4 * 24 * 36))
        rows.append(
            Reservation(
                member=member,
                item=item,
                store_id=item.store_id,
                starts_at=start,
                ends_at=start + timedelta(minutes=15 * rng.randrange(1, 4 * 8)),
                quantity=rng.choice([1, 1, 2]),
                status=rng.choice([Reservation.Status.CONFIRMED, Reservation.Status.CANCELLED]),
                payment_method="free",
            )
        )
    Reservation.objects.bulk_create(rows)
    first, last = date(2027, 7, 1), date(2027, 7, 31)
    # when
    days = month_availability(item, 2027, 7, now=NOW)
    # then every day is what the sweep over Python datetimes gave
    schedule = ItemSchedule(item, first, last)
    by_day = bookings_by_day(live_bookings(item, schedule.range_start, schedule.range_end))
    expected = [
        schedule.day(first + timedelta(days=n), by_day.get(first + timedelta(days=n), [])) for n in range(31)
    ]
    assert [(d.date, d.is_open, d.reason, d.segments) for d in days] == [
        (d.date, d.is_open, d.reason, d.segments) for d in expected
    ]
    assert {day.mark for day in days} == {"○", "△", "×"}


def test_a_booking_across_midnight_jst_counts_on_both_days():
    # given open 00:00–23:30 every day, stock 1, one booking Monday 22:00 → Tuesday 02:00 JST
    item = ItemFactory(stock=1)
    ReservationSettingsFactory(
        item=item, book_ahead_days=0, hours=dict.fromkeys(range(8), ("00:00", "23:30"))
    )
    ReservationFactory(item=item, starts_at=jst(MON, "22:00"), ends_at=jst(TUE, "02:00"))
    # when
    days = {day.date: day for day in item_availability(item, MON, WED, now=NOW)}
    # then both days are partly full, only in the booked hours; Wednesday is free
    assert [days[d].mark for d in (MON, TUE, WED)] == ["△", "△", "○"]
    full = {d: [(s.starts_at, s.ends_at) for s in days[d].segments if s.remaining == 0] for d in (MON, TUE)}
    assert full[MON][0][0] == jst(MON, "22:00")
    assert full[MON][-1][1] == jst(MON, "23:30")
    assert full[TUE][0][0] == jst(TUE, "00:00")
    assert full[TUE][-1][1] == jst(TUE, "02:00")


def test_a_booking_over_a_whole_day_fills_it():
    item = ItemFactory(stock=1)
    ReservationSettingsFactory(
        item=item, book_ahead_days=0, hours=dict.fromkeys(range(8), ("10:00", "18:00"))
    )
    ReservationFactory(item=item, starts_at=jst(MON, "20:00"), ends_at=jst(WED, "09:00"))
    assert marks(item, MON, WED) == {MON: "○", TUE: "×", WED: "○"}


def test_a_closed_day_is_crossed_out_whatever_is_booked(rental):
    AcceptanceOverrideFactory(store=rental.store, start_date=TUE, end_date=TUE)
    days = {day.date: day for day in item_availability(rental, MON, WED, now=NOW)}
    assert [days[d].mark for d in (MON, TUE, WED)] == ["○", "×", "○"]
    assert (days[TUE].is_open, days[TUE].reason, days[TUE].segments) == (False, "closed", [])


def test_a_day_partly_full_and_a_day_full(rental):
    # given stock 2: Monday full 10:00–12:00 only, Tuesday full all day (10:00–18:00), Wednesday 1 of 2
    ReservationFactory(item=rental, starts_at=jst(MON, "10:00"), ends_at=jst(MON, "12:00"), quantity=2)
    ReservationFactory(item=rental, starts_at=jst(TUE, "09:00"), ends_at=jst(TUE, "18:00"), quantity=2)
    ReservationFactory(item=rental, starts_at=jst(WED, "10:00"), ends_at=jst(WED, "18:00"), quantity=1)
    days = {day.date: day for day in item_availability(rental, MON, WED, now=NOW)}
    assert [days[d].mark for d in (MON, TUE, WED)] == ["△", "×", "○"]
    assert [days[d].remaining for d in (MON, TUE, WED)] == [2, 0, 1]


def test_a_booking_ending_as_another_starts_does_not_add_up(rental):
    # given 10:00–11:00 and 11:00–12:00, one unit each, and a third 10:15–10:45: at most 2 out at once
    for start, end in [("10:00", "11:00"), ("11:00", "12:00"), ("10:15", "10:45")]:
        ReservationFactory(item=rental, starts_at=jst(MON, start), ends_at=jst(MON, end))
    day = item_availability(rental, MON, MON, now=NOW)[0]
    by_start = {f"{s.starts_at.astimezone(JST):%H:%M}": s.remaining for s in day.segments}
    assert by_start["10:00"] == 0  # 10:15–10:30 has both
    assert by_start["10:30"] == 0
    assert by_start["11:00"] == 1
    assert by_start["11:30"] == 1
    assert by_start["12:00"] == 2


def test_no_units_left_crosses_out_the_day():
    # given an item of stock 1 (the least an item may have: a CHECK constraint), booked all Monday
    item = ItemFactory(stock=1)
    ReservationSettingsFactory(item=item, book_ahead_days=0)
    ReservationFactory(item=item, starts_at=jst(MON, "10:00"), ends_at=jst(MON, "18:00"))
    days = item_availability(item, MON, TUE, now=NOW)
    assert [day.mark for day in days] == ["×", "○"]
    assert days[0].is_open
    assert days[0].remaining == 0
    assert {segment.remaining for segment in days[0].segments} == {0}


def test_a_slot_of_capacity_zero_is_full():
    # given a fixed item's Monday slot whose row was left at capacity 0, and a free Monday slot
    item = ItemFactory(fixed=True, stock=3)
    ReservationSettingsFactory(item=item, book_ahead_days=0)
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11))
    SlotFactory(item=item, starts_at=jst(MON, "10:00"), ends_at=jst(MON, "11:00"), capacity=0)
    days = item_availability(item, MON, MON + timedelta(days=7), now=NOW)
    assert (days[0].mark, days[0].remaining) == ("×", 0)
    assert (days[7].mark, days[7].remaining) == ("○", 3)


def test_cancelled_and_completed_bookings_do_not_count(rental):
    ReservationFactory(
        item=rental, starts_at=jst(MON, "10:00"), ends_at=jst(MON, "18:00"), quantity=2, cancelled=True
    )
    ReservationFactory(
        item=rental, starts_at=jst(TUE, "10:00"), ends_at=jst(TUE, "18:00"), quantity=2, completed=True
    )
    assert marks(rental, MON, TUE) == {MON: "○", TUE: "○"}


def test_the_month_takes_the_same_few_queries_however_many_bookings(rental, django_assert_num_queries):
    # given one booking: the settings with their hours and the closures (one query), the peaks (one)
    ReservationFactory(item=rental, starts_at=jst(MON, "10:00"), ends_at=jst(MON, "11:00"))
    with django_assert_num_queries(2):
        month_availability(rental, 2027, 6, now=NOW)
    # when 50 more bookings exist, then the same queries
    for n in range(50):
        day = MON + timedelta(days=n % 20)
        ReservationFactory(item=rental, starts_at=jst(day, "12:00"), ends_at=jst(day, "13:00"))
    with django_assert_num_queries(2):
        month_availability(rental, 2027, 6, now=NOW)


def test_segment_peaks_in_db_of_no_segments_is_empty(rental):
    assert segment_peaks_in_db(rental, []) == []
