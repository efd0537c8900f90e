"""Plan contracts (SPEC §7 PlanContract; issue 13 "Contracts"): the member's card checkout in subscription
mode (one-time fees, the monthly price anchored at the 1st of next month without proration), activation,
renewal, past due and the end through signed Stripe webhooks (the Stripe double plays Stripe's API), the
cancellation at the month end with the bookings after it, the plan change and admin contracts.

Dates: 2027-03-25 is the SPEC's contract day; 2028 is a leap year."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
import types
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

import pytest
from django.urls import reverse

from core.emails import render_templated_email
from core.models import AuditEntry
from core.periods import JST
from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Product, StripeEvent
from payments.services import payment_test_gateway_result
from plans import contracts
from plans.contracts import (
    bookings_after,
    cancel_preview,
    contract_activate,
    contract_cancel,
    contract_change_plan,
    contract_create_admin,
    contract_start_checkout,
    month_end,
)
from plans.exceptions import PlanError
from plans.models import AllowanceEntry, PlanContract
from plans.tests.factories import PlanBandAllowanceFactory, PlanContractFactory, PlanFactory, TimeBandFactory
from tickets.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_" + "c" * 24
CONTRACT_DAY = date(2027, 3, 25)
NOW = datetime(2027, 3, 25, 10, 0, tzinfo=JST)
APRIL_1 = datetime(2027, 4, 1, tzinfo=JST)


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def mails(monkeypatch):
    """The e-mails the contract services queue, rendered (subject, body, to)."""
    sent = []

    def queue(*, template, context, to):
        subject, body = render_templated_email(template=template, context=context)
        sent.append((template, subject, body, to))

    monkeypatch.setattr(contracts, "queue_templated_email", queue)
    return sent


@pytest.fixture
def grants(monkeypatch):
    """plans.grants stood in for: the calls of grants_for_new_contract (grants are tested on their own)."""
    calls = []

    def grants_for_new_contract(contract, **kwargs):
        calls.append((contract.pk, kwargs))

    monkeypatch.setitem(
        sys.modules, "plans.grants", types.SimpleNamespace(grants_for_new_contract=grants_for_new_contract)
    )
    return calls


def a_plan(**fields):
    """A plan of 10,000 yen a month, with a 3,300-yen enrollment fee and a 5,000-yen contract-month fee."""
    fields.setdefault("enrollment_fee_product", ProductFactory(name="入会金", price_yen=3300, is_fee=True))
    fields.setdefault("contract_month_product", ProductFactory(name="契約月分", price_yen=5000))
    return PlanFactory(**fields)


# --- signed webhooks -------------------------------------------------------------------------------------


def sign(payload: str) -> str:
    timestamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def webhook(client, event_type: str, obj: dict, *, event_id: str):
    payload = json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "created": 1780000000, "livemode": False,
         "data": {"object": obj}}
    )  # fmt: skip
    response = client.post(
        reverse("payments:stripe_webhook"),
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload),
    )
    assert response.status_code == 200, response.content
    return response.json()


def invoice(subscription: str, **extra) -> dict:
    return {"id": "in_test_1", "object": "invoice", "subscription": subscription, "currency": "jpy", **extra}


def checked_out(stripe_api, member=None, plan=None):
    """A member's checkout of a plan on 2027-03-25, and the session Stripe made for it."""
    plan = plan or a_plan()
    started = contract_start_checkout(
        member=member or MemberFactory(), plan=plan, today=CONTRACT_DAY, now=NOW
    )
    session_id = started.checkout.url.rsplit("/", 1)[1]
    return started.contract, stripe_api.sessions[session_id]


def complete(client, stripe_api, session: dict, *, event_id: str = "evt_done"):
    stripe_api.complete_session(session["id"], payment_intent="pi_plan_1")
    return webhook(
        client, "checkout.session.completed", stripe_api.sessions[session["id"]], event_id=event_id
    )


def active_contract(**fields) -> PlanContract:
    fields.setdefault("stripe_subscription_id", "sub_live_1")
    return PlanContractFactory(**fields)


# --- checkout --------------------------------------------------------------------------------------------


