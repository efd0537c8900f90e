"""A member pays part of a booking with points, cancels it, and finds the points back with their new
expiry (issue 14), in a real browser (headless Chromium through Playwright; the test gateway stands in for
Stripe)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from core.periods import add_months_clamped
from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import PASSWORD, MemberFactory
from payments.models import Order
from points import selectors
from points.models import PointEntry, PointSettings
from points.services import points_grant
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_pays_part_of_a_booking_with_points_cancels_and_gets_them_back(page, live_server, tmp_path):
    # given a 1,000-yen-an-hour room and a member holding 3,000 points (per record, 12 months)
    settings_row = PointSettings.current()
    settings_row.base_rate_percent = 0
    settings_row.save()
    ReservationSettingsFactory(cancel_deadline_minutes=60)
    room = ItemFactory(name="会議室A", units=[(60, 1000)], stock=5)
    member = MemberFactory(email="points@example.com")
    points_grant(member=member, amount=3000, kind=PointEntry.Kind.PURCHASE, by=None, system="test_setup")
    day = timezone.localdate() + timedelta(days=7)

    # when they ask for the price of two hours next week
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/items/{room.pk}/book/?date={day:%Y-%m-%d}")
    page.select_option("select[name=start_time]", "10:00")
    page.select_option("select[name=end_time]", "12:00")
    page.get_by_role("button", name="Check the price").click()

    # then the confirmation page offers their points, with the balance and how many can pay
    assert page.get_by_text("You have 3,000 points; up to 2,000 can pay for this booking.").is_visible()

    # when they enter 500 points and ask for the price with them
    page.get_by_label("Points to use").fill("500")
    page.get_by_role("button", name="Apply and show the price").click()

    # then the card's price shows the points used and the rest to pay
    card_price = page.locator(".method-price[data-method=card]")
    assert "Points used: -¥500" in card_price.inner_text()
    assert "¥1,500" in card_price.inner_text()
    page.screenshot(path=tmp_path / "1-confirm-with-points.png", full_page=True)

    # when they book by card and pay the rest
    page.get_by_label("Card").check()
    page.get_by_role("button", name="Book now").click()
    page.get_by_role("button", name="Pay (test: succeeds)").click()
    page.wait_for_load_state()

    # then the booking is confirmed, 1,500 yen paid by card and 500 points spent
    reservation = Reservation.objects.get(member=member)
    order = Order.objects.get(member=member)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert (order.status, order.total_yen, order.points_used) == (Order.Status.PAID, 1500, 500)
    assert selectors.balance_of(member) == 2500

    # when they open the cancellation of it
    page.goto(f"/reservations/{reservation.pk}/cancel/")

    # then, before confirming, the page says what will happen: the card refund and the points coming back
    # with their new expiry (a year from today)
    new_expiry = add_months_clamped(timezone.localdate(), 12)
    preview = page.locator("main").inner_text()
    assert "¥1,500" in preview
    assert f"500 points come back, valid through {new_expiry:%Y-%m-%d}." in preview
    page.screenshot(path=tmp_path / "2-cancel-preview.png", full_page=True)

    # when they confirm it
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()

    # then their point history shows the 500 points back, valid through a year after the cancellation
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert selectors.balance_of(member) == 3000
    back = PointEntry.objects.get(member=member, kind=PointEntry.Kind.USE_REVERSAL)
    assert back.expires_on == new_expiry
    page.goto("/points/mine/")
    row = page.locator(f"#point-history tr[data-entry='{back.pk}']")
    assert re.search(r"Use given back\s+\+500\s+3,000", row.inner_text())
    page.screenshot(path=tmp_path / "3-point-history.png", full_page=True)
