"""Each reservation and item service writes one audit entry naming who acted (ARCHITECTURE.md "Audit")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.models import AuditEntry
from inventory import payment_methods
from inventory.models import Reservation
from inventory.services import (
    RELEASE_JOB,
    item_duplicate,
    item_own_settings_enable,
    release_unpaid_reservations,
    reservation_cancel,
    reservation_complete,
    reservation_confirm,
    reservation_create,
    reservation_mark_no_show,
)
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


class HoldForPayment(payment_methods.PaymentMethod):
    """Leaves the booking tentative, as card payment does."""

    key = "audit_hold"
    label = "hold"

    confirms_at_once = False

    def hold_minutes(self, *, reservation) -> int:
        return 15

    def authorise(self, *, reservation, now, option: str = "", by=None) -> None:
        """Takes nothing: the booking waits, tentative, for a payment."""

    def release(self, *, reservation, now, by=None, refund=None, system="") -> None:
        """Nothing was taken, so nothing is given back."""

    def no_show(self, *, reservation, now) -> None:
        """Nothing was taken, so nothing is kept."""


@pytest.fixture
def hold_method(monkeypatch):
    method = HoldForPayment()
    monkeypatch.setitem(payment_methods._registry, method.key, method)
    return method


@pytest.fixture(autouse=True)
def open_every_day():
    return ReservationSettingsFactory(min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60)


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def clerk():
    return MemberFactory(is_staff=True)


def book(member, *, by, method="free", **kwargs):
    return reservation_create(
        member=member,
        by=by,
        item=kwargs.pop("item", None) or ItemFactory(),
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method=method,
        now=NOW,
        **kwargs,
    )


def entries(obj) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name))


def test_booking_and_cancelling_record_who_did_it_and_what_changed(member, clerk):
    # when the member books, and staff cancel it
    reservation = book(member, by=member)
    reservation_cancel(reservation=reservation, by=clerk, as_staff=True, reason="店舗都合", now=NOW)
    # then one entry each, in order, naming who acted
    created, cancelled = sorted(entries(reservation), key=lambda entry: entry.pk)
    assert (created.action, created.actor, created.system) == ("reservation.created", member, "")
    assert created.payload["member"] == member.pk
    assert created.payload["price_yen"] == reservation.price_yen
    assert (created.payload["payment_method"], created.payload["status"]) == ("free", "confirmed")
    assert (cancelled.action, cancelled.actor) == ("reservation.cancelled", clerk)
    assert cancelled.payload["changes"] == {"status": ["confirmed", "cancelled"]}
    assert (cancelled.payload["reason"], cancelled.payload["as_staff"]) == ("店舗都合", True)
    assert cancelled.created_at == NOW


def test_confirm_complete_and_no_show_name_the_staff_member(member, clerk, hold_method):
    # given a tentative booking and two confirmed ones
    tentative = book(member, by=member, method=hold_method.key)
    done, absent = book(member, by=member), book(member, by=member)
    after = jst(MONDAY, "10:30")
    # when staff confirm, complete and mark a no-show
    reservation_confirm(reservation=tentative, by=clerk, now=NOW + timedelta(minutes=5))
    reservation_complete(reservation=done, by=clerk, now=after)
    reservation_mark_no_show(reservation=absent, by=clerk, now=after)
    # then each has its entry with the status it left and reached
    for reservation, action, change in (
        (tentative, "reservation.confirmed", ["tentative", "confirmed"]),
        (done, "reservation.completed", ["confirmed", "completed"]),
        (absent, "reservation.no_show", ["confirmed", "no_show"]),
    ):
        entry = AuditEntry.objects.get(object_id=str(reservation.pk), action=action)
        assert (entry.actor, entry.payload["changes"]["status"]) == (clerk, change)
    # and confirming again changes nothing and records nothing
    reservation_confirm(reservation=tentative, by=clerk)
    assert AuditEntry.objects.filter(action="reservation.confirmed").count() == 1


def test_a_change_by_nobody_without_a_named_job_is_refused_and_rolled_back(member):
    reservation = book(member, by=member)
    with pytest.raises(ValueError, match="system"):
        reservation_cancel(reservation=reservation, by=None, as_staff=True, now=NOW)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED


def test_releasing_unpaid_bookings_records_each_as_the_jobs_cancellation(member, hold_method):
    # given two tentative bookings whose hold runs out, and a run before that
    first = book(member, by=member, method=hold_method.key)
    second = book(MemberFactory(), by=member, method=hold_method.key)
    assert release_unpaid_reservations(now=NOW + timedelta(minutes=10)) == []
    assert not AuditEntry.objects.filter(action="reservation.cancelled").exists()  # nothing released
    # when the job runs after the hold
    release_unpaid_reservations(now=NOW + timedelta(minutes=16))
    # then each reservation's history says the job cancelled it, and no person did
    for reservation in (first, second):
        entry = AuditEntry.objects.get(object_id=str(reservation.pk), action="reservation.cancelled")
        assert (entry.actor, entry.system) == (None, RELEASE_JOB)
        assert entry.payload["changes"] == {"status": ["tentative", "cancelled"]}


def test_duplicating_an_item_and_switching_on_its_own_settings_name_the_staff_member(clerk):
    item = ItemFactory(code="TENT")
    # when staff duplicate it and give it its own settings
    copy = item_duplicate(item=item, by=clerk)
    item_own_settings_enable(item=item, by=clerk)
    item_own_settings_enable(item=item, by=clerk)  # already on: nothing changes, nothing recorded
    # then
    (duplicated,) = entries(copy)
    assert (duplicated.action, duplicated.actor) == ("item.duplicated", clerk)
    assert duplicated.payload == {"from_item": item.pk, "from_code": "TENT", "code": copy.code}
    (enabled,) = entries(item)
    assert (enabled.action, enabled.actor, enabled.payload["copied_from_general"]) == (
        "item.own_settings_enabled",
        clerk,
        True,
    )