def test_the_checkout_is_a_subscription_with_the_fees_once_and_the_monthly_price_from_the_1st(stripe_api):
    # given a plan of 10,000 yen a month with a 3,300-yen enrollment fee and a 5,000-yen contract-month fee
    member = MemberFactory()
    # when the member subscribes on 2027-03-25
    contract, session = checked_out(stripe_api, member=member)
    # then a pending site contract, contracted and starting that day, waits for its first order
    assert (contract.status, contract.channel) == (PlanContract.Status.PENDING, PlanContract.Channel.SITE)
    assert (contract.contracted_on, contract.starts_on, contract.ends_on) == (
        CONTRACT_DAY,
        CONTRACT_DAY,
        None,
    )
    order = contract.first_order
    assert (order.status, order.total_yen, order.member_id) == (Order.Status.PENDING, 8300, member.pk)
    assert [line.unit_price_yen for line in order.lines.order_by("pk")] == [3300, 5000, 0]
    # and Stripe was asked for a subscription: the fees once, the monthly price recurring from 4/1 00:00 JST
    form = stripe_api.requests[-1]["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][unit_amount]"] == "3300"
    assert "line_items[0][price_data][recurring][interval]" not in form
    assert form["line_items[1][price_data][unit_amount]"] == "5000"
    assert "line_items[1][price_data][recurring][interval]" not in form
    assert form["line_items[2][price_data][unit_amount]"] == "10000"
    assert form["line_items[2][price_data][recurring][interval]"] == "month"
    assert "line_items[3][quantity]" not in form
    assert form["subscription_data[billing_cycle_anchor]"] == str(int(APRIL_1.timestamp()))
    assert form["subscription_data[proration_behavior]"] == "none"
    assert form["subscription_data[metadata][contract_id]"] == str(contract.pk)
    assert form["metadata[order_id]"] == str(order.pk)
    # and the first payment is the fees only
    assert session["amount_total"] == 8300


def test_a_checkout_on_the_last_day_of_december_is_billed_from_january_1st(stripe_api):
    plan = a_plan()
    now = datetime(2027, 12, 31, 23, 0, tzinfo=JST)
    contract_start_checkout(member=MemberFactory(), plan=plan, today=date(2027, 12, 31), now=now)
    form = stripe_api.requests[-1]["form"]
    assert form["subscription_data[billing_cycle_anchor]"] == str(
        int(datetime(2028, 1, 1, tzinfo=JST).timestamp())
    )


def test_the_fees_go_through_the_price_pipeline_and_the_monthly_price_takes_no_discount(stripe_api):
    # given a member with a 10 % member discount
    member = MemberFactory(member_discount_pct=10)
    # when they subscribe
    contract, session = checked_out(stripe_api, member=member)
    # then the fees are discounted (8,300 - 830) and charged as one line; the monthly price stays 10,000
    order = contract.first_order
    assert (order.member_discount_yen, order.total_yen) == (830, 7470)
    form = stripe_api.requests[-1]["form"]
    assert form["line_items[0][price_data][unit_amount]"] == "7470"
    assert "line_items[0][price_data][recurring][interval]" not in form
    assert form["line_items[1][price_data][unit_amount]"] == "10000"
    assert form["line_items[1][price_data][recurring][interval]"] == "month"
    assert session["amount_total"] == 7470


def test_a_later_start_date_is_kept_and_the_billing_still_starts_the_month_after_the_contract(stripe_api):
    # SPEC §7: contracted 3/25, starting 4/5
    contract = contract_start_checkout(
        member=MemberFactory(), plan=a_plan(), starts_on=date(2027, 4, 5), today=CONTRACT_DAY, now=NOW
    ).contract
    assert (contract.contracted_on, contract.starts_on) == (CONTRACT_DAY, date(2027, 4, 5))
    assert stripe_api.requests[-1]["form"]["subscription_data[billing_cycle_anchor]"] == str(
        int(APRIL_1.timestamp())
    )


def test_a_member_with_a_plan_cannot_start_a_second_one(stripe_api):
    member = MemberFactory()
    active_contract(member=member)
    with pytest.raises(PlanError):
        contract_start_checkout(member=member, plan=a_plan(), today=CONTRACT_DAY, now=NOW)


def test_subscribing_again_before_paying_reuses_the_pending_contract_and_session(stripe_api):
    member, plan = MemberFactory(), a_plan()
    first = contract_start_checkout(member=member, plan=plan, today=CONTRACT_DAY, now=NOW)
    again = contract_start_checkout(member=member, plan=plan, today=CONTRACT_DAY, now=NOW)
    assert again.contract.pk == first.contract.pk
    assert again.checkout.url == first.checkout.url
    assert PlanContract.objects.filter(member=member).count() == 1


# --- activation, renewal, past due, end (signed webhooks) ------------------------------------------------


