"""The member site's behaviour that lives in static/js/site.js (not in inline handlers, which the
Content-Security-Policy refuses): the footer's language choice and the booking form's date."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import PASSWORD, MemberFactory
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_choosing_a_language_switches_the_site_to_it(page, live_server):
    # given the home page in English (the browser tests' cookie)
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    # when the visitor picks 日本語 in the footer
    with page.expect_navigation():
        page.select_option("select#language", "ja")
    # then the page is Japanese
    assert page.locator("html").get_attribute("lang") == "ja"


def test_choosing_another_day_reloads_the_booking_form_for_it(page, live_server):
    # given a member on a lesson's booking form for next week
    ReservationSettingsFactory()
    yoga = ItemFactory(name="はじめてのヨガ", units=[(60, 2500)], stock=5)
    member = MemberFactory(email="days@example.com")
    day = timezone.localdate() + timedelta(days=7)
    later = day + timedelta(days=1)
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/items/{yoga.pk}/book/?date={day:%Y-%m-%d}")
    # when they choose the day after
    page.fill("input[name=date]", f"{later:%Y-%m-%d}")
    # then the page reloads for that day
    page.wait_for_url(f"**/items/{yoga.pk}/book/?date={later:%Y-%m-%d}")
    assert page.input_value("input[name=date]") == f"{later:%Y-%m-%d}"
