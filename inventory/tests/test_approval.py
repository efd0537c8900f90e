"""Approval (承認制, SPEC §4, issue 11 item 2): a member's booking of an item under approval waits in a state
of its own (awaiting approval) with its places held, until staff approve or decline it; the unpaid-release
job never touches it; one still waiting is declined at the earlier of its request time + the approval hours
and its booking deadline (beat + `manage.py decline_overdue_approvals`)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.utils import translation

from core.models import AuditEntry
from inventory.exceptions import CancelError, SlotFullError, SoldOutError, StatusError
from inventory.models import Reservation, Slot
from inventory.services import (
    decline_overdue_approvals,
    release_unpaid_reservations,
    reservation_approve,
    reservation_cancel,
    reservation_create,
    reservation_decline,
)
from inventory.tests.factories import ItemFactory, RepeatingEventFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from tests.parallel import run_together

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def general():
    return ReservationSettingsFactory(booking_deadline_minutes=60, tentative_hold_minutes=30)


@pytest.fixture
def item(general):
    """A free-type item of stock 1 with its own settings under approval, declined after 24 hours."""
    made = ItemFactory(stock=1)
    ReservationSettingsFactory(
        item=made, approval_required=True, approval_hours=24, booking_deadline_minutes=60
    )
    return made


def book(item, member, *, day=MONDAY, start="10:00", end="11:00", quantity=1, channel="site", now=NOW):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(day, start),
        ends_at=jst(day, end),
        quantity=quantity,
        payment_method="free",
        channel=channel,
        now=now,
    )


def test_a_member_booking_of_an_approval_item_waits_with_its_places_held(item):
    booking = book(item, MemberFactory())
    assert booking.status == Reservation.Status.AWAITING
    assert booking.hold_until is None  # not the unpaid hold
    assert booking.confirmed_at is None
    assert booking.approval_deadline == NOW + timedelta(hours=24)
    # the place is held: the item's one unit is taken
    with pytest.raises(SoldOutError):
        book(item, MemberFactory())


def test_an_item_without_approval_confirms_at_once(general):
    plain = ItemFactory(stock=1)
    assert book(plain, MemberFactory()).status == Reservation.Status.CONFIRMED


def test_the_general_setting_puts_every_item_under_approval():
    ReservationSettingsFactory(approval_required=True, approval_hours=48)
    booking = book(ItemFactory(stock=1), MemberFactory())
    assert booking.status == Reservation.Status.AWAITING
    assert booking.approval_deadline == NOW + timedelta(hours=48)


def test_staff_booking_for_a_member_needs_no_approval(item):
    staff = MemberFactory(is_staff=True)
    booking = reservation_create(
        member=MemberFactory(),
        by=staff,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method="free",
        channel=Reservation.Channel.ADMIN,
        now=NOW,
    )
    assert booking.status == Reservation.Status.CONFIRMED


def test_the_deadline_is_the_booking_deadline_when_that_comes_first(item):
    # Booked at 09:00 for 12:00 the same day: request + 24 h would be tomorrow 09:00, but bookings for 12:00
    # close at 11:00 (60 minutes before): the request is declined then.
    booking = book(item, MemberFactory(), day=NOW.date(), start="12:00", end="13:00")
    assert booking.approval_deadline == jst(NOW.date(), "11:00")


def test_approving_confirms_and_records_who_and_the_message(item):
    staff = MemberFactory(is_staff=True)
    booking = book(item, MemberFactory())
    approved = reservation_approve(reservation=booking, by=staff, message=" ご来店お待ちしています ", now=NOW)
    assert approved.status == Reservation.Status.CONFIRMED
    assert approved.confirmed_at == NOW
    assert approved.approval_deadline is None
    entry = AuditEntry.objects.get(action="reservation.approved")
    assert entry.actor_id == staff.pk
    assert entry.payload["message"] == "ご来店お待ちしています"
    assert entry.payload["changes"]["status"] == ["awaiting", "confirmed"]


def test_declining_frees_the_places_and_keeps_the_message_as_the_reason(item):
    staff = MemberFactory(is_staff=True)
    booking = book(item, MemberFactory())
    declined = reservation_decline(reservation=booking, by=staff, message="満席のため", now=NOW)
    assert declined.status == Reservation.Status.CANCELLED
    assert declined.cancel_reason == "満席のため"
    assert declined.cancelled_by_id == staff.pk
    assert AuditEntry.objects.filter(action="reservation.declined", object_id=str(booking.pk)).exists()
    # the unit is free again
    assert book(item, MemberFactory()).status == Reservation.Status.AWAITING


def test_only_a_booking_awaiting_approval_can_be_approved_or_declined(item):
    staff = MemberFactory(is_staff=True)
    booking = book(item, MemberFactory())
    reservation_approve(reservation=booking, by=staff, now=NOW)
    with pytest.raises(StatusError, match="not awaiting approval"):
        reservation_approve(reservation=booking, by=staff, now=NOW)
    with pytest.raises(StatusError):
        reservation_decline(reservation=booking, by=staff, now=NOW)


def test_the_unpaid_release_job_never_touches_a_booking_awaiting_approval(item):
    booking = book(item, MemberFactory())
    released = release_unpaid_reservations(now=NOW + timedelta(days=3))
    assert released == []
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.AWAITING


def test_a_member_may_cancel_their_request_while_it_waits(item):
    member = MemberFactory()
    booking = book(item, member)
    reservation_cancel(reservation=booking, by=member, now=NOW)
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.CANCELLED
    with pytest.raises(CancelError):
        reservation_cancel(reservation=booking, by=member, now=NOW)


def test_overdue_requests_are_declined_at_their_deadline_not_a_second_before(item):
    booking = book(item, MemberFactory())
    deadline = booking.approval_deadline
    assert decline_overdue_approvals(now=deadline - timedelta(seconds=1)) == []
    declined = decline_overdue_approvals(now=deadline)
    assert [row.pk for row in declined] == [booking.pk]
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.CANCELLED
    assert booking.cancelled_by is None
    entry = AuditEntry.objects.get(action="reservation.declined")
    assert entry.actor_id is None
    assert entry.system == "decline_overdue_approvals"
    # a second run finds nothing
    assert decline_overdue_approvals(now=deadline + timedelta(hours=1)) == []


def test_an_approved_or_declined_request_is_not_declined_by_the_job(item):
    staff = MemberFactory(is_staff=True)
    approved = book(item, MemberFactory())
    reservation_approve(reservation=approved, by=staff, now=NOW)
    later = book(item, MemberFactory(), start="14:00", end="15:00")
    reservation_decline(reservation=later, by=staff, message="x", now=NOW)
    assert decline_overdue_approvals(now=NOW + timedelta(days=2)) == []
    approved.refresh_from_db()
    assert approved.status == Reservation.Status.CONFIRMED


def test_the_command_lists_with_dry_run_and_declines_without(item, capsys):
    booking = book(item, MemberFactory())
    at = (NOW + timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M")
    call_command("decline_overdue_approvals", "--dry-run", "--at", at)
    out = capsys.readouterr().out
    assert f"Would decline #{booking.pk}" in out
    assert "Would decline 1 reservation(s)." in out
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.AWAITING
    call_command("decline_overdue_approvals", "--at", at)
    assert "Declined 1 reservation(s)." in capsys.readouterr().out
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.CANCELLED


def test_beat_runs_the_decline_job_every_few_minutes(settings):
    entry = next(
        job
        for job in settings.CELERY_BEAT_SCHEDULE.values()
        if job["task"] == "inventory.tasks.decline_overdue_approvals"
    )
    assert entry["schedule"] <= 10 * 60


# --- the hold against member bookings of the same slot, in parallel -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_approval_holds_and_member_bookings_of_one_slot_never_pass_its_capacity():
    """A class of capacity 3 under approval: 8 members request it at the same instant → exactly 3 wait,
    5 are refused. Then staff decline one while 4 more members request it at once → exactly one of them
    gets the freed place. The slot's counter always equals the places of its live bookings."""
    ReservationSettingsFactory(approval_required=True, approval_hours=24)
    item = ItemFactory(fixed=True, stock=3)
    RepeatingEventFactory(item=item, weekday=MONDAY.weekday(), starts_at="10:00", ends_at="11:00", capacity=3)
    members = [MemberFactory() for _ in range(12)]
    staff = MemberFactory(is_staff=True)

    def request(member):
        return lambda: book(item, member)

    first = run_together([request(member) for member in members[:8]], expected=(SlotFullError,))
    assert first == {"booked": 3, "SlotFullError": 5}
    waiting = list(Reservation.objects.filter(item=item, status=Reservation.Status.AWAITING))
    assert len(waiting) == 3

    # Approving two while three more members request the slot: approval keeps the places it held, so
    # every new request is refused.
    calls = [(lambda row=row: reservation_approve(reservation=row, by=staff, now=NOW)) for row in waiting[:2]]
    calls += [request(member) for member in members[8:11]]
    second = run_together(calls, expected=(SlotFullError,))
    assert second == {"booked": 2, "SlotFullError": 3}  # the two approvals; no request got in

    # A decline frees one place: of four members requesting it at once, exactly one gets it.
    reservation_decline(reservation=waiting[2], by=staff, message="x", now=NOW)
    third = run_together(
        [request(member) for member in [*members[11:], *members[:3]]], expected=(SlotFullError,)
    )
    assert third == {"booked": 1, "SlotFullError": 3}
    slot = Slot.objects.get(item=item)
    live = Reservation.objects.filter(item=item, status__in=Reservation.LIVE_STATUSES)
    assert slot.booked == sum(live.values_list("quantity", flat=True)) == 3
    assert live.filter(status=Reservation.Status.CONFIRMED).count() == 2
