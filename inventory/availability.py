"""What can be booked: one selector for the calendar, the day view and the booking checks.

All days are JST calendar days. A day's acceptance window comes from the item's effective reservation
settings (general or 個別予約設定): the hours for its weekday, or the 祝 row on a national holiday when one
is set. Manual acceptance (手動受付設定) closes dates for a store or an item, and opens dates for items
whose schedule is irregular. Reads take a constant number of queries per call, whatever the data size.
"""

from __future__ import annotations

import calendar
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from core.periods import JST
from inventory.exceptions import (
    ClosedError,
    InvalidLengthError,
    NoSuchSlotError,
    OutOfHoursError,
    TooEarlyError,
    TooLateError,
)
from inventory.models import (
    AcceptanceHours,
    AcceptanceOverride,
    IrregularEvent,
    Item,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    Slot,
)
from inventory.pricing import HOLIDAY, is_japanese_holiday


@dataclass(frozen=True)
class Window:
    opens: datetime
    closes: datetime


@dataclass
class SlotAvailability:
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)


@dataclass
class Segment:
    """One time step of a free-type day with the units still free in it."""

    starts_at: datetime
    ends_at: datetime
    remaining: int


@dataclass
class DayAvailability:
    date: date
    is_open: bool
    reason: str = ""  # "closed", "no_hours", "not_opened" (irregular), "past", "not_yet"
    window: Window | None = None
    slots: list[SlotAvailability] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Units bookable at the best moment of the day (0: nothing left)."""
        values = [s.remaining for s in self.slots] + [s.remaining for s in self.segments]
        return max(values, default=0)

    @property
    def mark(self) -> str:
        """The calendar's ○ (free), △ (partly full), × (full or closed)."""
        if not self.is_open:
            return "×"
        values = [s.remaining for s in self.slots] + [s.remaining for s in self.segments]
        if not values or max(values) == 0:
            return "×"
        return "○" if min(values) > 0 else "△"


def aware(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=JST)


def local(dt: datetime) -> datetime:
    return timezone.localtime(dt, JST)


def load_settings(item: Item) -> ReservationSettings:
    """Item.reservation_settings() (its own settings, else the general ones) with the acceptance hours, in
    one query (the hours LEFT JOINed) instead of two: every booking and calendar reads them."""
    names = [field.attname for field in ReservationSettings._meta.concrete_fields]
    item_index = names.index("item_id")
    wanted = Q(item__isnull=True) | Q(item_id=item.pk) if item.uses_own_settings else Q(item__isnull=True)
    rows = list(
        ReservationSettings.objects.filter(wanted)
        .order_by()
        .values_list(*names, "hours__id", "hours__weekday", "hours__opens_at", "hours__closes_at")
    )
    chosen = [row for row in rows if row[item_index] == item.pk] if item.uses_own_settings else []
    chosen = chosen or [row for row in rows if row[item_index] is None]
    if not chosen:  # no general row yet: reservation_settings() makes it
        return item.reservation_settings()
    settings = ReservationSettings.from_db("default", names, chosen[0][: len(names)])
    hours = sorted(
        (
            AcceptanceHours.from_db(
                "default",
                ["id", "settings_id", "weekday", "opens_at", "closes_at"],
                (row[-4], settings.pk, *row[-3:]),
            )
            for row in chosen
            if row[-4] is not None
        ),
        key=lambda row: row.weekday,
    )
    prefetched = settings.hours.all()
    prefetched._result_cache, prefetched._prefetch_done = hours, True
    settings._prefetched_objects_cache = {"hours": prefetched}
    return settings


def _rules_sql() -> str:
    qn = connection.ops.quote_name
    settings_meta, hours_meta = ReservationSettings._meta, AcceptanceHours._meta
    columns = ", ".join(f"s.{qn(field.column)}" for field in settings_meta.concrete_fields)
    return f"""
SELECT {columns},
    (SELECT COALESCE(json_agg(json_build_array(h.id, h.weekday, h.opens_at, h.closes_at)), '[]')::text
        FROM {qn(hours_meta.db_table)} h WHERE h.settings_id = s.id),
    (SELECT COALESCE(json_agg(json_build_array(o.id, o.item_id, o.kind, o.start_date, o.end_date)
                              ORDER BY o.start_date, o.id), '[]')::text
        FROM {qn(AcceptanceOverride._meta.db_table)} o
        WHERE (o.item_id = %(item)s OR (o.item_id IS NULL AND o.store_id = %(store)s))
            AND o.start_date <= %(last)s AND o.end_date >= %(first)s)
FROM {qn(settings_meta.db_table)} s
WHERE s.item_id IS NULL OR (%(own)s AND s.item_id = %(item)s)
"""  # noqa: S608 - table and column names from the models


