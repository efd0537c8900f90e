"""The plans panel of the staff home: this month's grants per rule, next month's as the run would make
them now, and the contracts started, ending and past due; its queries do not grow with the contracts."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from plans import grants
from plans.models import PlanContract
from plans.tests.factories import GrantRuleFactory, PlanContractFactory, PlanFactory

pytestmark = pytest.mark.django_db

APRIL = date(2027, 4, 1)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def staff(*codenames: str):
    user = MemberFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def in_april(monkeypatch):
    """The home is looked at on 2027-04-10 (JST)."""
    from django.utils import timezone

    now = jst(date(2027, 4, 10), "10:00")
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def make_contracts(plan, count: int, **fields) -> list[PlanContract]:
    return [PlanContractFactory(plan=plan, contracted_on=date(2027, 3, 25), **fields) for _ in range(count)]


def test_the_panel_shows_this_months_grants_next_months_and_the_contract_counts(client, in_april):
    plan = PlanFactory(name="月4回プラン", total=True)
    rule = GrantRuleFactory(plan=plan, ticket_type__name="ヨガ回数券", quantity=2)
    make_contracts(plan, 3)
    PlanContractFactory(plan=plan, contracted_on=date(2027, 4, 2), starts_on=date(2027, 4, 5))
    PlanContractFactory(plan=plan, contracted_on=date(2027, 1, 5), ends_on=date(2027, 4, 30))
    PlanContractFactory(plan=plan, status=PlanContract.Status.PAST_DUE)
    grants.grants_run(month=APRIL, now=jst(APRIL, "00:05"))
    client.force_login(staff("view_plancontract"))

    response = client.get("/admin/")

    page = response.content.decode()
    assert 'id="panel-plans"' in page
    (row,) = response.context["grants"]
    # the three of 3/25, the one ending 4/30 and the past-due one got April's grant on 4/1
    assert (row.plan, row.ticket, row.contracts, row.tickets) == ("月4回プラン", "ヨガ回数券", 5, 10)
    assert response.context["counts"] == {"started": 1, "ended": 1, "past_due": 1}
    # on 5/1: every contract contracted by then and not ended before May, the one of 4/2 included
    (label, tickets) = response.context["next_grants"][0]
    assert label == grants.rule_label(rule)
    assert tickets == 5
    assert response.context["preview_url"] == ""  # the preview needs the view permission on grants


def test_the_panel_is_for_staff_who_may_see_contracts(client, in_april):
    client.force_login(staff("view_reservation"))

    response = client.get("/admin/")

    assert 'id="panel-plans"' not in response.content.decode()


def test_the_panels_queries_do_not_grow_with_the_contracts(client, in_april, django_assert_max_num_queries):
    plan = PlanFactory(total=True)
    GrantRuleFactory(plan=plan)
    make_contracts(plan, 2)
    grants.grants_run(month=APRIL, now=jst(APRIL, "00:05"))
    client.force_login(staff("view_plancontract"))
    client.get("/admin/")
    with django_assert_max_num_queries(40) as few:
        client.get("/admin/")

    make_contracts(plan, 30, status=PlanContract.Status.PAST_DUE)
    grants.grants_run(month=APRIL, now=jst(APRIL, "00:06"))

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/")
    assert response.context["counts"]["past_due"] == 30