def test_the_first_payment_activates_the_contract_and_grants_its_new_contract_tickets(
    client, stripe_api, grants
):
    # given a member's checkout
    contract, session = checked_out(stripe_api)
    # when Stripe says the checkout completed (signed webhook)
    result = complete(client, stripe_api, session)
    # then the order is paid and the contract active, with its subscription
    contract.refresh_from_db()
    assert result["processed"] is True
    assert contract.first_order.status == Order.Status.PAID
    assert contract.status == PlanContract.Status.ACTIVE
    assert contract.stripe_subscription_id == session["subscription"]
    # and the new contract's grants were made once, with the defaults of a site contract
    assert grants == [(contract.pk, {"by": None, "system": contracts.ORDER_PAID, "now": grants[0][1]["now"]})]
    assert (
        AuditEntry.objects.filter(action="plan_contract.activated", object_id=str(contract.pk)).count() == 1
    )


def test_the_first_invoice_paid_before_the_checkout_event_also_activates_it_once(client, stripe_api, grants):
    # given a checkout whose invoice.paid arrives first (Stripe does not keep order)
    contract, session = checked_out(stripe_api)
    subscription = session["subscription"]
    metadata = {"contract_id": str(contract.pk)}
    webhook(
        client, "invoice.paid",
        invoice("", parent={"subscription_details": {"subscription": subscription, "metadata": metadata}},
                billing_reason="subscription_create"),
        event_id="evt_inv_1",
    )  # fmt: skip
    contract.refresh_from_db()
    assert (contract.status, contract.stripe_subscription_id) == (PlanContract.Status.ACTIVE, subscription)
    # when the checkout event follows
    complete(client, stripe_api, session)
    # then the order is paid; the contract was activated (and granted) once
    contract.refresh_from_db()
    assert contract.first_order.status == Order.Status.PAID
    assert len(grants) == 1


def test_the_test_gateway_activates_the_contract_without_stripe(grants):
    # given no Stripe keys (local demo)
    member = MemberFactory()
    started = contract_start_checkout(member=member, plan=a_plan(), today=CONTRACT_DAY, now=NOW)
    assert started.checkout.url is None
    # when the member presses the test gateway's "succeed"
    payment_test_gateway_result(order=started.contract.first_order, succeeded=True, by=member, now=NOW)
    # then the contract is active
    started.contract.refresh_from_db()
    assert started.contract.status == PlanContract.Status.ACTIVE
    assert len(grants) == 1


def test_a_failed_invoice_makes_the_contract_past_due_and_tells_the_member_and_a_paid_one_restores_it(
    client, mails
):
    # given an active contract on a subscription
    contract = active_contract(member=MemberFactory(email="late@example.com"))
    # when its invoice fails
    webhook(client, "invoice.payment_failed", invoice("sub_live_1"), event_id="evt_fail")
    # then it is past due: not live for allowance bookings, and the member is told
    contract.refresh_from_db()
    assert contract.status == PlanContract.Status.PAST_DUE
    assert not contract.is_live_on(date(2027, 4, 2))
    [(template, subject, _body, to)] = mails
    assert (template, to) == ("plans/payment_failed", ["late@example.com"])
    assert contract.plan.name in subject
    # when the invoice is paid after all
    webhook(client, "invoice.paid", invoice("sub_live_1"), event_id="evt_paid")
    # then the contract is active again
    contract.refresh_from_db()
    assert contract.status == PlanContract.Status.ACTIVE


def test_each_paid_invoice_keeps_an_active_contract_active(client, grants):
    contract = active_contract()
    for n in range(3):
        webhook(client, "invoice.paid", invoice("sub_live_1"), event_id=f"evt_month_{n}")
    contract.refresh_from_db()
    assert contract.status == PlanContract.Status.ACTIVE
    assert grants == []


def test_the_same_event_twice_changes_nothing(client, mails):
    contract = active_contract()
    first = webhook(client, "invoice.payment_failed", invoice("sub_live_1"), event_id="evt_twice")
    # staff fix it meanwhile; the same event again must not make it past due again
    contract_activate(contract=contract, system="tests")
    second = webhook(client, "invoice.payment_failed", invoice("sub_live_1"), event_id="evt_twice")
    contract.refresh_from_db()
    assert (first["processed"], second["processed"]) == (True, False)
    assert contract.status == PlanContract.Status.ACTIVE
    assert StripeEvent.objects.filter(event_id="evt_twice").count() == 1
    assert len(mails) == 1


