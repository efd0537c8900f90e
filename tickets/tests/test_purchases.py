"""Buying tickets (tickets.purchases): the order for a ticket's product, the purchase limit checked when
the order is made, before paying and when the payment arrives, free trials in the wallet at once, and
cancelled or refunded purchases taking the ticket back."""

from __future__ import annotations

import time as clock
from collections import Counter
from datetime import date

import pytest

from core.exceptions import DomainError
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.exceptions import FulfilmentError
from payments.models import Order
from payments.services import order_cancel, order_check_payable, order_mark_paid, order_refund
from tests.parallel import run_together
from tickets import locks, purchases, selectors
from tickets.exceptions import PurchaseLimitError, TicketError
from tickets.models import MemberTicket, TicketEntry
from tickets.services import ticket_purchase_start
from tickets.tests.factories import TicketTypeFactory

NOW = jst(date(2027, 6, 1), "09:00")
LATER = jst(date(2027, 6, 3), "15:00")


def _ticket_of(order: Order) -> MemberTicket | None:
    return MemberTicket.objects.filter(order_line__order=order).first()


# --- free tickets ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_free_trial_is_in_the_wallet_at_once():
    # given a free trial (0-yen product, 1 use, 1 purchase per member, 14 days)
    member = MemberFactory()
    trial = TicketTypeFactory(free_trial=True, name="体験チケット(無料)", validity_days=14)
    # when the member takes it
    order = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    # then the free order is paid in the same call and the ticket is issued from the purchase day
    assert order.status == Order.Status.PAID
    assert order.payment_method == Order.Method.FREE
    assert order.total_yen == 0
    ticket = _ticket_of(order)
    assert ticket.member == member
    assert ticket.source == MemberTicket.Source.PURCHASE
    assert (ticket.uses_left, ticket.uses_total) == (1, 1)
    assert (ticket.valid_from, ticket.valid_through) == (date(2027, 6, 1), date(2027, 6, 14))
    assert list(ticket.entries.values_list("kind", "delta", "uses_left_after")) == [("issued", 1, 1)]


@pytest.mark.django_db
def test_a_free_trial_cannot_be_taken_twice():
    # given a member who took the free trial once
    member = MemberFactory()
    trial = TicketTypeFactory(free_trial=True, name="体験チケット(無料)")
    ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    # when they try again
    with pytest.raises(PurchaseLimitError) as refused:
        ticket_purchase_start(member=member, by=member, ticket_type=trial, now=LATER)
    # then they are told why, and nothing new was made
    assert "体験チケット(無料)" in str(refused.value.message)
    assert "1" in str(refused.value.message)
    assert Order.objects.filter(member=member).count() == 1
    assert MemberTicket.objects.filter(member=member).count() == 1


@pytest.mark.django_db
def test_the_limit_is_per_member():
    trial = TicketTypeFactory(free_trial=True)
    first, second = MemberFactory.create_batch(2)
    ticket_purchase_start(member=first, by=first, ticket_type=trial, now=NOW)
    ticket_purchase_start(member=second, by=second, ticket_type=trial, now=NOW)
    assert MemberTicket.objects.filter(ticket_type=trial).count() == 2


# --- paid tickets ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_paid_ticket_makes_a_pending_card_order_and_the_payment_issues_the_ticket():
    # given a 10-use punch card for 30,000 yen valid 90 days
    member = MemberFactory()
    card = TicketTypeFactory(name="ヨガ10回券", uses=10, validity_days=90, product__price_yen=30000)
    # when the member buys it
    order = ticket_purchase_start(member=member, by=member, ticket_type=card, now=NOW)
    # then the order waits for the card payment, one line of the ticket's product, and no ticket yet
    assert order.status == Order.Status.PENDING
    assert order.payment_method == Order.Method.CARD
    line = order.lines.get()
    assert (line.product, line.quantity, line.unit_price_yen, line.description) == (
        card.product,
        1,
        30000,
        "ヨガ10回券",
    )
    assert order.total_yen == 30000
    assert _ticket_of(order) is None
    # when the payment arrives two days later
    order_mark_paid(order=order, now=LATER)
    # then the ticket is valid from the payment day, which is day 1 of its 90 days
    ticket = _ticket_of(order)
    assert (ticket.uses_left, ticket.uses_total) == (10, 10)
    assert ticket.valid_from == date(2027, 6, 3)
    assert ticket.valid_through == date(2027, 8, 31)


