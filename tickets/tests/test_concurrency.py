"""Ticket uses and the concurrency limits hold with bookings that really run in parallel: each thread has
its own PostgreSQL connection and they are released together by a barrier. Each attempt books a different
item, so inventory's item lock does not serialise them: only the tickets' own locks do. A control run with
the (member, ticket type) lock switched off shows the race, so the limit test is known to bite."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from members.tests.factories import MemberFactory
from tests.parallel import run_together
from tickets import locks
from tickets.exceptions import TicketLimitError, TicketUnusableError
from tickets.models import MemberTicket, TicketEntry
from tickets.tests.helpers import MONDAY, book, give, lesson, open_every_day, ticket_type

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_parallel(calls) -> Counter:
    return run_together(calls, expected=(TicketUnusableError, TicketLimitError))


def test_20_parallel_bookings_against_5_uses_book_exactly_5():
    # given a ticket with 5 uses for 20 items
    open_every_day()
    member = MemberFactory()
    items = [lesson() for _ in range(20)]
    ticket = give(member, ticket_type(items=items, uses=5))
    # when 20 bookings run at once
    outcomes = run_in_parallel([lambda item=item: book(member, item) for item in items])
    # then exactly 5 are booked, and the ticket and its ledger agree
    assert outcomes == Counter({"booked": 5, "TicketUnusableError": 15})
    ticket.refresh_from_db()
    assert ticket.uses_left == 0
    assert ticket.entries.filter(kind=TicketEntry.Kind.USED).count() == 5
    assert sum(ticket.entries.values_list("delta", flat=True)) == 0


def test_parallel_bookings_spread_over_several_tickets_never_overspend():
    open_every_day()
    member = MemberFactory()
    items = [lesson() for _ in range(12)]
    kind = ticket_type(items=items, uses=3)
    tickets = [give(member, kind) for _ in range(3)]
    outcomes = run_in_parallel([lambda item=item: book(member, item) for item in items])
    assert outcomes == Counter({"booked": 9, "TicketUnusableError": 3})
    assert set(
        MemberTicket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("uses_left", flat=True)
    ) == {0}


def limit_race(*, max_concurrent=0, max_concurrent_per_day=0, attempts=10, days=1) -> Counter:
    """The member holds one 1-use ticket per attempt of a type with a limit, and each attempt picks its
    own ticket for its own item: only the (member, ticket type) lock keeps the limit."""
    open_every_day()
    member = MemberFactory()
    items = [lesson() for _ in range(attempts)]
    kind = ticket_type(
        items=items, uses=1, max_concurrent=max_concurrent, max_concurrent_per_day=max_concurrent_per_day
    )
    tickets = [give(member, kind) for _ in range(attempts)]
    calls = [
        lambda item=item, ticket=ticket, n=n: book(
            member, item, day=MONDAY + timedelta(days=n % days), option=str(ticket.pk)
        )
        for n, (item, ticket) in enumerate(zip(items, tickets, strict=True))
    ]
    return run_in_parallel(calls)


def test_parallel_bookings_never_break_the_at_once_limit():
    outcomes = limit_race(max_concurrent=3)
    assert outcomes == Counter({"booked": 3, "TicketLimitError": 7})


def test_parallel_bookings_never_break_the_per_day_limit():
    # 12 attempts over 3 days, at most 2 a day
    outcomes = limit_race(max_concurrent_per_day=2, attempts=12, days=3)
    assert outcomes == Counter({"booked": 6, "TicketLimitError": 6})


def test_control_without_the_member_type_lock_the_limit_is_overrun(monkeypatch):
    # given the advisory lock switched off
    monkeypatch.setattr(locks, "member_type_lock", lambda **kwargs: None)
    # when 10 bookings race for a limit of 3, then more than 3 get through (the race the lock prevents)
    outcomes = limit_race(max_concurrent=3)
    assert outcomes["booked"] > 3, outcomes
