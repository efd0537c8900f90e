"""A booking of N places paid with a ticket (SPEC §6, issue 11 item 3): it takes N uses of ONE ticket, the
first-expiring one with at least N left (never split across tickets); it is refused with a message saying
how many uses are needed and how many the best ticket has when none has enough; cancelling gives all N
back, a no-show keeps them; and the two concurrency limits of a ticket type count places, not bookings."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from core.models import AuditEntry
from inventory import payment_methods
from inventory.models import Reservation
from inventory.services import reservation_cancel, reservation_create, reservation_mark_no_show
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from tests.parallel import run_together
from tickets import locks
from tickets.exceptions import TicketLimitError, TicketUnusableError
from tickets.models import MemberTicket, TicketEntry
from tickets.tests.helpers import MONDAY, NOW, give, lesson, open_every_day, ticket_type


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in their English source text."""
    with translation.override("en"):
        yield


def book(member, item, *, places: int, day: date = MONDAY, start="10:00", end="11:00", option="", now=NOW):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(day, start),
        ends_at=jst(day, end),
        quantity=places,
        payment_method="ticket",
        payment_option=option,
        now=now,
    )


def uses_left(*tickets: MemberTicket) -> tuple[int, ...]:
    left = dict(MemberTicket.objects.values_list("pk", "uses_left"))
    return tuple(left[ticket.pk] for ticket in tickets)


def ledger_sum(ticket: MemberTicket) -> int:
    return sum(ticket.entries.values_list("delta", flat=True))


