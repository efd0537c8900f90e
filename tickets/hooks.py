"""Use checks: rules from higher apps on whether a ticket may pay a booking on a day, without tickets
importing them (ARCHITECTURE.md: a lower app defines the interface, the higher app registers in its
AppConfig.ready()). Plans registers the usable-plan restriction of the tickets it grants (SPEC §7).

A check is called with the member's id and the booked day (JST) and returns an expression over
MemberTicket that is true for the tickets it refuses (an `Exists(...)` with `OuterRef("pk")`), or None
when it refuses nothing for this member. `selectors.usable_tickets` excludes them in the same query, so a
check costs no query of its own, however many tickets the member holds.

    def plan_restriction(*, member_id: int, on: date) -> Expression | None: ...
    register_use_check(plan_restriction)
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
