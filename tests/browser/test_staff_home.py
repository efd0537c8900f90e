"""The staff home in a real browser: today's booking links to its page, and the 30-day chart is drawn by the
vendored Chart.js from our own static files."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.tests.factories import ReservationFactory
from members.tests.factories import PASSWORD, MemberFactory
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_open_todays_booking_from_the_home_and_see_the_chart(page):
    # given a booking later today and a superuser
    starts_at = timezone.localtime().replace(hour=23, minute=30, second=0, microsecond=0)
    booking = ReservationFactory(starts_at=starts_at, ends_at=starts_at + timedelta(minutes=20))
    staff = MemberFactory(is_staff=True, is_superuser=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    # when they log in to the admin
    log_in(page, url="/admin/login/", email=staff.email, password=PASSWORD)
    page.goto("/admin/")

    # then the chart is drawn by Chart.js served from our static files, without errors
    page.wait_for_function("() => window.Chart && Chart.getChart('staff-home-chart') !== undefined")
    assert page.evaluate("() => Chart.getChart('staff-home-chart').data.datasets.length") == 2
    assert page.evaluate("() => Chart.version") == "4.6.1"
    assert not errors
    assert all(url.startswith(page.url.split("/admin/")[0]) for url in requests)  # no CDN
    # and today's booking opens its reservation page
    page.locator(f"#panel-bookings tr[data-reservation='{booking.pk}'] a").click()
    page.wait_for_url(re.compile(rf"/admin/inventory/reservation/{booking.pk}/change/$"))