# --- uses per place ---------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestUsesPerPlace:
    @pytest.fixture(autouse=True)
    def settings_open_every_day(self):
        return open_every_day()

    @pytest.fixture
    def member(self):
        return MemberFactory()

    @pytest.fixture
    def item(self):
        return lesson(name="ヨガ 60分")

    def test_a_3_place_booking_takes_3_uses_of_one_ticket(self, member, item):
        # given a ticket with 5 uses
        ticket = give(member, ticket_type(items=[item], uses=5))
        # when the member books 3 places with it
        reservation = book(member, item, places=3)
        # then it is confirmed, and the ticket gave 3 uses in one ledger entry
        assert reservation.status == Reservation.Status.CONFIRMED
        ticket.refresh_from_db()
        assert ticket.uses_left == 2 == ledger_sum(ticket)
        used = ticket.entries.get(kind=TicketEntry.Kind.USED)
        assert (used.reservation, used.delta, used.uses_left_after) == (reservation, -3, 2)
        # and the audit trail records uses_left 5 → 2
        audit = AuditEntry.objects.get(action="ticket.used", object_id=str(ticket.pk))
        assert audit.payload["changes"] == {"uses_left": [5, 2]}

    def test_a_booking_that_takes_every_use_left(self, member, item):
        ticket = give(member, ticket_type(items=[item], uses=3))
        book(member, item, places=3)
        assert uses_left(ticket) == (0,)

    def test_the_first_expiring_ticket_with_too_few_uses_is_skipped(self, member, item):
        # given the ticket expiring first has 2 uses left, a later one 5
        kind = ticket_type(items=[item], uses=5)
        sooner = give(member, kind, uses=2, valid_through=date(2027, 7, 31))
        later = give(member, kind, valid_through=date(2027, 12, 31))
        latest = give(member, kind, valid_through=date(2028, 3, 31))
        # when 3 places are booked, then the first-expiring ticket with at least 3 left pays them all
        book(member, item, places=3)
        assert uses_left(sooner, later, latest) == (2, 2, 5)
        # and a 2-place booking is paid by the one expiring first again
        book(member, item, places=2, start="12:00", end="13:00")
        assert uses_left(sooner, later, latest) == (0, 2, 5)

    def test_refused_when_no_ticket_has_enough_uses_and_nothing_changes(self, member, item):
        # given two tickets with 2 and 1 uses left (3 in all, but never split across tickets)
        kind = ticket_type(items=[item], uses=5)
        two = give(member, kind, uses=2)
        one = give(member, kind, uses=1)
        # when 3 places are booked, then it is refused saying how many are needed and how many the best has
        with pytest.raises(TicketUnusableError) as caught:
            book(member, item, places=3)
        message = str(caught.value)
        assert "needs 3 uses of one ticket" in message
        assert "only 2 left" in message
        # and nothing changed
        assert not Reservation.objects.exists()
        assert uses_left(two, one) == (2, 1)
        assert not TicketEntry.objects.filter(kind=TicketEntry.Kind.USED).exists()
        assert not AuditEntry.objects.filter(action="ticket.used").exists()

    def test_a_chosen_ticket_with_too_few_uses_is_refused_with_the_numbers(self, member, item):
        kind = ticket_type(items=[item], uses=5)
        chosen = give(member, kind, uses=2)
        give(member, kind)  # another ticket that could pay: the member's choice is kept
        with pytest.raises(TicketUnusableError) as caught:
            book(member, item, places=3, option=str(chosen.pk))
        assert "needs 3 uses of one ticket" in str(caught.value)
        assert "the ticket you chose has only 2 left" in str(caught.value)
        assert not Reservation.objects.exists()
        assert uses_left(chosen) == (2,)

    def test_no_usable_ticket_at_all_keeps_the_plain_message(self, member, item):
        give(member, ticket_type(items=[lesson(name="別のレッスン")]))
        with pytest.raises(TicketUnusableError) as caught:
            book(member, item, places=3)
        assert str(caught.value) == "None of your tickets can pay for this booking."

    def test_cancelling_gives_all_3_back(self, member, item):
        ticket = give(member, ticket_type(items=[item], uses=5))
        reservation = book(member, item, places=3)
        reservation_cancel(reservation=reservation, by=member, now=NOW)
        ticket.refresh_from_db()
        assert ticket.uses_left == 5 == ledger_sum(ticket)
        restored = ticket.entries.get(kind=TicketEntry.Kind.RESTORED)
        assert (restored.delta, restored.uses_left_after) == (3, 5)
        audit = AuditEntry.objects.get(action="ticket.restored", object_id=str(ticket.pk))
        assert audit.payload["changes"] == {"uses_left": [2, 5]}

    def test_a_no_show_keeps_all_3(self, member, item):
        staff = MemberFactory(is_staff=True)
        ticket = give(member, ticket_type(items=[item], uses=5))
        reservation = book(member, item, places=3)
        reservation_mark_no_show(reservation=reservation, by=staff, now=jst(MONDAY, "10:30"))
        ticket.refresh_from_db()
        assert ticket.uses_left == 2 == ledger_sum(ticket)
        assert not ticket.entries.filter(kind=TicketEntry.Kind.RESTORED).exists()

    def test_the_payment_choices_offer_only_tickets_that_can_pay_the_places(self, member, item, time_machine):
        time_machine.move_to(NOW, tick=False)
        kind = ticket_type(items=[item], uses=5)
        two = give(member, kind, uses=2)
        five = give(member, kind)
        method = payment_methods.get("ticket")
        starts_at = jst(MONDAY, "10:00")
        offered = method.choices(item=item, member=member, starts_at=starts_at, quantity=3)
        assert [pk for pk, _label in offered] == [str(five.pk)]
        # one place (the default): both
        offered = method.choices(item=item, member=member, starts_at=starts_at)
        assert {pk for pk, _label in offered} == {str(two.pk), str(five.pk)}

    def test_the_booking_page_offers_only_tickets_that_can_pay_the_places(
        self, member, item, client, time_machine
    ):
        # given tickets with 2 and 5 uses left
        time_machine.move_to(NOW, tick=False)
        kind = ticket_type(items=[item], uses=5)
        two = give(member, kind, uses=2)
        five = give(member, kind)
        client.force_login(member)
        url = reverse("site:book", args=[item.pk])
        form = {"date": MONDAY.isoformat(), "start_time": "10:00", "end_time": "11:00", "step": "confirm"}
        # when the member asks to book 3 places, then only the 5-use ticket is offered
        confirm = client.post(url, {**form, "quantity": 3})
        offered = [key for key, _label in confirm.context["payment_form"].fields["payment_method"].choices]
        assert f"ticket:{five.pk}" in offered
        assert f"ticket:{two.pk}" not in offered
        # and for 1 place both are
        confirm = client.post(url, {**form, "quantity": 1})
        offered = [key for key, _label in confirm.context["payment_form"].fields["payment_method"].choices]
        assert {f"ticket:{two.pk}", f"ticket:{five.pk}"} <= set(offered)

    # --- the two limits count places ---------------------------------------------------------------------

    def test_a_limit_of_2_refuses_one_3_place_booking(self, member, item):
        ticket = give(member, ticket_type(items=[item], uses=10, max_concurrent=2))
        with pytest.raises(TicketLimitError) as caught:
            book(member, item, places=3)
        assert "at most 2 places at once" in str(caught.value)
        assert not Reservation.objects.exists()
        assert uses_left(ticket) == (10,)
        # and 2 places are fine
        assert book(member, item, places=2).status == Reservation.Status.CONFIRMED

    def test_1_and_2_places_reach_a_limit_of_2(self, member):
        items = [lesson() for _ in range(3)]
        ticket = give(member, ticket_type(items=items, uses=10, max_concurrent=2))
        book(member, items[0], places=1)
        with pytest.raises(TicketLimitError):
            book(member, items[1], places=2, day=MONDAY + timedelta(days=1))
        # after the 1-place booking, 1 more place fits, then nothing
        book(member, items[1], places=1, day=MONDAY + timedelta(days=1))
        with pytest.raises(TicketLimitError) as caught:
            book(member, items[2], places=1, day=MONDAY + timedelta(days=2))
        assert "you already hold 2" in str(caught.value)
        assert uses_left(ticket) == (8,)

    def test_a_2_place_then_a_1_place_booking_over_a_limit_of_2(self, member):
        items = [lesson() for _ in range(2)]
        give(member, ticket_type(items=items, uses=10, max_concurrent=2))
        first = book(member, items[0], places=2)
        with pytest.raises(TicketLimitError):
            book(member, items[1], places=1, day=MONDAY + timedelta(days=1))
        # cancelling the 2-place booking frees both places
        reservation_cancel(reservation=first, by=member, now=NOW)
        assert book(member, items[1], places=2, day=MONDAY + timedelta(days=1)).pk

    def test_the_per_day_limit_counts_places_on_the_same_jst_day(self, member, item):
        ticket = give(member, ticket_type(items=[item], uses=20, max_concurrent_per_day=2))
        with pytest.raises(TicketLimitError) as caught:
            book(member, item, places=3)
        assert "at most 2 places on one day" in str(caught.value)
        book(member, item, places=1, start="10:00", end="11:00")
        book(member, item, places=1, start="12:00", end="13:00")
        with pytest.raises(TicketLimitError):
            book(member, item, places=1, start="14:00", end="15:00")
        # another day has its own 2 places
        book(member, item, places=2, day=MONDAY + timedelta(days=1))
        assert uses_left(ticket) == (16,)

    def test_the_ledgers_reconcile_after_all_that(self, member, item, capsys):
        staff = MemberFactory(is_staff=True)
        kind = ticket_type(items=[item], uses=5, max_concurrent=6)
        give(member, kind, uses=2, valid_through=date(2027, 7, 31))
        give(member, kind)
        cancelled = book(member, item, places=3)
        reservation_cancel(reservation=cancelled, by=member, now=NOW)
        kept = book(member, item, places=3, start="12:00", end="13:00")
        book(member, item, places=2, start="14:00", end="15:00")
        with pytest.raises(TicketUnusableError):
            book(member, item, places=3, start="16:00", end="17:00")
        reservation_mark_no_show(reservation=kept, by=staff, now=jst(MONDAY, "12:30"))
        call_command("check_ledgers")
        assert "tickets: OK" in capsys.readouterr().out


