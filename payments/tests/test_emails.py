import pytest
from django.core import mail

from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, OrderLine, PaymentSettings, Product
from payments.reservations import order_for_reservation
from payments.services import LineDraft, order_create, order_mark_paid, payment_test_gateway_result
from payments.tests.money import MONDAY, NOW
from tickets.services import ticket_issue
from tickets.tests.factories import TicketTypeFactory


@pytest.mark.django_db(transaction=True)
def test_the_purchase_mail_is_sent_by_the_worker_when_the_order_is_paid(celery_worker):
    # given a pending counter order for a 10-use punch card
    member = MemberFactory(email="buyer@example.com", name="購入 花子")
    product = Product.objects.create(sku="TICKET-10", name="回数券10回", price_yen=15000)
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=product.name, unit_price_yen=15000, product=product
            )
        ],
        payment_method=Order.Method.COUNTER,
    )
    # when staff record the counter payment
    order_mark_paid(order=order)
    # then the worker mails the member the lines and the total
    message = celery_worker.wait_for("buyer@example.com", body_contains="回数券10回")
    body = celery_worker.body(message)
    assert "¥15,000" in body
    assert str(order.pk) in body
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_the_mails_say_what_is_charged_and_hide_the_discount_when_the_shop_hides_it(celery_worker):
    # given a shop that hides the member discount, and a 5% member booking a 2,000-yen item by card
    PaymentSettings.current()
    PaymentSettings.objects.filter(pk=1).update(show_member_discount=False)
    ReservationSettingsFactory()
    member = MemberFactory(email="discount@example.com", member_discount_pct=5)
    item = ItemFactory(name="テント", units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=member, by=member, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    # when the booking is made, then its mail says the 1,900 yen the card will be charged, never 2,000
    booked = celery_worker.body(celery_worker.wait_for("discount@example.com", body_contains="テント"))
    assert "¥1,900" in booked
    assert "¥2,000" not in booked
    # when it is paid, then the receipt mail folds the discount in: no discount line, lines adding up to 1,900
    payment_test_gateway_result(order=order_for_reservation(reservation), succeeded=True, by=member, now=NOW)
    paid = celery_worker.body(
        celery_worker.wait_for("discount@example.com", body_contains="テント × 1: ¥1,900")
    )
    assert "¥2,000" not in paid
    assert "-¥100" not in paid


@pytest.mark.django_db(transaction=True)
def test_a_ticket_booking_mail_says_nothing_is_charged(celery_worker):
    # given a member holding a ticket for a 2,500-yen lesson
    ReservationSettingsFactory()
    member = MemberFactory(email="ticket@example.com")
    lesson = ItemFactory(name="ヨガ", units=[(60, 2500)], stock=1)
    kind = TicketTypeFactory(uses=5, items=[lesson])
    ticket_issue(member=member, ticket_type=kind, source="manual", by=None, system="tests")
    # when they book with it
    reservation_create(
        member=member, by=member, item=lesson, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"),
        payment_method="ticket", now=NOW,
    )  # fmt: skip
    # then the mail's price is what was charged: nothing
    booked = celery_worker.body(celery_worker.wait_for("ticket@example.com", body_contains="ヨガ"))
    assert "¥0" in booked
    assert "¥2,500" not in booked
