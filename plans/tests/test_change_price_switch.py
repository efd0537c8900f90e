"""When Stripe switches a plan change's monthly price (plans.price_switches): Stripe bills on the 1st, for the
plan in force that day. F, the first 1st on or after the change's start, is the first invoice of the new
plan: the price is switched at once when F is the next 1st, otherwise by the daily job once the invoice of
the 1st before F has been made — never so early that a 1st before F bills the new price.

The Stripe double plays Stripe's API; the job runs at 04:00 JST on the days named."""

from __future__ import annotations

import io
import logging
from datetime import date

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.models import AuditEntry, Job
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Product
from plans import price_switches
from plans.contracts import contract_cancel, contract_change_plan
from plans.models import PlanContract
from plans.tasks import switch_plan_prices
from plans.tests.factories import PlanContractFactory, PlanFactory
from tickets.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

SUBSCRIPTION = "sub_live_1"
MADE_ON = date(2027, 1, 10)


def switches(stripe_api) -> list[dict]:
    """The subscription updates that switched its price (a cancellation is an update too, without a price)."""
    return [
        request
        for request in stripe_api.requests
        if request["method"] == "POST"
        and request["path"] == f"/v1/subscriptions/{SUBSCRIPTION}"
        and "items[0][price]" in request["form"]
    ]


def a_contract() -> PlanContract:
    """A site contract in force since 2026-10-05 on a 10,000-yen subscription."""
    return PlanContractFactory(contracted_on=date(2026, 10, 5), stripe_subscription_id=SUBSCRIPTION)


def upper_plan():
    return PlanFactory(
        monthly_product=ProductFactory(kind=Product.Kind.MONTHLY, price_yen=15000, name="上位プラン")
    )


def staff_change(contract: PlanContract, *, starts_on: date, today: date = MADE_ON) -> PlanContract:
    return contract_change_plan(
        contract=contract,
        new_plan=upper_plan(),
        by=MemberFactory(is_staff=True),
        starts_on=starts_on,
        today=today,
        now=jst(today, "10:00"),
    )


def run_on(time_machine, day: date) -> str:
    time_machine.move_to(jst(day, "04:00"), tick=False)
    return switch_plan_prices()


@pytest.fixture
def subscription(stripe_api):
    stripe_api.add_subscription(SUBSCRIPTION, unit_amount=10000)
    return stripe_api


# --- the rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_on", "billed_from"),
    [
        (date(2027, 3, 15), date(2027, 4, 1)),
        (date(2027, 3, 1), date(2027, 3, 1)),
        (date(2027, 12, 2), date(2028, 1, 1)),
        (date(2028, 2, 29), date(2028, 3, 1)),
    ],
)
def test_the_new_plan_is_first_billed_on_the_first_1st_on_or_after_its_start(starts_on, billed_from):
    assert price_switches.billed_from(starts_on) == billed_from


@pytest.mark.parametrize(
    ("starts_on", "today", "due"),
    [
        (date(2027, 3, 15), date(2027, 2, 28), False),  # F = 4/1, the next 1st is 3/1
        (date(2027, 3, 15), date(2027, 3, 1), True),  # after the 3/1 invoice, before 4/1
        (date(2027, 3, 1), date(2027, 1, 31), False),  # F = 3/1: the 2/1 invoice still bills the old plan
        (date(2027, 3, 1), date(2027, 2, 1), True),
        (date(2027, 2, 1), date(2027, 1, 10), True),  # a member's change: from the next 1st
        (date(2027, 1, 20), date(2027, 1, 10), True),  # F = 2/1
    ],
)
def test_a_switch_is_due_once_f_is_the_next_1st(starts_on, today, due):
    assert price_switches.switch_is_due(starts_on, today=today) is due


# --- at once -----------------------------------------------------------------------------------------------


def test_a_members_change_from_the_next_1st_is_switched_at_once(subscription, time_machine):
    # given a member's contract on a subscription
    contract = a_contract()
    # when the member changes plan on 2027-01-10 (from 2/1)
    new = contract_change_plan(
        contract=contract, new_plan=upper_plan(), by=contract.member, today=MADE_ON, now=jst(MADE_ON, "10:00")
    )
    # then Stripe's price is switched at once, without proration, and the change is marked switched
    [switch] = switches(subscription)
    assert switch["form"]["proration_behavior"] == "none"
    price = next(r for r in subscription.requests if r["path"] == "/v1/prices")
    assert price["form"]["unit_amount"] == "15000"
    assert new.starts_on == date(2027, 2, 1)
    assert new.stripe_price_switched_at == jst(MADE_ON, "10:00")
    # and the daily job has nothing left to do
    assert run_on(time_machine, date(2027, 1, 11)) == "nothing due"
    assert len(switches(subscription)) == 1
    assert not Job.objects.exists()