# --- under concurrency --------------------------------------------------------------------------------------


def run_in_parallel(calls) -> Counter:
    return run_together(calls, expected=(TicketUnusableError, TicketLimitError))


@pytest.mark.django_db(transaction=True)
def test_parallel_2_place_bookings_against_5_uses_book_exactly_2():
    # given a ticket with 5 uses for 6 items (each booking its own item, so only the ticket's locks count)
    open_every_day()
    member = MemberFactory()
    items = [lesson() for _ in range(6)]
    ticket = give(member, ticket_type(items=items, uses=5))
    # when 6 bookings of 2 places run at once
    outcomes = run_in_parallel([lambda item=item: book(member, item, places=2) for item in items])
    # then exactly 2 are booked, 1 use is left, and the ledger agrees
    assert outcomes == Counter({"booked": 2, "TicketUnusableError": 4})
    ticket.refresh_from_db()
    assert ticket.uses_left == 1 == ledger_sum(ticket)
    assert list(ticket.entries.filter(kind=TicketEntry.Kind.USED).values_list("delta", flat=True)) == [-2, -2]
    assert Reservation.objects.count() == 2


def places_limit_race(*, max_concurrent=0, max_concurrent_per_day=0, attempts=8, days=1) -> Counter:
    """Each attempt books 2 places with its own 2-use ticket of one type for its own item: only the
    (member, ticket type) lock keeps the limit, counted in places."""
    open_every_day()
    member = MemberFactory()
    items = [lesson() for _ in range(attempts)]
    kind = ticket_type(
        items=items, uses=2, max_concurrent=max_concurrent, max_concurrent_per_day=max_concurrent_per_day
    )
    tickets = [give(member, kind) for _ in range(attempts)]
    calls = [
        lambda item=item, ticket=ticket, n=n: book(
            member, item, places=2, day=MONDAY + timedelta(days=n % days), option=str(ticket.pk)
        )
        for n, (item, ticket) in enumerate(zip(items, tickets, strict=True))
    ]
    return run_in_parallel(calls)


@pytest.mark.django_db(transaction=True)
def test_parallel_2_place_bookings_never_break_an_at_once_limit_of_5_places():
    # 2 + 2 = 4 places fit a limit of 5; a third booking would make 6
    outcomes = places_limit_race(max_concurrent=5)
    assert outcomes == Counter({"booked": 2, "TicketLimitError": 6})
    live = Reservation.objects.filter(status__in=Reservation.LIVE_STATUSES)
    assert sum(live.values_list("quantity", flat=True)) == 4


@pytest.mark.django_db(transaction=True)
def test_parallel_2_place_bookings_never_break_a_per_day_limit_of_3_places():
    # 9 attempts over 3 days: one 2-place booking a day fits a limit of 3, a second would make 4
    outcomes = places_limit_race(max_concurrent_per_day=3, attempts=9, days=3)
    assert outcomes == Counter({"booked": 3, "TicketLimitError": 6})


@pytest.mark.django_db(transaction=True)
def test_control_without_the_member_type_lock_the_places_limit_is_overrun(monkeypatch):
    monkeypatch.setattr(locks, "member_type_lock", lambda **kwargs: None)
    outcomes = places_limit_race(max_concurrent=5)
    assert outcomes["booked"] > 2, outcomes
