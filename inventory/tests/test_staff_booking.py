"""電話・来店予約: staff take a phone or walk-in booking in the admin (issue 11 item 1): finding or
registering the customer, the same availability and payment methods as the member site, channel "admin",
an override of the booking window or deadline with a reason (never of capacity), the permission, and bad
input."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from core.periods import JST
from inventory.models import Reservation
from inventory.tests.factories import (
    ItemFactory,
    RepeatingEventFactory,
    ReservationFactory,
    ReservationSettingsFactory,
    SlotFactory,
    jst,
    next_week,
)
from members.models import Member
from members.selectors import member_search
from members.tests.factories import MemberFactory
from payments.links import order_for_payment_link
from payments.models import Order
from tickets.tests.factories import TicketTypeFactory, issue_ticket

pytestmark = pytest.mark.django_db

TAKE = "admin:inventory_reservation_take"
DAY = next_week()


@pytest.fixture(autouse=True)
def general_settings(db):
    """Every day 10:00–18:00, 30-minute steps, 60 days ahead, no booking deadline."""
    return ReservationSettingsFactory()


@pytest.fixture
def staff(admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return admin_client


@pytest.fixture
def customer():
    return MemberFactory(
        name="山田 花子", name_kana="ヤマダ ハナコ", phone="090-1234-5678", email="hanako@example.com"
    )


@pytest.fixture
def rental():
    """A free-type item priced per hour (1,000 yen), stock 2."""
    return ItemFactory(name="テント", stock=2, units=[(60, 1000)])


@pytest.fixture
def lesson():
    """A fixed-type 0-yen class on DAY's weekday 10:00–11:00, for 2."""
    item = ItemFactory(name="ヨガ入門", fixed=True, stock=2)
    RepeatingEventFactory(item=item, weekday=DAY.weekday(), starts_at=time(10), ends_at=time(11))
    return item


@pytest.fixture
def priced_lesson():
    """A fixed-type class at 1,000 yen per hour, on DAY's weekday 10:00–11:00, for 2."""
    item = ItemFactory(name="陶芸教室", fixed=True, stock=2, units=[(60, 1000)])
    RepeatingEventFactory(item=item, weekday=DAY.weekday(), starts_at=time(10), ends_at=time(11))
    return item


def url(**query) -> str:
    base = reverse(TAKE)
    if not query:
        return base
    return base + "?" + "&".join(f"{key}={value}" for key, value in query.items())


def free_time(start: str, end: str, quantity: int = 1) -> dict:
    return {"date": DAY.isoformat(), "start_time": start, "end_time": end, "quantity": quantity}


def slot_time(slot: str = "10:00-11:00", quantity: int = 1) -> dict:
    return {"date": DAY.isoformat(), "slot": slot, "quantity": quantity}


def booking(member, item, chosen: dict, **more) -> dict:
    return {"member": member.pk, "item": item.pk, **chosen, **more}


def take(client, member, item, chosen: dict, payment_method: str, reason: str = ""):
    """Every step as staff click through it; returns the final response (a redirect when booked)."""
    payment = client.get(reverse(TAKE), booking(member, item, chosen, step="payment"))
    assert payment.status_code == 200
    assert payment.context["step"] == "payment", payment.context["time_form"].errors
    data = booking(member, item, chosen, payment_method=payment_method, step="confirm")
    if reason:
        data["override_reason"] = reason
    confirm = client.post(reverse(TAKE), data)
    assert confirm.context["step"] == "confirm", confirm.context["payment_form"].errors
    return client.post(reverse(TAKE), {**data, "step": "book"})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- finding and registering the customer ---------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["山田", "山田花子", "ヤマダ", "やまだ はなこ", "09012345678", "1234-5678", "HANAKO@example", "hanako@"],
)
def test_the_customer_is_found_by_name_kana_phone_or_e_mail(staff, customer, query):
    # given another member who must not match
    MemberFactory(
        name="佐藤 一郎", name_kana="サトウ イチロウ", phone="03-9999-0000", email="ichiro@example.com"
    )
    # when staff search
    response = staff.get(url(), {"q": query})
    # then only the customer is listed, with a link to book for them
    assert [member.pk for member in response.context["results"]] == [customer.pk]
    assert f"?member={customer.pk}" in response.content.decode()


def test_the_search_lists_at_most_20_and_says_there_are_more(staff):
    for n in range(21):
        MemberFactory(name=f"鈴木 {n}", name_kana="スズキ")
    response = staff.get(url(), {"q": "鈴木"})
    assert len(response.context["results"]) == 20
    assert "Only the first 20 matches are shown" in response.content.decode()


