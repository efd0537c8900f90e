"""Card payment for bookings, and confirming a booking when its order is paid.

payments sits above inventory, so it plugs into inventory's payment-method registry ("card") and
registers the fulfiller for reservation lines in its own registry."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from inventory import services as inventory_services
from inventory.availability import local
from inventory.models import Reservation
from inventory.payment_methods import Charge, MoneyNote, PaymentMethod, RefundChoice
from payments import money_notes, undo
from payments.exceptions import FulfilmentError
from payments.links import payment_link_url
from payments.models import Order, OrderLine, PaymentSettings, Refund
from payments.pricing import line_shares, reservation_share
from payments.registry import Fulfiller
from payments.services import (
    LineDraft,
    order_cancel,
    order_create,
    order_mark_paid,
    order_reduce,
    order_refund_needed_set,
    refund_execute_on_commit,
    refund_request,
    refundable_left,
)
from payments.services.refunds import shop_text


class CardPayment(PaymentMethod):
    """The booking stays tentative until the card payment completes; unpaid, it is released."""

    key = "card"
    label = _("Card")
    confirms_at_once = False  # tentative until the card payment completes
    takes_extras = True  # points (and coupons) price its order

    def is_available(self, *, item, member, price_yen: int) -> bool:
        # Offered only once the card checkout (Stripe Checkout / the test gateway) is switched on, so no
        # member is left with a booking they cannot pay for.
        return price_yen > 0 and settings.PAYMENTS_CARD_CHECKOUT

    def authorise(
        self, *, reservation: Reservation, now, option: str = "", by=None, extras: dict | None = None
    ) -> None:
        """The booking's pending card order, priced with the booking's `extras` (points to use). An order
        that discounts and points bring to 0 yen has nothing to pay by card: it is paid at once (its method
        stays card; no checkout), which confirms the booking — unless the booking awaits the shop's approval,
        when it is paid (still without a card) once approved, from the payment page."""
        self.authorise_group(reservations=[reservation], now=now, option=option, by=by, extras=extras)

    def authorise_group(
        self, *, reservations: list[Reservation], now, option: str = "", by=None, extras: dict | None = None
    ) -> None:
        """One pending card order for the booking, or for every week of a repeat booking (a line per
        week, so a once-only coupon discounts the total once)."""
        order = order_create(
            by=by,
            system="booking",
            now=now,
            member=reservations[0].member,
            lines=reservation_lines(reservations),
            payment_method=Order.Method.CARD,
            options=extras,
        )
        if order.total_yen == 0 and reservations[0].status == Reservation.Status.TENTATIVE:
            order_mark_paid(order=order, by=by, system="booking", now=now)
            for reservation in reservations:
                reservation.refresh_from_db()

    def release(
        self, *, reservation: Reservation, now, by=None, refund: RefundChoice | None = None, system: str = ""
    ) -> None:
        """Inside the cancellation's transaction. An unpaid order is cancelled. A paid one is cancelled too
        (the booking is already being undone, so undo=False), and its money:
        - staff answered "refund, and how much?" (`refund`): that amount is refunded (0: kept);
        - a member's cancel (no answer): the shop's policy — refunded in full automatically, or the order
          flagged 要返金 for staff, and the member told so.
        A refund is requested here and sent after the commit, outside every lock; if sending fails, the
        reconciler finishes it. An order already cancelled or refunded by its own path (staff cancelling
        the order, a full refund) is not paid any more, so nothing here touches it again."""
        orders = Order.objects.filter(lines__reservation=reservation).distinct()
        release_booking_orders(
            orders=orders,
            reservation=reservation,
            now=now,
            by=by,
            refund=refund,
            system=system,
            members_cancel=_card_members_cancel,
        )

    def repeat_weeks(self, *, reservation: Reservation) -> list[Reservation]:
        return repeat_weeks_of(reservation)

    def lock_paid_together(self, *, reservation_id: int) -> None:
        lock_order_bookings(reservation_id)

    def refundable_yen(self, *, reservation: Reservation) -> int:
        """What the booking's paid card order could still give back (staff are asked about it); one week of
        a repeat booking whose other weeks stand: that week's share."""
        return refundable_for(reservation)

    def no_show(self, *, reservation: Reservation, now) -> None:
        """A no-show keeps the card payment: nothing is refunded or released."""

    def cancel_note(self, *, reservation: Reservation) -> str | None:
        return money_notes.cancel_note(reservation=reservation, automatic_refund=True)

    def cancel_preview(self, *, reservation: Reservation, now, refund: RefundChoice | None = None):
        return undo.booking_cancel_preview(reservation=reservation, now=now, refund=refund)

    def points_to_earn(self, *, reservation: Reservation) -> int:
        return money_notes.points_to_earn(reservation)

    def money_note(self, *, reservation: Reservation, for_staff: bool = False) -> MoneyNote | None:
        return money_notes.money_note(reservation=reservation, for_staff=for_staff)

    def charged_yen(self, *, reservations: list[Reservation]) -> dict[int, int]:
        return money_notes.charged_yen(reservations=reservations)

    def next_url(self, *, reservation: Reservation) -> str | None:
        if reservation.status == Reservation.Status.AWAITING:
            return None  # paid after the shop approves it, through the e-mailed link
        order = order_for_reservation(reservation)
        if order is None or order.status != Order.Status.PENDING:
            return None  # nothing left to pay (points or discounts brought it to 0 yen): the reservation
        return reverse("payments:checkout", args=[order.pk])

    def payment_url(self, *, reservation: Reservation) -> str | None:
        order = order_for_reservation(reservation)
        if order is None or order.status != Order.Status.PENDING:
            return None
        return payment_link_url(order)

    def price_lines(
        self, *, member, item, quote, extras: dict | None = None, weeks: list | None = None
    ) -> Charge:
        """`weeks`: the quotes of every week of a repeat booking, priced as the one order `authorise_group`
        makes (a line per week)."""
        return money_notes.booking_charge(
            member=member,
            item=item,
            quote=quote,
            payment_method=Order.Method.CARD,
            options=extras,
            weeks=weeks,
        )


