"""Orders: create (through the price pipeline), mark paid (fulfils), cancel (undoes fulfilment), and the
要返金 flag. Money movements (payments in, refunds out) are in checkout.py and refunds.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.audit import audit_log
from core.emails import queue_templated_email
from payments import pricing, registry
from payments.exceptions import OrderError
from payments.models import Order, OrderLine, Payment, Product
from payments.pricing import price_draft

# The audit trail's name for a change nobody in particular made (a caller that passed neither `by` nor
# `system`): the payments code itself.
DEFAULT_SYSTEM = "payments"


def actor(by, system: str = "") -> dict:
    """audit_log's `by` and `system`: the person acting, or the named system job."""
    return {"by": by, "system": "" if by is not None else (system or DEFAULT_SYSTEM)}


@dataclass(frozen=True)
class LineDraft:
    kind: str
    description: str
    unit_price_yen: int
    quantity: int = 1
    product: Product | None = None
    reservation: object | None = None
    # The booked item of a reservation line not booked yet (the confirm page's preview), so a discount
    # scoped to items or categories (promotions) can tell which line it applies to before the booking exists.
    item: object | None = None
    # Its booked start likewise: price rules (promotions) match the booked time, not the time of ordering.
    starts_at: datetime | None = None


@transaction.atomic
def order_create(
    *,
    member,
    lines: list[LineDraft],
    payment_method: str,
    by,
    system: str = "",
    options: dict | None = None,
    now: datetime | None = None,
) -> Order:
    """An order of `lines` for `member`, priced by the pipeline; `by` made it (the member buying or
    booking, staff taking a booking; None with the system job that did)."""
    if not lines:
        raise OrderError(gettext("An order needs at least one line."))
    now = now or timezone.now()
    draft = price_draft(member=member, lines=lines, payment_method=payment_method, options=options, now=now)
    if draft.total_yen < 0:
        raise OrderError(gettext("The discounts are larger than the price."))
    order = Order.objects.create(
        member=member,
        payment_method=payment_method,
        subtotal_yen=draft.subtotal_yen,
        price_rule_discount_yen=draft.price_rule_discount_yen,
        member_discount_yen=draft.member_discount_yen,
        coupon_discount_yen=draft.coupon_discount_yen,
        points_used=draft.points_used,
        total_yen=draft.total_yen,
        points_to_earn=draft.points_to_earn,
    )
    rule_discounts = draft.line_rule_discounts or [0] * len(lines)
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            kind=line.kind,
            product=line.product,
            reservation=line.reservation,
            description=line.description[:200],
            quantity=line.quantity,
            unit_price_yen=line.unit_price_yen,
            price_rule_discount_yen=rule_discount,
        )
        for line, rule_discount in zip(lines, rule_discounts, strict=True)
    )
    for listener in registry.order_listeners():
        listener.created(order=order, by=by, system=system, now=now, options=options or {})
    audit_log(
        action="order.created",
        obj=order,
        payload={
            "payment_method": payment_method,
            "total_yen": order.total_yen,
            "member_discount_yen": order.member_discount_yen,
            "lines": [f"{line.description[:60]} × {line.quantity}" for line in lines],
        },
        now=now,
        **actor(by, system),
    )
    return order


def order_check_payable(*, order: Order, now: datetime | None = None) -> None:
    """Raise DomainError when a line can no longer be paid for (a ticket's purchase limit reached by
    another order meanwhile), before the member is sent to pay. Fulfilment checks again when paid."""
    now = now or timezone.now()
    for line in order.lines.select_related("product").order_by("pk"):
        registry.check_line(line=line, now=now)


def order_lock(order: Order | int) -> Order:
    """Lock an order for a change, its reservations first.

    A member's cancel locks the reservation, then (releasing its payment) the order; a refund or an order
    cancel locks the order, then (undoing its lines) the reservation. Taking the reservations first here
    too gives every path the same order, so the two never deadlock."""
    from inventory.models import Reservation

    pk = order if isinstance(order, int) else order.pk
    list(Reservation.objects.select_for_update(of=("self",)).filter(order_lines__order_id=pk).order_by("pk"))
    return Order.objects.select_for_update().get(pk=pk)