@pytest.mark.django_db
def test_the_member_discount_applies_to_a_card_purchase():
    member = MemberFactory(member_discount_pct=5)
    card = TicketTypeFactory(product__price_yen=30000)
    order = ticket_purchase_start(member=member, by=member, ticket_type=card, now=NOW)
    assert (order.subtotal_yen, order.member_discount_yen, order.total_yen) == (30000, 1500, 28500)
    preview = purchases.ticket_purchase_preview(member=member, ticket_type=card)
    assert preview.total_yen == 28500


@pytest.mark.django_db
def test_two_unpaid_orders_for_a_limit_one_ticket_only_one_can_be_paid():
    # given a paid trial (limit 1) ordered twice before paying: both orders may be made
    member = MemberFactory()
    trial = TicketTypeFactory(paid_trial=True, name="体験チケット(有料)")
    first = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    second = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    # when the first is paid
    order_mark_paid(order=first, now=NOW)
    # then the second cannot be paid any more: the checkout refuses it beforehand …
    with pytest.raises(PurchaseLimitError):
        order_check_payable(order=second, now=LATER)
    # … and a payment arriving anyway is not fulfilled: the order stays unpaid, no second ticket
    with pytest.raises(FulfilmentError):
        order_mark_paid(order=second, now=LATER)
    second.refresh_from_db()
    assert second.status == Order.Status.PENDING
    assert second.lines.get().fulfilled_at is None
    assert MemberTicket.objects.filter(member=member, ticket_type=trial).count() == 1
    # and a third order is refused at once
    with pytest.raises(PurchaseLimitError):
        ticket_purchase_start(member=member, by=member, ticket_type=trial, now=LATER)


def shop_text(msgid: str) -> str:
    from django.conf import settings
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        return translation.gettext(msgid)


@pytest.mark.django_db
def test_a_card_payment_of_an_order_over_the_limit_is_refunded_automatically(client, settings, stripe_api):
    # given two card orders of a limit-1 trial; the first is paid
    from payments.tests.test_webhooks import SECRET, event, post, session_completed, sign

    settings.STRIPE_WEBHOOK_SECRET = SECRET
    member = MemberFactory()
    trial = TicketTypeFactory(paid_trial=True)
    first = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    second = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    order_mark_paid(order=first, now=NOW)

    # when Stripe reports a card payment of the second anyway (paid in another tab, say)
    payload = event("checkout.session.completed", session_completed(second, payment_intent="pi_second"))
    response = post(client, payload, sign(payload))

    # then the money goes straight back, the order is cancelled, and there is still one ticket
    assert response.status_code == 200
    refunds = [r["form"] for r in stripe_api.requests if r["path"] == "/v1/refunds"]
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [("pi_second", str(second.total_yen))]
    second.refresh_from_db()
    assert (second.status, second.refunded_yen) == (Order.Status.CANCELLED, second.total_yen)
    assert second.refunds.get().reason.startswith(shop_text("Refunded automatically: %(why)s").split("%")[0])
    assert MemberTicket.objects.filter(member=member, ticket_type=trial).count() == 1
    assert selectors.purchases_count(member_id=member.pk, ticket_type=trial) == 1


@pytest.mark.django_db
def test_purchases_left_counts_paid_purchases_per_ticket_type():
    member = MemberFactory()
    trial = TicketTypeFactory(paid_trial=True)
    three = TicketTypeFactory(max_purchases_per_member=3)
    unlimited = TicketTypeFactory()
    order_mark_paid(
        order=ticket_purchase_start(member=member, by=member, ticket_type=three, now=NOW), now=NOW
    )
    ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)  # unpaid: does not count
    left = purchases.purchases_left(member=member, ticket_types=[trial, three, unlimited])
    assert left == {trial.pk: 1, three.pk: 2}
    assert purchases.purchases_left(member=MemberFactory(), ticket_types=[trial]) == {trial.pk: 1}


# --- cancelled and refunded purchases --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cancelled_purchase_takes_the_ticket_back_and_no_longer_counts():
    # given a member who took the free trial
    member = MemberFactory()
    trial = TicketTypeFactory(free_trial=True)
    order = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW)
    ticket = _ticket_of(order)
    # when staff cancel the order
    order_cancel(order=order, by=MemberFactory(is_staff=True), now=LATER)
    # then the unused ticket is taken back, with a ledger entry
    ticket.refresh_from_db()
    assert ticket.status == MemberTicket.Status.REVOKED
    assert ticket.uses_left == 0
    revoked = ticket.entries.get(kind=TicketEntry.Kind.REVOKED)
    assert (revoked.delta, revoked.uses_left_after, revoked.order_line_id) == (-1, 0, ticket.order_line_id)
    # and the purchase no longer counts towards the limit: the member may take the trial again
    assert selectors.purchases_count(member_id=member.pk, ticket_type=trial) == 0
    again = ticket_purchase_start(member=member, by=member, ticket_type=trial, now=LATER)
    assert _ticket_of(again).status == MemberTicket.Status.ACTIVE


