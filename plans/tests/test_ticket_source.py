"""A granted ticket shows the member where it came from: its plan and month (tickets.hooks source labels),
on the wallet and on the ticket's page, in one query for the whole wallet."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import translation

from inventory.tests.factories import jst
from plans import grants
from plans.tests.factories import GrantRuleFactory, PlanContractFactory, PlanFactory
from tickets.models import MemberTicket
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db

APRIL = date(2027, 4, 1)


@pytest.fixture
def english_client(client):
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield client


def test_a_granted_ticket_names_its_plan_and_month_on_the_wallet_and_its_page(english_client, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: jst(date(2027, 4, 2), "10:00"))
    plan = PlanFactory(name="月4回プラン", total=True)
    GrantRuleFactory(plan=plan, ticket_type=TicketTypeFactory(name="ヨガ回数券"))
    contract = PlanContractFactory(plan=plan)
    grants.grants_run(month=APRIL, now=jst(APRIL, "00:05"))
    ticket = MemberTicket.objects.get(member=contract.member)
    english_client.force_login(contract.member)

    wallet = english_client.get(reverse("tickets:wallet")).content.decode()
    page = english_client.get(reverse("tickets:ticket_detail", args=[ticket.pk])).content.decode()

    for body in (wallet, page):
        assert "Plan grant: 月4回プラン, 2027/04 (On the 1st of every month (毎月の定期付与))" in body


def test_the_wallet_names_every_grant_in_one_query(
    english_client, monkeypatch, django_assert_max_num_queries
):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: jst(date(2027, 4, 2), "10:00"))
    plan = PlanFactory(total=True)
    contract = PlanContractFactory(plan=plan)
    GrantRuleFactory(plan=plan)
    grants.grants_run(month=APRIL, now=jst(APRIL, "00:05"))
    english_client.force_login(contract.member)
    english_client.get(reverse("tickets:wallet"))
    with django_assert_max_num_queries(30) as few:
        english_client.get(reverse("tickets:wallet"))

    for _ in range(5):
        GrantRuleFactory(plan=plan)
    grants.grants_run(month=APRIL, now=jst(APRIL, "00:06"))

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = english_client.get(reverse("tickets:wallet"))
    assert response.content.decode().count("2027/04") == 6
