"""Staff and contracts in the admin: making one (counter or card link, the grant tick boxes), cancelling one
at the month end after a page listing the bookings it cancels, changing a member's plan on a chosen date,
and who may do it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from plans.models import PlanContract, PlanGrant
from plans.tests.factories import (
    GrantRuleFactory,
    PlanBandAllowanceFactory,
    PlanContractFactory,
    PlanFactory,
    TimeBandFactory,
)
from tickets.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

TODAY = date(2027, 6, 20)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(jst(TODAY, "12:00"), tick=False):
        yield


@pytest.fixture
def staff_client(client):
    user = MemberFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_plancontract", "add_plancontract", "change_plancontract"]
        )
    )
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def a_plan(**fields):
    fields.setdefault("enrollment_fee_product", ProductFactory(name="入会金", price_yen=3300, is_fee=True))
    return PlanFactory(**fields)


def test_staff_make_a_counter_contract_and_tick_the_start_months_grant(staff_client):
    member = MemberFactory(email="hanako@example.com")
    plan = a_plan(name="月4回プラン", total=True)
    GrantRuleFactory(plan=plan)  # monthly
    GrantRuleFactory(plan=plan, on_contract=True)
    page = staff_client.get(reverse("admin:plans_plancontract_changelist"))
    assert reverse("admin:plans_plancontract_new") in page.content.decode()

    response = staff_client.post(
        reverse("admin:plans_plancontract_new"),
        {
            "member_email": "ＨＡＮＡＫＯ@example.com",  # typed full-width and in capitals: the same member
            "plan": plan.pk,
            "contracted_on": "2027-06-20",
            "starts_on": "2027-07-01",
            "pay": "counter",
            "grant_start_month": "on",
        },
    )

    contract = PlanContract.objects.get(member=member)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:plans_plancontract_change", args=[contract.pk])
    assert (contract.channel, contract.status, contract.starts_on) == ("admin", "active", date(2027, 7, 1))
    assert contract.first_order.payment_method == Order.Method.COUNTER
    # only the ticked grant: the start month's monthly tickets, not the on-contract ones
    assert list(PlanGrant.objects.filter(contract=contract).values_list("rule__kind", "month")) == [
        ("monthly", date(2027, 6, 1))
    ]


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"member_email": "nobody@example.com"}, "member_email", "No member has this e-mail address."),
        ({"starts_on": "2027-06-19"}, "starts_on", "cannot be before the contract date"),
        ({"pay": ""}, "pay", "This field is required."),
    ],
)
def test_a_bad_contract_form_says_what_is_wrong_and_makes_nothing(staff_client, changes, field, says):
    MemberFactory(email="hanako@example.com")
    plan = a_plan(total=True)
    data = {
        "member_email": "hanako@example.com",
        "plan": plan.pk,
        "contracted_on": "2027-06-20",
        "starts_on": "2027-06-20",
        "pay": "counter",
        **changes,
    }

    response = staff_client.post(reverse("admin:plans_plancontract_new"), data)

    assert response.status_code == 200
    assert says in " ".join(response.context["form"].errors[field])
    assert not PlanContract.objects.exists()


def test_staff_cancel_at_the_month_end_after_seeing_the_bookings_it_cancels(staff_client):
    ReservationSettingsFactory(
        min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60, book_ahead_days=0,
        hours=dict.fromkeys(range(8), ("00:00", "23:30")),
    )  # fmt: skip
    item = ItemFactory(stock=5, name="ヨガ")
    band = TimeBandFactory(windows=[("00:00", "23:30")])
    plan = a_plan(items=[item], stores=[item.store])
    PlanBandAllowanceFactory(plan=plan, band=band, allowance=4)
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 5, 1))
    july = reservation_create(
        member=contract.member,
        by=contract.member,
        item=item,
        starts_at=jst(date(2027, 7, 2), "10:00"),
        ends_at=jst(date(2027, 7, 2), "10:30"),
        payment_method="plan",
        payment_option=str(contract.pk),
        now=jst(TODAY, "11:00") - timedelta(days=1),
    )
    page = staff_client.get(reverse("admin:plans_plancontract_change", args=[contract.pk])).content.decode()
    url = reverse("admin:plans_plancontract_cancel", args=[contract.pk])
    assert url in page

    confirm = staff_client.get(url).content.decode()
    assert "2027-06-30" in confirm
    assert "2027-07-02 10:00 ヨガ" in confirm
    contract.refresh_from_db()
    assert contract.ends_on is None  # asking changed nothing

    staff_client.post(url)

    contract.refresh_from_db()
    july.refresh_from_db()
    assert contract.ends_on == date(2027, 6, 30)
    assert july.status == Reservation.Status.CANCELLED


def test_staff_change_a_members_plan_on_a_chosen_date(staff_client):
    contract = PlanContractFactory(contracted_on=date(2027, 1, 5))
    other = a_plan(name="上位プラン")
    url = reverse("admin:plans_plancontract_change_plan", args=[contract.pk])

    staff_client.post(url, {"plan": other.pk, "starts_on": "2027-06-25"})

    contract.refresh_from_db()
    assert contract.ends_on == date(2027, 6, 24)
    new = contract.next
    assert (new.plan, new.starts_on, new.previous) == (other, date(2027, 6, 25), contract)
    assert new.first_order_id is None or new.first_order.lines.filter(product__is_fee=True).count() == 0


def test_staff_without_the_permissions_cannot_make_cancel_or_change_contracts(client):
    viewer = MemberFactory(is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_plancontract"))
    client.force_login(viewer)
    contract = PlanContractFactory()

    for url in (
        reverse("admin:plans_plancontract_new"),
        reverse("admin:plans_plancontract_cancel", args=[contract.pk]),
        reverse("admin:plans_plancontract_change_plan", args=[contract.pk]),
    ):
        assert client.get(url).status_code == 403
        assert client.post(url).status_code == 403
    page = client.get(reverse("admin:plans_plancontract_change", args=[contract.pk])).content.decode()
    assert reverse("admin:plans_plancontract_cancel", args=[contract.pk]) not in page
