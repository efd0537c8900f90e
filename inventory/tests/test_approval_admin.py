"""Staff decide bookings awaiting approval (承認制) from the staff home and the reservation admin: a panel
lists them with approve / decline buttons (each asks first, with a message for the member), in a constant
number of queries; the list filters them; the settings screen switches approval on."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditEntry
from inventory.models import Reservation, ReservationSettings
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 1), "09:00")
MONDAY = date(2027, 6, 7)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def staff(client):
    user = MemberFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return user


@pytest.fixture
def item():
    ReservationSettingsFactory()
    made = ItemFactory(name="個室サウナ", stock=50)
    ReservationSettingsFactory(item=made, approval_required=True, approval_hours=24)
    return made


def request_booking(item, *, hour=10):
    member = MemberFactory()
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, f"{hour:02d}:00"),
        ends_at=jst(MONDAY, f"{hour + 1:02d}:00"),
        payment_method="free",
        now=NOW,
    )


def test_the_home_lists_bookings_awaiting_approval_with_approve_and_decline(client, staff, item):
    waiting = request_booking(item)
    page = client.get(reverse("admin:index"))
    html = page.content.decode()
    assert 'id="panel-approvals"' in html
    assert "Bookings awaiting approval (1)" in html
    assert "個室サウナ" in html
    approve = reverse("admin:inventory_reservation_operate", args=[waiting.pk, "approve"])
    decline = reverse("admin:inventory_reservation_operate", args=[waiting.pk, "decline"])
    assert f"{approve}?next=/admin/" in html
    assert f"{decline}?next=/admin/" in html


def test_the_panel_says_so_when_nothing_waits_and_is_hidden_without_approval(client, staff, item):
    html = client.get(reverse("admin:index")).content.decode()
    assert "No booking is waiting for approval." in html
    ReservationSettings.objects.update(approval_required=False)
    assert 'id="panel-approvals"' not in client.get(reverse("admin:index")).content.decode()


def test_the_home_takes_the_same_queries_however_many_wait(client, staff, item):
    request_booking(item)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:index"))
    for hour in range(11, 17):
        request_booking(item, hour=hour)
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("admin:index"))
    assert "Bookings awaiting approval (7)" in page.content.decode()
    assert len(many) == len(few)


def test_approving_from_the_home_asks_first_then_returns_home(client, staff, item):
    waiting = request_booking(item)
    url = reverse("admin:inventory_reservation_operate", args=[waiting.pk, "approve"]) + "?next=/admin/"
    question = client.get(url)
    assert question.status_code == 200
    assert "Approve these bookings?" in question.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == Reservation.Status.AWAITING  # a link only asks
    done = client.post(url, {"confirm": "yes", "message": "お待ちしております"})
    assert done.status_code == 302
    assert done["Location"] == "/admin/"
    waiting.refresh_from_db()
    assert waiting.status == Reservation.Status.CONFIRMED
    entry = AuditEntry.objects.get(action="reservation.approved")
    assert entry.actor_id == staff.pk
    assert entry.payload["message"] == "お待ちしております"


def test_a_foreign_next_address_is_ignored(client, staff, item):
    waiting = request_booking(item)
    url = reverse("admin:inventory_reservation_operate", args=[waiting.pk, "decline"])
    done = client.post(url + "?next=https://evil.example/", {"confirm": "yes", "message": ""})
    assert done["Location"] == reverse("admin:inventory_reservation_change", args=[waiting.pk])
    waiting.refresh_from_db()
    assert waiting.status == Reservation.Status.CANCELLED


def test_declining_several_from_the_list_sends_each_the_message(client, staff, item):
    first, second = request_booking(item), request_booking(item, hour=12)
    changelist = reverse("admin:inventory_reservation_changelist")
    listed = client.get(changelist, {"status__exact": "awaiting"}).content.decode()
    assert f"#{first.pk}" in listed
    assert f"#{second.pk}" in listed
    answer = client.post(
        changelist,
        {
            "action": "decline_selected",
            "_selected_action": [first.pk, second.pk],
            "confirm": "yes",
            "message": "設備点検のため",
        },
    )
    assert answer.status_code == 302
    for row in (first, second):
        row.refresh_from_db()
        assert row.status == Reservation.Status.CANCELLED
        assert row.cancel_reason == "設備点検のため"


def test_staff_switch_approval_on_in_an_items_settings(client, staff):
    settings_row = ReservationSettingsFactory()
    page = client.get(reverse("admin:inventory_reservationsettings_change", args=[settings_row.pk]))
    html = page.content.decode()
    assert 'name="approval_required"' in html
    assert 'name="approval_hours"' in html


def test_the_approval_hours_must_be_at_least_one(item):
    row = ReservationSettings.objects.get(item=item)
    row.approval_hours = 0
    with pytest.raises(ValidationError) as raised:
        row.full_clean()
    assert "approval_hours" in raised.value.message_dict
    assert row.approval_hours == 0
    assert ReservationSettings.objects.get(item=item).approval_hours == 24
