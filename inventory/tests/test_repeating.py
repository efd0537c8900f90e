"""Repeat bookings (issue 15): the same time weekly for N weeks, all or nothing, paid as one order."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import translation

from core.audit import AuditEntry
from inventory.exceptions import BookingError, SlotFullError, SoldOutError
from inventory.models import Reservation, Slot
from inventory.repeating import reservation_create_repeating
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, RepeatingEventFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from payments.reservations import order_for_reservation
from tests.parallel import run_together

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def room():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    return ItemFactory(name="会議室A", units=[(60, 1000)], stock=1)  # two hours: 2,000 yen


def repeat(item, member, weeks, *, method="card", start="10:00", end="12:00", day=MONDAY, extras=None):
    return reservation_create_repeating(
        member=member,
        by=member,
        item=item,
        starts_at=jst(day, start),
        ends_at=jst(day, end),
        weeks=weeks,
        payment_method=method,
        extras=extras,
        now=NOW,
    )


@pytest.mark.django_db
def test_n_weeks_are_booked_as_one_order_with_a_line_per_week(room):
    member = MemberFactory()
    booked = repeat(room, member, 3)
    assert [r.starts_at for r in booked] == [jst(MONDAY + timedelta(weeks=w), "10:00") for w in range(3)]
    assert {r.status for r in booked} == {Reservation.Status.TENTATIVE}
    orders = {order_for_reservation(r).pk for r in booked}
    assert len(orders) == 1
    order = Order.objects.get(pk=orders.pop())
    assert order.lines.count() == 3
    assert order.total_yen == 6000
    assert AuditEntry.objects.filter(action="reservation.created").count() == 3


@pytest.mark.django_db
def test_counter_repeat_is_one_pending_order_and_confirmed_weeks(room, settings):
    from payments.models import PaymentSettings

    PaymentSettings.objects.update_or_create(
        pk=PaymentSettings.current().pk, defaults={"counter_payment_enabled": True}
    )
    room.counter_payment_allowed = True
    room.save(update_fields=["counter_payment_allowed"])
    booked = repeat(room, MemberFactory(), 2, method="counter")
    assert {r.status for r in booked} == {Reservation.Status.CONFIRMED}
    order = order_for_reservation(booked[0])
    assert order.status == Order.Status.PENDING
    assert order.lines.count() == 2
    assert order.total_yen == 4000


@pytest.mark.django_db
def test_full_weeks_book_nothing_and_are_named(room):
    other = MemberFactory()
    for week in (1, 3):
        reservation_create(
            member=other,
            by=other,
            item=room,
            starts_at=jst(MONDAY + timedelta(weeks=week), "11:00"),
            ends_at=jst(MONDAY + timedelta(weeks=week), "12:00"),
            payment_method="card",
            now=NOW,
        )
    member = MemberFactory()
    with pytest.raises(SlotFullError) as caught:
        repeat(room, member, 4)
    assert "2027-06-14" in caught.value.message
    assert "2027-06-28" in caught.value.message
    assert "2027-06-07" not in caught.value.message
    assert not Reservation.objects.filter(member=member).exists()
    assert not Order.objects.filter(member=member).exists()


@pytest.mark.django_db
def test_a_full_slot_week_of_a_fixed_item_books_nothing():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("09:00", "18:00")), book_ahead_days=90)
    lesson = ItemFactory(fixed=True, stock=1)
    RepeatingEventFactory(item=lesson, weekday=0, starts_at=time(10), ends_at=time(11))
    first = MemberFactory()
    reservation_create(
        member=first,
        by=first,
        item=lesson,
        starts_at=jst(MONDAY + timedelta(weeks=2), "10:00"),
        ends_at=jst(MONDAY + timedelta(weeks=2), "11:00"),
        payment_method="free",
        now=NOW,
    )
    with pytest.raises(SlotFullError, match="2027-06-21"):
        repeat(lesson, MemberFactory(), 3, method="free", end="11:00")
    assert sorted(Slot.objects.filter(item=lesson).values_list("booked", flat=True)) == [1]


@pytest.mark.django_db
@pytest.mark.parametrize("weeks", [0, 1, 13, -2])
def test_the_number_of_weeks_is_bounded(room, weeks):
    with pytest.raises(BookingError) as caught:
        repeat(room, MemberFactory(), weeks)
    assert caught.value.field == "weeks"
    assert "2 to 12 weeks" in caught.value.message


@pytest.mark.django_db
def test_a_week_outside_the_rules_names_its_date_and_books_nothing():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=20)
    room = ItemFactory(units=[(60, 1000)], stock=1)
    member = MemberFactory()
    with pytest.raises(BookingError, match="2027-06-28"):
        repeat(room, member, 4)
    assert not Reservation.objects.filter(member=member).exists()


@pytest.mark.django_db
def test_free_repeat_is_confirmed_week_by_week_without_an_order():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    free_room = ItemFactory(stock=1)
    booked = repeat(free_room, MemberFactory(), 2, method="free")
    assert {r.status for r in booked} == {Reservation.Status.CONFIRMED}
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_members_repeating_over_the_same_last_places_one_wins_entirely():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("09:00", "18:00")), book_ahead_days=90)
    lesson = ItemFactory(fixed=True, stock=1)
    RepeatingEventFactory(item=lesson, weekday=0, starts_at=time(10), ends_at=time(11))
    members = MemberFactory.create_batch(2)
    outcomes = run_together(
        [
            # the second member starts a week later: the two overlap on weeks 2 and 3
            lambda: repeat(lesson, members[0], 3, method="free", end="11:00"),
            lambda: repeat(
                lesson, members[1], 3, method="free", end="11:00", day=MONDAY + timedelta(weeks=1)
            ),
        ],
        expected=(SlotFullError, SoldOutError),
    )
    assert outcomes == {"booked": 1, "SlotFullError": 1}
    assert len(set(Reservation.objects.values_list("member_id", flat=True))) == 1
    assert Reservation.objects.count() == 3
    assert all(booked <= 1 for booked in Slot.objects.values_list("booked", flat=True))


# --- the member's confirm page ----------------------------------------------------------------------------


def _post(day, **extra) -> dict:
    return {"date": day.isoformat(), "start_time": "10:00", "end_time": "12:00", "quantity": 1, **extra}


@pytest.fixture
def logged_in(client, settings, time_machine):
    time_machine.move_to(NOW, tick=False)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    member = MemberFactory()
    client.force_login(member)
    return member


@pytest.mark.django_db
def test_the_confirm_page_offers_repeating_and_books_weeks_as_one_card_order(client, logged_in, room):
    from django.urls import reverse

    url = reverse("site:book", args=[room.pk])
    confirm = client.post(url, _post(MONDAY, step="confirm"))
    assert "weeks" in confirm.context["payment_form"].fields
    assert "Repeat weekly for" in confirm.content.decode()
    done = client.post(url, _post(MONDAY, step="book", payment_method="card", weeks=3))
    weeks = list(Reservation.objects.filter(member=logged_in).order_by("starts_at"))
    assert len(weeks) == 3
    order = order_for_reservation(weeks[0])
    assert order.lines.count() == 3
    assert done.status_code == 302
    assert done["Location"] == reverse("payments:checkout", args=[order.pk])
    # the message says the weeks; the order's lines say which week is which
    with translation.override("en"):
        said = [str(message) for message in get_messages(done.wsgi_request)]
    assert any("3 weeks are booked, weekly from 2027-06-07 to 2027-06-21." in text for text in said)
    descriptions = list(order.lines.order_by("pk").values_list("description", flat=True))
    assert descriptions == [f"{room.name} {day} 10:00" for day in ("2027-06-07", "2027-06-14", "2027-06-21")]
    # and a week's page shows the order as every week's price, never ¥6,000 as this week's
    page = client.get(reverse("site:reservation_detail", args=[weeks[1].pk])).content.decode()
    assert "Booking price (3 weeks)" in page
    assert "2027-06-14: ¥2,000" in page


@pytest.mark.django_db
def test_a_full_week_is_named_on_the_confirm_page_and_nothing_is_booked(client, logged_in, room):
    from django.urls import reverse

    other = MemberFactory()
    reservation_create(
        member=other,
        by=other,
        item=room,
        starts_at=jst(MONDAY + timedelta(weeks=1), "10:00"),
        ends_at=jst(MONDAY + timedelta(weeks=1), "12:00"),
        payment_method="card",
        now=NOW,
    )
    page = client.post(
        reverse("site:book", args=[room.pk]), _post(MONDAY, step="book", payment_method="card", weeks=2)
    )
    assert page.status_code == 200
    assert "2027-06-14" in page.content.decode()
    assert not Reservation.objects.filter(member=logged_in).exists()


# --- the booking e-mail -----------------------------------------------------------------------------------


def _booking_mails(monkeypatch):
    """The e-mail tasks queued on commit, captured instead of sent."""
    from core import tasks

    queued = []
    monkeypatch.setattr(
        tasks.send_templated_email, "apply_async", lambda kwargs, **options: queued.append(kwargs)
    )
    return queued


def _render(message):
    from django.core import mail
    from kombu.utils.json import dumps, loads

    from core import tasks

    mail.outbox.clear()
    tasks.send_templated_email(**{**loads(dumps(message)), "language": "en"})
    [sent] = mail.outbox
    return sent


@pytest.mark.django_db
def test_a_repeat_booking_sends_one_mail_listing_every_week_and_the_order_total(
    monkeypatch, django_capture_on_commit_callbacks, room
):
    queued = _booking_mails(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        booked = repeat(room, MemberFactory(email="weekly@example.com"), 3)
    [message] = queued
    assert message["template"] == "inventory/reservation_booked"
    sent = _render(message)
    assert sent.to == ["weekly@example.com"]
    for day in ("2027-06-07", "2027-06-14", "2027-06-21"):
        assert f"{day} (Mon) 10:00 – 12:00" in sent.body
    for week in booked:
        assert str(week.pk) in sent.body
    assert "3 weeks" in sent.body
    assert "¥6,000" in sent.body  # the one order's total, not the first week's ¥2,000
    assert "¥2,000" not in sent.body


@pytest.mark.django_db
def test_a_repeat_booking_by_phone_mails_the_one_orders_payment_link(
    monkeypatch, django_capture_on_commit_callbacks, room
):
    import re

    from payments.links import order_for_payment_link

    member = MemberFactory(email="phone@example.com")
    queued = _booking_mails(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        booked = reservation_create_repeating(
            member=member,
            by=MemberFactory(is_staff=True),
            item=room,
            starts_at=jst(MONDAY, "10:00"),
            ends_at=jst(MONDAY, "12:00"),
            weeks=2,
            payment_method="card",
            channel=Reservation.Channel.ADMIN,
            now=NOW,
        )
    [message] = queued
    sent = _render(message)
    # the link is signed with the time it was made: the one it carries opens the one order of every week
    [token] = re.findall(r"/payments/pay/([^/\s]+)/", sent.body)
    assert order_for_payment_link(token) == order_for_reservation(booked[0])
    assert "2027-06-07 (Mon)" in sent.body
    assert "2027-06-14 (Mon)" in sent.body
    assert "¥4,000" in sent.body


@pytest.mark.django_db
def test_a_single_booking_mail_lists_no_weeks(monkeypatch, django_capture_on_commit_callbacks, room):
    member = MemberFactory()
    queued = _booking_mails(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        reservation_create(
            member=member,
            by=member,
            item=room,
            starts_at=jst(MONDAY, "10:00"),
            ends_at=jst(MONDAY, "12:00"),
            payment_method="card",
            now=NOW,
        )
    sent = _render(queued[0])
    assert "2027-06-07 (Mon) 10:00 – 2027-06-07 12:00" in sent.body
    assert "weeks" not in sent.body
    assert "¥2,000" in sent.body
