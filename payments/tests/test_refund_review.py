"""Money paths found by reviewing the refund layer: each would have recorded money as refunded that never
left, or left an order paid and delivered with its money gone back."""

from datetime import timedelta

import pytest
from django.test import Client

from core.models import AuditEntry
from inventory.models import Reservation
from inventory.services import release_unpaid_reservations, reservation_cancel, reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.counter import counter_payment_receive
from payments.models import Order, Payment, Refund
from payments.reservations import order_for_reservation
from payments.services import (
    order_refund_needed_set,
    order_refund_unclaimed_payment,
    refund_execute,
    refund_request,
    refunds_record_amount_from_stripe,
)
from payments.tests.money import LATER, MONDAY, NOW, charge_refunded, paid_card_booking
from payments.tests.test_webhooks import SECRET, event, post, session_completed, sign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def card_booking():
    ReservationSettingsFactory()
    member = MemberFactory()
    item = ItemFactory(units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=member, by=member, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    return member, reservation, order_for_reservation(reservation)


def test_a_card_booking_paid_in_cash_at_the_counter_is_not_refunded_by_itself_when_cancelled(stripe_api):
    # given a card booking the member paid in cash at the counter instead
    member, reservation, order = card_booking()
    counter_payment_receive(order=order, how="cash", by=MemberFactory(is_staff=True), now=NOW)
    # when the member cancels before the deadline (refunds are automatic by default)
    reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    # then nothing is recorded as refunded: the order waits for staff (要返金), who hand the cash back
    order.refresh_from_db()
    assert (order.status, order.refund_needed, order.refunded_yen) == (Order.Status.CANCELLED, True, 0)
    assert not Refund.objects.exists()
    assert stripe_api.refund_requests() == []


def test_a_dashboard_refund_that_arrives_before_the_payment_undoes_the_order_once_it_is_paid(stripe_api):
    # given a pending card order whose charge was refunded in full in the dashboard before its payment
    # webhook came
    _member, reservation, order = card_booking()
    stripe_api.add_payment("pi_early", 2000)
    made = stripe_api.refund_in_dashboard("pi_early", 2000)
    refunded = charge_refunded(order, "pi_early", 2000, event_id="evt_refund_first", refunds=[made])
    assert post(Client(), refunded, sign(refunded)).status_code == 200
    # when the payment webhook arrives after it
    paid = event(
        "checkout.session.completed",
        session_completed(order, id="cs_early", payment_intent="pi_early"),
        event_id="evt_paid_late",
    )
    assert post(Client(), paid, sign(paid)).status_code == 200
    # then the order is refunded and its booking cancelled, not left paid and confirmed
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.REFUNDED, 2000)
    assert reservation.status == Reservation.Status.CANCELLED


def test_the_refunded_total_never_counts_our_refund_on_its_way_as_a_dashboard_one(stripe_api):
    # given 1,000 yen of a paid 2,000-yen order being refunded by staff (pending: Stripe's id not recorded)
    _member, _reservation, order = paid_card_booking(stripe_api)
    refund = refund_request(order=order, amount_yen=1000, reason="一部返金", by=MemberFactory(is_staff=True))
    Refund.objects.filter(pk=refund.pk).update(state=Refund.State.PENDING)
    # when a charge.refunded says 1,000 yen was refunded, without the list of refunds
    refunds_record_amount_from_stripe(order=order, amount_refunded_yen=1000, system="tests")
    # then nothing is recorded as made in the dashboard: that 1,000 yen is ours
    assert not Refund.objects.filter(state=Refund.State.EXTERNAL).exists()


def test_an_automatic_refund_of_a_second_payment_does_not_decide_a_refund_staff_must_decide(stripe_api):
    # given a paid order flagged 要返金, and a second card payment of it that is refunded automatically
    _member, _reservation, order = paid_card_booking(stripe_api)
    order_refund_needed_set(order=order, system="tests")
    second = Payment.objects.create(
        order=order, provider=Payment.Provider.STRIPE, state=Payment.State.CANCELLED, amount_yen=2000,
        stripe_payment_intent_id="pi_second",
    )  # fmt: skip
    order_refund_unclaimed_payment(order=order, payment=second, why="paid twice", system="tests")
    # then the order still waits for staff
    order.refresh_from_db()
    assert order.refund_needed is True
    assert not AuditEntry.objects.filter(action="order.refund_needed_cleared").exists()


