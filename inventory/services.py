"""Every state change of reservations. Each function is one transaction; callers pass `now` in tests.

Each takes `by` (the member or staff user acting; None for a system job, named in `system`) and writes one
audit entry (core.audit) in its transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from core.audit import audit_log
from core.emails import queue_email_rendered_by_worker
from core.exceptions import DomainError
from inventory import booking_extras, locks, payment_methods
from inventory.availability import (
    ItemSchedule,
    check_fixed_booking,
    check_free_booking,
    live_bookings,
    local,
    peak_quantity,
)
from inventory.exceptions import (
    BookingError,
    CancelError,
    CapacityChangeError,
    NotBookableError,
    SlotFullError,
    SoldOutError,
    StatusError,
)
from inventory.models import (
    AcceptanceHours,
    IrregularEvent,
    Item,
    ItemImage,
    PriceUnit,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    Slot,
    WeekdayPriceRule,
)
from inventory.quotes import quote_booking


def _take_slot(item: Item, starts_at: datetime, ends_at: datetime, capacity: int, quantity: int) -> int:
    """Take `quantity` places of this occurrence's slot row, made on its first booking; returns the slot's
    id. One statement: the INSERT of a first booking, or on conflict (the row exists, or a concurrent first
    booking made it) a conditional UPDATE of the counter that waits for the row's lock and re-checks the
    capacity on the row's latest version, so the loser of a race for the last places gets no row back."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Slot._meta.db_table} AS slot (item_id, starts_at, ends_at, capacity, booked) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT ON CONSTRAINT slot_unique_occurrence "
            "DO UPDATE SET booked = slot.booked + EXCLUDED.booked "
            "WHERE slot.booked + EXCLUDED.booked <= slot.capacity RETURNING id",
            [item.pk, starts_at, ends_at, capacity, quantity],
        )
        row = cursor.fetchone()
    if row is None:
        raise SlotFullError
    return row[0]


def _give_back_slot_capacity(reservation: Reservation) -> None:
    if reservation.slot_id:
        Slot.objects.filter(pk=reservation.slot_id).update(booked=F("booked") - reservation.quantity)


def _check_rules(item: Item, starts_at: datetime, ends_at: datetime, *, now: datetime, timing: bool = True):
    """The acceptance rules; returns (settings, slot capacity or None for a free-type item). `timing=False`
    leaves out the booking window and deadline (a staff override)."""
    if item.reservation_type == Item.ReservationType.FIXED:
        return check_fixed_booking(item, starts_at, ends_at, now=now, timing=timing)
    return check_free_booking(item, starts_at, ends_at, now=now, timing=timing), None


def _check_free_stock(
    item: Item, starts_at: datetime, ends_at: datetime, quantity: int, *, stock: int | None = None
) -> None:
    """`stock`: the item's stock as read under its row lock (a booking); the item's own (a preview)."""
    used = peak_quantity(live_bookings(item, starts_at, ends_at), starts_at, ends_at)
    if used + quantity > (item.stock if stock is None else stock):
        raise SoldOutError


def _check_bookable(item: Item, channel: str) -> None:
    if channel == Reservation.Channel.SITE and not (item.is_public and item.store.is_public):
        raise NotBookableError


def booking_preview(
    *,
    item: Item,
    starts_at: datetime,
    ends_at: datetime,
    quantity: int = 1,
    now: datetime | None = None,
    channel: str = Reservation.Channel.SITE,
    timing: bool = True,
):
    """What reservation_create would charge, after the same checks made read-only (for the confirm page;
    the booking itself checks again under its locks). Raises the same DomainErrors. Staff's page passes
    channel "admin" (private items too) and timing=False (the window and deadline they may override)."""
    now = now or timezone.now()
    _check_bookable(item, channel)
    _settings, capacity = _check_rules(item, starts_at, ends_at, now=now, timing=timing)
    if capacity is not None:
        made = Slot.objects.filter(item=item, starts_at=starts_at, ends_at=ends_at).first()
        if quantity > (made.capacity - made.booked if made else capacity):
            raise SlotFullError
    else:
        _check_free_stock(item, starts_at, ends_at, quantity)
    return quote_booking(item, starts_at, ends_at, quantity)


