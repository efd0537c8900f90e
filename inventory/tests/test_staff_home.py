"""The staff home (admin index) lists today's and tomorrow's live bookings by JST day, for staff who may
view reservations, in a constant number of queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation

from core.periods import JST
from inventory import payment_methods
from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationFactory, StoreFactory, jst
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

# 23:50 JST on 1 June 2027 — still 14:50 UTC, so a UTC date would be right here but wrong after 15:00 UTC.
NOW = datetime(2027, 6, 1, 23, 50, tzinfo=JST)
TODAY = date(2027, 6, 1)
TOMORROW = date(2027, 6, 2)


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def staff_with(*codenames):
    user = MemberFactory(is_staff=True)
    for codename in codenames:
        app_label, _, code = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
    return user


def home(client, user):
    client.force_login(user)
    response = client.get("/admin/")  # in the shop's language (ja)
    assert response.status_code == 200
    return response


def days(response):
    return {day.day: day.bookings for day in response.context["days"]}


def booking(starts_at, **kwargs):
    return ReservationFactory(starts_at=starts_at, ends_at=starts_at + timedelta(hours=1), **kwargs)


def test_bookings_are_split_by_jst_day_live_only_and_ordered_by_start(client):
    late_today = booking(jst(TODAY, "23:30"))
    early_today = booking(jst(TODAY, "09:00"), quantity=3)
    just_after_midnight = booking(jst(TOMORROW, "00:10"))
    booking(jst(TODAY, "12:00"), cancelled=True)
    booking(jst(TODAY, "13:00"), completed=True)
    booking(jst(date(2027, 6, 3), "00:00"))  # the day after tomorrow
    booking(jst(date(2027, 5, 31), "23:59"))  # yesterday
    tentative = booking(jst(TOMORROW, "10:00"), tentative=True)

    response = home(client, staff_with("inventory.view_reservation"))

    assert days(response) == {TODAY: [early_today, late_today], TOMORROW: [just_after_midnight, tentative]}
    html = response.content.decode()
    assert f"/admin/inventory/reservation/{late_today.pk}/change/" in html
    assert "今日と明日の予約" in html  # Bookings today and tomorrow
    assert early_today.store.name in html
    with translation.override("ja"):  # the admin is shown in the shop's language
        assert str(payment_methods.get("free").label) in html  # the method's label, not its key


def test_each_store_is_shown_and_named_on_its_rows(client):
    # staff named at no store see every store
    north, south = StoreFactory(name="北店"), StoreFactory(name="南店")
    booking(jst(TODAY, "10:00"), item=ItemFactory(store=north))
    booking(jst(TODAY, "11:00"), item=ItemFactory(store=south))

    response = home(client, staff_with("inventory.view_reservation"))

    assert [r.store.name for r in days(response)[TODAY]] == ["北店", "南店"]


def test_staff_named_at_a_store_see_that_stores_bookings_only(client):
    north, south = StoreFactory(name="北店"), StoreFactory(name="南店")
    mine = booking(jst(TODAY, "10:00"), item=ItemFactory(store=north))
    theirs = booking(jst(TODAY, "11:00"), item=ItemFactory(store=south))
    staff = staff_with("inventory.view_reservation", "inventory.change_reservation")
    north.staff.add(staff)

    response = home(client, staff)

    assert days(response)[TODAY] == [mine]
    # the reservation list and a booking's page agree
    listed = client.get("/admin/inventory/reservation/").content.decode()
    assert f"#{mine.pk}" in listed
    assert f"#{theirs.pk}" not in listed
    assert client.get(f"/admin/inventory/reservation/{theirs.pk}/change/").status_code == 302
    # named at both, they see both
    south.staff.add(staff)
    assert days(home(client, staff))[TODAY] == [mine, theirs]


def test_a_superuser_sees_every_store_even_when_named_at_one(client):
    north, south = StoreFactory(name="北店"), StoreFactory(name="南店")
    booking(jst(TODAY, "10:00"), item=ItemFactory(store=north))
    booking(jst(TODAY, "11:00"), item=ItemFactory(store=south))
    boss = MemberFactory(is_staff=True, is_superuser=True)
    north.staff.add(boss)
    assert len(days(home(client, boss))[TODAY]) == 2


def test_the_empty_state(client):
    html = home(client, staff_with("inventory.view_reservation")).content.decode()

    assert "今日の予約はありません。" in html  # No bookings today.
    assert "明日の予約はありません。" in html


def test_staff_without_the_view_permission_do_not_see_the_bookings_panel(client):
    booking(jst(TODAY, "10:00"))

    response = home(client, staff_with("members.view_member"))

    assert 'id="panel-bookings"' not in response.content.decode()
    assert "days" not in response.context


def test_the_query_count_does_not_grow_with_the_bookings(client, django_assert_max_num_queries):
    staff = staff_with("inventory.view_reservation")
    booking(jst(TODAY, "10:00"))
    client.force_login(staff)
    client.get("/admin/")  # warm caches (content types, settings)
    # 9: the session and user, the panels' few reads (one of them: whether approval is in use anywhere)
    with django_assert_max_num_queries(9) as few:
        assert client.get("/admin/").status_code == 200
    for hour in range(8, 20):
        booking(jst(TODAY, f"{hour:02}:00"), item=ItemFactory(), status=Reservation.Status.CONFIRMED)
        booking(jst(TOMORROW, f"{hour:02}:30"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/")
    assert len(days(response)[TODAY]) == 13
