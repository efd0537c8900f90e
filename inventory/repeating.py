"""Repeat bookings (issue 15): the same time weekly for N weeks, booked as one (all or nothing) and paid as
one (a method that makes an order makes one order, a line per week)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core.audit import audit_log
from inventory import payment_methods
from inventory.availability import local
from inventory.exceptions import BookingError, CancelError, SlotFullError, SoldOutError
from inventory.models import Item, Reservation
from inventory.services import _notify, _reserve_one, booking_checks, reservation_cancel, reservation_create

MIN_WEEKS = 2
MAX_WEEKS = 12


def occurrences(starts_at: datetime, ends_at: datetime, weeks: int) -> list[tuple[datetime, datetime]]:
    """The same local time, weekly, `weeks` times (a week is 7 days of the shop's calendar)."""
    start, end = local(starts_at), local(ends_at)
    result = []
    for week in range(weeks):
        shifted_start = (start.replace(tzinfo=None) + timedelta(weeks=week)).replace(tzinfo=start.tzinfo)
        shifted_end = (end.replace(tzinfo=None) + timedelta(weeks=week)).replace(tzinfo=end.tzinfo)
        result.append((shifted_start, shifted_end))
    return result


def _week_label(starts_at: datetime) -> str:
    return f"{local(starts_at):%Y-%m-%d}"


@transaction.atomic
def reservation_create_repeating(
    *,
    member,
    by,
    item: Item,
    starts_at: datetime,
    ends_at: datetime,
    weeks: int,
    quantity: int = 1,
    payment_method: str,
    payment_option: str = "",
    extras: dict | None = None,
    channel: str = Reservation.Channel.SITE,
    override_reason: str = "",
    now: datetime | None = None,
) -> list[Reservation]:
    """Book the same time weekly for `weeks` weeks (MIN_WEEKS..MAX_WEEKS) in one transaction: every week is
    checked like a single booking (reservation_create's own checks), the weeks in start order, so two
    repeat bookings of the same item lock its slots in the same order and never deadlock. When weeks are
    full, nothing is booked and the error names them all; any other refusal names its week. The weeks are
    paid together (PaymentMethod.authorise_group: one order, a line per week). Staff (channel "admin") may
    override the booking window and deadline of every week with `override_reason`, as reservation_create."""
    now = now or timezone.now()
    if not isinstance(weeks, int) or isinstance(weeks, bool) or not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise BookingError(
            gettext("Repeat weekly for {low} to {high} weeks.").format(low=MIN_WEEKS, high=MAX_WEEKS),
            field="weeks",
        )
    method, extras, override_reason = booking_checks(
        item=item,
        quantity=quantity,
        payment_method=payment_method,
        channel=channel,
        extras=extras,
        override_reason=override_reason,
    )
    reservations: list[Reservation] = []
    full: list[str] = []
    for week_starts, week_ends in occurrences(starts_at, ends_at, weeks):
        try:
            reservation = _reserve_one(
                member=member,
                item=item,
                starts_at=week_starts,
                ends_at=week_ends,
                quantity=quantity,
                method=method,
                channel=channel,
                timing=not override_reason,
                now=now,
            )
        except (SlotFullError, SoldOutError):
            full.append(_week_label(week_starts))  # the others are still checked, to name every full week
            continue
        except BookingError as error:
            raise BookingError(
                gettext("{date}: {reason}").format(date=_week_label(week_starts), reason=error.message),
                field=error.field,
            ) from error
        reservations.append(reservation)
    if full:
        raise SlotFullError(
            ngettext(
                "Nothing was booked: this week is full: {dates}.",
                "Nothing was booked: these weeks are full: {dates}.",
                len(full),
            ).format(dates=", ".join(full))
        )
    method.authorise_group(reservations=reservations, now=now, option=payment_option, by=by, extras=extras)
    for reservation in reservations:
        reservation.refresh_from_db()
        audit_log(
            action="reservation.created",
            obj=reservation,
            by=by,
            now=now,
            payload={
                "member": member.pk,
                "item": item.pk,
                "starts_at": reservation.starts_at,
                "ends_at": reservation.ends_at,
                "quantity": quantity,
                "price_yen": reservation.price_yen,
                "payment_method": method.key,
                "channel": channel,
                "status": reservation.status,
                "repeat": {"weeks": weeks, "first": reservations[0].pk},
                **({"override_reason": override_reason} if override_reason else {}),
            },
        )
    # One e-mail for the whole repeat booking, listing every week.
    _notify(reservations[0], "inventory/reservation_booked", by=by, weeks=reservations)
    return reservations


def reservations_create(*, weeks: int = 1, **booking) -> list[Reservation]:
    """What the member's confirm page and staff's phone booking book: one booking (`weeks` 1, through
    reservation_create) or the same time weekly for `weeks` weeks (reservation_create_repeating), with the
    same keyword arguments; the bookings made, in start order."""
    if weeks > 1:
        return reservation_create_repeating(weeks=weeks, **booking)
    return [reservation_create(**booking)]


def later_weeks(reservation: Reservation) -> list[Reservation]:
    """`reservation` and the live weeks after it of its repeat booking, in start order ([] when it is not
    part of one, or is its last live week)."""
    try:
        method = payment_methods.get(reservation.payment_method)
    except BookingError:
        return []
    weeks = [w for w in method.repeat_weeks(reservation=reservation) if w.starts_at >= reservation.starts_at]
    return weeks if len(weeks) > 1 else []


@transaction.atomic
def reservation_cancel_remaining_weeks(
    *, reservation: Reservation, by, reason: str = "", as_staff: bool = False, now: datetime | None = None
) -> list[Reservation]:
    """Cancel `reservation` and every later live week of its repeat booking, each through reservation_cancel
    (its deadline for a member, its refund share, its audit entry), in start order, all or nothing. Returns
    the weeks cancelled."""
    now = now or timezone.now()
    weeks = later_weeks(reservation)
    if not weeks:
        raise CancelError(gettext("This reservation has no later weeks of a repeat booking to cancel."))
    cancelled = []
    for week in weeks:
        week.refresh_from_db()
        if not week.is_live:  # cancelled meanwhile (its order undone by staff while this ran)
            continue
        cancelled.append(
            reservation_cancel(reservation=week, by=by, reason=reason, as_staff=as_staff, now=now)
        )
    return cancelled