def _reserve_one(
    *,
    member,
    item: Item,
    starts_at: datetime,
    ends_at: datetime,
    quantity: int,
    method: payment_methods.PaymentMethod,
    channel: str,
    timing: bool,
    now: datetime,
) -> Reservation:
    """One booking's checks and insert, without its payment (the caller authorises it, alone or with the
    other weeks of a repeat booking): the booking rules, then stock or capacity under the item's or the
    slot's row lock, the price and the method's availability. Raises the DomainErrors of a refused booking."""
    slot_id = None
    if item.reservation_type == Item.ReservationType.FIXED:
        locks.item_key_share(item.pk)  # before the events are read: a capacity edit waits or goes first
    settings, capacity = _check_rules(item, starts_at, ends_at, now=now, timing=timing)
    if capacity is not None:
        if quantity > capacity:
            raise SlotFullError
        slot_id = _take_slot(item, starts_at, ends_at, capacity, quantity)
    else:
        _check_free_stock(item, starts_at, ends_at, quantity, stock=locks.item_stock_for_update(item.pk))
    quote = quote_booking(item, starts_at, ends_at, quantity)
    if not method.is_available(item=item, member=member, price_yen=quote.total_yen):
        raise BookingError(
            gettext("This payment method cannot be used for this booking."), field="payment_method"
        )
    reservation = Reservation(
        member=member,
        item=item,
        store_id=item.store_id,
        slot_id=slot_id,
        starts_at=starts_at,
        ends_at=ends_at,
        quantity=quantity,
        price_yen=quote.total_yen,
        price_breakdown=quote.as_breakdown(),
        payment_method=method.key,
        channel=channel,
    )
    if channel == Reservation.Channel.SITE and settings.approval_required:
        reservation.status = Reservation.Status.AWAITING
        reservation.approval_deadline = approval_deadline(settings, starts_at=starts_at, now=now)
    elif method.confirms_at_once:
        reservation.status = Reservation.Status.CONFIRMED
        reservation.confirmed_at = now
    else:
        reservation.hold_until = now + timedelta(minutes=_hold_minutes(method, reservation, settings))
    reservation.save(force_insert=True)
    return reservation


def booking_checks(
    *, item: Item, quantity: int, payment_method: str, channel: str, extras: dict | None, override_reason: str
) -> tuple[payment_methods.PaymentMethod, dict, str]:
    """What every booking (one, or the weeks of a repeat booking) checks before its places: a quantity of
    one or more, an override reason from staff only, the item bookable on this channel, and a method that
    takes the extras asked for. Returns (the method, the extras less blanks, the reason stripped)."""
    extras = booking_extras.without_empty(extras)
    override_reason = override_reason.strip()
    if quantity < 1:
        raise BookingError(gettext("Choose at least one."), field="quantity")
    if override_reason and channel != Reservation.Channel.ADMIN:
        raise BookingError(gettext("Only staff can override the booking window."), field="override_reason")
    _check_bookable(item, channel)
    return method_taking(payment_method, extras), extras, override_reason


@transaction.atomic
def reservation_create(
    *,
    member,
    by,
    item: Item,
    starts_at: datetime,
    ends_at: datetime,
    quantity: int = 1,
    payment_method: str,
    payment_option: str = "",
    channel: str = Reservation.Channel.SITE,
    override_reason: str = "",
    system: str = "",
    extras: dict | None = None,
    now: datetime | None = None,
) -> Reservation:
    """Book `quantity` units for `member`; `by` is who books (the member on the site, or staff). Never
    oversells: the item row (free type) or the slot row (fixed type) is locked before stock or capacity is
    checked, in the same transaction as the insert.

    Staff booking for a member (channel "admin") may override the booking window and deadline by giving
    `override_reason` (recorded in the audit entry); stock and capacity are never overridden. A member's
    booking of an item under approval (承認制) waits, its places held, in the status "awaiting approval"
    until staff approve or decline it (reservation_approve / reservation_decline). A card booking staff
    make, or one approved later, is held PAYMENT_LINK_HOLD_MINUTES for the member to pay through the link
    the confirmation e-mail carries. The reservation is inserted once, in its final status.

    `extras` are what the confirm step asked for beside the method (inventory.booking_extras: points to use,
    a coupon code); only a method that `takes_extras` takes them, and its refusal rolls the booking back."""
    now = now or timezone.now()
    method, extras, override_reason = booking_checks(
        item=item,
        quantity=quantity,
        payment_method=payment_method,
        channel=channel,
        extras=extras,
        override_reason=override_reason,
    )
    reservation = _reserve_one(
        member=member,
        item=item,
        starts_at=starts_at,
        ends_at=ends_at,
        quantity=quantity,
        method=method,
        channel=channel,
        timing=not override_reason,
        now=now,
    )
    if method.takes_extras:
        method.authorise(reservation=reservation, now=now, option=payment_option, by=by, extras=extras)
    else:
        method.authorise(reservation=reservation, now=now, option=payment_option, by=by)
    payload = {
        "member": member.pk,
        "item": item.pk,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "quantity": quantity,
        "price_yen": reservation.price_yen,
        "payment_method": method.key,
        "channel": channel,
        "status": reservation.status,
    }
    if override_reason:
        payload["override_reason"] = override_reason
    audit_log(action="reservation.created", obj=reservation, by=by, system=system, now=now, payload=payload)
    _notify(reservation, "inventory/reservation_booked", by=by)
    return reservation


