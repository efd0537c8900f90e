"""The member's and the staff's main journeys in a real browser (headless Chromium through Playwright):
what a person clicks, with the JavaScript the pages carry (the job page follows its job by itself)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import PASSWORD, MemberFactory
from payments.models import Order, Refund
from tests.browser.conftest import log_in
from tickets import services
from tickets.models import MemberTicket, TicketType
from tickets.resources import COLUMNS
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_logs_in_books_a_lesson_with_a_ticket_and_cancels_it(page, live_server):
    # given a priced lesson, open every day, and a member holding a 5-use ticket for it
    ReservationSettingsFactory(cancel_deadline_minutes=60)
    yoga = ItemFactory(name="はじめてのヨガ", units=[(60, 2500)], stock=5)
    member = MemberFactory(email="yoga@example.com")
    kind = TicketTypeFactory(name="ヨガ5回券", uses=5, items=[yoga])
    ticket = services.ticket_issue(
        member=member, ticket_type=kind, source=MemberTicket.Source.MANUAL, by=None, system="test_setup"
    )
    day = timezone.localdate() + timedelta(days=7)

    # when they log in and ask for the price of a lesson next week
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/items/{yoga.pk}/book/?date={day:%Y-%m-%d}")
    page.select_option("select[name=start_time]", "10:00")
    page.select_option("select[name=end_time]", "11:00")
    page.get_by_role("button", name="Check the price").click()

    # then the confirmation page offers the ticket and says it costs no money
    choice = page.get_by_label(re.compile(r"Ticket: ヨガ5回券 \(5 of 5 uses left"))
    assert choice.is_visible()
    assert page.get_by_text(
        "Paying with a ticket uses one of its uses per place booked; nothing is charged."
    ).is_visible()

    # when they pay with the ticket and book
    choice.check()
    page.get_by_role("button", name="Book now").click()

    # then the reservation page says it is confirmed, and one use is taken
    page.wait_for_url(re.compile(r"/reservations/\d+/$"))
    reservation = Reservation.objects.get(member=member)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.payment_method == "ticket"
    ticket.refresh_from_db()
    assert ticket.uses_left == 4
    page.goto("/tickets/mine/")
    assert re.search(r"Uses left\s*4\s*/\s*5", page.locator("main").inner_text())

    # when they cancel it from the reservation page (asked first)
    page.goto(f"/reservations/{reservation.pk}/cancel/")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()

    # then the use comes back
    reservation.refresh_from_db()
    ticket.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert ticket.uses_left == 5


def _ticket_csv(names: list[str], *, bad: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for name in names:
        writer.writerow(["", "", "", "", "表示", name, "回数券", "5", "0", "0", "0", "30", "", "", "1", ""])
    writer.writerow(["", "", "", "", "表示", bad, "回数券", "5", "0", "0", "0", "30", "", "", "0", ""])
    return buffer.getvalue().encode("cp932")


def test_staff_import_a_ticket_csv_through_the_preview_and_follow_the_job_to_its_files(
    page, live_server, celery_worker, tmp_path
):
    # given a staff member and a file with two good rows and one bad one
    staff = MemberFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    upload = tmp_path / "チケット.csv"
    upload.write_bytes(_ticket_csv(["朝ヨガ5回券", "夜ヨガ10回券"], bad="表示順ゼロ"))

    # when they log in to the admin and upload it from the ticket list
    log_in(page, url="/admin/login/", email=staff.email, password=PASSWORD)
    page.goto("/admin/tickets/tickettype/")
    page.get_by_role("link", name=re.compile("CSV import", re.IGNORECASE)).click()
    page.set_input_files("input[type=file]", str(upload))
    page.locator("form input[type=submit], form button[type=submit]").last.click()

    # then the preview lists what would be created and the bad row, and nothing is saved yet
    assert (
        page.locator("#csv-import-changes").get_by_role("cell", name="朝ヨガ5回券", exact=True).is_visible()
    )
    assert page.locator("#csv-import-errors").get_by_role("cell", name="表示順ゼロ", exact=True).is_visible()
    assert not TicketType.objects.exists()

    # when they import it
    page.get_by_role("button", name="Import").click()

    # then the job page follows the job by itself until it has finished, and offers its files
    page.wait_for_url(re.compile(r"/admin/core/job/\d+/change/$"))
    page.get_by_text("Finished with errors").first.wait_for(timeout=60_000)
    assert set(TicketType.objects.values_list("name", flat=True)) == {"朝ヨガ5回券", "夜ヨガ10回券"}
    with page.expect_download() as download:
        page.locator("a[href*='/download/errors/']").first.click()
    errors = download.value.path().read_bytes().decode("cp932")
    assert "表示順ゼロ" in errors
    assert "エラー内容" in errors


def test_a_member_buys_a_punch_card_by_card_and_finds_it_in_their_tickets(page, live_server):
    # given a 10-use punch card on sale (the test payment gateway stands in for Stripe without keys)
    member = MemberFactory(email="buyer@example.com")
    card = TicketTypeFactory(name="ヨガ10回券", uses=10, validity_days=90)

    # when a visitor opens it, logs in to buy, and pays
    page.goto("/tickets/")
    page.get_by_role("link", name="Details and purchase").first.click()
    page.get_by_role("link", name="Log in to buy").click()
    page.fill("input[name=username]", member.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # (logging in brings them back to the purchase: its confirmation page)
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("button", name="Pay (test: succeeds)").click()
    page.wait_for_load_state()

    # then the ticket is in their wallet with every use and the validity counted from today
    ticket = MemberTicket.objects.get(member=member, ticket_type=card)
    assert (ticket.source, ticket.uses_left) == (MemberTicket.Source.PURCHASE, 10)
    assert ticket.valid_through == timezone.localdate() + timedelta(days=89)
    page.goto("/tickets/mine/")
    wallet = page.locator("main").inner_text()
    assert "ヨガ10回券" in wallet
    assert re.search(r"Uses left\s*10\s*/\s*10", wallet)


def test_a_member_pays_a_booking_by_card_cancels_it_and_staff_find_the_refund_in_the_audit_trail(
    page, live_server
):
    # given a 2,500-yen lesson, a member with a 10% member discount the shop shows, and a staff member
    ReservationSettingsFactory(cancel_deadline_minutes=60)
    lesson = ItemFactory(name="夜のヨガ", units=[(60, 2500)], stock=5)
    member = MemberFactory(email="card@example.com", name="山田花子", member_discount_pct=10)
    staff = MemberFactory(email="staff@example.com", name="店長", is_staff=True, is_superuser=True)
    day = timezone.localdate() + timedelta(days=7)

    # when the member asks for the price of a lesson next week
    log_in(page, url="/members/login/", email=member.email, password=PASSWORD)
    page.goto(f"/items/{lesson.pk}/book/?date={day:%Y-%m-%d}")
    page.select_option("select[name=start_time]", "10:00")
    page.select_option("select[name=end_time]", "11:00")
    page.get_by_role("button", name="Check the price").click()

    # then the card's price is shown with the discount taken off: what the card will be charged
    card_price = page.locator(".method-price[data-method=card]")
    assert "Member discount (10%): -¥250" in card_price.inner_text()
    assert re.search(r"Total \(tax included\)\s*¥2,250", card_price.inner_text())

    # when they book by card and pay through the test gateway
    page.get_by_label("Card").check()
    page.get_by_role("button", name="Book now").click()
    page.get_by_role("button", name="Pay (test: succeeds)").click()
    page.wait_for_load_state()

    # then the booking is confirmed and the order paid the amount shown
    reservation = Reservation.objects.get(member=member)
    assert reservation.status == Reservation.Status.CONFIRMED
    order = Order.objects.get(lines__reservation=reservation)
    assert (order.status, order.total_yen) == (Order.Status.PAID, 2250)

    # when they open the cancel page, then it says the payment comes back in full before they confirm
    page.goto(f"/reservations/{reservation.pk}/cancel/")
    assert page.get_by_text("Your payment of ¥2,250 will be refunded in full to your card.").is_visible()
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()

    # then the refund is made and the order page shows it
    assert page.get_by_text("Your reservation has been cancelled. ¥2,250 has been refunded.").is_visible()
    page.goto(f"/reservations/{reservation.pk}/")
    page.locator("#money-note a").click()
    page.wait_for_url(re.compile(rf"/orders/{order.pk}/$"))
    assert re.search(r"¥2,250 was refunded on", page.locator("#order-refunds").inner_text())
    refund = Refund.objects.get(order=order)
    assert (refund.state, refund.amount_yen, refund.created_by) == (Refund.State.SUCCEEDED, 2250, member)

    # when staff open the audit trail in the admin and look for the member's actions
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    log_in(page, url="/admin/login/", email=staff.email, password=PASSWORD)
    page.goto("/admin/core/auditentry/")
    page.fill("#searchbar", member.email)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # then they see who did what: the member booked, cancelled and was refunded
    trail = page.locator("#result_list").inner_text()
    for action in (
        "reservation.created",
        "reservation.cancelled",
        "order.refund_requested",
        "refund.succeeded",
    ):
        assert action in trail, f"{action} missing from the audit list:\n{trail}"
    assert "card@example.com" in trail

    # and the order's own history page lists the refund, in words
    page.goto(f"/admin/payments/order/{order.pk}/history/")
    assert "Refund succeeded" in page.locator("main, #content").first.inner_text()
