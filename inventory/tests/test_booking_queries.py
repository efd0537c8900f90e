"""The member booking POST (the final step, "book") takes a fixed number of queries whatever the data: the
schedule is read once (by the service's checks), only the chosen payment method is asked, and only the
day's repeating events are loaded.

The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday (June 2027 has no national holiday).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.periods import JST
from inventory.availability import load_settings
from inventory.models import Reservation, Slot
from inventory.tests.factories import (
    AcceptanceOverrideFactory,
    IrregularEventFactory,
    ItemFactory,
    RepeatingEventFactory,
    ReservationFactory,
    ReservationSettingsFactory,
    jst,
)
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MON = date(2027, 6, 7)

# What one booking costs (session, member, item; the service's settings, hours, closures, its locks and
# checks, the insert, the audit entry), counted here with the SAVEPOINT and RELEASE of the service's
# transaction inside the test's (2 queries a real request does not make). A change here is a change to the
# booking path: read the queries the failing assertion prints before raising it.
FREE_BOOKING_QUERIES = 10
FIXED_BOOKING_QUERIES = 11


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def general_settings(db):
    ContentType.objects.get_for_model(Reservation)  # cached for the process: not a booking's query
    return ReservationSettingsFactory()


@pytest.fixture
def client(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def member(client):
    member = MemberFactory()
    client.force_login(member)
    return member


def _post_booking(client, item, data) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(reverse("site:book", args=[item.pk]), {**data, "step": "book"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return len(captured), [query["sql"] for query in captured.captured_queries]


def _more_data(item, *, fixed: bool) -> None:
    """50 more bookings, events and closures around the booked day (none of them in its way)."""
    other = MemberFactory()
    for n in range(50):
        day = MON + timedelta(days=1 + n % 20)
        ReservationFactory(item=item, member=other, starts_at=jst(day, "16:00"), ends_at=jst(day, "17:00"))
        if fixed:
            RepeatingEventFactory(item=item, weekday=1 + n % 6, starts_at=time(12), ends_at=time(13))
            IrregularEventFactory(item=item, date=day, starts_at=time(14), ends_at=time(15))
        AcceptanceOverrideFactory(
            store=item.store, start_date=day + timedelta(days=30), end_date=day + timedelta(days=30)
        )


def test_a_free_type_booking_takes_the_same_queries_however_much_data(client, member):
    # given a 0-yen free-type item with stock for everyone
    item = ItemFactory(stock=100)
    first, queries = _post_booking(
        client,
        item,
        {"date": MON, "start_time": "10:00", "end_time": "11:00", "quantity": 1, "payment_method": "free"},
    )
    # when 50 more bookings and closures exist and the member books again
    _more_data(item, fixed=False)
    second, again = _post_booking(
        client,
        item,
        {"date": MON, "start_time": "11:00", "end_time": "12:00", "quantity": 1, "payment_method": "free"},
    )
    # then
    assert Reservation.objects.filter(member=member).count() == 2
    assert second == first, "\n".join([*queries, "-- then --", *again])
    assert first <= FREE_BOOKING_QUERIES, "\n".join(queries)


def test_a_fixed_slot_booking_takes_the_same_queries_however_much_data(client, member):
    # given a 0-yen lesson on Mondays 10:00–11:00 and 11:00–12:00
    item = ItemFactory(fixed=True, stock=10)
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11))
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(11), ends_at=time(12))
    first, queries = _post_booking(
        client, item, {"date": MON, "slot": "10:00-11:00", "quantity": 1, "payment_method": "free"}
    )
    # when 50 more bookings, events and closures exist and the member books another slot
    _more_data(item, fixed=True)
    second, again = _post_booking(
        client, item, {"date": MON, "slot": "11:00-12:00", "quantity": 1, "payment_method": "free"}
    )
    # then
    assert list(Slot.objects.filter(item=item).order_by("starts_at").values_list("booked", flat=True)) == [
        1,
        1,
    ]
    assert second == first, "\n".join([*queries, "-- then --", *again])
    assert first <= FIXED_BOOKING_QUERIES, "\n".join(queries)


def test_the_final_step_asks_only_the_chosen_payment_method(client, member, monkeypatch):
    # given every registered method would fail if asked for its choices
    from inventory import payment_methods

    asked = []
    for method in payment_methods.all_methods():
        original = method.choices

        def spy(*args, _key=method.key, _original=original, **kwargs):
            asked.append(_key)
            return _original(*args, **kwargs)

        monkeypatch.setattr(method, "choices", spy)
    item = ItemFactory(stock=5)
    # when the member books with "free"
    _post_booking(
        client,
        item,
        {"date": MON, "start_time": "10:00", "end_time": "11:00", "quantity": 1, "payment_method": "free"},
    )
    # then only "free" was asked
    assert asked == ["free"]


def test_the_booking_post_renders_no_template_and_queues_one_email_after_the_commit(
    client, member, django_capture_on_commit_callbacks
):
    # given
    item = ItemFactory(stock=5)
    # when the member books
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("site:book", args=[item.pk]),
            {
                "date": MON,
                "start_time": "10:00",
                "end_time": "11:00",
                "quantity": 1,
                "payment_method": "free",
                "step": "book",
            },
        )
    # then it redirects without rendering any page or e-mail: the worker renders the e-mail, from the task
    # queued once the booking commits
    assert response.status_code == 302
    assert response.templates == []
    [queued] = callbacks
    assert queued.func.__self__.name == "core.tasks.send_templated_email"
    assert queued.keywords["kwargs"]["template"] == "inventory/reservation_booked"
    assert queued.keywords["kwargs"]["context"]["reservation"]["status"] == Reservation.Status.CONFIRMED


@pytest.mark.parametrize("own", [False, True])
@pytest.mark.parametrize("with_hours", [False, True])
def test_load_settings_reads_what_reservation_settings_reads_in_one_query(
    own, with_hours, django_assert_num_queries
):
    # given an item on the general settings or its own, with hours or none
    item = ItemFactory()
    ReservationSettingsFactory(hours={0: ("09:00", "12:00"), 7: ("10:00", "11:00")} if with_hours else {})
    if own:
        ReservationSettingsFactory(
            item=item, time_step_minutes=15, hours={3: ("08:00", "20:00")} if with_hours else {}
        )
    item.refresh_from_db()
    expected = item.reservation_settings()
    # when
    with django_assert_num_queries(1):
        loaded = load_settings(item)
        hours = [(h.pk, h.weekday, h.opens_at, h.closes_at) for h in loaded.hours.all()]
    # then
    assert loaded.pk == expected.pk
    assert loaded.time_step_minutes == expected.time_step_minutes
    assert {f.attname: getattr(loaded, f.attname) for f in loaded._meta.concrete_fields} == {
        f.attname: getattr(expected, f.attname) for f in expected._meta.concrete_fields
    }
    assert hours == [(h.pk, h.weekday, h.opens_at, h.closes_at) for h in expected.hours.all()]