def test_the_search_leaves_out_staff_and_inactive_accounts():
    MemberFactory(name="田中 店員", is_staff=True)
    MemberFactory(name="田中 退会", is_active=False)
    assert member_search("田中") == ([], False)


def test_no_match_says_so_and_offers_the_registration(staff, customer):
    response = staff.get(url(), {"q": "存在しない"})
    html = response.content.decode()
    assert response.context["results"] == []
    assert "No customer matches “存在しない”" in html
    assert 'name="action" value="register"' in html
    assert response.context["register_form"].initial == {"name": "存在しない"}


def test_staff_register_a_customer_on_the_spot(staff, admin_user):
    # when staff register a new customer from the booking page
    response = staff.post(
        url(),
        {
            "action": "register",
            "name": "新規 太郎",
            "name_kana": "シンキ タロウ",
            "phone": "080-1111-2222",
            "email": " Taro@Example.COM ",
        },
    )
    # then the member exists without a usable password, and the page goes on to the booking for them
    member = Member.objects.get(email="taro@example.com")
    assert not member.has_usable_password()
    assert (member.name, member.name_kana, member.phone) == ("新規 太郎", "シンキ タロウ", "080-1111-2222")
    assert response.status_code == 302
    assert response["Location"] == url(member=member.pk)
    assert "They have no password yet" in messages_of(response)[0]
    entry = AuditEntry.objects.get(action="member.registered_by_staff")
    assert (entry.actor_id, entry.object_id) == (admin_user.pk, str(member.pk))


def test_registering_an_address_already_used_says_so_and_offers_that_member(staff, customer):
    response = staff.post(
        url(),
        {"action": "register", "name": "別人", "email": "HANAKO@example.com", "phone": "", "name_kana": ""},
    )
    assert response.status_code == 200
    assert "already registered" in str(response.context["register_form"].errors["email"])
    assert response.context["existing"] == customer
    assert Member.objects.count() == 2  # the customer and the staff user


def test_a_full_width_address_typed_on_a_japanese_keyboard_is_the_same_member(staff, customer):
    # ＨＡＮＡＫＯ＠ｅｘａｍｐｌｅ．ｃｏｍ is hanako@example.com once normalised (NFKC, lower case)
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in customer.email.upper())
    response = staff.post(
        url(),
        {"action": "register", "name": "別人", "email": full_width, "phone": "", "name_kana": ""},
    )
    assert response.status_code == 200
    assert "already registered" in str(response.context["register_form"].errors["email"])
    assert response.context["existing"] == customer
    assert Member.objects.count() == 2


def test_the_registration_checks_kana_and_phone(staff):
    response = staff.post(
        url(),
        {"action": "register", "name": "太郎", "name_kana": "taro", "phone": "12", "email": "t@example.com"},
    )
    form = response.context["register_form"]
    assert set(form.errors) == {"name_kana", "phone"}
    assert not Member.objects.filter(email="t@example.com").exists()


# --- choosing the item and time ---------------------------------------------------------------------------


def test_the_days_slots_are_offered_with_what_is_left(staff, customer, lesson):
    SlotFactory(item=lesson, starts_at=jst(DAY, "10:00"), booked=1)
    response = staff.get(url(member=customer.pk, item=lesson.pk, date=DAY.isoformat()))
    assert response.context["step"] == "time"
    assert "10:00–11:00 (1 left)" in response.content.decode()


def test_a_closed_day_says_so(staff, customer, rental):
    from inventory.tests.factories import AcceptanceOverrideFactory

    AcceptanceOverrideFactory(item=rental, start_date=DAY)
    response = staff.get(url(member=customer.pk, item=rental.pk, date=DAY.isoformat()))
    assert "The shop is closed on this day" in response.content.decode()


def test_the_changelist_add_button_and_the_add_url_lead_to_the_booking_page(staff):
    changelist = staff.get(reverse("admin:inventory_reservation_changelist"))
    assert reverse(TAKE) in changelist.content.decode()
    assert staff.get(reverse("admin:inventory_reservation_add"))["Location"] == reverse(TAKE)


# --- booking with each payment method ---------------------------------------------------------------------


