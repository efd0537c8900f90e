"""Calendar arithmetic with business meaning. All dates are JST calendar dates; ranges are inclusive.

"Valid through D" means usable until D 23:59:59.999999 JST (see `end_of_day`).
"""

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def valid_through_days(start: date, days: int) -> date:
    """Last valid day of a period of `days` days in which `start` is day 1 (2026-01-05, 31 → 2026-02-04)."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, got {days}")
    return start + timedelta(days=days - 1)


def valid_through_months(start: date, months: int) -> date:
    """Last day of the month `months - 1` after the start's month (2026-01-05, 2 → 2026-02-28)."""
    if months < 1:
        raise ValueError(f"months must be 1 or more, got {months}")
    year, month = _shift_month(start.year, start.month, months - 1)
    return date(year, month, _last_day(year, month))


def add_months_clamped(d: date, months: int) -> date:
    """The same day `months` later (or earlier when negative), clamped to the end of a shorter month."""
    year, month = _shift_month(d.year, d.month, months)
    return date(year, month, min(d.day, _last_day(year, month)))


def end_of_day(d: date) -> datetime:
    """The last instant of a JST calendar day, as an aware datetime."""
    return datetime.combine(d, time.max, tzinfo=JST)


def start_of_day(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=JST)


def month_start(d: date) -> date:
    return d.replace(day=1)