@pytest.mark.django_db
def test_a_refunded_purchase_takes_the_ticket_back_and_no_longer_counts():
    # given a paid trial bought and paid
    member = MemberFactory()
    trial = TicketTypeFactory(paid_trial=True)
    order = order_mark_paid(
        order=ticket_purchase_start(member=member, by=member, ticket_type=trial, now=NOW), now=NOW
    )
    ticket = _ticket_of(order)
    # when the whole amount is refunded
    order_refund(order=order, amount_yen=1000, reason="体調不良のため", by=MemberFactory(is_staff=True))
    # then the ticket is taken back and the member may buy the trial again
    ticket.refresh_from_db()
    assert ticket.status == MemberTicket.Status.REVOKED
    assert ticket.entries.filter(kind=TicketEntry.Kind.REVOKED, delta=-1).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert (
        ticket_purchase_start(member=member, by=member, ticket_type=trial, now=LATER).status
        == Order.Status.PENDING
    )


# --- not on sale -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["hidden", "off_sale", "no_product"])
def test_a_ticket_not_on_sale_cannot_be_bought(change):
    member = MemberFactory()
    kind = TicketTypeFactory(hidden=change == "hidden", without_product=change == "no_product")
    if change == "off_sale":
        kind.product.is_active = False
        kind.product.save()
    with pytest.raises(TicketError) as refused:
        ticket_purchase_start(member=member, by=member, ticket_type=kind, now=NOW)
    assert str(refused.value.message) == "このチケットは販売されていません。"  # This ticket is not on sale.
    assert not Order.objects.exists()
    assert kind not in purchases.on_sale_ticket_types()


@pytest.mark.django_db
def test_a_ticket_taken_off_sale_after_its_order_cannot_be_paid():
    member = MemberFactory()
    kind = TicketTypeFactory()
    order = ticket_purchase_start(member=member, by=member, ticket_type=kind, now=NOW)
    kind.is_visible = False
    kind.save()
    with pytest.raises(DomainError):
        order_check_payable(order=order, now=LATER)


# --- in parallel -----------------------------------------------------------------------------------------


def _buy_in_parallel(member, ticket_type, count: int) -> Counter:
    return run_together(
        [lambda: ticket_purchase_start(member=member, by=member, ticket_type=ticket_type, now=NOW)] * count,
        expected=(PurchaseLimitError,),
        success="bought",
    )


def _slow_count(real):
    """The purchase count, slowed down so that parallel purchases overlap between the check and the
    ticket's insert."""

    def slow(*args, **kwargs):
        result = real(*args, **kwargs)
        clock.sleep(0.05)
        return result

    return slow


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_purchases_of_a_limit_one_free_trial_give_exactly_one_ticket(monkeypatch):
    # given a free trial limited to 1 per member, and a slow purchase count
    monkeypatch.setattr(selectors, "purchases_count", _slow_count(selectors.purchases_count))
    member = MemberFactory()
    trial = TicketTypeFactory(free_trial=True)
    # when the member takes it 10 times at the same instant
    outcomes = _buy_in_parallel(member, trial, 10)
    # then exactly one gets it; the others are told the limit is reached
    assert outcomes == Counter({"bought": 1, "PurchaseLimitError": 9})
    assert MemberTicket.objects.filter(member=member, ticket_type=trial).count() == 1
    assert Order.objects.filter(member=member).count() == 1


@pytest.mark.django_db(transaction=True)
def test_control_without_the_purchase_lock_parallel_purchases_overrun_the_limit(monkeypatch):
    # given the same purchases with the (member, ticket type) lock switched off
    monkeypatch.setattr(selectors, "purchases_count", _slow_count(selectors.purchases_count))
    monkeypatch.setattr(locks, "member_purchase_lock", lambda **kwargs: None)
    member = MemberFactory()
    trial = TicketTypeFactory(free_trial=True)
    # when
    outcomes = _buy_in_parallel(member, trial, 10)
    # then more than one ticket is issued: the lock is what prevents it
    assert outcomes["bought"] > 1
    assert MemberTicket.objects.filter(member=member, ticket_type=trial).count() > 1
