"""Use checks: rules from higher apps on whether a ticket may pay a booking on a day, without tickets
importing them (ARCHITECTURE.md: a lower app defines the interface, the higher app registers in its
AppConfig.ready()). Plans registers the usable-plan restriction of the tickets it grants (SPEC §7).

A check is called with the member's id and the booked day (JST) and returns an expression over
MemberTicket that is true for the tickets it refuses (an `Exists(...)` with `OuterRef("pk")`), or None
when it refuses nothing for this member. `selectors.usable_tickets` excludes them in the same query, so a
check costs no query of its own, however many tickets the member holds.

    def plan_restriction(*, member_id: int, on: date) -> Expression | None: ...
    register_use_check(plan_restriction)

Source labels: how a ticket came to the member, in words, from the app that issued it (a plan grant names
its plan and month). A function takes the tickets shown on a page and returns {ticket id: label} for the
ones it knows, in one query however many there are.

    register_source_labels(grant_source_labels)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.db.models import Expression

UseCheck = Callable[..., Expression | None]

_checks: list[UseCheck] = []


def register_use_check(check: UseCheck) -> None:
    if check not in _checks:
        _checks.append(check)


def refusals(*, member_id: int, on: date) -> list[Expression]:
    """The expressions of the tickets each registered check refuses for this member on `on`."""
    found = []
    for check in _checks:
        refused = check(member_id=member_id, on=on)
        if refused is not None:
            found.append(refused)
    return found


SourceLabels = Callable[[list], dict[int, str]]

_source_labels: list[SourceLabels] = []


def register_source_labels(labels: SourceLabels) -> None:
    if labels not in _source_labels:
        _source_labels.append(labels)


def source_labels(tickets: list) -> dict[int, str]:
    """{ticket id: how it came to the member} from every registered app, for the tickets given."""
    found: dict[int, str] = {}
    if tickets:
        for labels in _source_labels:
            found.update(labels(tickets))
    return found