def method_taking(payment_method: str, extras: dict | None) -> payment_methods.PaymentMethod:
    """The payment method `payment_method`, refusing extras (points, a coupon) it cannot take."""
    method = payment_methods.get(payment_method)
    if extras and not method.takes_extras:
        raise BookingError(
            gettext("This payment method takes no points or coupons; leave them empty or pay another way."),
            field=sorted(extras)[0],
        )
    return method


def _hold_minutes(method: payment_methods.PaymentMethod, reservation: Reservation, settings) -> int:
    """How long an unpaid booking waits for its payment: staff's phone booking is paid through an e-mailed
    link, so it gets a day; otherwise the method's or the settings' hold."""
    if reservation.channel == Reservation.Channel.ADMIN:
        return payment_methods.PAYMENT_LINK_HOLD_MINUTES
    return method.hold_minutes(reservation=reservation) or settings.tentative_hold_minutes


def approval_deadline(settings: ReservationSettings, *, starts_at: datetime, now: datetime) -> datetime:
    """When a booking still awaiting approval is declined automatically: the request time plus the
    settings' approval hours, or the booking deadline when that comes first."""
    return min(
        now + timedelta(hours=settings.approval_hours),
        starts_at - timedelta(minutes=settings.booking_deadline_minutes),
    )


@transaction.atomic
def reservation_confirm(
    *, reservation: Reservation, by, system: str = "", now: datetime | None = None
) -> Reservation:
    """Tentative → confirmed (payment received or staff approval). Idempotent for a confirmed one (which
    records nothing: nothing changed)."""
    now = now or timezone.now()
    reservation = locks.reservation_for_update(reservation.pk)
    if reservation.status == Reservation.Status.CONFIRMED:
        return reservation
    if reservation.status != Reservation.Status.TENTATIVE:
        raise StatusError(gettext("Only a tentative reservation can be confirmed."))
    reservation.status = Reservation.Status.CONFIRMED
    reservation.confirmed_at = now
    reservation.hold_until = None
    reservation.save(update_fields=["status", "confirmed_at", "hold_until", "updated_at"])
    audit_log(
        action="reservation.confirmed",
        obj=reservation,
        by=by,
        system=system,
        now=now,
        payload={"changes": {"status": [Reservation.Status.TENTATIVE, reservation.status]}},
    )
    return reservation


# --- approval (承認制) -----------------------------------------------------------------------------

DECLINE_JOB = "decline_overdue_approvals"


def _awaiting_for_update(reservation: Reservation) -> Reservation:
    reservation = locks.reservation_for_update(reservation.pk)
    if reservation.status != Reservation.Status.AWAITING:
        raise StatusError(
            gettext("This reservation is not awaiting approval (it is {status}).").format(
                status=reservation.get_status_display()
            )
        )
    return reservation


@transaction.atomic
def reservation_approve(
    *, reservation: Reservation, by, message: str = "", now: datetime | None = None
) -> Reservation:
    """Staff approve a booking awaiting approval. Paid already (a ticket, the counter, free): confirmed.
    Paid by card: tentative, held PAYMENT_LINK_HOLD_MINUTES for the member to pay through the link in
    the approval e-mail (released like any unpaid booking when not paid). The member is e-mailed, with
    staff's `message`."""
    now = now or timezone.now()
    reservation = _awaiting_for_update(reservation)
    method = payment_methods.get(reservation.payment_method)
    reservation.approval_deadline = None
    if method.confirms_at_once:
        reservation.status = Reservation.Status.CONFIRMED
        reservation.confirmed_at = now
    else:
        reservation.status = Reservation.Status.TENTATIVE
        reservation.hold_until = now + timedelta(minutes=payment_methods.PAYMENT_LINK_HOLD_MINUTES)
    reservation.save(
        update_fields=["status", "confirmed_at", "hold_until", "approval_deadline", "updated_at"]
    )
    message = message.strip()
    audit_log(
        action="reservation.approved",
        obj=reservation,
        by=by,
        now=now,
        payload={
            "changes": {"status": [Reservation.Status.AWAITING, reservation.status]},
            "message": message,
        },
    )
    _notify(reservation, "inventory/reservation_approved", message=message, by=by)
    return reservation


