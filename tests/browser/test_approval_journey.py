"""Approval (承認制) in a real browser: a member books a card item that needs the shop's approval, staff
approve it from the staff home, the member pays through the link without logging in, and sees the
booking confirmed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import PASSWORD, MemberFactory
from payments.links import payment_link_token
from payments.models import Order
from payments.reservations import order_for_reservation
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = "/tmp/shots"  # noqa: S108 - screenshots for a person to look at; nothing reads them back


def test_a_member_books_an_approval_item_staff_approve_and_the_member_sees_it_confirmed(page, live_server):
    # given a studio that needs the shop's approval, a member and a staff member
    ReservationSettingsFactory(cancel_deadline_minutes=60)
    studio = ItemFactory(name="撮影スタジオA", units=[(60, 3000)], stock=1)
    ReservationSettingsFactory(
        item=studio, approval_required=True, approval_hours=48, cancel_deadline_minutes=60
    )
    member = MemberFactory(email="studio@example.com", name="佐藤一郎")
    MemberFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    day = timezone.localdate() + timedelta(days=7)

    # when the member books it by card
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/items/{studio.pk}/book/?date={day:%Y-%m-%d}")
    page.select_option("select[name=start_time]", "10:00")
    page.select_option("select[name=end_time]", "12:00")
    page.get_by_role("button", name="Check the price").click()
    assert page.locator("#needs-approval").is_visible()  # said before they book
    page.get_by_label("Card").check()
    page.get_by_role("button", name="Book now").click()

    # then they are not sent to pay: the booking waits for approval, its place held
    page.wait_for_url(re.compile(r"/reservations/\d+/$"))
    page.screenshot(path=f"{SHOTS}/approval-1-member-waiting.png", full_page=True)
    assert page.get_by_text("awaiting the shop's approval", exact=False).first.is_visible()
    reservation = Reservation.objects.get(member=member)
    assert reservation.status == Reservation.Status.AWAITING

    # when staff open the staff home and approve it, with a message
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    log_in(page, url="/admin/login/", email="boss@example.com", password=PASSWORD)
    page.goto("/admin/")
    panel = page.locator("#panel-approvals")
    assert "撮影スタジオA" in panel.inner_text()
    page.screenshot(path=f"{SHOTS}/approval-2-staff-home.png", full_page=True)
    panel.get_by_role("link", name="Approve").click()
    page.fill("textarea[name=message]", "当日は10分前にお越しください")
    page.get_by_role("button", name="Yes, approve them").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.get_by_text("1 booking was approved.").is_visible()
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.TENTATIVE  # card: paid after approval

    # when the member opens the link from the approval e-mail, logged out, and pays
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    token = payment_link_token(order_for_reservation(reservation))
    page.goto(f"/payments/pay/{token}/")
    assert page.get_by_text("You do not need to log in to pay.").is_visible()
    page.get_by_role("button", name="Pay by card").click()
    page.get_by_role("button", name="Pay (test: succeeds)").click()
    page.wait_for_load_state()
    assert page.get_by_text("Payment completed. Thank you. Your reservation is confirmed.").is_visible()

    # then, logged in, the member sees the booking confirmed and paid
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/reservations/{reservation.pk}/")
    page.screenshot(path=f"{SHOTS}/approval-3-member-confirmed.png", full_page=True)
    assert "Confirmed" in page.locator("main").inner_text()
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED
    assert order_for_reservation(reservation).status == Order.Status.PAID
