"""Booking with the plan's allowance on the member site, through the test client: the booking page offers
the plan where it offers tickets ("plan:<contract>", with what is left for that time), booking with it is
confirmed at once for 0 yen, and cancelling through the site gives the allowance back.

The clock is frozen at Tuesday 2027-06-01 09:00 JST (June 2027 has no national holiday); 06-07 is a
Monday."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.conf import settings
from django.urls import reverse

from core.periods import JST
from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import MemberFactory
from plans.models import AllowanceEntry, AllowanceUsage
from plans.tests.factories import (
    PlanBandAllowanceFactory,
    PlanContractFactory,
    PlanFactory,
    TimeBandFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MON = date(2027, 6, 7)
SLOT = {"date": MON.isoformat(), "start_time": "10:00", "end_time": "11:00", "quantity": 1}


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def client(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # English pages: the assertions read the source
    return client


@pytest.fixture
def member(client):
    member = MemberFactory()
    client.force_login(member)
    return member


@pytest.fixture
def yoga():
    ReservationSettingsFactory()
    return ItemFactory(name="はじめてのヨガ", units=[(60, 2000)], stock=5)


def _contract(member, item, *, allowance=2, **fields):
    plan = PlanFactory(name="ヨガ通い放題", items=[item])
    band = TimeBandFactory(name="フルタイム", windows=[("06:00", "23:00")])
    PlanBandAllowanceFactory(plan=plan, band=band, allowance=allowance)
    return PlanContractFactory(member=member, plan=plan, **fields)


def test_booking_with_the_plan_is_offered_confirmed_for_0_yen_and_cancelling_gives_it_back(
    client, member, yoga
):
    # given a live contract with 2 a month for the lesson
    contract = _contract(member, yoga)
    url = reverse("site:book", args=[yoga.pk])
    # when the member asks for the price
    confirm = client.post(url, {**SLOT, "step": "confirm"})
    # then the plan is offered as "plan:<contract>", with what is left, and the page says it costs nothing
    choices = dict(confirm.context["payment_form"].fields["payment_method"].choices)
    assert str(choices[f"plan:{contract.pk}"]) == "Plan: ヨガ通い放題 (2 left this month for this time)"
    body = confirm.content.decode()
    assert "Paying with your plan takes one booking from this month&#x27;s allowance" in body
    # when they book with it
    done = client.post(url, {**SLOT, "step": "book", "payment_method": f"plan:{contract.pk}"})
    # then the booking is confirmed, charged nothing, and one of June's is used
    reservation = Reservation.objects.get(member=member)
    assert done["Location"] == reverse("site:reservation_detail", args=[reservation.pk])
    assert (reservation.status, reservation.payment_method) == (Reservation.Status.CONFIRMED, "plan")
    assert AllowanceUsage.objects.get(contract=contract, month=date(2027, 6, 1)).used == 1
    detail = client.get(done["Location"]).content.decode()
    assert "Plan (monthly allowance)" in detail
    # when they cancel it through the site (the page says what comes back)
    cancel_url = reverse("site:reservation_cancel", args=[reservation.pk])
    assert "given back" in client.get(cancel_url).content.decode()
    assert client.post(cancel_url, {"reason": ""}).status_code == 302
    # then the allowance is back
    assert AllowanceUsage.objects.get(contract=contract).used == 0
    assert AllowanceEntry.objects.filter(reservation=reservation, kind="restored").count() == 1


def test_a_member_without_a_live_contract_is_not_offered_the_plan(client, member, yoga):
    _contract(member, yoga, status="past_due")
    confirm = client.post(reverse("site:book", args=[yoga.pk]), {**SLOT, "step": "confirm"})
    choices = dict(confirm.context["payment_form"].fields["payment_method"].choices)
    assert not [value for value in choices if value.startswith("plan")]
    assert "Paying with your plan" not in confirm.content.decode()
