"""Paying at the counter (店頭払い): the booking is confirmed at once and makes a pending order (method
counter), which staff mark received when the member pays at the store — who took it, when, and how (cash,
card terminal, other) — so counter sales sit beside card sales as Payment rows (SPEC §5).

"At the counter" lives here rather than in inventory because a counter booking makes an order, which only
payments can. The key stays "counter", so reservations booked before the move keep their method.

Whether it is offered is two switches: the shop's (PaymentSettings.counter_payment_enabled) and the item's
own (Item.counter_payment_allowed). They apply to bookings staff take too: SPEC §4 has staff pick "from the
same payment methods" as members and lets them override only the booking window and deadlines, and a shop
that turns counter payment off for an item does so because it must be paid in advance (an expensive course,
a no-show risk), which holds whoever types the booking in. Staff who take the money on the spot book with
another method (or take the booking by card link).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.audit import audit_log
from inventory.exceptions import PaymentMethodError
from inventory.models import Item, Reservation
from inventory.payment_methods import Charge, MoneyNote, PaymentMethod, RefundChoice
from payments import money_notes, undo
from payments.exceptions import OrderError
from payments.models import Order, OrderLine, Payment, PaymentSettings
from payments.services import (
    order_cancel,
    order_create,
    order_lock,
    order_mark_paid,
    order_refund_needed_set,
    refundable_left,
)


class CounterPaymentError(OrderError):
    default_message = _("The money for this order cannot be recorded as received at the counter.")


def counter_offered(item: Item) -> bool:
    """Both switches allow paying at the counter for `item`: the shop's and the item's own."""
    return item.counter_payment_allowed and PaymentSettings.current().counter_payment_enabled


class AtCounter(PaymentMethod):
    """Paid at the store: the booking is confirmed now and its order waits, pending, for staff to mark the
    money received."""

    key = "counter"
    label = _("Pay at the counter")
    takes_extras = True  # points (and coupons) price its order

    def is_available(self, *, item, member, price_yen: int) -> bool:
        return price_yen > 0 and counter_offered(item)

    def authorise(
        self, *, reservation: Reservation, now, option: str = "", by=None, extras: dict | None = None
    ) -> None:
        # reservation_create asked is_available already; asked again here so a caller that skips it still
        # cannot book a method the shop switched off.
        if not counter_offered(reservation.item):
            raise PaymentMethodError(_("Paying at the counter is not offered for this item."))
        counter_order_create(reservation=reservation, by=by, now=now, options=extras)

    def authorise_group(
        self, *, reservations: list[Reservation], now, option: str = "", by=None, extras: dict | None = None
    ) -> None:
        """Every week of a repeat booking on one pending counter order, a line per week."""
        if not counter_offered(reservations[0].item):
            raise PaymentMethodError(_("Paying at the counter is not offered for this item."))
        counter_order_create(reservations=reservations, by=by, now=now, options=extras)

    def release(
        self, *, reservation: Reservation, now, by=None, refund: RefundChoice | None = None, system: str = ""
    ) -> None:
        """Inside the cancellation's transaction. A booking cancelled before it was paid takes its pending
        order with it. One already paid at the counter (in advance) has its order cancelled too (the booking
        is already being undone, so undo=False), and its money:
        - staff answered "refund, and how much?" (`refund`): that amount is recorded as refunded (0: kept),
          handed back at the counter — nothing is sent anywhere;
        - a member's cancel (no answer): cash cannot go back by itself whatever the refund policy, so the
          order is flagged 要返金 for staff, and the member told so. Nothing is silent."""
        from payments.reservations import release_booking_orders

        release_booking_orders(
            orders=_orders_of(reservation),
            reservation=reservation,
            now=now,
            by=by,
            refund=refund,
            system=system,
            members_cancel=_counter_members_cancel,
        )

    def no_show(self, *, reservation: Reservation, now) -> None:
        """The pending order stays for staff to settle: received (the member paid a no-show fee) or
        cancelled (the default), from the list of unpaid counter orders of past bookings."""

    def cancel_note(self, *, reservation: Reservation) -> str | None:
        # Cash handed over at the store cannot go back by itself: the shop always decides.
        return money_notes.cancel_note(reservation=reservation, automatic_refund=False)

    def cancel_preview(self, *, reservation: Reservation, now, refund: RefundChoice | None = None):
        return undo.booking_cancel_preview(reservation=reservation, now=now, refund=refund)

    def points_to_earn(self, *, reservation: Reservation) -> int:
        return money_notes.points_to_earn(reservation)

    def money_note(self, *, reservation: Reservation, for_staff: bool = False) -> MoneyNote | None:
        return money_notes.money_note(reservation=reservation, for_staff=for_staff)

    def charged_yen(self, *, reservations: list[Reservation]) -> dict[int, int]:
        return money_notes.charged_yen(reservations=reservations)

    def repeat_weeks(self, *, reservation: Reservation) -> list[Reservation]:
        from payments.reservations import repeat_weeks_of

        return repeat_weeks_of(reservation)

    def lock_paid_together(self, *, reservation_id: int) -> None:
        from payments.reservations import lock_order_bookings

        lock_order_bookings(reservation_id)

    def refundable_yen(self, *, reservation: Reservation) -> int:
        """Money received at the counter for this booking and not refunded yet (nothing while it is unpaid).
        A counter refund is only recorded (the money is handed back at the store), never sent anywhere."""
        from payments.reservations import refundable_for

        return refundable_for(reservation)

    def price_lines(
        self, *, member, item, quote, extras: dict | None = None, weeks: list | None = None
    ) -> Charge:
        """`weeks`: the quotes of every week of a repeat booking, priced as the one order `authorise_group`
        makes (a line per week)."""
        return money_notes.booking_charge(
            member=member,
            item=item,
            quote=quote,
            payment_method=Order.Method.COUNTER,
            options=extras,
            weeks=weeks,
        )


def _counter_members_cancel(*, order: Order, by, system: str, now) -> None:
    """A member's cancel of an order paid at the counter: cash cannot go back by itself, whatever the
    refund policy, so staff decide (要返金) — unless points paid it in full and nothing is left."""
    if refundable_left(order) > 0:
        order_refund_needed_set(order=order, by=by, system=system, now=now)


def _orders_of(reservation: Reservation) -> QuerySet[Order]:
    return Order.objects.filter(
        lines__reservation=reservation, payment_method=Order.Method.COUNTER
    ).distinct()


def counter_order_create(
    *,
    reservation: Reservation | None = None,
    reservations: list[Reservation] | None = None,
    by,
    system: str = "",
    now: datetime | None = None,
    options: dict | None = None,
) -> Order:
    """The pending counter order of a booking, priced by the pipeline like every order (`options`: the
    booking's extras, points to use). Its reservation line counts as delivered at once, because the booking
    is confirmed at booking: marking the money received later only records the money, even when the booking
    is already completed or a no-show. Points spent on it come back if it is cancelled unpaid."""
    from payments.reservations import reservation_lines

    now = now or timezone.now()
    reservations = reservations or [reservation]
    order = order_create(
        member=reservations[0].member,
        lines=reservation_lines(reservations),
        payment_method=Order.Method.COUNTER,
        by=by,
        system=system or "booking",
        now=now,
        options=options,
    )
    OrderLine.objects.filter(order=order).update(fulfilled_at=now)
    if order.total_yen == 0:
        # Points (or discounts) cover it all: there is no money to receive at the counter.
        order = order_mark_paid(order=order, by=by, system=system or "booking", now=now)
    return order


def _expire_card_checkout(order: Order) -> None:
    """A card order paid at the counter instead: close its open Checkout Session first, outside any
    transaction (a provider call never runs under a row lock), so the member cannot also pay it by card.
    If Stripe says the session already completed, the card payment stands and its webhook pays the
    order."""
    from payments import stripe_api
    from payments.gateway import using_test_gateway

    if not order.stripe_checkout_session_id or using_test_gateway():
        return
    if not stripe_api.checkout_session_expire(order.stripe_checkout_session_id):
        raise CounterPaymentError(
            gettext("The member already paid this order by card (or is paying now); it will be marked paid.")
        )


def counter_payment_receive(*, order: Order, how: str, by, now: datetime | None = None) -> Payment:
    """Staff took the money for `order` at the counter (入金): a succeeded Payment of provider counter
    (how, who, when) and the order paid through order_mark_paid, in one transaction with an audit entry.

    Counter orders, and card orders whose member paid at the counter instead (their Checkout Session is
    closed first). Refused: an unknown `how`, an order that is not pending, one already received, a free
    order."""
    now = now or timezone.now()
    if how not in Payment.CounterHow.values:
        raise CounterPaymentError(
            gettext("Choose how the money was received: cash, card terminal or other."), field="how"
        )
    _check_receivable(order)
    if order.payment_method == Order.Method.CARD and order.status == Order.Status.PENDING:
        _expire_card_checkout(order)
    return _receive(order=order, how=how, by=by, now=now)


def _check_receivable(order: Order) -> None:
    """Refuse what can never be received, before any provider is called; checked again under the lock."""
    if order.status in Order.PAID_STATUSES:
        if order.payments.filter(provider=Payment.Provider.COUNTER, state=Payment.State.SUCCEEDED).exists():
            raise CounterPaymentError(
                gettext("The money for order #%(number)s was already received at the counter.")
                % {"number": order.pk}
            )
        raise CounterPaymentError(gettext("Order #%(number)s is already paid.") % {"number": order.pk})
    if order.status != Order.Status.PENDING:
        raise CounterPaymentError(
            gettext("Only a pending order can be received at the counter; order #%(number)s is %(status)s.")
            % {"number": order.pk, "status": order.get_status_display()}
        )
    if order.payment_method == Order.Method.FREE:
        raise CounterPaymentError(
            gettext("Order #%(number)s is free: there is no money to receive.") % {"number": order.pk}
        )


@transaction.atomic
def _receive(*, order: Order, how: str, by, now: datetime) -> Payment:
    order = order_lock(order)  # its reservations first, as every path that locks both does
    _check_receivable(order)
    payment = Payment.objects.create(
        order=order,
        provider=Payment.Provider.COUNTER,
        state=Payment.State.SUCCEEDED,
        amount_yen=order.total_yen,
        counter_how=how,
        received_by=by,
        succeeded_at=now,
    )
    order_mark_paid(order=order, by=by, now=now)
    audit_log(
        action="order.counter_received",
        obj=order,
        by=by,
        system="" if by is not None else "counter_payment_receive",
        payload={"payment": payment.pk, "amount_yen": payment.amount_yen, "how": how},
        now=now,
    )
    return payment


# --- counter orders of past bookings, left unpaid ----------------------------------------------------


PAST_BOOKING_STATUSES = (
    Reservation.Status.CONFIRMED,
    Reservation.Status.COMPLETED,
    Reservation.Status.NO_SHOW,
)


def past_unpaid_counter_orders(*, now: datetime | None = None) -> QuerySet[Order]:
    """Pending counter orders whose booking is over: it ended, or staff already closed it as completed or
    a no-show. Staff settle each: received, or (a no-show) cancelled."""
    now = now or timezone.now()
    past_line = OrderLine.objects.filter(
        order=OuterRef("pk"), reservation__status__in=PAST_BOOKING_STATUSES
    ).filter(
        Q(reservation__status__in=(Reservation.Status.COMPLETED, Reservation.Status.NO_SHOW))
        | Q(reservation__ends_at__lte=now)
    )
    return Order.objects.filter(
        Exists(past_line), status=Order.Status.PENDING, payment_method=Order.Method.COUNTER
    )


def no_show_of(order: Order) -> Reservation | None:
    """The no-show booking a pending counter order pays for, if it is one."""
    if order.status != Order.Status.PENDING or order.payment_method != Order.Method.COUNTER:
        return None
    return Reservation.objects.filter(order_lines__order=order, status=Reservation.Status.NO_SHOW).first()


@transaction.atomic
def counter_no_show_settle(
    *, order: Order, received: bool, how: str = "", by, now: datetime | None = None
) -> Order:
    """Settle the unpaid counter order of a no-show: the member paid after all (received, with how), or
    nothing is owed and the order is cancelled. The booking is already a no-show, so cancelling the order
    takes nothing back (undo=False)."""
    now = now or timezone.now()
    locked = order_lock(order)
    if no_show_of(locked) is None:
        raise CounterPaymentError(
            gettext("Order #%(number)s is not an unpaid counter order of a no-show.") % {"number": order.pk}
        )
    if received:
        counter_payment_receive(order=locked, how=how, by=by, now=now)
    else:
        order_cancel(order=locked, by=by, now=now, undo=False)
    audit_log(
        action="order.counter_no_show_settled",
        obj=locked,
        by=by,
        system="" if by is not None else "counter_no_show_settle",
        payload={"outcome": "received" if received else "cancelled", "how": how if received else ""},
        now=now,
    )
    locked.refresh_from_db()
    return locked