@transaction.atomic
def reservation_decline(
    *,
    reservation: Reservation,
    by,
    message: str = "",
    system: str = "",
    now: datetime | None = None,
) -> Reservation:
    """Staff (or, with by=None, the system job DECLINE_JOB) decline a booking awaiting approval: its
    places and whatever its payment method took (a ticket use, an unpaid order) are given back, it is
    cancelled with the message as its reason, and the member is e-mailed."""
    now = now or timezone.now()
    reservation = _awaiting_for_update(reservation)
    message = message.strip() or gettext("Not approved")
    _give_back_slot_capacity(reservation)
    payment_methods.get(reservation.payment_method).release(
        reservation=reservation, now=now, by=by, system=system
    )
    reservation.status = Reservation.Status.CANCELLED
    reservation.cancelled_at = now
    reservation.cancelled_by = by
    reservation.cancel_reason = message[:200]
    reservation.approval_deadline = None
    reservation.save(
        update_fields=[
            "status",
            "cancelled_at",
            "cancelled_by",
            "cancel_reason",
            "approval_deadline",
            "updated_at",
        ]
    )
    audit_log(
        action="reservation.declined",
        obj=reservation,
        by=by,
        system=system,
        now=now,
        payload={
            "changes": {"status": [Reservation.Status.AWAITING, reservation.status]},
            "message": message,
        },
    )
    _notify(reservation, "inventory/reservation_declined", message=message, by=by)
    return reservation


def decline_overdue_approvals(*, now: datetime | None = None, dry_run: bool = False) -> list[Reservation]:
    """Decline the bookings still awaiting approval at their approval deadline. Each is its own durable
    transaction (one failure keeps the others) and is re-checked under its lock, so one approved or
    declined meanwhile is skipped."""
    now = now or timezone.now()
    due = list(
        Reservation.objects.filter(status=Reservation.Status.AWAITING, approval_deadline__lte=now)
        .select_related("item", "member")
        .order_by("approval_deadline", "pk")
    )
    if dry_run:
        return due
    declined = []
    for reservation in due:
        with transaction.atomic(durable=True):
            current = locks.reservation_for_update(reservation.pk)
            if current.status != Reservation.Status.AWAITING or current.approval_deadline > now:
                continue
            declined.append(
                reservation_decline(
                    reservation=current,
                    by=None,
                    system=DECLINE_JOB,
                    message=gettext("The shop could not confirm your booking in time."),
                    now=now,
                )
            )
    return declined


def awaiting_approval():
    """Bookings awaiting approval, the soonest deadline first (the staff home and the admin list)."""
    return (
        Reservation.objects.filter(status=Reservation.Status.AWAITING)
        .select_related("member", "item", "item__store")
        .order_by("approval_deadline", "pk")
    )


def settings_for_items(items: list[Item]) -> dict[int, ReservationSettings]:
    """Each item's effective reservation settings in one query (Item.reservation_settings() per row would
    be one query per reservation on a list page)."""
    if not items:
        return {}
    own_ids = {item.pk for item in items if item.uses_own_settings}
    rows = list(ReservationSettings.objects.filter(Q(item__isnull=True) | Q(item_id__in=own_ids)))
    own = {row.item_id: row for row in rows if row.item_id is not None}
    general = next((row for row in rows if row.item_id is None), None)
    if general is None and len(own) < len(items):
        general = ReservationSettings.general()
    return {item.pk: own.get(item.pk, general) for item in items}


def cancel_deadlines(reservations: list[Reservation]) -> dict[int, datetime]:
    """The member's cancellation deadline of each reservation (start minus the item's cancellation
    deadline), with the settings read in bulk: a constant number of queries for a list page."""
    items = list({r.item_id: r.item for r in reservations}.values())
    by_item = settings_for_items(items)
    return {
        r.pk: r.starts_at - timedelta(minutes=by_item[r.item_id].cancel_deadline_minutes)
        for r in reservations
    }