def test_a_staff_change_before_the_next_1st_is_switched_at_once(subscription):
    new = staff_change(a_contract(), starts_on=date(2027, 1, 20))
    assert len(switches(subscription)) == 1
    assert new.stripe_price_switched_at is not None


# --- later, by the daily job --------------------------------------------------------------------------------


def test_a_staff_change_months_ahead_is_switched_after_the_invoice_of_the_1st_before_it(
    subscription, time_machine
):
    # given staff change a plan on 2027-01-10 from 2027-03-15 (first billed on 4/1)
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    # then nothing is sent at once: the 2/1 and 3/1 invoices bill the old plan
    assert switches(subscription) == []
    assert subscription.requests == []
    new.refresh_from_db()
    assert new.stripe_price_switched_at is None
    # when the daily job runs before the 3/1 invoice: nothing
    for day in (date(2027, 1, 31), date(2027, 2, 2), date(2027, 2, 20), date(2027, 2, 28)):
        assert run_on(time_machine, day) == "nothing due"
    assert switches(subscription) == []
    assert not Job.objects.exists()
    # when it runs on 3/2 (the 3/1 invoice made): one switch to the new price, without proration
    assert run_on(time_machine, date(2027, 3, 2)) == Job.Status.SUCCEEDED
    [switch] = switches(subscription)
    assert switch["form"]["proration_behavior"] == "none"
    assert switch["form"]["metadata[plan_id]"] == str(new.plan_id)
    assert switch["idempotency_key"]
    price = next(r for r in subscription.requests if r["path"] == "/v1/prices")
    assert price["form"]["unit_amount"] == "15000"
    new.refresh_from_db()
    assert new.stripe_price_switched_at == jst(date(2027, 3, 2), "04:00")
    job = Job.objects.get(kind=price_switches.SWITCH_JOB)
    assert (job.counts, job.params) == ({"plan_price_switches": 1}, {"day": "2027-03-02"})
    entry = AuditEntry.objects.get(action="plan_contract.price_switched")
    assert entry.object_id == str(new.pk)
    # and running it again (the same day, the next day) sends nothing more
    assert run_on(time_machine, date(2027, 3, 2)) == "nothing due"
    assert run_on(time_machine, date(2027, 3, 3)) == "nothing due"
    assert len(switches(subscription)) == 1


def test_a_staff_change_dated_on_a_1st_is_switched_after_the_invoice_of_the_1st_before(
    subscription, time_machine
):
    # given staff change a plan on 2027-01-10 from 2027-03-01 (first billed on 3/1)
    new = staff_change(a_contract(), starts_on=date(2027, 3, 1))
    assert switches(subscription) == []
    # then the job leaves it for January (the 2/1 invoice bills the old plan) …
    assert run_on(time_machine, date(2027, 1, 31)) == "nothing due"
    assert switches(subscription) == []
    # … and switches it after the 2/1 invoice
    assert run_on(time_machine, date(2027, 2, 2)) == Job.Status.SUCCEEDED
    assert len(switches(subscription)) == 1
    new.refresh_from_db()
    assert new.stripe_price_switched_at is not None


def test_the_service_twice_the_same_day_is_one_switch(subscription):
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    now = jst(date(2027, 3, 2), "04:00")
    first = price_switches.price_switches_run(now=now)
    # a second run that read the change before the first marked it sends the same idempotency key
    assert price_switches.price_switch(contract=new, today=date(2027, 3, 2), now=now) is False
    assert first.switched == [new.pk]
    keys = {request["idempotency_key"] for request in switches(subscription)}
    assert len(keys) == 1
    assert len(subscription.subscriptions[SUBSCRIPTION]["items"]["data"]) == 1


# --- failures -----------------------------------------------------------------------------------------------


def test_a_stripe_refusal_leaves_it_pending_shows_to_staff_and_the_next_run_switches_it(
    stripe_api, time_machine, caplog
):
    # given a change due from the 3/1 run, and Stripe not knowing the subscription on 3/2
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    # when the job runs on 3/2
    with caplog.at_level(logging.WARNING, logger="plans.price_switches"):
        assert run_on(time_machine, date(2027, 3, 2)) == Job.Status.FAILED
    # then nothing is switched; the refusal is logged, the run failed and waits on the admin home
    assert switches(stripe_api) == []
    new.refresh_from_db()
    assert new.stripe_price_switched_at is None
    assert f"Contract #{new.pk}" in caplog.text
    failed = Job.objects.get(kind=price_switches.SWITCH_JOB)
    assert f"#{new.pk}" in failed.messages[-1]
    assert price_switches.FAILED_RUNS.count() == 1
    # when Stripe answers again and the next day's job runs
    stripe_api.add_subscription(SUBSCRIPTION, unit_amount=10000)
    assert run_on(time_machine, date(2027, 3, 3)) == Job.Status.SUCCEEDED
    # then it is switched once and the failure no longer waits
    assert len(switches(stripe_api)) == 1
    new.refresh_from_db()
    assert new.stripe_price_switched_at == jst(date(2027, 3, 3), "04:00")
    assert price_switches.FAILED_RUNS.count() == 0