def test_a_counter_booking_is_confirmed_with_a_pending_counter_order(staff, customer, rental, admin_user):
    # when staff book 10:00–12:00 for the customer, paid at the counter
    response = take(staff, customer, rental, free_time("10:00", "12:00"), "counter")
    # then the booking is confirmed, channel admin, with its order waiting for the money
    reservation = Reservation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:inventory_reservation_change", args=[reservation.pk])
    assert "is booked" in messages_of(response)[0]
    assert reservation.member == customer
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.channel == Reservation.Channel.ADMIN
    assert reservation.price_yen == 2000
    order = Order.objects.get(lines__reservation=reservation)
    assert (order.status, order.payment_method, order.total_yen) == ("pending", "counter", 2000)
    entry = AuditEntry.objects.get(action="reservation.created")
    assert entry.actor_id == admin_user.pk
    assert entry.payload["channel"] == "admin"
    assert "override_reason" not in entry.payload


def test_the_payment_step_shows_each_methods_price(staff, customer, rental):
    response = staff.get(
        reverse(TAKE), booking(customer, rental, free_time("10:00", "12:00"), step="payment")
    )
    choices = dict(response.context["payment_form"].fields["payment_method"].choices)
    assert choices["counter"] == "Pay at the counter — ¥2,000"
    assert choices["card"].startswith("Card — ¥")
    assert "free" not in choices


def test_a_ticket_booking_takes_one_use_per_place(staff, customer, priced_lesson):
    # given the customer's 5-use ticket for the class
    ticket = issue_ticket(customer, TicketTypeFactory(items=[priced_lesson]))
    # when staff book 2 places with it
    response = take(staff, customer, priced_lesson, slot_time(quantity=2), f"ticket:{ticket.pk}")
    # then the booking is confirmed and the ticket has 2 uses fewer
    assert response.status_code == 302
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.payment_method, reservation.quantity) == (
        "confirmed",
        "ticket",
        2,
    )
    ticket.refresh_from_db()
    assert ticket.uses_left == 3


def test_a_free_booking_is_confirmed(staff, customer, lesson):
    response = take(staff, customer, lesson, slot_time(), "free")
    assert response.status_code == 302
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.payment_method, reservation.channel) == (
        "confirmed",
        "free",
        "admin",
    )
    assert reservation.slot.booked == 1


def test_the_confirmation_says_a_card_link_is_e_mailed(staff, customer, rental):
    data = booking(customer, rental, free_time("10:00", "11:00"), payment_method="card", step="confirm")
    confirm = staff.post(reverse(TAKE), data)
    assert confirm.context["step"] == "confirm"
    assert (
        "A payment link will be e-mailed to hanako@example.com; the places are held for 24 hours"
        in confirm.content.decode()
    )
    assert not Reservation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_card_booking_is_held_24_hours_and_the_customer_is_e_mailed_a_payment_link(
    admin_client, celery_worker
):
    # given (transaction=True: the e-mail goes through the real worker after commit)
    ReservationSettingsFactory()
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    member = MemberFactory(email="card-phone@example.com", name="電話 予約")
    item = ItemFactory(name="カヤック", stock=1, units=[(60, 3000)])
    before = timezone.now()
    # when staff book it by card
    response = take(admin_client, member, item, free_time("10:00", "11:00"), "card")
    # then it is tentative, held 24 hours, and its pending card order is paid through a link in the e-mail
    reservation = Reservation.objects.get()
    assert response.status_code == 302
    assert reservation.status == Reservation.Status.TENTATIVE
    assert reservation.channel == Reservation.Channel.ADMIN
    assert before + timedelta(hours=24) <= reservation.hold_until <= timezone.now() + timedelta(hours=24)
    assert "A payment link is e-mailed to card-phone@example.com" in messages_of(response)[0]
    order = Order.objects.get(lines__reservation=reservation)
    assert (order.status, order.payment_method) == ("pending", "card")
    message = celery_worker.wait_for("card-phone@example.com", subject_contains="カヤック")
    link = re.search(r"https?://\S+/pay/(\S+?)/", celery_worker.body(message))
    assert link, celery_worker.body(message)
    assert order_for_payment_link(link.group(1)) == order


# --- overriding the booking window and deadline, never capacity -------------------------------------------