@transaction.atomic
def order_mark_paid(*, order: Order, by=None, now: datetime | None = None, system: str = "") -> Order:
    """入金: pending → paid, then every line is fulfilled in the same transaction. Paying twice (a webhook
    received again, staff clicking twice) changes nothing the second time."""
    now = now or timezone.now()
    order = order_lock(order)
    if order.status in Order.PAID_STATUSES:
        return order
    if order.status != Order.Status.PENDING:
        raise OrderError(gettext("Only a pending order can be marked as paid."))
    order.status = Order.Status.PAID
    order.paid_at = now
    order.save(update_fields=["status", "paid_at", "updated_at"])
    for line in order.lines.select_related("product").order_by("pk"):
        if line.fulfilled_at is None:
            registry.fulfiller_for(line.kind).fulfil(line=line, now=now)
            line.fulfilled_at = now
            line.save(update_fields=["fulfilled_at"])
    for listener in registry.order_listeners():
        listener.paid(order=order, by=by, system=system, now=now)
    audit_log(
        action="order.paid",
        obj=order,
        payload={"total_yen": order.total_yen, "payment_method": order.payment_method},
        now=now,
        **actor(by, system),
    )
    queue_templated_email(
        template="payments/order_paid",
        # The amounts as the member sees them everywhere (the discount folded in when the shop hides it).
        context={
            "order": order,
            "shown": pricing.order_shown(order=order, lines=order.lines.all()),
            "member_name": order.member.name,
        },
        to=[order.member.email],
    )
    return order


@transaction.atomic
def order_cancel(
    *,
    order: Order,
    by=None,
    now: datetime | None = None,
    undo: bool = True,
    system: str = "",
    terms: registry.UndoTerms | None = None,
) -> Order:
    """Cancel a pending or paid order and undo what its lines delivered. Money goes back separately,
    through a refund (refund_request). `undo=False` when the cancellation comes from what the line
    delivered (a booking cancelled by its member releases its order; the booking is already being undone).

    The status changes before the lines are undone: undoing a booking releases its payment method, which
    must see the order as cancelled already, or it would take the cancel for a member's and refund it."""
    now = now or timezone.now()
    order = order_lock(order)
    if order.status == Order.Status.CANCELLED:
        return order
    if order.status not in (Order.Status.PENDING, *Order.PAID_STATUSES):
        raise OrderError(gettext("This order can no longer be cancelled."))
    before = order.status
    order.status = Order.Status.CANCELLED
    order.cancelled_at = now
    order.save(update_fields=["status", "cancelled_at", "updated_at"])
    for line in order.lines.order_by("pk") if undo else ():
        registry.fulfiller_for(line.kind).undo(line=line, now=now, by=by)
    # Listeners always run: a booking cancelled by its member (undo=False) still gives its points back.
    for listener in registry.order_listeners():
        listener.undone(order=order, by=by, system=system, now=now, terms=terms or registry.UndoTerms())
    audit_log(
        action="order.cancelled",
        obj=order,
        payload={"changes": {"status": [before, order.status]}, "undo": undo},
        now=now,
        **actor(by, system),
    )
    return order


