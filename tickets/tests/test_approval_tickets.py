"""A ticket booking of an item under approval (承認制): the uses are taken when the member asks (the places
and the uses are held together), kept when staff approve, and all given back when staff or the deadline
decline it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inventory.models import Reservation
from inventory.services import decline_overdue_approvals, reservation_approve, reservation_decline
from inventory.tests.factories import ReservationSettingsFactory
from members.tests.factories import MemberFactory
from tickets.models import MemberTicket
from tickets.tests.helpers import NOW, give, lesson, open_every_day, ticket_type
from tickets.tests.test_places import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval_lesson():
    open_every_day()
    item = lesson()
    ReservationSettingsFactory(
        item=item, approval_required=True, approval_hours=24, cancel_deadline_minutes=60
    )
    return item


def left(ticket: MemberTicket) -> int:
    ticket.refresh_from_db()
    return ticket.uses_left


def test_the_uses_are_held_while_waiting_and_kept_on_approval(approval_lesson):
    member = MemberFactory()
    ticket = give(member, ticket_type(items=[approval_lesson], uses=5))
    booking = book(member, approval_lesson, places=2)
    assert booking.status == Reservation.Status.AWAITING
    assert left(ticket) == 3
    reservation_approve(reservation=booking, by=MemberFactory(is_staff=True), now=NOW)
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.CONFIRMED
    assert left(ticket) == 3


def test_a_decline_gives_every_use_back(approval_lesson):
    member = MemberFactory()
    ticket = give(member, ticket_type(items=[approval_lesson], uses=5))
    booking = book(member, approval_lesson, places=3)
    assert left(ticket) == 2
    reservation_decline(reservation=booking, by=MemberFactory(is_staff=True), message="満席", now=NOW)
    assert left(ticket) == 5


def test_the_automatic_decline_gives_every_use_back(approval_lesson):
    member = MemberFactory()
    ticket = give(member, ticket_type(items=[approval_lesson], uses=5))
    book(member, approval_lesson, places=2)
    declined = decline_overdue_approvals(now=NOW + timedelta(hours=24))
    assert len(declined) == 1
    assert left(ticket) == 5
