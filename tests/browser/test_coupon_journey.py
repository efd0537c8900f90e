"""A member applies a coupon to a card booking, sees it in the price breakdown, pays the rest through the
test gateway, cancels, and the coupon's use comes back because the coupon says so (issue 15), in a real
browser (headless Chromium through Playwright; the test gateway stands in for Stripe)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import PASSWORD, MemberFactory
from payments.models import Order
from promotions.models import CouponRedemption
from promotions.tests.factories import CouponFactory
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_books_with_a_coupon_pays_cancels_and_the_use_comes_back(page, live_server, tmp_path):
    # given a 1,000-yen-an-hour room and a once-only 10 % coupon that gives its use back on cancel
    ReservationSettingsFactory(cancel_deadline_minutes=60)
    room = ItemFactory(name="会議室A", units=[(60, 1000)], stock=5)
    coupon = CouponFactory(code="SUMMER10", discount_value=10, usage_limit=1, gives_back_on_cancel=True)
    member = MemberFactory(email="coupon@example.com")
    day = timezone.localdate() + timedelta(days=7)

    # when they ask for the price of two hours next week
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/items/{room.pk}/book/?date={day:%Y-%m-%d}")
    page.select_option("select[name=start_time]", "10:00")
    page.select_option("select[name=end_time]", "12:00")
    page.get_by_role("button", name="Check the price").click()

    # and enter the coupon code in full-width letters
    page.get_by_label("Coupon code").fill("ｓｕｍｍｅｒ１０")
    page.get_by_role("button", name="Apply and show the price").click()

    # then the card's price shows the coupon's line and the total after it
    card_price = page.locator(".method-price[data-method=card]")
    assert "Coupon SUMMER10: -¥200" in card_price.inner_text()
    assert "¥1,800" in card_price.inner_text()
    page.screenshot(path=tmp_path / "1-confirm-with-coupon.png", full_page=True)

    # when they book by card and pay
    page.get_by_label("Card").check()
    page.get_by_role("button", name="Book now").click()
    page.get_by_role("button", name="Pay (test: succeeds)").click()
    page.wait_for_load_state()

    # then the booking is confirmed, 1,800 yen paid and the coupon used up
    reservation = Reservation.objects.get(member=member)
    order = Order.objects.get(member=member)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert (order.status, order.coupon_discount_yen, order.total_yen) == (Order.Status.PAID, 200, 1800)
    coupon.refresh_from_db()
    assert coupon.used_count == 1

    # when they open the cancellation, then it says the coupon can be used again
    page.goto(f"/reservations/{reservation.pk}/cancel/")
    assert "The coupon SUMMER10 can be used again." in page.locator("main").inner_text()
    page.screenshot(path=tmp_path / "2-cancel-preview.png", full_page=True)

    # when they confirm it
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()

    # then the use is back and the redemption stays as history, released
    reservation.refresh_from_db()
    coupon.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert coupon.used_count == 0
    assert CouponRedemption.objects.get(order=order).released_at is not None
