"""Shared set-up of the money tests: a card booking or a ticket paid through Stripe's webhook (so it has
its Payment row), with the payment known to the Stripe double."""

from __future__ import annotations

from datetime import date

from django.test import Client

from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, PaymentSettings
from payments.reservations import order_for_reservation
from payments.tests.test_webhooks import event, post, session_completed, sign

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")
LATER = jst(date(2027, 6, 2), "09:00")  # well before the booking's cancel deadline


def pay_by_card(double, order: Order, intent: str) -> Order:
    """The member paid on Stripe Checkout: the signed checkout.session.completed webhook arrives."""
    double.add_payment(intent, order.total_yen)
    payload = event(
        "checkout.session.completed",
        session_completed(order, id=f"cs_{intent}", payment_intent=intent),
        event_id=f"evt_paid_{intent}",
    )
    response = post(Client(), payload, sign(payload))
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return order


def paid_card_booking(double, *, intent: str = "pi_paid", price: int = 1000):
    """A member's 2-hour card booking (2 × `price` yen), paid."""
    ReservationSettingsFactory()
    member = MemberFactory()
    item = ItemFactory(units=[(60, price)], stock=1)
    reservation = reservation_create(
        member=member, by=member, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = pay_by_card(double, order_for_reservation(reservation), intent)
    reservation.refresh_from_db()
    return member, reservation, order


def set_refund_policy(policy: str) -> None:
    PaymentSettings.current()
    PaymentSettings.objects.filter(pk=1).update(refund_policy=policy)


def charge_refunded(order: Order, intent: str, amount_refunded: int, *, event_id: str, refunds=None) -> str:
    charge = {
        "id": f"ch_{intent}", "object": "charge", "payment_intent": intent, "amount": order.total_yen,
        "amount_refunded": amount_refunded, "metadata": {"order_id": str(order.pk)},
    }  # fmt: skip
    if refunds is not None:
        charge["refunds"] = {"object": "list", "data": refunds, "has_more": False}
    return event("charge.refunded", charge, event_id=event_id)