def cancel_deadline(reservation: Reservation) -> datetime:
    return cancel_deadlines([reservation])[reservation.pk]


@transaction.atomic
def reservation_cancel(
    *,
    reservation: Reservation,
    by,
    reason: str = "",
    as_staff: bool = False,
    system: str = "",
    now: datetime | None = None,
    notify: bool = True,
    refund: payment_methods.RefundChoice | None = None,
) -> Reservation:
    """Members cancel their own live reservations before the deadline; staff cancel any time; a system job
    (by=None, named in `system`) cancels as staff. `refund` is staff's answer about money received for the
    booking (None: the shop's refund policy decides)."""
    now = now or timezone.now()
    reservation = locks.reservation_for_update(reservation.pk)
    status_before = reservation.status
    if not reservation.is_live:
        raise CancelError(
            gettext("This reservation is already {status}.").format(status=reservation.get_status_display())
        )
    if not as_staff:
        if by is None or reservation.member_id != by.pk:
            raise CancelError
        if now > cancel_deadline(reservation):
            raise CancelError(
                gettext("The cancellation deadline ({deadline}) has passed. Please contact the shop.").format(
                    deadline=f"{timezone.localtime(cancel_deadline(reservation)):%Y-%m-%d %H:%M}"
                )
            )
    _give_back_slot_capacity(reservation)
    payment_methods.get(reservation.payment_method).release(
        reservation=reservation, now=now, by=by, refund=refund, system=system
    )
    reservation.status = Reservation.Status.CANCELLED
    reservation.cancelled_at = now
    reservation.cancelled_by = by
    reservation.cancel_reason = reason[:200]
    reservation.hold_until = None
    reservation.save(
        update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "hold_until", "updated_at"]
    )
    payload = {
        "changes": {"status": [status_before, reservation.status]},
        "reason": reservation.cancel_reason,
    }
    if as_staff:
        payload["as_staff"] = True
    if refund is not None:
        payload["refund_yen"] = refund.amount_yen
    audit_log(action="reservation.cancelled", obj=reservation, by=by, system=system, now=now, payload=payload)
    if notify:
        _notify(reservation, "inventory/reservation_cancelled", by=by)
    return reservation


@transaction.atomic
def reservation_mark_no_show(*, reservation: Reservation, by, now: datetime | None = None) -> Reservation:
    """無断キャンセル: only staff, only for a confirmed reservation that has started. What the payment
    method took (a ticket use, the plan allowance) is kept."""
    now = now or timezone.now()
    reservation = locks.reservation_for_update(reservation.pk)
    if reservation.status != Reservation.Status.CONFIRMED:
        raise StatusError(gettext("Only a confirmed reservation can be marked as a no-show."))
    if reservation.starts_at > now:
        raise StatusError(gettext("A reservation can be marked as a no-show only after it has started."))
    _give_back_slot_capacity(reservation)
    payment_methods.get(reservation.payment_method).no_show(reservation=reservation, now=now)
    reservation.status = Reservation.Status.NO_SHOW
    reservation.cancelled_by = by
    reservation.no_show_at = now
    reservation.save(update_fields=["status", "cancelled_by", "no_show_at", "updated_at"])
    audit_log(
        action="reservation.no_show",
        obj=reservation,
        by=by,
        now=now,
        payload={"changes": {"status": [Reservation.Status.CONFIRMED, reservation.status]}},
    )
    return reservation


@transaction.atomic
def reservation_complete(
    *, reservation: Reservation, by, system: str = "", now: datetime | None = None
) -> Reservation:
    now = now or timezone.now()
    reservation = locks.reservation_for_update(reservation.pk)
    if reservation.status != Reservation.Status.CONFIRMED:
        raise StatusError(gettext("Only a confirmed reservation can be completed."))
    if reservation.starts_at > now:
        raise StatusError(gettext("A reservation can be completed only after it has started."))
    _give_back_slot_capacity(reservation)
    reservation.status = Reservation.Status.COMPLETED
    reservation.completed_at = now
    reservation.save(update_fields=["status", "completed_at", "updated_at"])
    audit_log(
        action="reservation.completed",
        obj=reservation,
        by=by,
        system=system,
        now=now,
        payload={"changes": {"status": [Reservation.Status.CONFIRMED, reservation.status]}},
    )
    return reservation


RELEASE_JOB = "release_unpaid_reservations"