def test_a_booking_inside_the_deadline_needs_a_reason_which_is_audited(staff, customer, lesson):
    # given bookings close 10 days before the start: next week's class is inside the deadline
    ReservationSettingsFactory(booking_deadline_minutes=10 * 24 * 60)
    # then the slot is offered to staff, marked
    page = staff.get(url(member=customer.pk, item=lesson.pk, date=DAY.isoformat()))
    assert "10:00–11:00 (2 left) — reason needed" in page.content.decode()
    # and the payment step says why a reason is needed
    payment = staff.get(reverse(TAKE), booking(customer, lesson, slot_time(), step="payment"))
    assert "It is too late to book this time." in payment.content.decode()
    # when staff go on without a reason
    data = booking(customer, lesson, slot_time(), payment_method="free", step="confirm")
    refused = staff.post(reverse(TAKE), data)
    # then they are asked for it, and nothing is booked
    assert refused.context["step"] == "payment"
    assert "give the reason" in str(refused.context["payment_form"].errors["override_reason"])
    assert staff.post(reverse(TAKE), {**data, "step": "book"}).context["step"] == "payment"
    assert not Reservation.objects.exists()
    # when they give one
    response = take(staff, customer, lesson, slot_time(), "free", reason="電話で常連様から、店長承認済み")
    # then it is booked and the reason is in the audit entry
    assert response.status_code == 302
    reservation = Reservation.objects.get()
    assert reservation.channel == Reservation.Channel.ADMIN
    entry = AuditEntry.objects.get(action="reservation.created")
    assert entry.payload["override_reason"] == "電話で常連様から、店長承認済み"


def test_a_day_beyond_the_booking_window_needs_a_reason(staff, customer, rental):
    ReservationSettingsFactory(book_ahead_days=3)
    data = booking(customer, rental, free_time("10:00", "11:00"), payment_method="counter", step="confirm")
    refused = staff.post(reverse(TAKE), data)
    assert "Bookings for that date are not open yet." in str(refused.context["payment_form"].errors)
    response = take(
        staff, customer, rental, free_time("10:00", "11:00"), "counter", reason="イベント参加者枠"
    )
    assert response.status_code == 302
    assert (
        AuditEntry.objects.get(action="reservation.created").payload["override_reason"] == "イベント参加者枠"
    )


def test_a_full_slot_is_refused_even_with_a_reason(staff, customer, lesson):
    # given the class is full
    slot = SlotFactory(item=lesson, starts_at=jst(DAY, "10:00"), booked=0)
    ReservationFactory.create_batch(2, item=lesson, slot=slot, starts_at=slot.starts_at, ends_at=slot.ends_at)
    ReservationSettingsFactory(booking_deadline_minutes=10 * 24 * 60)
    # then it is shown full and cannot be chosen
    page = staff.get(url(member=customer.pk, item=lesson.pk, date=DAY.isoformat()))
    assert "10:00–11:00 (full)" in page.content.decode()
    # when staff post it anyway, with a reason
    data = booking(
        customer, lesson, slot_time(), payment_method="free", override_reason="どうしても", step="book"
    )
    response = staff.post(reverse(TAKE), data)
    # then it is refused at the slot and nothing changes
    assert response.status_code == 200
    assert response.context["step"] == "time"
    assert "this slot is full" in str(response.context["time_form"].errors["slot"])
    assert Reservation.objects.count() == 2
    slot.refresh_from_db()
    assert slot.booked == 2


def test_stock_is_never_overridden(staff, customer, rental):
    ReservationFactory.create_batch(2, item=rental, starts_at=jst(DAY, "10:00"), ends_at=jst(DAY, "11:00"))
    data = booking(customer, rental, free_time("10:00", "11:00"), payment_method="counter", step="book")
    response = staff.post(reverse(TAKE), {**data, "override_reason": "無理に"})
    assert "fully booked" in str(response.context["time_form"].errors)
    assert Reservation.objects.count() == 2


# --- who may, and bad input -------------------------------------------------------------------------------


def test_staff_without_the_add_permission_are_refused(client):
    viewer = MemberFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reservation"))
    client.force_login(viewer)
    assert client.get(reverse(TAKE)).status_code == 403
    assert (
        client.post(reverse(TAKE), {"action": "register", "name": "x", "email": "x@example.com"}).status_code
        == 403
    )
    assert not Member.objects.filter(email="x@example.com").exists()


def test_staff_with_the_add_permission_may(client, customer, lesson):
    clerk = MemberFactory(is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="add_reservation"))
    client.force_login(clerk)
    response = take(client, customer, lesson, slot_time(), "free")
    assert response.status_code == 302
    assert AuditEntry.objects.get(action="reservation.created").actor_id == clerk.pk


def test_an_unknown_member_goes_back_to_the_search_with_a_message(staff, lesson):
    response = staff.post(
        reverse(TAKE),
        {"member": 999999, "item": lesson.pk, **slot_time(), "payment_method": "free", "step": "book"},
    )
    assert response.status_code == 200
    assert response.context["step"] == "member"
    assert "There is no customer #999999" in response.content.decode()
    assert not Reservation.objects.exists()


