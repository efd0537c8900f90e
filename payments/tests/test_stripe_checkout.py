"""Stripe Checkout through the official client against a local HTTP double of Stripe's API."""

from datetime import date

import pytest
from django.urls import reverse

from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, OrderLine, Product, Refund
from payments.reservations import order_for_reservation
from payments.services import LineDraft, order_create

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.mark.parametrize("price", [1, 980, 3300, 128000])
def test_the_amount_sent_to_stripe_is_the_yen_price(client, stripe_api, price):
    # given a pending order for a product at `price` yen (JPY is zero-decimal: no × 100)
    member = MemberFactory()
    product = Product.objects.create(sku=f"SKU-{price}", name="回数券10回", price_yen=price)
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=product.name, unit_price_yen=price, product=product
            )
        ],
        payment_method=Order.Method.COUNTER,
    )
    client.force_login(member)
    # when the member goes to pay
    response = client.get(reverse("payments:checkout", args=[order.pk]))
    # then a Checkout Session in payment mode is made for exactly that amount, and the member sent to it
    sent = stripe_api.requests[-1]
    assert sent["path"] == "/v1/checkout/sessions"
    assert sent["form"]["mode"] == "payment"
    assert sent["form"]["line_items[0][price_data][currency]"] == "jpy"
    assert sent["form"]["line_items[0][price_data][unit_amount]"] == str(price)
    assert sent["form"]["metadata[order_id]"] == str(order.pk)
    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.test/")
    order.refresh_from_db()
    assert order.stripe_checkout_session_id == "cs_test_1"


def test_a_discounted_booking_is_charged_its_total(client, stripe_api, settings):
    # given a member with a 10 % member discount who booked 2 hours (2,000 yen) by card
    ReservationSettingsFactory()
    member = MemberFactory(member_discount_pct=10)
    item = ItemFactory(units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=member, by=member, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    client.force_login(member)
    # when
    client.get(reverse("payments:checkout", args=[order.pk]))
    # then Stripe is asked for 1,800 yen, in one line
    form = stripe_api.requests[-1]["form"]
    assert form["line_items[0][price_data][unit_amount]"] == "1800"
    assert "line_items[1][quantity]" not in form


def test_opening_the_payment_page_twice_reuses_the_session(client, stripe_api):
    member = MemberFactory()
    product = Product.objects.create(sku="SKU-X", name="体験チケット", price_yen=500)
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=product.name, unit_price_yen=500, product=product
            )
        ],
        payment_method=Order.Method.CARD,
    )
    client.force_login(member)
    first = client.get(reverse("payments:checkout", args=[order.pk]))["Location"]
    keys = {r["idempotency_key"] for r in stripe_api.requests}
    assert len(keys) == 1
    assert first.endswith("cs_test_1")


def _paid_card_booking():
    from payments.services import order_mark_paid

    ReservationSettingsFactory()
    member = MemberFactory()
    item = ItemFactory(units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=member, by=member, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    Order.objects.filter(pk=order.pk).update(stripe_payment_intent_id="pi_test_9")
    order_mark_paid(order=order, now=NOW)
    order.refresh_from_db()
    return reservation, order


def test_partial_then_full_refund_go_back_through_stripe(stripe_api):
    from inventory.models import Reservation
    from payments.services import order_refund

    # given a paid 2,000-yen card booking
    reservation, order = _paid_card_booking()
    staff = MemberFactory(is_staff=True)
    # when 500 yen is refunded
    first = order_refund(order=order, amount_yen=500, reason="一部返金", by=staff, now=NOW)
    # then Stripe was asked for 500 yen on the payment intent, with the refund's idempotency key
    sent = stripe_api.requests[-1]
    assert sent["path"] == "/v1/refunds"
    assert sent["form"] == {
        "payment_intent": "pi_test_9",
        "amount": "500",
        "metadata[refund_id]": str(first.pk),
        "metadata[order_id]": str(order.pk),
    }
    assert sent["idempotency_key"] == f"refund-{first.pk}"
    assert first.state == Refund.State.SUCCEEDED
    order.refresh_from_db()
    reservation.refresh_from_db()
    # (a part refunded: the order is partially cancelled, its booking stands)
    assert (order.status, order.refunded_yen) == (Order.Status.PARTIALLY_CANCELLED, 500)
    assert reservation.status == Reservation.Status.CONFIRMED
    # and more than what is left is refused, changing nothing
    from payments.exceptions import OrderError

    with pytest.raises(OrderError, match="1,500"):
        order_refund(order=order, amount_yen=1501, reason="x", by=staff, now=NOW)
    # when the rest is refunded, the order is refunded and the booking cancelled
    order_refund(order=order, amount_yen=1500, reason="全額返金", by=staff, now=NOW)
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.REFUNDED, 2000)
    assert reservation.status == Reservation.Status.CANCELLED
    assert [r["form"]["amount"] for r in stripe_api.requests if r["path"] == "/v1/refunds"] == ["500", "1500"]


def test_a_monthly_product_is_sold_in_subscription_mode(client, stripe_api):
    member = MemberFactory()
    product = Product.objects.create(
        sku="PLAN-M", name="月4回プラン", price_yen=9800, kind=Product.Kind.MONTHLY
    )
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=product.name, unit_price_yen=9800, product=product
            )
        ],
        payment_method=Order.Method.CARD,
    )
    client.force_login(member)
    client.get(reverse("payments:checkout", args=[order.pk]))
    form = stripe_api.requests[-1]["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][recurring][interval]"] == "month"
    assert form["line_items[0][price_data][unit_amount]"] == "9800"


def test_in_a_subscription_only_the_monthly_line_recurs(client, stripe_api):
    # given an order of a monthly product and a one-time enrollment fee
    member = MemberFactory()
    monthly = Product.objects.create(
        sku="PLAN-M2", name="月4回プラン", price_yen=9800, kind=Product.Kind.MONTHLY
    )
    fee = Product.objects.create(sku="FEE-1", name="入会金", price_yen=3300, is_fee=True)
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(kind=OrderLine.Kind.PRODUCT, description=fee.name, unit_price_yen=3300, product=fee),
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=monthly.name, unit_price_yen=9800, product=monthly
            ),
        ],
        payment_method=Order.Method.CARD,
    )
    client.force_login(member)
    # when the member goes to pay
    client.get(reverse("payments:checkout", args=[order.pk]))
    # then the session is in subscription mode, the fee charged once and only the monthly price recurring
    form = stripe_api.requests[-1]["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][unit_amount]"] == "3300"
    assert "line_items[0][price_data][recurring][interval]" not in form
    assert form["line_items[1][price_data][unit_amount]"] == "9800"
    assert form["line_items[1][price_data][recurring][interval]"] == "month"