def load_rules(item: Item, first: date, last: date) -> tuple[ReservationSettings, list[AcceptanceOverride]]:
    """What load_settings returns, and the closures and openings (手動受付設定) touching first…last, in one
    round trip: a booking needs both before anything else."""
    with connection.cursor() as cursor:
        cursor.execute(
            _rules_sql(),
            {
                "item": item.pk,
                "store": item.store_id,
                "own": item.uses_own_settings,
                "first": first,
                "last": last,
            },
        )
        rows = cursor.fetchall()
    names = [field.attname for field in ReservationSettings._meta.concrete_fields]
    item_index = names.index("item_id")
    row = next((row for row in rows if item.uses_own_settings and row[item_index] == item.pk), None)
    row = row or next((row for row in rows if row[item_index] is None), None)
    if row is None:  # no general row yet: reservation_settings() makes it
        settings = item.reservation_settings()
        overrides = list(
            AcceptanceOverride.objects.filter(
                Q(item=item) | Q(item__isnull=True, store_id=item.store_id),
                start_date__lte=last,
                end_date__gte=first,
            )
        )
        return settings, overrides
    settings = ReservationSettings.from_db("default", names, row[: len(names)])
    hours = sorted(
        (
            AcceptanceHours.from_db(
                "default",
                ["id", "settings_id", "weekday", "opens_at", "closes_at"],
                (pk, settings.pk, weekday, time.fromisoformat(opens), time.fromisoformat(closes)),
            )
            for pk, weekday, opens, closes in json.loads(row[-2])
        ),
        key=lambda hours_row: hours_row.weekday,
    )
    prefetched = settings.hours.all()
    prefetched._result_cache, prefetched._prefetch_done = hours, True
    settings._prefetched_objects_cache = {"hours": prefetched}
    overrides = [
        AcceptanceOverride(
            pk=pk,
            store_id=item.store_id,
            item_id=item_id,
            kind=kind,
            start_date=date.fromisoformat(start),
            end_date=date.fromisoformat(end),
        )
        for pk, item_id, kind, start, end in json.loads(row[-1])
    ]
    return settings, overrides


