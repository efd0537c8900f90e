"""What staff can book on a day (電話・来店予約, inventory/admin/staff_booking.py): the day's slots or free
time steps as the member site computes them, but all of them, with those a member could no longer book
(past, inside the booking deadline, beyond the booking window) marked; and a read-only preview of one
booking that sets such a timing error apart, since staff may override it with a reason (never capacity or
stock); and the same preview for every week of a repeat booking (inventory.repeating)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils.translation import gettext, ngettext

from core.exceptions import DomainError
from inventory import repeating, services
from inventory.availability import (
    DayAvailability,
    ItemSchedule,
    check_timing,
    live_bookings,
    local,
)
from inventory.exceptions import BookingError, SlotFullError, SoldOutError, TooEarlyError, TooLateError
from inventory.models import Item, Reservation
from inventory.quotes import Quote

TIMING_ERRORS = (TooLateError, TooEarlyError)  # what an override reason lifts


@dataclass
class StaffDay:
    """A day's slots or free segments as the member site computes them, but all of them: also those inside
    the booking deadline, already past, or beyond the booking window. `needs_reason` holds the starts a
    member could not book, which staff may book with a reason."""

    day: DayAvailability
    needs_reason: set[datetime] = field(default_factory=set)


def staff_day(item: Item, d: date, *, now: datetime) -> StaffDay:
    schedule = ItemSchedule(item, d, d)
    live = [] if schedule.fixed else live_bookings(item, schedule.range_start, schedule.range_end)
    day = schedule.day(d, live)
    needs_reason = set()
    for starts_at in [slot.starts_at for slot in day.slots] + [seg.starts_at for seg in day.segments]:
        try:
            check_timing(schedule.settings, starts_at, now)
        except TIMING_ERRORS:
            needs_reason.add(starts_at)
    return StaffDay(day, needs_reason)


def staff_preview(
    item: Item, starts_at: datetime, ends_at: datetime, quantity: int, *, now: datetime
) -> tuple[Quote, DomainError | None]:
    """The price of the booking after the service's checks made read-only, and the timing error (too late
    or too early) that only an override reason lifts, if any. Raises the other DomainErrors (no such slot,
    closed, out of hours, full…). The service checks everything again under its locks."""
    timing = None
    try:
        check_timing(item.reservation_settings(), starts_at, now)
    except TIMING_ERRORS as error:
        timing = error
    quote = services.booking_preview(
        item=item,
        starts_at=starts_at,
        ends_at=ends_at,
        quantity=quantity,
        now=now,
        channel=Reservation.Channel.ADMIN,
        timing=False,
    )
    return quote, timing


def staff_repeat_preview(
    item: Item, starts_at: datetime, ends_at: datetime, quantity: int, weeks: int, *, now: datetime
) -> tuple[list[Quote], DomainError | None]:
    """staff_preview for every week of a repeat booking of `weeks` weeks: each week's price (its quote, with
    its start), and the first week's timing error that an override reason lifts (the reason then lifts it
    for every week, as reservation_create_repeating does), its date named. Raises a DomainError naming every
    full week, or the week another refusal is about, as the booking would."""
    quotes: list[Quote] = []
    timing: DomainError | None = None
    full: list[str] = []
    for week_starts, week_ends in repeating.occurrences(starts_at, ends_at, weeks):
        label = f"{local(week_starts):%Y-%m-%d}"
        try:
            quote, week_timing = staff_preview(item, week_starts, week_ends, quantity, now=now)
        except (SlotFullError, SoldOutError):
            full.append(label)  # the others are still checked, to name every full week
            continue
        except DomainError as error:
            raise BookingError(
                gettext("{date}: {reason}").format(date=label, reason=error.message), field=error.field
            ) from error
        if week_timing is not None and timing is None:
            timing = type(week_timing)(
                gettext("{date}: {reason}").format(date=label, reason=week_timing.message)
            )
        quotes.append(quote)
    if full:
        raise SlotFullError(
            ngettext(
                "This week is full: {dates}. Book fewer weeks or another time.",
                "These weeks are full: {dates}. Book fewer weeks or another time.",
                len(full),
            ).format(dates=", ".join(full)),
            field="weeks",
        )
    return quotes, timing