@transaction.atomic
def order_reduce(
    *, order: Order, reservation, by=None, system: str = "", reason: str = "", now: datetime | None = None
) -> Order:
    """A pending order of several bookings (the weeks of a repeat booking) loses the line of `reservation`,
    cancelled before the order was paid: nothing was paid, so instead of a refund the order asks for less.
    Every amount drops by exactly the week's part (pricing.line_shares: its own price rule discount, its
    share of the member discount, coupon and points), so the total drops by what cancelling that week of a
    paid order would refund. The listeners follow (`reduced`): points spent on it come back in part, the
    coupon's recorded discount shrinks, its use stays taken. A card payment opened for the old amount is
    cancelled (its Stripe session closed after the commit); paying it anyway is refunded whole
    (payment_succeeded). The last line is never dropped: cancel the order instead."""
    now = now or timezone.now()
    order = order_lock(order)
    if order.status != Order.Status.PENDING:
        raise OrderError(gettext("Only an unpaid order can be reduced."))
    lines = list(order.lines.order_by("pk"))
    gone = [index for index, line in enumerate(lines) if line.reservation_id == reservation.pk]
    if not gone or len(gone) == len(lines):
        raise OrderError(gettext("This order cannot drop that booking; cancel the whole order instead."))
    dropped = pricing.reservation_share(order, reservation.pk, lines=lines)
    before = {
        "subtotal_yen": order.subtotal_yen,
        "price_rule_discount_yen": order.price_rule_discount_yen,
        "member_discount_yen": order.member_discount_yen,
        "coupon_discount_yen": order.coupon_discount_yen,
        "points_used": order.points_used,
        "total_yen": order.total_yen,
    }
    order.subtotal_yen -= dropped.subtotal_yen
    order.price_rule_discount_yen -= dropped.price_rule_yen
    order.member_discount_yen -= dropped.member_discount_yen
    order.coupon_discount_yen -= dropped.coupon_yen
    order.points_used -= dropped.points_yen
    order.total_yen -= dropped.paid_yen
    stale_sessions = list(
        order.payments.filter(state__in=(Payment.State.CREATED, Payment.State.PENDING))
        .exclude(stripe_checkout_session_id="")
        .values_list("stripe_checkout_session_id", flat=True)
    )
    order.payments.filter(state__in=(Payment.State.CREATED, Payment.State.PENDING)).update(
        state=Payment.State.CANCELLED, error="the order was reduced: a new payment asks for the new amount"
    )
    order.stripe_checkout_session_id = ""
    removed = [f"{lines[index].description[:60]} × {lines[index].quantity}" for index in gone]
    OrderLine.objects.filter(pk__in=[lines[index].pk for index in gone]).delete()
    order.save(
        update_fields=[*before, "stripe_checkout_session_id", "updated_at"],
    )
    for listener in registry.order_listeners():
        listener.reduced(order=order, dropped=dropped, by=by, system=system, now=now)
    audit_log(
        action="order.reduced",
        obj=order,
        payload={
            "reservation": reservation.pk,
            "lines": removed,
            "reason": reason,
            "changes": {name: [value, getattr(order, name)] for name, value in before.items()},
        },
        now=now,
        **actor(by, system),
    )
    if stale_sessions:
        transaction.on_commit(lambda: _expire_sessions(stale_sessions))
    return order


def _expire_sessions(session_ids: list[str]) -> None:
    """Close Checkout Sessions opened for an amount the order no longer asks (after the commit, never under
    a lock). One that completed meanwhile is refunded whole when its payment arrives."""
    from payments import stripe_api
    from payments.gateway import using_test_gateway

    if using_test_gateway():
        return
    for session_id in session_ids:
        stripe_api.checkout_session_expire(session_id)


@transaction.atomic
def order_refund_needed_set(*, order: Order, by=None, now: datetime | None = None, system: str = "") -> Order:
    """要返金: the member cancelled a paid booking and the shop's policy leaves the refund to staff. The
    member is told the shop will contact them."""
    now = now or timezone.now()
    order = order_lock(order)
    if order.refund_needed:
        return order
    order.refund_needed = True
    order.save(update_fields=["refund_needed", "updated_at"])
    audit_log(
        action="order.refund_needed",
        obj=order,
        payload={"changes": {"refund_needed": [False, True]}},
        now=now,
        **actor(by, system),
    )
    queue_templated_email(
        template="payments/refund_needed",
        context={"order": order, "member_name": order.member.name},
        to=[order.member.email],
    )
    return order


@transaction.atomic
def order_refund_needed_clear(
    *, order: Order, by, note: str = "", now: datetime | None = None, system: str = ""
) -> Order:
    """Staff decided about a 要返金 order without refunding (or refunded it: refund_request clears the
    flag itself). `note` says why, for the audit trail."""
    now = now or timezone.now()
    order = order_lock(order)
    if not order.refund_needed:
        raise OrderError(
            gettext("Order #%(number)s is not waiting for a refund decision.") % {"number": order.pk}
        )
    _refund_needed_cleared(order=order, by=by, system=system, now=now, decision="no_refund", note=note)
    return order


def _refund_needed_cleared(*, order: Order, by, system: str, now: datetime, decision: str, note: str = ""):
    order.refund_needed = False
    order.save(update_fields=["refund_needed", "updated_at"])
    audit_log(
        action="order.refund_needed_cleared",
        obj=order,
        payload={"changes": {"refund_needed": [True, False]}, "decision": decision, "note": note[:200]},
        now=now,
        **actor(by, system),
    )
