"""The plans journey in a real browser (issue 13): a member joins a plan through the test gateway (the local
stand-in for Stripe Checkout), books a lesson with the plan's monthly allowance and sees it go down on "my
plan"; then staff preview next month's grants, find the member's row and download the CSV.

Screenshots of each step go to the test's tmp dir (pytest prints its path when the test fails)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from core import periods
from inventory.models import Reservation
from inventory.tests.factories import EVERY_DAY, ItemFactory, ReservationSettingsFactory
from members.tests.factories import PASSWORD, MemberFactory
from payments.models import Order
from plans.models import AllowanceUsage, PlanContract, PlanGrant
from plans.tests.factories import (
    GrantRuleFactory,
    PlanBandAllowanceFactory,
    PlanFactory,
    TimeBandFactory,
)
from tests.browser.conftest import log_in
from tickets.tests.factories import ProductFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _booking_slot(now) -> tuple:
    """A day and a start time in this month (JST) that can still be booked: tomorrow at 10:00, or on the
    month's last day today at 23:00 (the allowance on "my plan" is this month's)."""
    today = timezone.localdate(now, periods.JST)
    tomorrow = today + timedelta(days=1)
    if tomorrow.month == today.month:
        return tomorrow, "10:00", "11:00"
    return today, "23:00", "23:30"


def test_a_member_joins_a_plan_books_with_its_allowance_and_staff_preview_next_months_grants(
    page, live_server, tmp_path
):
    # given a lesson bookable every day 06:00–23:30, and a plan for it: 4 bookings a month in one band, an
    # enrollment fee and the contract month paid when joining, a monthly ticket on the 1st and the unused
    # allowance carried over
    ReservationSettingsFactory(cancel_deadline_minutes=60, hours=dict.fromkeys(EVERY_DAY, ("06:00", "23:30")))
    yoga = ItemFactory(name="はじめてのヨガ", units=[(60, 2500)], stock=5)
    plan = PlanFactory(
        name="ヨガ通い放題",
        items=[yoga],
        stores=[yoga.store],
        enrollment_fee_product=ProductFactory(name="入会金", price_yen=3300, is_fee=True),
        contract_month_product=ProductFactory(name="契約月分", price_yen=5000),
    )
    band = TimeBandFactory(name="フルタイム", windows=[("06:00", "23:30")])
    PlanBandAllowanceFactory(plan=plan, band=band, allowance=4)
    GrantRuleFactory(plan=plan, quantity=1, ticket_type=TicketTypeFactory(name="振替チケット", uses=1))
    GrantRuleFactory(
        plan=plan,
        carry_over=True,
        carry_band=band,
        ticket_type=TicketTypeFactory(name="繰越チケット", uses=1),
    )
    member = MemberFactory(email="plan@example.com", name="山田花子")
    staff = MemberFactory(email="staff@example.com", name="店長", is_staff=True, is_superuser=True)
    now = timezone.now()
    day, start, end = _booking_slot(now)
    next_month = periods.add_months_clamped(periods.month_start(timezone.localdate(now, periods.JST)), 1)

    # when the member logs in, opens the plans and joins this one
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto("/plans/")
    offer = page.locator(f"[data-plan='{plan.pk}']")
    assert "ヨガ通い放題" in offer.inner_text()
    page.screenshot(path=tmp_path / "1-plans.png", full_page=True)
    offer.get_by_role("link", name="Join this plan").click()

    # then the first payment is the enrollment fee and the contract month, the monthly price from next month
    breakdown = page.locator(".price-breakdown").inner_text()
    assert re.search(r"Total \(tax included\)\s*¥8,300", breakdown)
    assert f"{next_month:%Y-%m-%d}" in breakdown
    page.screenshot(path=tmp_path / "2-join.png", full_page=True)

    # when they pay it through the test gateway
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("button", name="Pay (test: succeeds)").click()
    page.wait_for_load_state()
    page.screenshot(path=tmp_path / "3-paid.png", full_page=True)

    # then the contract is active, and "my plan" shows it with the whole month's allowance left
    contract = PlanContract.objects.get(member=member)
    assert contract.status == PlanContract.Status.ACTIVE
    assert contract.first_order.status == Order.Status.PAID
    page.goto("/plans/mine/")
    mine = page.locator(f"[data-contract='{contract.pk}']")
    assert "ヨガ通い放題" in mine.inner_text()
    assert "Active" in mine.inner_text()
    assert mine.locator(".allowance-left").inner_text().strip() == "フルタイム: 4 / 4"
    page.screenshot(path=tmp_path / "3-my-plan.png", full_page=True)

    # when they ask for the price of a lesson this month and choose the plan
    page.goto(f"/items/{yoga.pk}/book/?date={day:%Y-%m-%d}")
    page.select_option("select[name=start_time]", start)
    page.select_option("select[name=end_time]", end)
    page.get_by_role("button", name="Check the price").click()
    choice = page.get_by_label("Plan: ヨガ通い放題 (4 left this month for this time)")
    assert choice.is_visible()
    page.screenshot(path=tmp_path / "4-book.png", full_page=True)
    choice.check()
    page.get_by_role("button", name="Book now").click()

    # then the booking is confirmed for nothing, paid with the plan
    page.wait_for_url(re.compile(r"/reservations/\d+/$"))
    reservation = Reservation.objects.get(member=member)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.payment_method == "plan"
    assert AllowanceUsage.objects.get(contract=contract, band=band).used == 1

    # and "my plan" shows one booking fewer left this month
    page.goto("/plans/mine/")
    assert page.locator(f"[data-contract='{contract.pk}'] .allowance-left").inner_text().strip() == (
        "フルタイム: 3 / 4"
    )
    page.screenshot(path=tmp_path / "5-my-plan-after.png", full_page=True)

    # when staff open the grant list in the admin and preview next month's grants
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    log_in(page, url="/admin/login/", email=staff.email, password=PASSWORD)
    page.goto("/admin/plans/plangrant/")
    page.get_by_role("link", name="Preview next month's grants").click()

    # then the page is next month's: the monthly ticket and the 3 bookings left carried over, for the member
    assert page.locator("#id_month").input_value() == f"{next_month:%Y-%m}"
    assert page.get_by_role("heading", name=f"Grants for {next_month:%Y-%m}").is_visible()
    rules = page.locator("#grant-preview-rules").inner_text()
    assert "振替チケット" in rules
    assert "繰越チケット" in rules
    rows = page.locator(f"#grant-preview-rows tr[data-contract='{contract.pk}']")
    assert rows.count() == 2
    assert "山田花子" in rows.first.inner_text()
    # (member, plan, rule, month, tickets, uses, valid through)
    monthly_cells = rows.filter(has_text="振替チケット").locator("td").all_inner_texts()
    carried_cells = rows.filter(has_text="繰越チケット").locator("td").all_inner_texts()
    assert monthly_cells[3:5] == [f"{next_month:%Y-%m}", "1"]
    assert carried_cells[3:5] == [f"{next_month:%Y-%m}", "3"]
    page.screenshot(path=tmp_path / "6-grants-preview.png", full_page=True)

    # when they download the CSV
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()

    # then it is the cp932 file of the month, with the member's two grants
    assert download.value.suggested_filename == f"plan_grants_preview_{next_month:%Y-%m}.csv"
    lines = list(csv.reader(io.StringIO(download.value.path().read_bytes().decode("cp932"))))
    assert lines[0][:3] == ["会員ID", "メールアドレス", "氏名"]
    assert {(line[1], line[6], line[8]) for line in lines[1:]} == {
        ("plan@example.com", "振替チケット", "1"),
        ("plan@example.com", "繰越チケット", "3"),
    }
    # and nothing was granted by looking
    assert not PlanGrant.objects.filter(month=next_month).exists()