def test_a_deleted_subscription_ends_the_contract_on_the_day_it_ended(client):
    contract = active_contract()
    ended_at = datetime(2027, 5, 10, 15, 0, tzinfo=JST)
    webhook(
        client, "customer.subscription.deleted",
        {"id": "sub_live_1", "object": "subscription", "ended_at": int(ended_at.timestamp())},
        event_id="evt_deleted",
    )  # fmt: skip
    contract.refresh_from_db()
    assert (contract.status, contract.ends_on) == (PlanContract.Status.ENDED, date(2027, 5, 10))


def test_a_subscription_stopped_at_the_period_end_keeps_the_cancellation_month_end(client):
    # given a contract cancelled at the end of May; Stripe ends the subscription on 6/1 00:00 JST
    contract = active_contract(ends_on=date(2027, 5, 31))
    june_1 = int(datetime(2027, 6, 1, tzinfo=JST).timestamp())
    webhook(
        client, "customer.subscription.deleted",
        {"id": "sub_live_1", "object": "subscription", "ended_at": june_1},
        event_id="evt_period_end",
    )  # fmt: skip
    contract.refresh_from_db()
    assert (contract.status, contract.ends_on) == (PlanContract.Status.ENDED, date(2027, 5, 31))


# --- cancel at the end of the month ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "ends_on"),
    [
        (date(2027, 3, 25), date(2027, 3, 31)),
        (date(2027, 12, 1), date(2027, 12, 31)),
        (date(2028, 2, 10), date(2028, 2, 29)),  # leap year
        (date(2027, 2, 28), date(2027, 2, 28)),  # the last day itself
    ],
)
def test_a_cancellation_ends_the_contract_on_the_last_day_of_the_month(stripe_api, mails, today, ends_on):
    # given an active contract on a subscription
    contract = active_contract(contracted_on=date(2027, 1, 5))
    stripe_api.add_subscription("sub_live_1", unit_amount=10000)
    member = contract.member
    # when the member cancels
    done = contract_cancel(contract=contract, by=member, today=today, now=jst(today, "12:00"))
    # then it ends on the month's last day, and Stripe stops the subscription at the period end
    contract.refresh_from_db()
    assert contract.ends_on == ends_on == month_end(today)
    assert contract.status == PlanContract.Status.ACTIVE  # still in force until then
    sent = stripe_api.requests[-1]
    assert (sent["path"], sent["form"]) == ("/v1/subscriptions/sub_live_1", {"cancel_at_period_end": "true"})
    assert done.reservations == []
    assert mails[0][0] == "plans/contract_cancelled"
    # and cancelling again is refused
    with pytest.raises(PlanError):
        contract_cancel(contract=contract, by=member, today=today)


def test_a_cancellation_without_stripe_changes_only_our_rows(mails):
    contract = active_contract(contracted_on=date(2027, 1, 5))
    contract_cancel(contract=contract, by=MemberFactory(is_staff=True), today=date(2027, 4, 3))
    contract.refresh_from_db()
    assert contract.ends_on == date(2027, 4, 30)
    assert AuditEntry.objects.filter(action="plan_contract.cancelled", object_id=str(contract.pk)).exists()


def plan_booking(contract, item, day: date) -> Reservation:
    return reservation_create(
        member=contract.member,
        by=contract.member,
        item=item,
        starts_at=jst(day, "10:00"),
        ends_at=jst(day, "10:30"),
        payment_method="plan",
        payment_option=str(contract.pk),
        now=jst(day, "10:00") - timedelta(days=20),
    )


def test_the_bookings_after_the_end_paid_with_the_plan_are_listed_then_cancelled_and_given_back(mails):
    # given a plan of 4 bookings a month and a member with bookings on 6/29 and 7/2 and 7/6 paid with it
    ReservationSettingsFactory(
        min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60, book_ahead_days=0,
        hours=dict.fromkeys(range(8), ("00:00", "23:30")),
    )  # fmt: skip
    item = ItemFactory(stock=5)
    band = TimeBandFactory(name="フルタイム", windows=[("00:00", "23:30")])
    plan = a_plan(items=[item], stores=[item.store])
    PlanBandAllowanceFactory(plan=plan, band=band, allowance=4)
    contract = active_contract(plan=plan, contracted_on=date(2027, 5, 1))
    june = plan_booking(contract, item, date(2027, 6, 29))
    july = [plan_booking(contract, item, day) for day in (date(2027, 7, 2), date(2027, 7, 6))]
    # when the confirmation page asks on 6/20
    ends_on, listed = cancel_preview(contract=contract, today=date(2027, 6, 20))
    # then the contract would end 6/30, cancelling the July bookings only
    assert ends_on == date(2027, 6, 30)
    assert [r.pk for r in listed] == [r.pk for r in july]
    # when the member cancels
    done = contract_cancel(contract=contract, by=contract.member, today=date(2027, 6, 20))
    # then those bookings are cancelled and their uses given back; June's stays
    assert [r.pk for r in done.reservations] == [r.pk for r in july]
    for reservation in july:
        reservation.refresh_from_db()
        assert reservation.status == Reservation.Status.CANCELLED
        assert AllowanceEntry.objects.filter(
            reservation=reservation, kind=AllowanceEntry.Kind.RESTORED
        ).exists()
    june.refresh_from_db()
    assert june.status == Reservation.Status.CONFIRMED
    assert bookings_after(contract, date(2027, 6, 30)) == []
    [(_, _, body, _)] = [mail for mail in mails if mail[0] == "plans/contract_cancelled"]
    assert "2027-07-02 10:00" in body
    assert "2027-07-06 10:00" in body