def test_a_failed_run_is_cleared_by_a_later_run_even_with_nothing_left_to_switch(subscription, time_machine):
    Job.objects.create(kind=price_switches.SWITCH_JOB, label="switches", status=Job.Status.FAILED, params={})
    assert price_switches.FAILED_RUNS.count() == 1
    assert run_on(time_machine, date(2027, 3, 2)) == Job.Status.SUCCEEDED
    assert price_switches.FAILED_RUNS.count() == 0


# --- undone before it is billed -----------------------------------------------------------------------------


def test_a_change_cancelled_before_it_is_billed_is_never_switched(subscription, time_machine):
    # given a change from 3/15 made on 1/10, whose new contract staff cancel on 2/10 (it ends 2/28)
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    contract_cancel(contract=new, by=MemberFactory(is_staff=True), today=date(2027, 2, 10))
    # when the job runs once the switch would have been due
    assert run_on(time_machine, date(2027, 3, 2)) == "nothing due"
    # then Stripe only heard the cancellation, never the new price
    assert switches(subscription) == []
    assert subscription.subscriptions[SUBSCRIPTION]["cancel_at_period_end"] is True


def test_an_ended_subscription_is_never_switched(subscription, time_machine):
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    PlanContract.objects.filter(pk=new.pk).update(status=PlanContract.Status.ENDED, ends_on=date(2027, 2, 28))
    assert run_on(time_machine, date(2027, 3, 2)) == "nothing due"
    assert switches(subscription) == []


def test_a_later_change_already_switched_wins_over_an_older_one_still_pending(subscription):
    # given a change from 3/15 still pending, then a change of that plan from 3/20 (new contract B → C)
    pending = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    later = staff_change(pending, starts_on=date(2027, 3, 20), today=date(2027, 3, 5))
    # then C was switched at once (F = 4/1 is the next 1st); B ends 3/19, before any invoice of its own
    assert later.stripe_price_switched_at is not None
    assert price_switches.price_switches_due(today=date(2027, 3, 6)) == []
    assert len(switches(subscription)) == 1


# --- without Stripe keys ------------------------------------------------------------------------------------


def test_the_test_gateway_sends_nothing(time_machine):
    # given no Stripe keys (the test gateway)
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    assert new.stripe_price_switched_at is None
    # when the job runs: nothing is sent, no job recorded
    assert run_on(time_machine, date(2027, 3, 2)) == "no Stripe keys"
    assert not Job.objects.exists()


# --- pages and schedule -------------------------------------------------------------------------------------


def test_the_contract_admin_page_says_when_the_new_price_is_billed(subscription, admin_client):
    from plans.admin import PlanContractAdmin

    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    shown = PlanContractAdmin.new_price_billing(None, new)
    assert "2027-04-01" in shown
    response = admin_client.get(reverse("admin:plans_plancontract_change", args=[new.pk]))
    assert response.status_code == 200
    assert "2027-04-01" in response.content.decode()


def test_my_plan_says_from_when_the_new_price_is_billed(subscription, client, time_machine):
    contract = a_contract()
    staff_change(contract, starts_on=date(2027, 3, 15))
    time_machine.move_to(jst(MADE_ON, "12:00"), tick=False)
    client.force_login(contract.member)
    body = client.get(reverse("plans:mine")).content.decode()
    assert '<dd class="price-billed-from">2027-04-01</dd>' in body
    # once billed, the line goes
    time_machine.move_to(jst(date(2027, 4, 2), "12:00"), tick=False)
    assert "price-billed-from" not in client.get(reverse("plans:mine")).content.decode()


def test_the_command_lists_what_is_due_then_switches_it(subscription, time_machine):
    new = staff_change(a_contract(), starts_on=date(2027, 3, 15))
    time_machine.move_to(jst(date(2027, 3, 2), "09:00"), tick=False)
    out = io.StringIO()
    call_command("switch_plan_prices", "--dry-run", "--date", "2027-02-20", stdout=out)
    assert "would switch 0 price(s)" in out.getvalue()
    out = io.StringIO()
    call_command("switch_plan_prices", "--dry-run", stdout=out)
    assert f"#{new.pk}" in out.getvalue()
    assert "billed from 2027-04-01" in out.getvalue()
    assert switches(subscription) == []
    with pytest.raises(CommandError):
        call_command("switch_plan_prices", "--date", "2027-03-02")
    out = io.StringIO()
    call_command("switch_plan_prices", stdout=out)
    assert "switched 1 price(s)" in out.getvalue()
    assert len(switches(subscription)) == 1


def test_beat_runs_the_switches_daily_at_0400_tokyo_time():
    entry = settings.CELERY_BEAT_SCHEDULE["switch-plan-prices"]
    assert entry["task"] == "plans.tasks.switch_plan_prices"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({4}, {0})
