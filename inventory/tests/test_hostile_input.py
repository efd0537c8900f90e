"""Hostile values that used to answer 500 on the member site's item and booking pages (issue 12, item 5)."""

# ruff: noqa: F811 - the fixtures of test_views are imported and then asked for by name

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from inventory.models import Reservation
from inventory.tests.test_views import (  # noqa: F401 - the fixtures are used by name
    MON,
    _fixed,
    client,
    frozen_clock,
    general_settings,
    lesson,
    member,
    rental,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slot", ["25:99-26:00", "10:00-24:00", "99:00-10:00", "10:60-11:00"])
@pytest.mark.parametrize("step", ["confirm", "book"])
def test_a_slot_that_is_no_time_of_day_is_a_form_error(client, member, lesson, slot, step):
    # given a member on a fixed-slot item
    before = Reservation.objects.count()
    # when the member posts a slot whose times do not exist
    response = client.post(
        reverse("site:book", args=[lesson.pk]), {**_fixed(MON, slot), "step": step, "payment_method": "free"}
    )
    # then the form says so next to the slot, and nothing is booked
    assert response.status_code == 200
    with translation.override("en"):
        assert "Choose a slot." in response.context["form"].errors["slot"]
    assert Reservation.objects.count() == before


@pytest.mark.parametrize(
    "month",
    ["99999999999999999999-1", "1-99999999999999999999", "-99999999999999999999-1", "9" * 5000 + "-1"],
)
@pytest.mark.parametrize("debug", [True, False])
def test_a_month_out_of_any_range_shows_the_current_month(client, rental, month, debug):
    # given (also with DEBUG off, as in production)
    url = reverse("site:item_detail", args=[rental.pk])
    # when
    with override_settings(DEBUG=debug):
        response = client.get(url, {"month": month})
    # then the calendar falls back to this month
    assert response.status_code == 200
    assert response.context["month"].strftime("%Y-%m") == "2027-06"


@pytest.mark.parametrize("quantity", ["2147483648", "1000"])
def test_a_quantity_beyond_the_shops_bound_is_a_form_error(client, member, lesson, quantity):
    before = Reservation.objects.count()
    response = client.post(
        reverse("site:book", args=[lesson.pk]),
        {**_fixed(MON, "10:00-11:00", quantity=quantity), "step": "book", "payment_method": "free"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["quantity"]
    assert Reservation.objects.count() == before