class ItemSchedule:
    """Loads once what decides availability for one item over a date range, then answers per day.

    Only the repeating events of the range's weekdays are read (a booking reads one weekday's), and the
    slot rows only when a day is first asked for (a booking checks occurrences, not what is booked)."""

    def __init__(self, item: Item, first: date, last: date, *, settings: ReservationSettings | None = None):
        self.item = item
        self.first, self.last = first, last
        if settings is None:
            self.settings, self.overrides = load_rules(item, first, last)
        else:
            self.settings = settings
            self.overrides = list(
                AcceptanceOverride.objects.filter(
                    Q(item=item) | Q(item__isnull=True, store_id=item.store_id),
                    start_date__lte=last,
                    end_date__gte=first,
                )
            )
        self.hours = {row.weekday: row for row in self.settings.hours.all()}
        self.fixed = item.reservation_type == Item.ReservationType.FIXED
        self.range_start = aware(first, time.min)
        self.range_end = aware(last + timedelta(days=1), time.min)
        self._slots: dict[tuple[datetime, datetime], Slot] | None = None
        if self.fixed:
            self.load_events()

    def load_events(self) -> None:
        """(Re)read the fixed-type events of the range, repeating and irregular in one query: a booking
        calls it again once it holds the item's key-share lock, so a capacity edit committed meanwhile is
        seen (inventory.locks.item_key_share)."""
        weekdays, d = set(), self.first
        while d <= self.last and len(weekdays) < 7:
            weekdays.add(d.weekday())
            d += timedelta(days=1)
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT true, id, weekday, NULL::date, starts_at, ends_at, capacity, valid_from, valid_until
                FROM {qn(RepeatingEvent._meta.db_table)}
                WHERE item_id = %(item)s AND weekday = ANY(%(weekdays)s)
                    AND (valid_from IS NULL OR valid_from <= %(last)s)
                    AND (valid_until IS NULL OR valid_until >= %(first)s)
                UNION ALL
                SELECT false, id, NULL, date, starts_at, ends_at, capacity, NULL, NULL
                FROM {qn(IrregularEvent._meta.db_table)}
                WHERE item_id = %(item)s AND date >= %(first)s AND date <= %(last)s
                """,  # noqa: S608 - table names from the models
                {"item": self.item.pk, "weekdays": sorted(weekdays), "first": self.first, "last": self.last},
            )
            rows = cursor.fetchall()
        repeating_fields = [
            "id",
            "item_id",
            "weekday",
            "starts_at",
            "ends_at",
            "capacity",
            "valid_from",
            "valid_until",
        ]
        irregular_fields = ["id", "item_id", "date", "starts_at", "ends_at", "capacity"]
        self.repeating = [
            RepeatingEvent.from_db("default", repeating_fields, (pk, self.item.pk, weekday, *rest))
            for is_repeating, pk, weekday, _date, *rest in rows
            if is_repeating
        ]
        self.irregular = [
            IrregularEvent.from_db(
                "default", irregular_fields, (pk, self.item.pk, day, starts, ends, capacity)
            )
            for is_repeating, pk, _weekday, day, starts, ends, capacity, *_validity in rows
            if not is_repeating
        ]

    @property
    def slots(self) -> dict[tuple[datetime, datetime], Slot]:
        if self._slots is None:
            self._slots = {
                (s.starts_at, s.ends_at): s
                for s in Slot.objects.filter(
                    item=self.item, starts_at__lt=self.range_end, ends_at__gt=self.range_start
                )
            }
        return self._slots

    # --- opening -------------------------------------------------------------------------------

    def _covered(self, d: date, kind: str) -> bool:
        return any(o.kind == kind and o.start_date <= d <= o.end_date for o in self.overrides)

    def is_closed(self, d: date) -> bool:
        return self._covered(d, AcceptanceOverride.Kind.CLOSED)

    def window(self, d: date) -> Window | None:
        row = self.hours.get(HOLIDAY) if is_japanese_holiday(d) else None
        row = row or self.hours.get(d.weekday())
        if row is None:
            return None
        return Window(aware(d, row.opens_at), aware(d, row.closes_at))

    def occurrences(self, d: date) -> list[tuple[datetime, datetime, int]]:
        found = []
        for event in self.repeating:
            if event.weekday != d.weekday():
                continue
            if (event.valid_from and d < event.valid_from) or (event.valid_until and d > event.valid_until):
                continue
            found.append(
                (aware(d, event.starts_at), aware(d, event.ends_at), event.capacity or self.item.stock)
            )
        for event in self.irregular:
            if event.date == d:
                found.append(
                    (aware(d, event.starts_at), aware(d, event.ends_at), event.capacity or self.item.stock)
                )
        return sorted(set(found))

    # --- per day ----------------------------------------------------------------------------------

    def day(self, d: date, live: list[tuple[datetime, datetime, int]] | None = None) -> DayAvailability:
        """The day's availability; for a free-type item, `live` holds the bookings touching the day (None:
        their peaks are read from the database)."""
        if self.is_closed(d):
            return DayAvailability(d, False, "closed")
        if self.fixed:
            slots = []
            for starts, ends, capacity in self.occurrences(d):
                made = self.slots.get((starts, ends))
                slots.append(
                    SlotAvailability(
                        starts, ends, made.capacity if made else capacity, made.booked if made else 0
                    )
                )
            return DayAvailability(d, bool(slots), "" if slots else "no_hours", slots=slots)
        opening = self.free_opening(d)
        if isinstance(opening, DayAvailability):
            return opening
        window, boundaries = opening
        peaks = (
            segment_peaks(live, boundaries)
            if live is not None
            else segment_peaks_in_db(self.item, list(itertools.pairwise(boundaries)))
        )
        return self.free_day(d, window, boundaries, peaks)

    def free_opening(self, d: date) -> DayAvailability | tuple[Window, list[datetime]]:
        """A free-type day that is not closed: its window and the boundaries of its time steps; else the
        closed day."""
        if self.is_closed(d):
            return DayAvailability(d, False, "closed")
        if self.settings.schedule == ReservationSettings.Schedule.IRREGULAR and not self._covered(
            d, AcceptanceOverride.Kind.OPEN
        ):
            return DayAvailability(d, False, "not_opened")
        window = self.window(d)
        if window is None:
            return DayAvailability(d, False, "no_hours")
        step = timedelta(minutes=self.settings.time_step_minutes)
        boundaries = [window.opens]
        while boundaries[-1] < window.closes:
            boundaries.append(min(boundaries[-1] + step, window.closes))
        return window, boundaries

    def free_day(
        self, d: date, window: Window, boundaries: list[datetime], peaks: list[int]
    ) -> DayAvailability:
        segments = [
            Segment(boundaries[i], boundaries[i + 1], max(self.item.stock - peak, 0))
            for i, peak in enumerate(peaks)
        ]
        return DayAvailability(d, True, window=window, segments=segments)


def merged_segments(day: DayAvailability) -> list[Segment]:
    """A free-type day's time steps with consecutive ones of the same places left merged, for a list of
    times (10:00–13:00: 2 left), as new Segments (the day's own are left as they are)."""
    merged: list[Segment] = []
    for segment in day.segments:
        last = merged[-1] if merged else None
        if last and last.ends_at == segment.starts_at and last.remaining == segment.remaining:
            last.ends_at = segment.ends_at
        else:
            merged.append(Segment(segment.starts_at, segment.ends_at, segment.remaining))
    return merged


def peak_quantity(live: Iterable[tuple[datetime, datetime, int]], start: datetime, end: datetime) -> int:
    """The most units out at any instant of [start, end) among (start, end, quantity) bookings."""
    events = []
    for s, e, q in live:
        if s < end and e > start:
            events.append((max(s, start), q))
            events.append((min(e, end), -q))
    events.sort(key=lambda pair: (pair[0], pair[1]))  # at equal instants, returns (-q) come first
    peak = current = 0
    for _instant, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def segment_peaks(live: Iterable[tuple[datetime, datetime, int]], boundaries: list[datetime]) -> list[int]:
    """For consecutive segments [b0, b1), [b1, b2), … the most units out at any instant of each, in one
    sweep over the bookings (sorted once) instead of one pass over all bookings per segment."""
    first, last = boundaries[0], boundaries[-1]
    events = []
    for s, e, q in live:
        if s < last and e > first:
            events.append((max(s, first), q))
            events.append((min(e, last), -q))
    events.sort(key=lambda pair: (pair[0], pair[1]))
    peaks, current, k = [], 0, 0
    for seg_start, seg_end in itertools.pairwise(boundaries):
        while k < len(events) and events[k][0] <= seg_start:
            current += events[k][1]
            k += 1
        peak = current
        while k < len(events) and events[k][0] < seg_end:
            current += events[k][1]
            k += 1
            peak = max(peak, current)
        peaks.append(peak)
    return peaks


# The same peaks as segment_peaks, computed by PostgreSQL for many segments at once (a month's calendar):
# the bookings' starts (+quantity) and ends (-quantity) and the segments' edges are put on one timeline;
# a running sum gives the units out from each instant on, and each instant belongs to the segment whose
# start edge came last (none after a segment's end edge, before the next start). A segment's peak is the
# highest level among its instants, its own start included. Only one row of integers comes back: no
# booking's datetimes are turned into Python objects.
SEGMENT_PEAKS_SQL = """
WITH seg AS (
    SELECT s.a, s.b, s.n FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[])
        WITH ORDINALITY AS s(a, b, n)
), booking AS (
    SELECT starts_at, ends_at, quantity FROM {reservation}
    WHERE item_id = %(item)s AND status = ANY(%(live)s) AND starts_at < %(last)s AND ends_at > %(first)s
), event AS (
    SELECT starts_at AS t, quantity AS d, NULL::bigint AS n, false AS edge FROM booking
    UNION ALL SELECT ends_at, -quantity, NULL, false FROM booking
    UNION ALL SELECT a, 0, n, true FROM seg
    UNION ALL SELECT b, 0, NULL, true FROM seg
), instant AS (
    SELECT t, SUM(d) AS d, MAX(n) AS n, bool_or(edge) AS edge FROM event GROUP BY t
), level AS (
    SELECT n, (SUM(d) OVER w)::bigint AS level, COUNT(*) FILTER (WHERE edge) OVER w AS part
    FROM instant WINDOW w AS (ORDER BY t)
), tagged AS (
    SELECT level, MAX(n) OVER (PARTITION BY part) AS n FROM level
)
SELECT COALESCE(array_agg(peak ORDER BY n), '{{}}')
FROM (SELECT n, MAX(level)::int AS peak FROM tagged WHERE n IS NOT NULL GROUP BY n) AS peaks
"""


def segment_peaks_in_db(item: Item, segments: list[tuple[datetime, datetime]]) -> list[int]:
    """For each (start, end) segment (in time order, not overlapping), the most units of `item` out at any
    instant of it among its live bookings, in one query whatever the number of bookings or segments."""
    if not segments:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            SEGMENT_PEAKS_SQL.format(reservation=Reservation._meta.db_table),
            {
                "starts": [a for a, _b in segments],
                "ends": [b for _a, b in segments],
                "item": item.pk,
                "live": [str(status) for status in Reservation.LIVE_STATUSES],
                "first": segments[0][0],
                "last": segments[-1][1],
            },
        )
        peaks = cursor.fetchone()[0]
    if len(peaks) != len(segments):  # two segments starting at one instant: not what a calendar makes
        raise ValueError("segment_peaks_in_db: segments must not overlap")
    return peaks