def reservation_lines(reservations: list[Reservation]) -> list[LineDraft]:
    """An order's lines for bookings: one per booking, at its price; the weeks of a repeat booking each
    named with their date and time, so the order page and receipt say which week is which."""
    dated = len(reservations) > 1
    return [
        LineDraft(
            kind=OrderLine.Kind.RESERVATION,
            description=(
                f"{reservation.item.name} {local(reservation.starts_at):%Y-%m-%d %H:%M}"
                if dated
                else str(reservation.item.name)
            ),
            unit_price_yen=reservation.price_yen,
            reservation=reservation,
        )
        for reservation in reservations
    ]


# --- repeat bookings: one order, a line per week ------------------------------------------------------


def repeat_weeks_of(reservation: Reservation) -> list[Reservation]:
    """The live weeks of the repeat booking `reservation` belongs to (its order's reservations), in start
    order; [] when its order has a single booking."""
    order = order_for_reservation(reservation)
    if order is None or order.lines.filter(reservation__isnull=False).count() < 2:
        return []
    return list(
        Reservation.objects.filter(order_lines__order=order, status__in=Reservation.LIVE_STATUSES)
        .distinct()
        .order_by("starts_at", "pk")
    )


def lock_order_bookings(reservation_id: int) -> None:
    """Lock every booking of the orders `reservation_id` is a line of, in primary-key order, as order_lock
    takes them (one query; a booking alone in its order locks only itself)."""
    list(
        Reservation.objects.select_for_update(of=("self",))
        .filter(order_lines__order__lines__reservation_id=reservation_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def line_shares_yen(order: Order) -> dict[int, int]:
    """What the member paid for each line of `order` (by line pk): its price less its own price rule discount
    and its share of the other discounts and points (pricing.line_shares). A paid order's lines and amounts
    never change, so this is the same figure every time it is read."""
    lines = list(order.lines.order_by("pk"))
    return {line.pk: share.paid_yen for line, share in zip(lines, line_shares(order, lines), strict=True)}


def week_share_yen(order: Order, reservation: Reservation) -> int:
    return reservation_share(order, reservation.pk).paid_yen


def other_live_weeks(order: Order, reservation: Reservation):
    """The other bookings of `order` (the other weeks of a repeat booking) still live."""
    return Reservation.objects.filter(order_lines__order=order, status__in=Reservation.LIVE_STATUSES).exclude(
        pk=reservation.pk
    )


def refundable_for(reservation: Reservation) -> int:
    """What the booking's paid orders could still give back; for one week of a repeat booking whose other
    weeks stand, that week's share (never more than is left)."""
    total = 0
    for order in Order.objects.filter(
        lines__reservation=reservation, status__in=Order.PAID_STATUSES
    ).distinct():
        left = refundable_left(order)
        if other_live_weeks(order, reservation).exists():
            left = min(left, week_share_yen(order, reservation))
        total += left
    return total


def release_unpaid_order(*, order: Order, reservation: Reservation, by, system: str, now) -> None:
    """A booking cancelled before its order was paid: the order is cancelled with it — or, when other weeks
    of its repeat booking stand, it drops this week's line and asks for that much less (order_reduce): the
    other weeks stay booked, with the same coupon use and the points they were priced with."""
    if other_live_weeks(order, reservation).exists():
        order_reduce(
            order=order,
            reservation=reservation,
            by=by,
            system=system or "repeat_booking",
            reason=str(_("One week of the repeat booking was cancelled before it was paid")),
            now=now,
        )
        return
    order_cancel(order=order, by=by, system=system, now=now, undo=False)


def release_one_week(
    *, order: Order, reservation: Reservation, now, by, refund: RefundChoice | None, system: str
) -> None:
    """One week of a paid repeat booking cancelled while other weeks stand: the order stays (its coupon
    stays used, its points as they are) and only this week's share goes back — staff's answer when they gave
    one; a member's cancel by the shop's policy (a card payment refunded automatically, cash or the 要返金
    policy flagged for staff). A refund makes the order partially cancelled (一部キャンセル); the last week
    cancelled cancels the whole order, its coupon's use coming back when the coupon says so."""
    share = min(week_share_yen(order, reservation), refundable_left(order))
    if refund is not None:
        amount = min(refund.amount_yen, refundable_left(order))
        reason = refund.reason or shop_text(gettext_noop("Cancelled by the shop"))
        source = Refund.Source.STAFF
    elif (
        order.payment_method == Order.Method.CARD
        and not money_notes.paid_in_cash(order)
        and PaymentSettings.current().refund_policy == PaymentSettings.RefundPolicy.AUTOMATIC
    ):
        amount = share
        reason = shop_text(gettext_noop("One week of a repeat booking cancelled"))
        source = Refund.Source.MEMBER_CANCEL
    else:
        if share > 0:
            order_refund_needed_set(order=order, by=by, system=system, now=now)
        return
    if amount > 0:
        requested = refund_request(
            order=order, amount_yen=amount, reason=reason, by=by, source=source, now=now, system=system
        )
        refund_execute_on_commit(requested, by=by, system=system)


def order_for_reservation(reservation: Reservation) -> Order | None:
    return Order.objects.filter(lines__reservation=reservation).order_by("-pk").first()


class ReservationFulfiller(Fulfiller):
    def check(self, *, line: OrderLine, now) -> None:
        if line.reservation.status == Reservation.Status.AWAITING:
            raise FulfilmentError(
                _("This booking is waiting for the shop's approval. You can pay once it is approved.")
            )

    def fulfil(self, *, line: OrderLine, now) -> None:
        reservation = line.reservation
        if reservation.status not in Reservation.LIVE_STATUSES:
            # Paid after the hold ran out: the place may be gone. Staff refund it (issue 4 follow-up).
            raise FulfilmentError(_("The reservation was released before the payment arrived."))
        inventory_services.reservation_confirm(reservation=reservation, by=None, system="order_paid", now=now)

    def undo(self, *, line: OrderLine, now, by) -> None:
        reservation = Reservation.objects.get(pk=line.reservation_id)
        if reservation.is_live:
            with transaction.atomic():
                inventory_services.reservation_cancel(
                    reservation=reservation,
                    by=by,
                    system="order_undone",
                    as_staff=True,
                    reason=str(_("Order cancelled")),
                    now=now,
                )


def _card_members_cancel(*, order: Order, by, system: str, now) -> None:
    """A member's cancel of a paid card order: cash taken at the counter instead cannot go back by itself;
    otherwise the shop's policy — refunded in full automatically, or flagged 要返金 for staff."""
    if money_notes.paid_in_cash(order):
        order_refund_needed_set(order=order, by=by, system=system, now=now)
    elif PaymentSettings.current().refund_policy == PaymentSettings.RefundPolicy.AUTOMATIC:
        left = refundable_left(order)
        if left > 0:
            requested = refund_request(
                order=order,
                amount_yen=left,
                reason=shop_text(gettext_noop("Cancelled before the deadline")),
                by=by,
                source=Refund.Source.MEMBER_CANCEL,
                now=now,
                system=system,
            )
            refund_execute_on_commit(requested, by=by, system=system)
    elif refundable_left(order) > 0:  # nothing to decide about an order points paid in full
        order_refund_needed_set(order=order, by=by, system=system, now=now)


def release_booking_orders(
    *, orders, reservation: Reservation, now, by, refund: RefundChoice | None, system: str, members_cancel
) -> None:
    """What cancelling `reservation` does to its `orders` (card or counter), inside the cancellation's
    transaction: an unpaid order is cancelled with it; a paid one loses only this week's share when other
    weeks of a repeat booking stand; otherwise it is cancelled (undo=False: the booking is already being
    undone), with what its points need (staff's choice in `refund`), and its money: staff's answer
    (`refund`: that amount, less points deducted in yen; 0 keeps it) is requested and sent after the commit;
    a member's cancel (no answer) goes to the method's `members_cancel(order=, by=, system=, now=)`."""
    orders = orders.order_by("pk")
    for order in orders.filter(status=Order.Status.PENDING):
        release_unpaid_order(order=order, reservation=reservation, by=by, system=system, now=now)
    for order in orders.filter(status__in=Order.PAID_STATUSES):
        if other_live_weeks(order, reservation).exists():
            release_one_week(
                order=order, reservation=reservation, now=now, by=by, refund=refund, system=system
            )
            continue
        # Points it earned and the member spent stop a member's cancel; staff chose how to settle them.
        terms, deducted = undo.release_paid_order(order=order, now=now, refund=refund)
        order_cancel(order=order, by=by, system=system, now=now, undo=False, terms=terms)
        if refund is None:
            members_cancel(order=order, by=by, system=system, now=now)
        elif refund.amount_yen - deducted > 0:
            requested = refund_request(
                order=order,
                amount_yen=refund.amount_yen - deducted,
                reason=refund.reason or shop_text(gettext_noop("Cancelled by the shop")),
                by=by,
                source=Refund.Source.STAFF,
                now=now,
                system=system,
            )
            refund_execute_on_commit(requested, by=by, system=system)