def test_a_card_refund_with_no_payment_intent_fails_and_waits_for_staff_instead_of_counting_as_made(
    stripe_api,
):
    # given a paid card order whose payment intent was never recorded
    _member, _reservation, order = paid_card_booking(stripe_api)
    Payment.objects.filter(order=order).update(stripe_payment_intent_id="")
    Order.objects.filter(pk=order.pk).update(stripe_payment_intent_id="")
    # when staff refund it
    staff = MemberFactory(is_staff=True)
    refund = refund_request(order=order, amount_yen=2000, reason="返金", by=staff)
    refund = refund_execute(refund=refund, by=staff)
    # then nothing is pretended: the refund failed, no money is counted back, the order waits (要返金)
    order.refresh_from_db()
    assert refund.state == Refund.State.FAILED
    assert (order.refunded_yen, order.refund_needed, order.status) == (0, True, Order.Status.PAID)
    assert stripe_api.refund_requests() == []


def test_a_second_payment_given_back_is_not_counted_as_a_refund_of_the_paid_order(stripe_api):
    # given a paid 2,000-yen order, paid a second time by card and that payment refunded automatically
    _member, _reservation, order = paid_card_booking(stripe_api)
    stripe_api.add_payment("pi_second", 2000)
    second = Payment.objects.create(
        order=order, provider=Payment.Provider.STRIPE, state=Payment.State.CANCELLED, amount_yen=2000,
        stripe_payment_intent_id="pi_second",
    )  # fmt: skip
    refund = order_refund_unclaimed_payment(order=order, payment=second, why="paid twice", system="tests")
    refund_execute(refund=refund, system="tests")
    # then the order is still paid with nothing of its own refunded, and all of it can still be refunded
    order.refresh_from_db()
    assert Refund.objects.get(pk=refund.pk).state == Refund.State.SUCCEEDED
    assert (order.status, order.refunded_yen) == (Order.Status.PAID, 0)


def test_an_unpaid_card_booking_released_by_the_job_names_the_job_on_its_order(stripe_api):
    # given an unpaid card booking whose hold has run out
    _member, reservation, order = card_booking()
    # when the release job runs
    release_unpaid_reservations(now=reservation.hold_until + timedelta(minutes=1))
    # then the order's cancellation names the job that did it, not a generic "payments"
    entry = AuditEntry.objects.get(action="order.cancelled", object_id=str(order.pk))
    assert (entry.actor, entry.system) == (None, "release_unpaid_reservations")


def test_a_refund_stripe_fails_after_it_succeeded_is_reopened_for_staff(stripe_api):
    # given a paid 2,000-yen order refunded in full by staff (Stripe said succeeded)
    _member, _reservation, order = paid_card_booking(stripe_api)
    staff = MemberFactory(is_staff=True)
    refund = refund_execute(
        refund=refund_request(order=order, amount_yen=2000, reason="返金", by=staff), by=staff
    )
    assert refund.state == Refund.State.SUCCEEDED
    # when Stripe reports later that the refund failed (the card was closed)
    failed = {
        "id": refund.stripe_refund_id, "object": "refund", "amount": 2000, "status": "failed",
        "failure_reason": "expired_or_canceled_card", "payment_intent": "pi_paid",
        "metadata": {"refund_id": str(refund.pk), "order_id": str(order.pk)},
    }  # fmt: skip
    payload = event("refund.updated", failed, event_id="evt_refund_failed_later")
    assert post(Client(), payload, sign(payload)).status_code == 200
    # then the refund is failed, the money no longer counted as returned, and the order waits for staff
    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.state, refund.error) == (Refund.State.FAILED, "expired_or_canceled_card")
    assert (order.refunded_yen, order.refund_needed) == (0, True)
