"""Ticket grants of plans (SPEC §7): expiry, the monthly job, the start month at contract time, catching up,
carry-over, usable stores, the usable-plan restriction, exactly once (also in parallel and after a run
killed half-way), the command, the task's schedule and the preview."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from core import ledgers
from core.jobs import job_run
from core.models import AuditEntry, Job
from inventory.tests.factories import ItemFactory, StoreFactory, jst
from members.tests.factories import MemberFactory
from plans import grants
from plans.models import AllowanceUsage, GrantRule, PlanContract, PlanGrant
from plans.tests.factories import (
    GrantRuleFactory,
    PlanBandAllowanceFactory,
    PlanContractFactory,
    PlanFactory,
    TimeBandFactory,
)
from tests.parallel import run_together
from tickets import selectors
from tickets.models import MemberTicket, TicketEntry
from tickets.tests.factories import TicketTypeFactory

APRIL = date(2027, 4, 1)
MARCH = date(2027, 3, 1)
MAY = date(2027, 5, 1)
ON_APRIL_1 = jst(APRIL, "00:05")
DAYS, MONTHS = GrantRule.ExpiryUnit.DAYS, GrantRule.ExpiryUnit.MONTHS


def run(month: date = APRIL, *, now: datetime | None = None, months=None) -> grants.GrantRun:
    return grants.grants_run(month=month, now=now or jst(month, "00:05"), months=months)


def granted(contract, rule=None) -> list[date]:
    rows = PlanGrant.objects.filter(contract=contract)
    if rule is not None:
        rows = rows.filter(rule=rule)
    return sorted(rows.values_list("month", flat=True))


def succeeded_run(month: date) -> Job:
    return Job.objects.create(
        kind=grants.GRANT_JOB,
        label="grants",
        status=Job.Status.SUCCEEDED,
        params={"month": month.isoformat()},
    )


def ledgers_clean() -> bool:
    return ledgers.checks()["tickets"]() == []


# --- expiry -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted_on", "amount", "unit", "through"),
    [
        (date(2027, 1, 5), 31, DAYS, date(2027, 2, 4)),  # SPEC §7: the grant day is day 1
        (date(2027, 1, 5), 1, DAYS, date(2027, 1, 5)),
        (date(2027, 1, 5), 1, MONTHS, date(2027, 1, 31)),  # SPEC §7: to the end of a month
        (date(2027, 1, 5), 2, MONTHS, date(2027, 2, 28)),  # … the end of February
        (date(2028, 1, 5), 2, MONTHS, date(2028, 2, 29)),  # leap year
        (date(2027, 12, 1), 2, MONTHS, date(2028, 1, 31)),  # across the year end
        (date(2028, 2, 29), 365, DAYS, date(2029, 2, 27)),
    ],
)
def test_grant_valid_through(granted_on, amount, unit, through):
    assert grants.grant_valid_through(granted_on, amount, unit) == through


@pytest.mark.django_db
def test_the_rules_expiry_wins_over_the_ticket_types_validity():
    rule = GrantRuleFactory(
        ticket_type=TicketTypeFactory(validity_days=90), expiry_amount=31, expiry_unit=DAYS
    )
    PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 3, 10))
    run(APRIL)
    ticket = MemberTicket.objects.get()
    assert (ticket.valid_from, ticket.valid_through) == (APRIL, date(2027, 5, 1))


# --- the monthly job ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_spec_example_site_contract_325_starting_45_march_at_contract_time_april_on_41():
    # given a site contract made on 3/25, starting 4/5, with a monthly rule of 2 × 5-use tickets, 2 months
    rule = GrantRuleFactory(quantity=2, expiry_amount=2, expiry_unit=MONTHS)
    contract = PlanContractFactory(
        plan=rule.plan, contracted_on=date(2027, 3, 25), starts_on=date(2027, 4, 5)
    )
    # when it is activated on 3/25 (the start month, March, is granted then) and the job runs on 4/1
    grants.grants_for_new_contract(contract, by=contract.member, now=jst(date(2027, 3, 25), "14:00"))
    assert granted(contract) == [MARCH]
    result = run(APRIL)
    # then April is granted by the job: one ticket of 10 uses, valid 4/1–5/31
    assert granted(contract) == [MARCH, APRIL]
    assert result.tickets == {rule.pk: 1}
    grant = PlanGrant.objects.get(contract=contract, month=APRIL)
    ticket = grant.member_ticket
    assert (grant.quantity, ticket.uses_total, ticket.uses_left) == (2, 10, 10)
    assert (ticket.valid_from, ticket.valid_through) == (APRIL, date(2027, 5, 31))
    assert (ticket.member, ticket.source, ticket.status) == (
        contract.member,
        MemberTicket.Source.GRANT,
        MemberTicket.Status.ACTIVE,
    )
    entry = ticket.entries.get()
    assert (entry.kind, entry.delta, entry.uses_left_after) == (TicketEntry.Kind.ISSUED, 10, 10)
    assert ledgers_clean()


@pytest.mark.django_db
def test_the_job_never_grants_the_start_month():
    # given contracts made in April (on the 1st, too): April is their start month
    rule = GrantRuleFactory()
    on_first = PlanContractFactory(plan=rule.plan, contracted_on=APRIL)
    later = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 4, 20))
    # when the April and May jobs run
    run(APRIL)
    run(MAY, now=jst(MAY, "00:05"))
    # then each gets May only from the job
    assert granted(on_first) == [MAY]
    assert granted(later) == [MAY]


@pytest.mark.django_db
def test_admin_contract_start_month_only_when_staff_tick_it():
    # given the same 3/25 → 4/5 contract made in the admin
    rule = GrantRuleFactory()
    on_contract = GrantRuleFactory(plan=rule.plan, on_contract=True)
    staff = MemberFactory(is_staff=True)
    unticked = PlanContractFactory(
        plan=rule.plan, contracted_on=date(2027, 3, 25), starts_on=date(2027, 4, 5), channel="admin"
    )
    ticked = PlanContractFactory(
        plan=rule.plan, contracted_on=date(2027, 3, 25), starts_on=date(2027, 4, 5), channel="admin"
    )
    when = jst(date(2027, 3, 25), "14:00")
    # when staff leave the boxes unticked for one and tick both for the other
    grants.grants_for_new_contract(
        unticked, by=staff, include_on_contract=False, include_monthly=False, now=when
    )
    grants.grants_for_new_contract(ticked, by=staff, now=when)
    run(APRIL)
    # then March is granted only where ticked, and April by the job to both
    assert granted(unticked) == [APRIL]
    assert granted(ticked, rule) == [MARCH, APRIL]
    assert granted(ticked, on_contract) == [MARCH]
    assert PlanGrant.objects.get(contract=ticked, rule=rule, month=MARCH).granted_by == staff
    assert PlanGrant.objects.get(contract=ticked, rule=rule, month=APRIL).granted_by is None


@pytest.mark.django_db
def test_new_contract_grants_once_and_a_plan_change_gets_no_on_contract_grant():
    rule = GrantRuleFactory(on_contract=True)
    first = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 3, 25))
    when = jst(date(2027, 3, 25), "14:00")
    grants.grants_for_new_contract(first, by=first.member, now=when)
    again = grants.grants_for_new_contract(first, by=first.member, now=when)
    assert again.total_grants == 0
    assert granted(first) == [MARCH]
    changed = PlanContractFactory(
        plan=rule.plan, member=first.member, contracted_on=date(2027, 3, 28), previous=first
    )
    grants.grants_for_new_contract(changed, by=first.member, now=jst(date(2027, 3, 28), "10:00"))
    assert granted(changed) == []


@pytest.mark.django_db
def test_activated_after_the_1st_also_gets_the_months_the_job_ran_before():
    # given a site contract made on 3/25 but paid (activated) only on 4/3, after the April job ran
    rule = GrantRuleFactory()
    contract = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 3, 25), status="pending")
    run(APRIL)
    assert granted(contract) == []
    # when it is activated
    contract.status = PlanContract.Status.ACTIVE
    contract.save()
    grants.grants_for_new_contract(contract, by=contract.member, now=jst(date(2027, 4, 3), "10:00"))
    # then it gets March (its start month) and April, valid from the activation day
    assert granted(contract) == [MARCH, APRIL]
    assert set(MemberTicket.objects.values_list("valid_from", flat=True)) == {date(2027, 4, 3)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ends_on", "status", "months"),
    [
        (None, "active", [APRIL]),
        (date(2027, 4, 15), "active", [APRIL]),  # ending mid-month: in force on the 1st
        (APRIL, "active", [APRIL]),
        (date(2027, 3, 31), "ended", []),  # ended before the 1st
        (date(2027, 4, 30), "ended", [APRIL]),
        (None, "past_due", [APRIL]),  # in force while Stripe retries
        (None, "pending", []),  # not paid yet
    ],
)
def test_who_the_job_grants(ends_on, status, months):
    rule = GrantRuleFactory()
    contract = PlanContractFactory(
        plan=rule.plan, contracted_on=date(2027, 2, 10), ends_on=ends_on, status=status
    )
    run(APRIL, months=[APRIL])
    assert granted(contract) == months


@pytest.mark.django_db
def test_a_checkout_left_unpaid_carries_nothing_over():
    # given a site contract made on 3/25 whose first payment never came: dropped, ended on its contracted day
    from payments.models import Order

    plan, band = carry_plan()
    GrantRuleFactory(plan=plan, carry_over=True, carry_band=band)
    order = Order.objects.create(
        member=MemberFactory(), status=Order.Status.CANCELLED, payment_method=Order.Method.CARD
    )
    dropped = PlanContractFactory(
        plan=plan,
        member=order.member,
        contracted_on=date(2027, 3, 25),
        ends_on=date(2027, 3, 25),
        status="ended",
        first_order=order,
    )
    paid = PlanContractFactory(
        plan=plan, contracted_on=date(2027, 3, 25), ends_on=date(2027, 3, 25), status="ended"
    )
    # when April's run carries March over
    run(APRIL, months=[APRIL])
    # then only the contract that started gets March's allowance
    assert granted(dropped) == []
    assert granted(paid) == [APRIL]


@pytest.mark.django_db
def test_a_contract_ending_mid_month_gets_no_month_after_it():
    rule = GrantRuleFactory()
    contract = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 2, 10), ends_on=date(2027, 4, 15))
    run(APRIL)
    succeeded_run(APRIL)
    run(MAY, now=jst(MAY, "00:05"))
    assert granted(contract) == [APRIL]


@pytest.mark.django_db
def test_a_second_run_grants_nothing():
    rule = GrantRuleFactory()
    other = GrantRuleFactory(plan=rule.plan)
    contracts = PlanContractFactory.create_batch(3, plan=rule.plan, contracted_on=date(2027, 2, 1))
    first = run(APRIL)
    second = run(APRIL)
    assert first.tickets == {rule.pk: 3, other.pk: 3}
    assert second.total_grants == 0
    assert PlanGrant.objects.count() == MemberTicket.objects.count() == TicketEntry.objects.count() == 6
    assert [len(granted(contract)) for contract in contracts] == [2, 2, 2]
    # one audit entry for the run that granted, none for the one that found nothing
    entries = AuditEntry.objects.filter(action="plans.tickets_granted")
    assert entries.count() == 1
    assert entries.get().payload["tickets"] == {str(rule.pk): 3, str(other.pk): 3}
    assert entries.get().system == grants.GRANT_JOB


@pytest.mark.django_db
def test_a_month_cannot_be_granted_before_it_begins():
    GrantRuleFactory()
    with pytest.raises(grants.GrantError):
        grants.grants_run(month=MAY, now=jst(date(2027, 4, 30), "23:00"))


# --- catching up --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_months_missed_since_the_last_successful_run_are_granted():
    # given the job last succeeded for February, and was down for March
    rule = GrantRuleFactory()
    carry = GrantRuleFactory(plan=rule.plan, carry_over=True, carry_total=True)
    rule.plan.allowance_mode, rule.plan.total_allowance = "total", 4
    rule.plan.save()
    live = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 1, 10))
    ended = PlanContractFactory(
        plan=rule.plan, contracted_on=date(2027, 1, 10), ends_on=date(2027, 3, 20), status="ended"
    )
    succeeded_run(date(2027, 2, 1))
    # when April's run comes
    result = run(APRIL)
    # then March is granted too, but not to the contract for the months after it ended
    assert result.months == [MARCH, APRIL]
    assert granted(live, rule) == [MARCH, APRIL]
    assert granted(ended, rule) == [MARCH]
    assert granted(live, carry) == [MARCH, APRIL]  # February's and March's allowance
    assert granted(ended, carry) == [MARCH, APRIL]  # … it was in force in February and March
    assert ledgers_clean()


@pytest.mark.django_db
def test_the_catch_up_window_and_a_first_run():
    assert grants.months_to_grant(APRIL) == [APRIL]  # no run before: a new installation
    succeeded_run(date(2025, 1, 1))
    window = grants.months_to_grant(APRIL)
    assert len(window) == grants.CATCH_UP_MONTHS
    assert (window[0], window[-1]) == (date(2026, 5, 1), APRIL)
    succeeded_run(APRIL)
    assert grants.months_to_grant(APRIL) == [APRIL]  # a run again for the same month
    assert grants.months_to_grant(MAY) == [MAY]


# --- carry-over ---------------------------------------------------------------------------------------------


def carry_plan(*, total=False, allowance=4):
    plan = PlanFactory(total=True, total_allowance=allowance) if total else PlanFactory()
    band = TimeBandFactory(name="フルタイム")
    if not total:
        PlanBandAllowanceFactory(plan=plan, band=band, allowance=allowance)
    return plan, band


@pytest.mark.django_db
@pytest.mark.parametrize(("cap", "used", "quantity"), [(None, 1, 3), (2, 1, 2), (5, 0, 4), (None, 4, 0)])
def test_carry_over_of_a_band_all_left_or_at_most_n(cap, used, quantity):
    # given a per-band plan with 4 a month in フルタイム, and March's use
    plan, band = carry_plan()
    rule = GrantRuleFactory(plan=plan, carry_over=True, carry_band=band, quantity=cap)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10))
    AllowanceUsage.objects.create(contract=contract, month=MARCH, band=band, used=used)
    # when April's run carries March over
    run(APRIL, months=[APRIL])
    # then the grant records what was left (or at most N); nothing left: a grant of 0 with no ticket
    grant = PlanGrant.objects.get(contract=contract, rule=rule)
    assert (grant.month, grant.quantity) == (APRIL, quantity)
    if quantity:
        assert grant.member_ticket.uses_total == quantity * rule.ticket_type.uses
    else:
        assert grant.member_ticket is None
        assert MemberTicket.objects.count() == 0
    assert run(APRIL, months=[APRIL]).total_grants == 0  # recorded, so not looked at again


@pytest.mark.django_db
def test_carry_over_of_the_total_counts_the_months_without_usage_as_all_left():
    plan, _band = carry_plan(total=True, allowance=6)
    rule = GrantRuleFactory(plan=plan, carry_over=True, carry_total=True)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10))
    AllowanceUsage.objects.create(contract=contract, month=MARCH, band=None, used=2)
    run(APRIL, months=[APRIL])
    assert PlanGrant.objects.get(contract=contract, rule=rule).quantity == 4


@pytest.mark.django_db
@pytest.mark.parametrize("total_plan", [True, False])
def test_carry_over_whose_band_does_not_match_the_plans_mode_grants_nothing(total_plan):
    plan, band = carry_plan(total=total_plan)
    if total_plan:
        GrantRuleFactory(plan=plan, carry_over=True, carry_band=band)  # a band on a total plan
    else:
        GrantRuleFactory(plan=plan, carry_over=True, carry_total=True)  # 月間全体 on a per-band plan
        GrantRuleFactory(plan=plan, carry_over=True, carry_band=TimeBandFactory(name="モーニング"))
    PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10))
    assert run(APRIL, months=[APRIL]).total_grants == 0
    assert PlanGrant.objects.count() == 0


@pytest.mark.django_db
def test_carry_over_only_for_a_month_the_contract_was_in_force():
    plan, band = carry_plan()
    GrantRuleFactory(plan=plan, carry_over=True, carry_band=band)
    # contracted 3/25 but starting 4/5: not in force in March; started 3/31: in force
    not_started = PlanContractFactory(plan=plan, contracted_on=date(2027, 3, 25), starts_on=date(2027, 4, 5))
    started = PlanContractFactory(plan=plan, contracted_on=date(2027, 3, 25), starts_on=date(2027, 3, 31))
    ended = PlanContractFactory(
        plan=plan, contracted_on=date(2027, 1, 5), ends_on=date(2027, 2, 28), status="ended"
    )
    run(APRIL, months=[APRIL])
    assert granted(not_started) == []
    assert granted(started) == [APRIL]
    assert granted(ended) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("restriction", "new_plan_selected", "channel", "carried"),
    [
        (GrantRule.Restriction.THIS_PLAN, False, "admin", False),  # changed in the admin to another plan
        (GrantRule.Restriction.THIS_AND_SELECTED, False, "admin", False),
        (GrantRule.Restriction.THIS_AND_SELECTED, True, "admin", True),  # … to a selected plan
        (GrantRule.Restriction.NONE, False, "admin", True),  # the tickets are usable with any plan
        (GrantRule.Restriction.ANY_PLAN, False, "admin", True),
        (GrantRule.Restriction.THIS_PLAN, False, "site", True),  # changed by the member
    ],
)
def test_carry_over_after_an_admin_plan_change(restriction, new_plan_selected, channel, carried):
    # given a contract changed on 3/20 to another plan from 4/1
    plan, band = carry_plan()
    new_plan = PlanFactory()
    rule = GrantRuleFactory(
        plan=plan,
        carry_over=True,
        carry_band=band,
        restriction=restriction,
        allowed_plans=[new_plan] if new_plan_selected else [],
    )
    old = PlanContractFactory(
        plan=plan, contracted_on=date(2027, 1, 10), ends_on=date(2027, 3, 31), status="ended"
    )
    PlanContractFactory(
        plan=new_plan,
        member=old.member,
        previous=old,
        contracted_on=date(2027, 3, 20),
        starts_on=APRIL,
        channel=channel,
    )
    # when April's run carries March over
    run(APRIL, months=[APRIL])
    # then the old contract's March is carried over only when its tickets are usable with the new plan
    assert granted(old, rule) == ([APRIL] if carried else [])


# --- usable stores and the usable-plan restriction ----------------------------------------------------------


@pytest.mark.django_db
def test_usable_stores_the_ticket_types_else_the_plans_at_grant_time():
    shibuya, shinjuku, ikebukuro = StoreFactory(), StoreFactory(), StoreFactory()
    plan = PlanFactory(stores=[shibuya, shinjuku])
    own = GrantRuleFactory(plan=plan, ticket_type=TicketTypeFactory(stores=[ikebukuro]))
    plans_stores = GrantRuleFactory(plan=plan)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10))
    run(APRIL)
    plan.stores.set([ikebukuro])  # changed after the grant: the ticket keeps what it was given
    tickets = {grant.rule_id: grant.member_ticket for grant in PlanGrant.objects.filter(contract=contract)}
    assert set(tickets[own.pk].stores.all()) == {ikebukuro}
    assert set(tickets[plans_stores.pk].stores.all()) == {shibuya, shinjuku}


def usable(member, item, on: date) -> bool:
    return selectors.usable_tickets(member=member, item=item, on=on, today=APRIL).exists()


@pytest.mark.django_db
def test_restriction_none_and_any_plan():
    item = ItemFactory()
    plan = PlanFactory()
    free = GrantRuleFactory(plan=plan, ticket_type=TicketTypeFactory(items=[item]), expiry_amount=3)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10), ends_on=date(2027, 4, 30))
    run(APRIL)
    member = contract.member
    assert usable(member, item, date(2027, 4, 20))
    assert usable(member, item, date(2027, 5, 20))  # no restriction: also after the contract
    free.restriction = GrantRule.Restriction.ANY_PLAN
    free.save()
    assert usable(member, item, date(2027, 4, 20))
    assert not usable(member, item, date(2027, 5, 20))  # no live contract on the booked day
    other = PlanContractFactory(member=member, contracted_on=date(2027, 4, 20), starts_on=MAY)
    assert usable(member, item, date(2027, 5, 20))  # any plan will do
    other.status = PlanContract.Status.PAST_DUE
    other.save()
    assert not usable(member, item, date(2027, 5, 20))  # past due is not live


@pytest.mark.django_db
def test_restriction_this_plan_and_selected_plans():
    item = ItemFactory()
    plan, selected, elsewhere = PlanFactory(), PlanFactory(), PlanFactory()
    rule = GrantRuleFactory(
        plan=plan,
        ticket_type=TicketTypeFactory(items=[item]),
        restriction=GrantRule.Restriction.THIS_PLAN,
        allowed_plans=[selected],
        expiry_amount=3,
    )
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10), ends_on=date(2027, 4, 30))
    run(APRIL)
    member = contract.member
    PlanContractFactory(member=member, plan=selected, contracted_on=date(2027, 4, 25), starts_on=MAY)
    PlanContractFactory(member=member, plan=elsewhere, contracted_on=date(2027, 4, 25), starts_on=MAY)
    assert usable(member, item, date(2027, 4, 20))
    assert not usable(member, item, date(2027, 5, 20))  # this plan only: it ended
    rule.restriction = GrantRule.Restriction.THIS_AND_SELECTED
    rule.save()
    assert usable(member, item, date(2027, 5, 20))  # a selected plan is live
    rule.allowed_plans.set([])
    assert not usable(member, item, date(2027, 5, 20))


@pytest.mark.django_db
def test_the_restriction_check_is_part_of_the_one_query(django_assert_num_queries):
    item = ItemFactory()
    plan = PlanFactory()
    GrantRuleFactory(
        plan=plan,
        ticket_type=TicketTypeFactory(items=[item]),
        restriction=GrantRule.Restriction.THIS_PLAN,
        expiry_amount=3,
    )
    contracts = PlanContractFactory.create_batch(1, plan=plan, contracted_on=date(2027, 2, 10))
    run(APRIL)
    run(MAY, now=jst(MAY, "00:05"), months=[MAY])
    member = contracts[0].member
    with django_assert_num_queries(1):
        found = list(selectors.usable_tickets(member=member, item=item, on=date(2027, 5, 3), today=MAY))
    assert len(found) == 2


@pytest.mark.django_db
def test_a_booking_cannot_be_paid_with_a_ticket_its_plan_restriction_refuses():
    # given a "this plan only" ticket granted on 4/1 and the contract ending 4/30
    from tickets.exceptions import TicketUnusableError
    from tickets.tests.helpers import book, open_every_day

    open_every_day()
    item = ItemFactory(stock=10)
    rule = GrantRuleFactory(
        ticket_type=TicketTypeFactory(items=[item]),
        restriction=GrantRule.Restriction.THIS_PLAN,
        expiry_amount=3,
    )
    contract = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 2, 10), ends_on=date(2027, 4, 30))
    run(APRIL)
    now = jst(date(2027, 4, 10), "09:00")
    # when the member books a day the contract is live, then a day after it ended
    book(contract.member, item, day=date(2027, 4, 20), now=now)
    with pytest.raises(TicketUnusableError):
        book(contract.member, item, day=date(2027, 5, 20), now=now)
    # then only the first took a use
    assert MemberTicket.objects.get().uses_left == rule.ticket_type.uses - 1
    assert ledgers_clean()


# --- exactly once under concurrency and failure -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_grant_exactly_once():
    rule = GrantRuleFactory()
    other = GrantRuleFactory(plan=rule.plan)
    PlanContractFactory.create_batch(20, plan=rule.plan, contracted_on=date(2027, 2, 10))
    outcomes = run_together([run, run, run], expected=(), success="ran")
    assert outcomes == Counter({"ran": 3})
    assert PlanGrant.objects.count() == 40
    assert set(PlanGrant.objects.values_list("rule_id").annotate(n=Count("id"))) == {
        (rule.pk, 20),
        (other.pk, 20),
    }
    assert MemberTicket.objects.count() == TicketEntry.objects.count() == 40
    assert AuditEntry.objects.filter(action="plans.tickets_granted").count() == 1
    assert ledgers_clean()


@pytest.mark.django_db(transaction=True)
def test_an_activation_during_a_run_does_not_deadlock_with_it():
    # given a member with a live contract the run grants, and a second contract of theirs being activated
    # by a transaction that holds the member's row lock (as the contracts code does) while the run commits
    import time

    from django.db import transaction

    from members.models import Member

    rule = GrantRuleFactory(on_contract=False)
    GrantRuleFactory(plan=rule.plan, on_contract=True)
    live = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 2, 10))
    PlanContractFactory.create_batch(30, plan=rule.plan, contracted_on=date(2027, 2, 10))
    joining = PlanContractFactory(
        plan=rule.plan, member=live.member, contracted_on=date(2027, 4, 1), status="pending"
    )

    def activate():
        with transaction.atomic():
            Member.objects.select_for_update().get(pk=live.member_id)
            PlanContract.objects.filter(pk=joining.pk).update(status="active")
            time.sleep(0.3)  # the run has its lock and is waiting to check the member's row at commit
            grants.grants_for_new_contract(joining, by=live.member, now=jst(APRIL, "00:06"))

    # when both run at once
    outcomes = run_together([activate, run], expected=(), success="done")
    # then both finish, each granting its own
    assert outcomes == Counter({"done": 2})
    assert granted(live) == [APRIL]
    assert granted(joining) == [APRIL, APRIL]  # the on-contract and the start month's monthly grant
    assert ledgers_clean()


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_half_way_then_run_again_grants_exactly_once(monkeypatch):
    rule = GrantRuleFactory()
    other = GrantRuleFactory(plan=rule.plan)
    contracts = PlanContractFactory.create_batch(5, plan=rule.plan, contracted_on=date(2027, 2, 10))
    real = grants._grant_rule
    calls = []

    def dies_after_the_first_rule(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(grants, "_grant_rule", dies_after_the_first_rule)
    with pytest.raises(KeyboardInterrupt):
        run(APRIL)
    monkeypatch.setattr(grants, "_grant_rule", real)
    run(APRIL)
    for contract in contracts:
        assert granted(contract, rule) == [APRIL]
        assert granted(contract, other) == [APRIL]
    assert MemberTicket.objects.count() == 10
    assert ledgers_clean()


# --- the job, the command, the schedule, the preview --------------------------------------------------------


@pytest.mark.django_db
def test_a_run_is_a_job_with_counts_per_rule(time_machine):
    time_machine.move_to(ON_APRIL_1)
    rule = GrantRuleFactory()
    PlanContractFactory.create_batch(2, plan=rule.plan, contracted_on=date(2027, 2, 10))
    job = job_run(grants.grants_job_create(month=APRIL).pk, grants.grants_job)
    assert job.status == Job.Status.SUCCEEDED
    assert job.counts == {grants.rule_label(rule): 2, "plan_grants": 2, "plan_tickets": 2}
    assert PlanGrant.objects.filter(job=job).count() == 2


@pytest.mark.django_db
def test_the_task_runs_the_tokyo_month(time_machine):
    from plans.tasks import grant_monthly_tickets

    time_machine.move_to(ON_APRIL_1)  # 3/31 15:05 UTC: the month is April in Tokyo
    rule = GrantRuleFactory()
    contract = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 3, 10))
    assert grant_monthly_tickets() == Job.Status.SUCCEEDED
    assert granted(contract) == [APRIL]
    assert Job.objects.get().params == {"month": "2027-04-01"}


@pytest.mark.django_db
def test_a_run_staff_start_is_their_job(time_machine):
    from plans.tasks import run_grant_job

    time_machine.move_to(jst(APRIL, "10:00"))
    rule = GrantRuleFactory()
    contract = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 3, 10))
    staff = MemberFactory(is_staff=True)
    job = grants.grants_job_create(month=APRIL, started_by=staff)
    assert run_grant_job(job.pk) == Job.Status.SUCCEEDED
    assert granted(contract) == [APRIL]
    assert Job.objects.get().started_by == staff


def test_beat_runs_the_grants_at_0005_on_the_1st_tokyo_time():
    entry = settings.CELERY_BEAT_SCHEDULE["grant-monthly-tickets"]
    assert entry["task"] == "plans.tasks.grant_monthly_tickets"
    schedule = entry["schedule"]
    assert (schedule.day_of_month, schedule.hour, schedule.minute) == ({1}, {0}, {5})
    assert settings.CELERY_TIMEZONE == "Asia/Tokyo"


@pytest.mark.django_db
def test_the_command_dry_run_writes_nothing_then_the_run_grants(time_machine):
    time_machine.move_to(jst(date(2027, 4, 2), "09:00"))
    rule = GrantRuleFactory()
    contract = PlanContractFactory(plan=rule.plan, contracted_on=date(2027, 3, 10))
    out = io.StringIO()
    call_command("grant_tickets", "--month", "2027-04", "--dry-run", stdout=out)
    assert f"{grants.rule_label(rule)}: 1 ticket(s)" in out.getvalue()
    assert contract.member.email in out.getvalue()
    assert (PlanGrant.objects.count(), Job.objects.count()) == (0, 0)
    out = io.StringIO()
    call_command("grant_tickets", "--month", "2027-04", stdout=out)
    assert "granted 1 ticket(s)" in out.getvalue()
    assert granted(contract) == [APRIL]
    # granted when it runs: the grant day is 4/2
    assert MemberTicket.objects.get().valid_from == date(2027, 4, 2)
    with pytest.raises(CommandError):
        call_command("grant_tickets", "--month", "2027-05")
    with pytest.raises(CommandError):
        call_command("grant_tickets", "--month", "2027/04")


@pytest.mark.django_db
def test_preview_shows_who_gets_what_before_the_1st_and_its_csv():
    # given on 3/20: a contract due April's monthly grant and a carry-over of March
    plan, band = carry_plan()
    monthly = GrantRuleFactory(plan=plan, quantity=2)
    carry = GrantRuleFactory(plan=plan, carry_over=True, carry_band=band, quantity=3)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10))
    PlanContractFactory(plan=plan, contracted_on=date(2027, 3, 15), status="pending")
    # when previewing April
    preview = grants.grants_preview(APRIL, today=date(2027, 3, 20))
    # then it lists the grants as of 4/1 and counts them per rule, writing nothing
    assert preview.counts == {grants.rule_label(monthly): 1, grants.rule_label(carry): 1}
    assert {(row.contract_id, row.rule_id, row.quantity) for row in preview.rows} == {
        (contract.pk, monthly.pk, 2),
        (contract.pk, carry.pk, 3),
    }
    assert {row.valid_from for row in preview.rows} == {APRIL}
    assert PlanGrant.objects.count() == 0
    shown = grants.grants_preview(APRIL, today=date(2027, 3, 20), limit=1)
    assert (len(shown.rows), shown.counts) == (1, preview.counts)
    data = grants.grants_preview_csv(preview).decode("cp932")
    lines = data.split("\r\n")
    assert lines[0].startswith("会員ID,メールアドレス")
    assert len([line for line in lines if line]) == 3
    assert "2027/04" in data


@pytest.mark.django_db
def test_a_failed_run_waits_on_the_admin_home_until_one_succeeds():
    Job.objects.create(kind=grants.GRANT_JOB, label="grants", status=Job.Status.FAILED, params={})
    assert grants.FAILED_RUNS.count() == 1
    succeeded_run(APRIL)
    assert grants.FAILED_RUNS.count() == 0