def bookings_by_day(live: Iterable[tuple[datetime, datetime, int]]) -> dict[date, list]:
    """Each booking under every JST day it touches, so a day's sweep sees only its own bookings."""
    by_day: dict[date, list] = {}
    for booking in live:
        d, last = local(booking[0]).date(), (local(booking[1]) - timedelta(microseconds=1)).date()
        while d <= last:
            by_day.setdefault(d, []).append(booking)
            d += timedelta(days=1)
    return by_day


def live_bookings(item: Item, start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
    """(starts_at, ends_at, quantity) of the item's live bookings overlapping start…end. Plain SQL: every
    free-type booking runs it, under its item's lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT starts_at, ends_at, quantity FROM {Reservation._meta.db_table} "  # noqa: S608
            "WHERE item_id = %s AND status = ANY(%s) AND starts_at < %s AND ends_at > %s",
            [item.pk, [str(status) for status in Reservation.LIVE_STATUSES], end, start],
        )
        return cursor.fetchall()


def item_availability(
    item: Item,
    first: date,
    last: date,
    *,
    now: datetime | None = None,
    schedule: ItemSchedule | None = None,
) -> list[DayAvailability]:
    """Per-day availability of `item` from `first` to `last` inclusive (the calendar and the day view).
    `schedule` is an ItemSchedule already loaded for (at least) those days. A free-type item's bookings
    are summed up by PostgreSQL (segment_peaks_in_db), one query for the whole range."""
    now = now or timezone.now()
    schedule = schedule or ItemSchedule(item, first, last)
    today = local(now).date()
    horizon = (
        today + timedelta(days=schedule.settings.book_ahead_days)
        if schedule.settings.book_ahead_days
        else None
    )
    days: list[DayAvailability | None] = []
    opened: list[tuple[int, date, Window, list[datetime]]] = []  # free-type days waiting for their peaks
    d = first
    while d <= last:
        if d < today:
            days.append(DayAvailability(d, False, "past"))
        elif horizon and d > horizon:
            days.append(DayAvailability(d, False, "not_yet"))
        elif schedule.fixed:
            days.append(schedule.day(d))
        else:
            opening = schedule.free_opening(d)
            if isinstance(opening, DayAvailability):
                days.append(opening)
            else:
                opened.append((len(days), d, *opening))
                days.append(None)
        d += timedelta(days=1)
    if opened:
        segments = [pair for *_head, boundaries in opened for pair in itertools.pairwise(boundaries)]
        peaks = iter(segment_peaks_in_db(item, segments))
        for index, day_date, window, boundaries in opened:
            day_peaks = [next(peaks) for _ in range(len(boundaries) - 1)]
            days[index] = schedule.free_day(day_date, window, boundaries, day_peaks)
    # Times already past (or inside the booking deadline) are not offered.
    cutoff = now + timedelta(minutes=schedule.settings.booking_deadline_minutes)
    for day in days:
        if day.reason in ("past", "not_yet"):
            continue
        day.slots = [s for s in day.slots if s.starts_at >= cutoff]
        day.segments = [s for s in day.segments if s.starts_at >= cutoff]
        if day.is_open and not (day.slots or day.segments):
            day.is_open, day.reason = False, "past"
    return days


def month_availability(
    item: Item, year: int, month: int, *, now: datetime | None = None
) -> list[DayAvailability]:
    last_day = calendar.monthrange(year, month)[1]
    return item_availability(item, date(year, month, 1), date(year, month, last_day), now=now)


# --- the checks a booking must pass (raise a DomainError that says what is wrong) ----------------------


def check_timing(settings: ReservationSettings, starts_at: datetime, now: datetime) -> None:
    if starts_at - timedelta(minutes=settings.booking_deadline_minutes) < now:
        raise TooLateError
    if settings.book_ahead_days:
        horizon = local(now).date() + timedelta(days=settings.book_ahead_days)
        if local(starts_at).date() > horizon:
            raise TooEarlyError


def check_free_booking(
    item: Item, starts_at: datetime, ends_at: datetime, *, now: datetime, timing: bool = True
) -> ReservationSettings:
    """The acceptance rules of a free-type booking; returns the settings that applied. `timing=False`
    skips the booking window and deadline (staff overriding them with a reason), never anything else."""
    start, end = local(starts_at), local(ends_at)
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    schedule = ItemSchedule(item, first, last)
    settings = schedule.settings
    if end <= start:
        raise InvalidLengthError(gettext("The end must be after the start."))
    minutes = int((end - start).total_seconds() // 60)
    step = settings.time_step_minutes
    if minutes < settings.min_minutes:
        raise InvalidLengthError(
            fmt(gettext("Bookings must be at least {minutes} minutes."), minutes=settings.min_minutes)
        )
    if settings.max_minutes and minutes > settings.max_minutes:
        raise InvalidLengthError(
            fmt(gettext("Bookings can be at most {minutes} minutes."), minutes=settings.max_minutes)
        )
    if timing:
        check_timing(settings, starts_at, now)
    d = first
    while d <= last:
        if schedule.is_closed(d):
            raise ClosedError(fmt(gettext("Bookings are not accepted on {date}."), date=f"{d:%Y-%m-%d}"))
        if settings.schedule == ReservationSettings.Schedule.IRREGULAR and not schedule._covered(
            d, AcceptanceOverride.Kind.OPEN
        ):
            raise ClosedError(fmt(gettext("Bookings are not accepted on {date}."), date=f"{d:%Y-%m-%d}"))
        d += timedelta(days=1)
    start_window, end_window = schedule.window(first), schedule.window(last)
    if start_window is None or end_window is None:
        raise ClosedError(
            fmt(
                gettext("Bookings are not accepted on {date}."),
                date=f"{(first if start_window is None else last):%Y-%m-%d}",
            )
        )
    if not (start_window.opens <= start < start_window.closes) or not (
        end_window.opens < end <= end_window.closes
    ):
        raise OutOfHoursError(
            fmt(
                gettext("Bookings are accepted from {opens} to {closes}."),
                opens=f"{start_window.opens:%H:%M}",
                closes=f"{start_window.closes:%H:%M}",
            )
        )
    offset = int((start - start_window.opens).total_seconds() // 60)
    if offset % step or minutes % step:
        raise InvalidLengthError(fmt(gettext("Start and length must follow {step}-minute steps."), step=step))
    return settings


def check_fixed_booking(
    item: Item, starts_at: datetime, ends_at: datetime, *, now: datetime, timing: bool = True
) -> tuple[ReservationSettings, int]:
    """A fixed-type booking must be one of the item's slot occurrences; returns (settings, capacity).
    `timing=False` skips the booking window and deadline (a staff override), never anything else."""
    d = local(starts_at).date()
    schedule = ItemSchedule(item, d, d)
    if schedule.is_closed(d):
        raise ClosedError(fmt(gettext("Bookings are not accepted on {date}."), date=f"{d:%Y-%m-%d}"))
    for starts, ends, capacity in schedule.occurrences(d):
        if starts == starts_at and ends == ends_at:
            if timing:
                check_timing(schedule.settings, starts_at, now)
            return schedule.settings, capacity
    raise NoSuchSlotError


def fmt(message: str, **params) -> str:
    return message.format(**params)