def release_unpaid_reservations(*, now: datetime | None = None, dry_run: bool = False) -> list[Reservation]:
    """Cancel tentative reservations whose hold has run out. Each is its own (durable: the outermost)
    transaction, so one failure does not keep the others; a reservation paid meanwhile is skipped
    (re-checked under its lock).

    Each release is recorded as that reservation's cancellation by the system job RELEASE_JOB (one audit
    entry per reservation, in its transaction): a release is a change to one booking that its member and
    staff look up on that booking's history, not a bulk run with a ledger, and a run that releases nothing
    (most runs, every few minutes) records nothing."""
    now = now or timezone.now()
    due = list(
        Reservation.objects.filter(status=Reservation.Status.TENTATIVE, hold_until__lt=now)
        .select_related("item", "member")
        .order_by("pk")
    )
    if dry_run:
        return due
    released = []
    for reservation in due:
        with transaction.atomic(durable=True):
            current = locks.reservation_for_update(reservation.pk)
            if (
                current.status != Reservation.Status.TENTATIVE
                or not current.hold_until
                or current.hold_until >= now
            ):
                continue
            released.append(
                reservation_cancel(
                    reservation=current,
                    by=None,
                    system=RELEASE_JOB,
                    reason=gettext("Released: not paid in time"),
                    as_staff=True,
                    now=now,
                )
            )
    return released


def _notify(
    reservation: Reservation,
    template: str,
    *,
    message: str = "",
    by=None,
    weeks: list[Reservation] | None = None,
) -> None:
    """E-mail the member about their booking; a tentative card booking's e-mail carries the link that
    pays it without logging in (staff booked it by phone, or approved it). `by` is who acted (None: a
    system job): it decides the e-mail's language. `weeks`: every week of a repeat booking (`reservation`
    its first), listed in the one e-mail, whose price is what they cost together (their one order's total).

    The worker renders the e-mail (core.emails.queue_email_rendered_by_worker) from what it must say as
    of this transaction, taken here as plain values: a cancellation committed before the worker gets to
    the booking's e-mail does not turn it into "cancelled"."""
    try:
        method = payment_methods.get(reservation.payment_method)
    except DomainError:  # a method no app registers any more: its price is all we know
        method = None
    weeks = weeks if weeks and len(weeks) > 1 else []
    charged = method.charged_yen(reservations=weeks or [reservation]) if method else {}
    charged_yen = charged.get(reservation.pk, reservation.price_yen)
    if weeks and not (method and method.repeat_weeks(reservation=reservation)):
        # Weeks not paid together (no one order): each week's charge, added up.
        charged_yen = sum(charged.get(week.pk, week.price_yen) for week in weeks)
    payment_url = None
    if (
        method
        and reservation.status == Reservation.Status.TENTATIVE
        and (reservation.channel == Reservation.Channel.ADMIN or template.endswith("_approved"))
    ):
        payment_url = method.payment_url(reservation=reservation)
    queue_email_rendered_by_worker(
        template=template,
        context={
            "reservation": {
                "pk": reservation.pk,
                "status": str(reservation.status),
                "quantity": reservation.quantity,
                "hold_until": reservation.hold_until,
                "cancel_reason": reservation.cancel_reason,
            },
            # What the booking's payment method charges (an order net of the member discount, a ticket 0),
            # never a list price the member will not pay.
            "charged_yen": charged_yen,
            "weeks": [
                {
                    "pk": week.pk,
                    "starts_at": timezone.localtime(week.starts_at),
                    "ends_at": timezone.localtime(week.ends_at),
                }
                for week in weeks
            ],
            # Purchase points paying it will earn (SPEC §8: said beforehand, in the e-mail too).
            "points_to_earn": method.points_to_earn(reservation=reservation) if method else 0,
            "member_name": reservation.member.name,
            "message": str(message),
            "payment_url": payment_url,
            "item_name": reservation.item.name,
            "starts_at": timezone.localtime(reservation.starts_at),
            "ends_at": timezone.localtime(reservation.ends_at),
        },
        to=[reservation.member.email],
        # In the member's language when they act on the member site; when staff or a job act (an
        # approval, a phone booking, a release), in the shop's language, not the staff's admin language.
        language=None if by is not None and by.pk == reservation.member_id else django_settings.LANGUAGE_CODE,
    )


# --- items (configuration) ------------------------------------------------------------------------


