"""Member-site pages of plans: the plans on offer, joining one (Stripe Checkout or the test gateway), my plan,
changing plan from next month and cancelling at the month end with the bookings it cancels listed first."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.urls import reverse

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from plans.models import PlanContract
from plans.tests.factories import PlanBandAllowanceFactory, PlanContractFactory, PlanFactory, TimeBandFactory
from tickets.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

TODAY = date(2027, 6, 20)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(jst(TODAY, "12:00"), tick=False):
        yield


def a_plan(**fields):
    fields.setdefault("enrollment_fee_product", ProductFactory(name="入会金", price_yen=3300, is_fee=True))
    fields.setdefault("contract_month_product", ProductFactory(name="契約月分", price_yen=5000))
    return PlanFactory(**fields)


def test_the_plans_on_offer_are_listed_with_their_prices_in_few_queries(
    client, django_assert_max_num_queries
):
    for _ in range(5):
        plan = a_plan()
        PlanBandAllowanceFactory(plan=plan, band=TimeBandFactory())
    hidden = a_plan(is_visible=False, name="非公開プラン")
    with django_assert_max_num_queries(8):
        response = client.get(reverse("plans:list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("data-plan=") == 5
    assert hidden.name not in body
    assert "¥10,000" in body
    assert "¥3,300" in body


def test_joining_shows_the_first_payment_then_goes_to_stripe_checkout(client, stripe_api):
    member, plan = MemberFactory(), a_plan()
    client.force_login(member)
    page = client.get(reverse("plans:subscribe", args=[plan.pk])).content.decode()
    assert "¥8,300" in page
    assert "2027-07-01" in page
    response = client.post(reverse("plans:subscribe", args=[plan.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.test/")
    contract = PlanContract.objects.get(member=member)
    assert (contract.status, contract.contracted_on) == (PlanContract.Status.PENDING, TODAY)
    assert stripe_api.requests[-1]["form"]["mode"] == "subscription"


def test_joining_with_the_test_gateway_activates_the_plan(client):
    member, plan = MemberFactory(), a_plan()
    client.force_login(member)
    response = client.post(reverse("plans:subscribe", args=[plan.pk]))
    order = PlanContract.objects.get(member=member).first_order
    assert response["Location"] == reverse("payments:checkout", args=[order.pk])
    page = client.get(response["Location"]).content.decode()
    assert reverse("payments:test_gateway_result", args=[order.pk]) in page
    client.post(reverse("payments:test_gateway_result", args=[order.pk]), {"result": "succeed"})
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert PlanContract.objects.get(member=member).status == PlanContract.Status.ACTIVE
    # the paid order's page leads on to the plan
    order_page = client.get(reverse("payments:order_detail", args=[order.pk])).content.decode()
    assert f'href="{reverse("plans:mine")}"' in order_page
    page = client.get(reverse("plans:mine")).content.decode()
    assert plan.name in page


def test_my_plan_changes_from_next_month(client):
    contract = PlanContractFactory(contracted_on=date(2027, 1, 5))
    other = a_plan(name="上位プラン")
    client.force_login(contract.member)
    page = client.get(reverse("plans:mine")).content.decode()
    assert "上位プラン" in page
    assert "2027-07-01" in page
    client.post(reverse("plans:change", args=[contract.pk]), {"plan": other.pk})
    contract.refresh_from_db()
    assert contract.ends_on == date(2027, 6, 30)
    assert contract.next.starts_on == date(2027, 7, 1)


def test_the_cancel_page_lists_the_bookings_it_will_cancel_then_cancels_them(client):
    ReservationSettingsFactory(
        min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60, book_ahead_days=0,
        hours=dict.fromkeys(range(8), ("00:00", "23:30")),
    )  # fmt: skip
    item = ItemFactory(stock=3)
    plan = a_plan(items=[item], stores=[item.store])
    PlanBandAllowanceFactory(plan=plan, band=TimeBandFactory(windows=[("00:00", "23:30")]), allowance=4)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 5, 1))
    booked = reservation_create(
        member=contract.member, by=contract.member, item=item, starts_at=jst(date(2027, 7, 2), "10:00"),
        ends_at=jst(date(2027, 7, 2), "10:30"), payment_method="plan", payment_option=str(contract.pk),
        now=jst(TODAY, "12:00") - timedelta(hours=1),
    )  # fmt: skip
    client.force_login(contract.member)
    page = client.get(reverse("plans:cancel", args=[contract.pk])).content.decode()
    assert "2027-06-30" in page
    assert f'data-reservation="{booked.pk}"' in page
    response = client.post(reverse("plans:cancel", args=[contract.pk]))
    assert response["Location"] == reverse("plans:mine")
    booked.refresh_from_db()
    contract.refresh_from_db()
    assert booked.status == Reservation.Status.CANCELLED
    assert contract.ends_on == date(2027, 6, 30)


def test_another_members_contract_cannot_be_cancelled(client):
    contract = PlanContractFactory(contracted_on=date(2027, 1, 5))
    client.force_login(MemberFactory())
    assert client.post(reverse("plans:cancel", args=[contract.pk])).status_code == 404
    contract.refresh_from_db()
    assert contract.ends_on is None


def test_my_plan_says_what_the_next_grant_gives_and_nothing_once_the_contract_ends(client):
    from plans.tests.factories import GrantRuleFactory

    contract = PlanContractFactory(contracted_on=date(2027, 1, 5))
    GrantRuleFactory(plan=contract.plan, ticket_type__name="ヨガ回数券", quantity=2)
    GrantRuleFactory(plan=contract.plan, carry_over=True, carry_total=True, ticket_type__name="繰越チケット")
    client.cookies["django_language"] = "en"
    client.force_login(contract.member)

    page = client.get(reverse("plans:mine")).content.decode()

    assert "Tickets granted on 2027-07-01" in page
    assert "ヨガ回数券 × 2" in page
    assert "繰越チケット for the bookings you leave unused this month" in page

    contract.ends_on = date(2027, 6, 30)
    contract.save(update_fields=["ends_on"])
    assert "Tickets granted on" not in client.get(reverse("plans:mine")).content.decode()