@pytest.mark.parametrize(
    "chosen",
    [
        slot_time("25:00-26:00"),
        slot_time("10:30-11:30"),
        slot_time("ten"),
        slot_time(quantity=0),
        {"date": DAY.isoformat(), "quantity": 1},
    ],
)
def test_a_bad_slot_is_refused_with_a_message(staff, customer, lesson, chosen):
    data = booking(customer, lesson, chosen, payment_method="free", step="book")
    response = staff.post(reverse(TAKE), data)
    assert response.status_code == 200
    assert response.context["step"] == "time"
    assert response.context["time_form"].errors
    assert not Reservation.objects.exists()


@pytest.mark.parametrize(
    "chosen",
    [
        free_time("25:00", "26:00"),
        free_time("12:00", "11:00"),
        free_time("08:00", "09:00"),
        free_time("x", ""),
    ],
)
def test_a_bad_free_time_is_refused_with_a_message(staff, customer, rental, chosen):
    data = booking(customer, rental, chosen, payment_method="counter", step="book")
    response = staff.post(reverse(TAKE), data)
    assert response.context["step"] == "time"
    assert response.context["time_form"].errors
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("query", [{"item": "999999", "date": DAY.isoformat()}, {"date": "2000-01-01"}])
def test_an_unknown_item_or_a_past_day_is_refused(staff, customer, lesson, query):
    query.setdefault("item", lesson.pk)
    response = staff.get(reverse(TAKE), {"member": customer.pk, **query})
    assert response.context["step"] == "item"
    assert response.context["item_form"].errors


def test_a_payment_method_not_offered_is_refused(staff, customer, lesson):
    data = booking(customer, lesson, slot_time(), payment_method="counter", step="book")
    response = staff.post(reverse(TAKE), data)
    assert response.context["step"] == "payment"
    assert response.context["payment_form"].errors["payment_method"]
    assert not Reservation.objects.exists()


def test_pages_are_translated(admin_client, customer, lesson):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    response = admin_client.get(url(member=customer.pk, item=lesson.pk, date=DAY.isoformat()))
    assert "電話・来店予約" in response.content.decode()


def test_the_staff_home_leads_to_the_booking_page_for_staff_who_may_book(staff, client):
    assert reverse(TAKE) in staff.get(reverse("admin:index")).content.decode()
    viewer = MemberFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reservation"))
    client.force_login(viewer)
    home = client.get(reverse("admin:index"))
    assert home.status_code == 200
    assert reverse(TAKE) not in home.content.decode()


def test_a_free_days_places_are_shown_as_ranges(staff, customer, rental):
    ReservationFactory(item=rental, starts_at=jst(DAY, "12:00"), ends_at=jst(DAY, "13:00"))
    response = staff.get(url(member=customer.pk, item=rental.pk, date=DAY.isoformat()))
    ranges = [
        (f"{r.starts_at.astimezone(JST):%H:%M}", f"{r.ends_at.astimezone(JST):%H:%M}", r.remaining)
        for r in response.context["free_ranges"]
    ]
    assert ranges == [("10:00", "12:00", 2), ("12:00", "13:00", 1), ("13:00", "18:00", 2)]


def test_a_phone_number_searched_for_is_offered_in_the_registration(staff):
    response = staff.get(url(), {"q": "03-5555-0000"})
    assert response.context["register_form"].initial == {"phone": "03-5555-0000"}


def test_the_search_and_the_item_step_keep_their_query_counts(staff, customer):
    def queries(query: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(reverse(TAKE), query).status_code == 200
        return len(captured)

    # given one match and one item
    ItemFactory()
    search, item_step = queries({"q": "山田"}), queries({"member": customer.pk})
    # when there are many more of both
    for n in range(30):
        MemberFactory(name=f"山田 {n}")
        ItemFactory()
    # then the pages read no more
    assert queries({"q": "山田"}) == search
    assert queries({"member": customer.pk}) == item_step


def test_staff_named_at_a_store_book_only_its_items(client, customer, lesson, rental):
    # given a clerk on the staff list of the lesson's store only
    clerk = MemberFactory(is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="add_reservation"))
    lesson.store.staff.add(clerk)
    client.force_login(clerk)
    # then only that store's items are offered
    page = client.get(url(member=customer.pk))
    offered = [
        value
        for _group, options in page.context["item_form"].fields["item"].choices[1:]
        for value, _ in options
    ]
    assert offered == [lesson.pk]
    # and another store's item cannot be booked by its id
    data = booking(customer, rental, free_time("10:00", "11:00"), payment_method="counter", step="book")
    refused = client.post(reverse(TAKE), data)
    assert refused.context["step"] == "item"
    assert refused.context["item_form"].errors["item"]
    assert not Reservation.objects.exists()