def test_bookings_after_the_end_paid_with_a_ticket_restricted_to_the_plan_are_cancelled_too(mails):
    from plans.models import GrantRule, PlanGrant
    from plans.tests.factories import GrantRuleFactory
    from tickets.models import MemberTicket
    from tickets.services import ticket_issue
    from tickets.tests.factories import TicketTypeFactory

    # given a contract whose monthly grant gave a ticket usable with this plan only, and one with none
    ReservationSettingsFactory(
        min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60, book_ahead_days=0,
        hours=dict.fromkeys(range(8), ("00:00", "23:30")),
    )  # fmt: skip
    item = ItemFactory(stock=5)
    contract = active_contract(plan=a_plan(items=[item], stores=[item.store]), contracted_on=date(2027, 5, 1))
    tickets = {}
    for restriction in (GrantRule.Restriction.THIS_PLAN, GrantRule.Restriction.NONE):
        ticket_type = TicketTypeFactory(items=[item])
        rule = GrantRuleFactory(plan=contract.plan, ticket_type=ticket_type, restriction=restriction)
        ticket = ticket_issue(
            member=contract.member, ticket_type=ticket_type, source=MemberTicket.Source.GRANT,
            valid_from=date(2027, 6, 1), by=None, system="tests",
        )  # fmt: skip
        PlanGrant.objects.create(
            contract=contract, rule=rule, month=date(2027, 6, 1), quantity=1, member_ticket=ticket,
            created_at=jst(date(2027, 6, 1), "00:05"),
        )  # fmt: skip
        tickets[restriction] = ticket
    booked = {
        restriction: reservation_create(
            member=contract.member,
            by=contract.member,
            item=item,
            starts_at=jst(date(2027, 7, 5), "10:00"),
            ends_at=jst(date(2027, 7, 5), "10:30"),
            payment_method="ticket",
            payment_option=str(ticket.pk),
            now=jst(date(2027, 6, 10), "10:00"),
        )
        for restriction, ticket in tickets.items()
    }
    # when the member cancels in June
    done = contract_cancel(contract=contract, by=contract.member, today=date(2027, 6, 20))
    # then the booking paid with the restricted ticket is cancelled (its use given back); the other stays
    assert [r.pk for r in done.reservations] == [booked[GrantRule.Restriction.THIS_PLAN].pk]
    restricted = tickets[GrantRule.Restriction.THIS_PLAN]
    restricted.refresh_from_db()
    assert restricted.uses_left == restricted.uses_total
    booked[GrantRule.Restriction.NONE].refresh_from_db()
    assert booked[GrantRule.Restriction.NONE].status == Reservation.Status.CONFIRMED


# --- plan change -------------------------------------------------------------------------------------------


