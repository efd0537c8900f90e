"""What can be booked: one selector for the calendar, the day view and the booking checks.

All days are JST calendar days. A day's acceptance window comes from the item's effective reservation
settings (general or 個別予約設定): the hours for its weekday, or the 祝 row on a national holiday when one
is set. Manual acceptance (手動受付設定) closes dates for a store or an item, and opens dates for items
whose schedule is irregular. Reads take a constant number of queries per call, whatever the data size.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

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
from inventory.models import AcceptanceOverride, Item, Reservation, ReservationSettings, Slot
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


class ItemSchedule:
    """Loads once what decides availability for one item over a date range, then answers per day."""

    def __init__(self, item: Item, first: date, last: date, *, settings: ReservationSettings | None = None):
        self.item = item
        self.first, self.last = first, last
        self.settings = settings or item.reservation_settings()
        self.hours = {row.weekday: row for row in self.settings.hours.all()}
        self.overrides = list(
            AcceptanceOverride.objects.filter(
                Q(item=item) | Q(item__isnull=True, store_id=item.store_id),
                start_date__lte=last,
                end_date__gte=first,
            )
        )
        self.fixed = item.reservation_type == Item.ReservationType.FIXED
        if self.fixed:
            self.repeating = list(item.repeating_events.all())
            self.irregular = list(item.irregular_events.filter(date__gte=first, date__lte=last))
            self.slots = {
                (s.starts_at, s.ends_at): s
                for s in Slot.objects.filter(
                    item=item,
                    starts_at__lt=aware(last + timedelta(days=1), time.min),
                    ends_at__gt=aware(first, time.min),
                )
            }
        self.range_start = aware(first, time.min)
        self.range_end = aware(last + timedelta(days=1), time.min)

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

    def day(self, d: date, live: list[tuple[datetime, datetime, int]]) -> DayAvailability:
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
        peaks = segment_peaks(live, boundaries)
        segments = [
            Segment(boundaries[i], boundaries[i + 1], max(self.item.stock - peak, 0))
            for i, peak in enumerate(peaks)
        ]
        return DayAvailability(d, True, window=window, segments=segments)


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
    return list(
        Reservation.objects.filter(
            item=item, status__in=Reservation.LIVE_STATUSES, starts_at__lt=end, ends_at__gt=start
        ).values_list("starts_at", "ends_at", "quantity")
    )


def item_availability(
    item: Item, first: date, last: date, *, now: datetime | None = None
) -> list[DayAvailability]:
    """Per-day availability of `item` from `first` to `last` inclusive (the calendar and the day view)."""
    now = now or timezone.now()
    schedule = ItemSchedule(item, first, last)
    by_day = (
        {}
        if schedule.fixed
        else bookings_by_day(live_bookings(item, schedule.range_start, schedule.range_end))
    )
    today = local(now).date()
    horizon = (
        today + timedelta(days=schedule.settings.book_ahead_days)
        if schedule.settings.book_ahead_days
        else None
    )
    days = []
    d = first
    while d <= last:
        if d < today:
            days.append(DayAvailability(d, False, "past"))
        elif horizon and d > horizon:
            days.append(DayAvailability(d, False, "not_yet"))
        else:
            day = schedule.day(d, by_day.get(d, []))
            # Times already past (or inside the booking deadline) are not offered.
            cutoff = now + timedelta(minutes=schedule.settings.booking_deadline_minutes)
            day.slots = [s for s in day.slots if s.starts_at >= cutoff]
            day.segments = [s for s in day.segments if s.starts_at >= cutoff]
            if day.is_open and not (day.slots or day.segments):
                day.is_open, day.reason = False, "past"
            days.append(day)
        d += timedelta(days=1)
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
    item: Item, starts_at: datetime, ends_at: datetime, *, now: datetime
) -> ReservationSettings:
    """The acceptance rules of a free-type booking; returns the settings that applied."""
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
    item: Item, starts_at: datetime, ends_at: datetime, *, now: datetime
) -> tuple[ReservationSettings, int]:
    """A fixed-type booking must be one of the item's slot occurrences; returns (settings, capacity)."""
    d = local(starts_at).date()
    schedule = ItemSchedule(item, d, d)
    if schedule.is_closed(d):
        raise ClosedError(fmt(gettext("Bookings are not accepted on {date}."), date=f"{d:%Y-%m-%d}"))
    for starts, ends, capacity in schedule.occurrences(d):
        if starts == starts_at and ends == ends_at:
            check_timing(schedule.settings, starts_at, now)
            return schedule.settings, capacity
    raise NoSuchSlotError


def fmt(message: str, **params) -> str:
    return message.format(**params)
