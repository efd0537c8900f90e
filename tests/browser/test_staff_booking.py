"""電話・来店予約 in a real browser: staff take a phone booking for a member, paid at the counter, from the
staff home, then mark the money received when the member pays at the store (issue 11's journey)."""

from __future__ import annotations

import os
import re
from datetime import time

import pytest
from django.utils import timezone

from core.periods import JST
from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, next_week
from members.tests.factories import PASSWORD, MemberFactory
from payments.models import Order
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = os.environ.get("BROWSER_SHOTS", "")  # a directory to save screenshots in (to look at the pages)


def shot(page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"staff-booking-{name}.png"), full_page=True)


def test_staff_take_a_phone_booking_paid_at_the_counter_and_mark_the_money_received(page):
    # given a member, a tent priced per hour, and a superuser
    ReservationSettingsFactory()
    member = MemberFactory(name="山田 花子", name_kana="ヤマダ ハナコ", phone="090-1234-5678")
    item = ItemFactory(name="ファミリーテント", code="TENT-01", stock=2, units=[(60, 1000)])
    staff = MemberFactory(is_staff=True, is_superuser=True)
    day = next_week()

    # when they log in and start a booking from the staff home
    log_in(page, url="/admin/login/", email=staff.email, password=PASSWORD)
    page.goto("/admin/")
    page.locator("#panel-bookings").get_by_role("link", name="Take a booking (phone or walk-in)").click()
    # and find the member by the phone number they give, without hyphens
    page.get_by_label("Name, kana, phone or e-mail").fill("09012345678")
    page.get_by_role("button", name="Search").click()
    shot(page, "1-search")
    page.locator(f"#member-results tr[data-member='{member.pk}']").get_by_role(
        "link", name="Book for this customer"
    ).click()
    # and choose the item, the day, 10:00–12:00 for 1
    page.locator("#id_item").select_option(str(item.pk))
    page.locator("#id_date").fill(day.isoformat())
    page.get_by_role("button", name="Show the times").click()
    page.locator("#id_start_time").select_option("10:00")
    page.locator("#id_end_time").select_option("12:00")
    shot(page, "2-time")
    page.get_by_role("button", name="Next: payment").click()
    # and choose to be paid at the counter
    page.get_by_label(re.compile(r"Pay at the counter — ¥2,000")).check()
    shot(page, "3-payment")
    page.get_by_role("button", name="Next: confirm").click()
    shot(page, "4-confirm")
    assert "¥2,000" in page.locator("#confirm").inner_text()
    page.get_by_role("button", name="Book", exact=True).click()

    # then the reservation's page opens: confirmed, booked through the admin, to be paid at the store
    page.wait_for_url(re.compile(r"/admin/inventory/reservation/\d+/change/$"))
    reservation = Reservation.objects.get()
    assert page.url.endswith(f"/admin/inventory/reservation/{reservation.pk}/change/")
    shot(page, "5-booked")
    assert "is booked" in page.locator(".messagelist").inner_text()
    assert (reservation.member_id, reservation.status, reservation.channel) == (
        member.pk,
        "confirmed",
        "admin",
    )
    assert (timezone.localtime(reservation.starts_at, JST).time(), reservation.quantity) == (time(10), 1)
    assert "To be paid at the store: ¥2,000." in page.content()

    # when the member pays at the store and staff mark it received from the order
    page.get_by_role("link", name=re.compile(r"Order #\d+")).click()
    page.get_by_role("link", name="Mark received at the counter").click()
    page.get_by_label("Cash").check()
    page.get_by_role("button", name="Yes, the money was received").click()
    page.wait_for_selector(".messagelist")

    # then the order is paid, and the reservation says so
    order = Order.objects.get(lines__reservation=reservation)
    assert order.status == Order.Status.PAID
    page.goto(f"/admin/inventory/reservation/{reservation.pk}/change/")
    shot(page, "6-paid")
    assert "Paid: ¥2,000." in page.content()