def test_a_member_changes_plan_from_the_1st_of_next_month_without_a_fee_or_a_grant(stripe_api, grants):
    # given an active site contract since 2027-01-05 on a subscription
    contract = active_contract(contracted_on=date(2027, 1, 5))
    stripe_api.add_subscription("sub_live_1", unit_amount=10000)
    new_plan = a_plan(monthly_product=ProductFactory(kind=Product.Kind.MONTHLY, price_yen=15000, name="上位"))
    orders_before = Order.objects.count()
    # when the member changes plan on 3/20
    new = contract_change_plan(
        contract=contract, new_plan=new_plan, by=contract.member, today=date(2027, 3, 20)
    )
    # then the old contract ends 3/31 and the new one starts 4/1, naming it; same subscription
    contract.refresh_from_db()
    assert contract.ends_on == date(2027, 3, 31)
    assert (new.previous_id, new.plan_id, new.starts_on, new.contracted_on) == (
        contract.pk, new_plan.pk, date(2027, 4, 1), date(2027, 3, 20),
    )  # fmt: skip
    assert (new.status, new.channel, new.stripe_subscription_id) == ("active", "site", "sub_live_1")
    # and no enrollment fee (no order at all), no new-contract grant
    assert Order.objects.count() == orders_before
    assert new.first_order is None
    assert grants == []
    # and Stripe switches the subscription's price without proration
    update = stripe_api.requests[-1]
    assert update["path"] == "/v1/subscriptions/sub_live_1"
    assert update["form"]["proration_behavior"] == "none"
    price = next(r for r in stripe_api.requests if r["path"] == "/v1/prices")
    assert (price["form"]["unit_amount"], price["form"]["recurring[interval]"]) == ("15000", "month")
    assert update["form"]["items[0][price]"].startswith("price_test_")
    # and a second change is refused
    with pytest.raises(PlanError):
        contract_change_plan(
            contract=contract, new_plan=a_plan(), by=contract.member, today=date(2027, 3, 21)
        )


def test_a_member_cannot_choose_the_change_date_but_staff_can(grants):
    contract = active_contract(contracted_on=date(2027, 1, 5))
    with pytest.raises(PlanError):
        contract_change_plan(
            contract=contract, new_plan=a_plan(), by=contract.member, starts_on=date(2027, 3, 15),
            today=date(2027, 3, 10),
        )  # fmt: skip
    staff = MemberFactory(is_staff=True)
    new = contract_change_plan(
        contract=contract, new_plan=a_plan(), by=staff, starts_on=date(2027, 3, 15), today=date(2027, 3, 10)
    )
    contract.refresh_from_db()
    assert (contract.ends_on, new.starts_on, new.channel) == (date(2027, 3, 14), date(2027, 3, 15), "admin")


def test_a_new_contract_after_cancelling_pays_the_enrollment_fee_again(stripe_api):
    plan = a_plan()
    member = MemberFactory()
    PlanContractFactory(
        member=member, plan=plan, contracted_on=date(2026, 5, 1), ends_on=date(2026, 12, 31),
        status=PlanContract.Status.ENDED,
    )  # fmt: skip
    contract, session = checked_out(stripe_api, member=member, plan=plan)
    assert contract.first_order.total_yen == 8300
    assert session["amount_total"] == 8300


# --- admin contracts ---------------------------------------------------------------------------------------


def test_an_admin_contract_paid_at_the_counter_is_in_force_with_a_pending_order_and_no_grants(grants):
    staff, member = MemberFactory(is_staff=True), MemberFactory()
    contract = contract_create_admin(
        member=member, plan=a_plan(), contracted_on=CONTRACT_DAY, starts_on=date(2027, 4, 5), pay="counter",
        grant_on_contract=False, grant_start_month=False, by=staff, now=NOW,
    )  # fmt: skip
    assert (contract.channel, contract.status) == (PlanContract.Channel.ADMIN, PlanContract.Status.ACTIVE)
    assert (contract.contracted_on, contract.starts_on) == (CONTRACT_DAY, date(2027, 4, 5))
    order = contract.first_order
    assert (order.status, order.payment_method, order.total_yen) == ("pending", "counter", 8300)
    assert grants == []
    assert AuditEntry.objects.get(action="plan_contract.created", object_id=str(contract.pk)).actor == staff


def test_the_admin_tick_boxes_grant_the_new_contract_and_start_month_tickets(grants):
    staff = MemberFactory(is_staff=True)
    contract = contract_create_admin(
        member=MemberFactory(), plan=a_plan(), contracted_on=CONTRACT_DAY, starts_on=CONTRACT_DAY,
        pay="counter", grant_on_contract=True, grant_start_month=False, by=staff, now=NOW,
    )  # fmt: skip
    [(pk, kwargs)] = grants
    assert pk == contract.pk
    assert (kwargs["by"], kwargs["include_on_contract"], kwargs["include_monthly"]) == (staff, True, False)