def _copy_code(code: str) -> str:
    """CODE-copy, then CODE-copy-2, CODE-copy-3 … : the first that no item uses."""
    max_length = Item._meta.get_field("code").max_length
    taken = set(Item.objects.filter(code__contains="-copy").values_list("code", flat=True))
    number = 1
    while True:
        suffix = "-copy" if number == 1 else f"-copy-{number}"
        candidate = code[: max_length - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1


@transaction.atomic
def item_duplicate(*, item: Item, by) -> Item:
    """複製: a private copy of `item` with its images, price units, weekday rules, events and own
    reservation settings, under a new unique code. Reservations, slots and closures are not copied."""
    source = Item.objects.get(pk=item.pk)
    name_length = Item._meta.get_field("name").max_length
    for _attempt in range(5):
        copy = Item.objects.get(pk=source.pk)
        copy.pk = copy.id = None
        copy._state.adding = True
        copy.code = _copy_code(source.code)
        copy.name = (gettext("%(name)s (copy)") % {"name": source.name})[:name_length]
        copy.is_public = False
        try:
            with transaction.atomic():
                copy.save()
            break
        except IntegrityError:  # another copy took the code meanwhile: try the next number
            continue
    else:
        raise DomainError(gettext("Could not find a free item code for the copy. Please try again."))

    ItemImage.objects.bulk_create(
        ItemImage(item=copy, image=row.image.name, caption=row.caption, display_order=row.display_order)
        for row in source.images.all()
    )
    PriceUnit.objects.bulk_create(
        PriceUnit(item=copy, minutes=row.minutes, price_yen=row.price_yen) for row in source.price_units.all()
    )
    WeekdayPriceRule.objects.bulk_create(
        WeekdayPriceRule(
            item=copy,
            position=row.position,
            weekdays=list(row.weekdays),
            label=row.label,
            price_yen=row.price_yen,
            season_id=row.season_id,
        )
        for row in source.weekday_rules.all()
    )
    RepeatingEvent.objects.bulk_create(
        RepeatingEvent(
            item=copy,
            weekday=row.weekday,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            capacity=row.capacity,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
        )
        for row in source.repeating_events.all()
    )
    IrregularEvent.objects.bulk_create(
        IrregularEvent(
            item=copy, date=row.date, starts_at=row.starts_at, ends_at=row.ends_at, capacity=row.capacity
        )
        for row in source.irregular_events.all()
    )
    own = ReservationSettings.objects.filter(item=source).first()
    if own is not None:
        _copy_settings(own, item=copy)
    audit_log(
        action="item.duplicated",
        obj=copy,
        by=by,
        payload={"from_item": source.pk, "from_code": source.code, "code": copy.code},
    )
    return copy


def _copy_settings(original: ReservationSettings, *, item: Item) -> ReservationSettings:
    fields = {
        field.name: getattr(original, field.name)
        for field in ReservationSettings._meta.concrete_fields
        if field.name not in {"id", "item", "created_at", "updated_at"}
    }
    row, created = ReservationSettings.objects.get_or_create(item=item, defaults=fields)
    if created:
        AcceptanceHours.objects.bulk_create(
            AcceptanceHours(
                settings=row, weekday=hours.weekday, opens_at=hours.opens_at, closes_at=hours.closes_at
            )
            for hours in original.hours.all()
        )
    return row


@transaction.atomic
def item_own_settings_enable(*, item: Item, by) -> ReservationSettings:
    """個別予約設定: the item's own settings row, made on first use as a copy of the general settings (so
    switching to them changes nothing until staff edit them), and switched on for the item."""
    existing = ReservationSettings.objects.filter(item=item).first()
    row = existing or _copy_settings(ReservationSettings.general(), item=item)
    switched = Item.objects.filter(pk=item.pk, uses_own_settings=False).update(uses_own_settings=True)
    if switched or existing is None:
        audit_log(
            action="item.own_settings_enabled",
            obj=item,
            by=by,
            payload={"settings": row.pk, "copied_from_general": existing is None},
        )
    return row


# --- stock and capacity edits ---------------------------------------------------------------------


def _occurrence_label(starts_at: datetime, ends_at: datetime) -> str:
    starts, ends = local(starts_at), local(ends_at)
    end = f"{ends:%H:%M}" if ends.date() == starts.date() else f"{ends:%Y-%m-%d %H:%M}"
    return f"{starts:%Y-%m-%d %H:%M}–{end}"


def _free_overloads(item: Item, now: datetime) -> list[tuple[datetime, datetime, int, int]]:
    """The stretches from `now` on where more units are booked at once than the item's stock, as (start,
    end, units booked, stock); adjacent stretches are merged, with their peak."""
    live = Reservation.objects.filter(
        item=item, status__in=Reservation.LIVE_STATUSES, ends_at__gt=now
    ).values_list("starts_at", "ends_at", "quantity")
    events = []
    for starts, ends, quantity in live:
        events.append((max(starts, now), quantity))
        events.append((ends, -quantity))
    events.sort(key=lambda pair: (pair[0], pair[1]))  # at equal instants, returns come first
    overloads: list[list] = []
    current = 0
    for index, (instant, delta) in enumerate(events):
        current += delta
        following = events[index + 1][0] if index + 1 < len(events) else None
        if current <= item.stock or following is None or following == instant:
            continue
        if overloads and overloads[-1][1] == instant:
            overloads[-1][1] = following
            overloads[-1][2] = max(overloads[-1][2], current)
        else:
            overloads.append([instant, following, current, item.stock])
    return [tuple(row) for row in overloads]


def _refuse_capacity(conflicts: list[tuple[datetime, datetime, int, int]]) -> None:
    lines = [
        gettext("{when}: {booked} booked (new limit {capacity})").format(
            when=_occurrence_label(starts, ends), booked=booked, capacity=capacity
        )
        for starts, ends, booked, capacity in conflicts
    ]
    raise CapacityChangeError(
        gettext(
            "The stock or capacity cannot be lowered below what is already booked. Nothing was changed. "
            "Move or cancel these bookings first, then try again: {occurrences}"
        ).format(occurrences="; ".join(lines)),
        conflicts=conflicts,
    )


@transaction.atomic
def item_capacity_apply(
    *,
    item: Item,
    by,
    now: datetime | None = None,
    changes: dict | None = None,
    edited: list[str] | None = None,
) -> list:
    """Make the item's stock and event capacities, as they now stand in the database, reach its future
    occurrences. Call it in the transaction that saved the edit (the admin does, in save_related).

    Fixed type: every slot row of an occurrence starting from `now` takes the capacity a booking of it
    would get (check_fixed_booking's: the event's capacity, or the stock when empty); slots of past
    occurrences, and of times that are no longer an occurrence, are left as they are. Free type: stock is
    read live by bookings, so only the check applies. Lowering below what is booked at any future
    occurrence or instant raises CapacityChangeError listing them, and nothing changes (the caller's
    transaction rolls back): nobody is cancelled. The item row is locked first (FOR UPDATE: a booking of
    the item holds FOR KEY SHARE or FOR UPDATE on it while it reads the capacities), then the slot rows in
    primary-key order. Writes one audit entry (item.capacity_changed) when anything changed: the slots'
    capacities, the caller's `changes` ({field: [old, new]}) and `edited` (the other fields and inlines the
    same edit touched: this entry stands for the whole admin save).

    Returns [(slot, old capacity, new capacity), ...]."""
    now = now or timezone.now()
    item = locks.item_for_update(item.pk)
    conflicts: list[tuple[datetime, datetime, int, int]] = []
    updates: list[tuple[Slot, int, int]] = []
    if item.reservation_type == Item.ReservationType.FIXED:
        slots = locks.future_slots_for_update(item.pk, now)
        days = sorted({local(slot.starts_at).date() for slot in slots})
        capacities: dict[tuple[datetime, datetime], int] = {}
        if days:
            schedule = ItemSchedule(item, days[0], days[-1])
            for day in days:
                for starts, ends, capacity in schedule.occurrences(day):
                    capacities.setdefault((starts, ends), capacity)  # check_fixed_booking takes the first
        for slot in slots:
            capacity = capacities.get((slot.starts_at, slot.ends_at))
            if capacity is None or capacity == slot.capacity:
                continue
            if slot.booked > capacity:
                conflicts.append((slot.starts_at, slot.ends_at, slot.booked, capacity))
            else:
                updates.append((slot, slot.capacity, capacity))
    else:
        conflicts = _free_overloads(item, now)
    if conflicts:
        _refuse_capacity(conflicts)
    for slot, _old, capacity in updates:
        Slot.objects.filter(pk=slot.pk).update(capacity=capacity)
    if updates or changes or edited:
        audit_log(
            action="item.capacity_changed",
            obj=item,
            by=by,
            now=now,
            payload={
                "changes": changes or {},
                "edited": edited or [],
                "stock": item.stock,
                "slots": [
                    {"slot": slot.pk, "starts_at": slot.starts_at, "capacity": [old, new]}
                    for slot, old, new in updates
                ],
            },
        )
    return updates
