from datetime import date

import pytest
from django.urls import reverse

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Refund, StripeEvent
from payments.reservations import order_for_reservation
from payments.services import order_mark_paid

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture
def paid_order():
    ReservationSettingsFactory()
    item = ItemFactory(units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=(booker := MemberFactory()), by=booker, item=item, starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    Order.objects.filter(pk=order.pk).update(stripe_payment_intent_id="pi_admin")
    return order_mark_paid(order=order, now=NOW)


def test_the_refund_page_asks_first_and_shows_what_can_be_refunded(admin_client, paid_order, stripe_api):
    url = reverse("admin:payments_order_refund", args=[paid_order.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "¥2,000" in page.content.decode()
    assert not Refund.objects.exists()
    assert stripe_api.requests == []
    # the order page offers it
    change = admin_client.get(reverse("admin:payments_order_change", args=[paid_order.pk])).content.decode()
    assert url in change


def test_staff_refund_part_through_stripe_with_a_reason(admin_client, admin_user, paid_order, stripe_api):
    url = reverse("admin:payments_order_refund", args=[paid_order.pk])
    response = admin_client.post(url, {"amount_yen": "800", "reason": "設備トラブルのため一部返金"})
    assert response.status_code == 302
    refund = Refund.objects.get()
    assert (refund.amount_yen, refund.created_by, refund.stripe_refund_id) == (800, admin_user, "re_test_1")
    assert refund.state == Refund.State.SUCCEEDED
    assert stripe_api.requests[-1]["form"] == {
        "payment_intent": "pi_admin",
        "amount": "800",
        "metadata[refund_id]": str(refund.pk),
        "metadata[order_id]": str(paid_order.pk),
    }
    assert stripe_api.requests[-1]["idempotency_key"] == f"refund-{refund.pk}"
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_yen) == (Order.Status.PARTIALLY_CANCELLED, 800)


def test_too_large_a_refund_is_refused_next_to_the_amount_and_changes_nothing(
    admin_client, paid_order, stripe_api
):
    url = reverse("admin:payments_order_refund", args=[paid_order.pk])
    response = admin_client.post(url, {"amount_yen": "2001", "reason": "誤入力"})
    assert response.status_code == 200
    assert response.context["form"].errors["amount_yen"]
    assert not Refund.objects.exists()
    assert stripe_api.requests == []


def test_a_full_refund_cancels_the_booking(admin_client, paid_order, stripe_api):
    admin_client.post(
        reverse("admin:payments_order_refund", args=[paid_order.pk]),
        {"amount_yen": "2000", "reason": "全額返金"},
    )
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.REFUNDED
    reservation = Reservation.objects.get()
    assert reservation.status == Reservation.Status.CANCELLED


def test_the_stripe_event_log_lists_events_read_only(admin_client, paid_order, django_assert_max_num_queries):
    for n in range(3):
        StripeEvent.objects.create(
            event_id=f"evt_{n}", type="invoice.paid", stripe_created=NOW, payload={"id": f"evt_{n}"},
            order=paid_order, result="recorded",
        )  # fmt: skip
    url = reverse("admin:payments_stripeevent_changelist")
    with django_assert_max_num_queries(12):
        page = admin_client.get(url)
    assert page.status_code == 200
    assert "evt_2" in page.content.decode()
    assert admin_client.get(reverse("admin:payments_stripeevent_add")).status_code == 403


def _pending_card_order_with_session():
    ReservationSettingsFactory()
    item = ItemFactory(units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=(booker := MemberFactory()), by=booker, item=item, starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_open_1")
    order.refresh_from_db()
    return order


def test_marking_a_card_order_paid_at_the_counter_closes_its_checkout_session(stripe_api):
    from payments.counter import counter_payment_receive

    order = _pending_card_order_with_session()
    counter_payment_receive(order=order, how="cash", by=MemberFactory(is_staff=True), now=NOW)
    assert stripe_api.requests[-1]["path"] == "/v1/checkout/sessions/cs_open_1/expire"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_card_payment_that_already_completed_is_not_marked_paid_twice(stripe_api):
    from payments.counter import counter_payment_receive
    from payments.exceptions import OrderError

    order = _pending_card_order_with_session()
    stripe_api.completed_sessions.add("cs_open_1")
    with pytest.raises(OrderError):
        counter_payment_receive(order=order, how="cash", by=MemberFactory(is_staff=True), now=NOW)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