def test_an_admin_contract_paid_by_link_is_e_mailed_and_starts_when_paid(client, stripe_api, mails, grants):
    # given staff make a contract paid by an e-mailed card link
    staff, member = MemberFactory(is_staff=True), MemberFactory(email="link@example.com")
    contract = contract_create_admin(
        member=member, plan=a_plan(), contracted_on=CONTRACT_DAY, starts_on=CONTRACT_DAY, pay="link",
        grant_on_contract=False, grant_start_month=True, by=staff, now=NOW,
    )  # fmt: skip
    # then it waits for the payment, and the member got the link
    assert contract.status == PlanContract.Status.PENDING
    [(template, _subject, body, to)] = mails
    assert (template, to) == ("plans/contract_payment_link", ["link@example.com"])
    link = next(line for line in body.splitlines() if "/pay/" in line)
    # when the member opens the link and pays: a subscription checkout like the site's
    response = client.post(urlparse(link.strip()).path)
    assert response.status_code == 302
    form = stripe_api.requests[-1]["form"]
    assert form["mode"] == "subscription"
    assert form["subscription_data[metadata][contract_id]"] == str(contract.pk)
    session = list(stripe_api.sessions.values())[-1]
    complete(client, stripe_api, session)
    # then the contract is in force; an admin contract gets only what staff ticked (at creation)
    contract.refresh_from_db()
    assert contract.status == PlanContract.Status.ACTIVE
    assert [kwargs["include_monthly"] for _pk, kwargs in grants] == [True]


# --- counter contracts: a pending order each month ----------------------------------------------------------


def counter_contract(**fields) -> PlanContract:
    return contract_create_admin(
        member=MemberFactory(), plan=fields.pop("plan", None) or a_plan(), pay="counter",
        grant_on_contract=False, grant_start_month=False, by=MemberFactory(is_staff=True), now=NOW, **fields,
    )  # fmt: skip


def test_a_counter_contract_gets_one_pending_order_each_month_after_the_contract_month():
    # given a counter contract made 3/25 starting 4/5, and a card one (with a subscription)
    contract = counter_contract(contracted_on=CONTRACT_DAY, starts_on=date(2027, 4, 5))
    active_contract(channel=PlanContract.Channel.ADMIN)
    # when March's run happens: nothing (the contract month is paid by the first order)
    assert contracts.counter_orders_create(month=date(2027, 3, 1)) == []
    # when April's runs, twice
    [made] = contracts.counter_orders_create(month=date(2027, 4, 1))
    assert contracts.counter_orders_create(month=date(2027, 4, 1)) == []
    # then one pending counter order of the monthly price, for April
    order = made.order
    assert (made.contract_id, made.month) == (contract.pk, date(2027, 4, 1))
    assert (order.status, order.payment_method, order.total_yen) == ("pending", "counter", 10000)
    assert order.lines.get().description.endswith("(2027-04)")


def test_after_a_cancellation_or_a_plan_change_each_month_is_ordered_once():
    contract = counter_contract(contracted_on=date(2027, 1, 5), starts_on=date(2027, 1, 5))
    staff = MemberFactory(is_staff=True)
    # staff change the plan from 3/15: March is the old contract's, April the new one's
    new = contract_change_plan(
        contract=contract, new_plan=a_plan(), by=staff, starts_on=date(2027, 3, 15), today=date(2027, 3, 10)
    )
    march = contracts.counter_orders_create(month=date(2027, 3, 1))
    april = contracts.counter_orders_create(month=date(2027, 4, 1))
    assert [m.contract_id for m in march] == [contract.pk]
    assert [m.contract_id for m in april] == [new.pk]
    # cancelled in April: May is not ordered
    contract_cancel(contract=new, by=staff, today=date(2027, 4, 10))
    assert contracts.counter_orders_create(month=date(2027, 5, 1)) == []


def test_the_counter_orders_command_has_a_dry_run():
    from io import StringIO

    from django.core.management import call_command

    contract = counter_contract(contracted_on=CONTRACT_DAY, starts_on=CONTRACT_DAY)
    out = StringIO()
    call_command("plan_counter_orders", "--month", "2027-04", "--dry-run", stdout=out)
    assert f"#{contract.pk}" in out.getvalue()
    assert "would make 1 order(s) for 2027-04" in out.getvalue()
    assert not contract.monthly_orders.exists()
    call_command("plan_counter_orders", "--month", "2027-04", stdout=StringIO())
    assert contract.monthly_orders.count() == 1


def test_counter_contracts_past_their_end_date_are_marked_ended_the_next_night():
    from io import StringIO

    from django.core.management import call_command

    staff = MemberFactory(is_staff=True)
    # given a counter contract cancelled at the end of April, and a card one with a subscription ending too
    counter = counter_contract(contracted_on=date(2027, 1, 5), starts_on=date(2027, 1, 5))
    contract_cancel(contract=counter, by=staff, today=date(2027, 4, 10))
    card = active_contract(channel=PlanContract.Channel.ADMIN)
    PlanContract.objects.filter(pk=card.pk).update(ends_on=date(2027, 4, 30))
    # on its last day it is still in force, and nothing ends
    assert contracts.contracts_end_past(today=date(2027, 4, 30)) == []
    # the dry run the day after names it and changes nothing
    out = StringIO()
    call_command("end_past_contracts", "--date", "2027-05-01", "--dry-run", stdout=out)
    assert f"#{counter.pk}" in out.getvalue()
    assert f"#{card.pk}" not in out.getvalue()  # its subscription's webhook ends it
    assert "would end 1 contract(s) as of 2027-05-01" in out.getvalue()
    counter.refresh_from_db()
    assert counter.status == PlanContract.Status.ACTIVE
    # the run ends it, its end date kept, with an audit entry by the nightly job; twice is once
    [ended] = contracts.contracts_end_past(today=date(2027, 5, 1))
    assert (ended.pk, ended.status, ended.ends_on) == (
        counter.pk,
        PlanContract.Status.ENDED,
        date(2027, 4, 30),
    )
    assert contracts.contracts_end_past(today=date(2027, 5, 2)) == []
    entry = AuditEntry.objects.get(action="plan_contract.ended", object_id=str(counter.pk))
    assert (entry.actor, entry.system) == (None, contracts.CONTRACT_EXPIRY)
    card.refresh_from_db()
    assert card.status == PlanContract.Status.ACTIVE


def test_the_old_contract_of_a_counter_plan_change_ends_after_its_last_day():
    contract = counter_contract(contracted_on=date(2027, 1, 5), starts_on=date(2027, 1, 5))
    new = contract_change_plan(
        contract=contract,
        new_plan=a_plan(),
        by=MemberFactory(is_staff=True),
        starts_on=date(2027, 3, 15),
        today=date(2027, 3, 10),
    )
    assert contracts.contracts_end_past(today=date(2027, 3, 14)) == []
    assert [c.pk for c in contracts.contracts_end_past(today=date(2027, 3, 15))] == [contract.pk]
    new.refresh_from_db()
    assert new.status == PlanContract.Status.ACTIVE


# --- at the same time ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_joining_eight_times_at_once_makes_one_contract_and_one_order():
    from tests.parallel import run_together

    # given a member pressing "join" several times at once (test gateway: no Stripe keys)
    member, plan = MemberFactory(), a_plan()
    calls = [
        lambda: contract_start_checkout(member=member, plan=plan, today=CONTRACT_DAY, now=NOW)
        for _ in range(8)
    ]
    # then all succeed, on one pending contract with one order
    assert run_together(calls, expected=(PlanError,), success="started") == {"started": 8}
    contract = PlanContract.objects.get(member=member)
    assert Order.objects.filter(member=member).count() == 1
    assert contract.first_order.payments.count() == 1


@pytest.mark.django_db(transaction=True)
def test_counter_order_runs_at_once_make_one_order_per_contract_and_month():
    from tests.parallel import run_together

    # given three counter contracts owing April
    made = [counter_contract(contracted_on=CONTRACT_DAY, starts_on=CONTRACT_DAY) for _ in range(3)]
    # when six runs for April start at the same instant
    calls = [lambda: contracts.counter_orders_create(month=date(2027, 4, 1)) for _ in range(6)]
    assert run_together(calls, expected=(), success="ran") == {"ran": 6}
    # then each contract has exactly one April order
    for contract in made:
        assert contract.monthly_orders.filter(month=date(2027, 4, 1)).count() == 1
    assert Order.objects.filter(plan_month__isnull=False).count() == 3


def test_control_without_the_check_the_constraint_refuses_a_second_order(monkeypatch):
    from django.db import IntegrityError

    # given April ordered, and the job's "already ordered" check and its selection both switched off
    contract = counter_contract(contracted_on=CONTRACT_DAY, starts_on=CONTRACT_DAY)
    contracts.counter_orders_create(month=date(2027, 4, 1))
    monkeypatch.setattr(
        contracts, "counter_orders_due", lambda month: PlanContract.objects.filter(pk=contract.pk)
    )
    monkeypatch.setattr(
        contracts.PlanMonthlyOrder.objects, "filter", lambda **kw: PlanContract.objects.none()
    )
    # then the unique constraint stops a second order for the month (and its order rolls back with it)
    orders = Order.objects.count()
    with pytest.raises(IntegrityError):
        contracts.counter_orders_create(month=date(2027, 4, 1))
    assert Order.objects.count() == orders
