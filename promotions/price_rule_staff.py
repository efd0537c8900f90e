"""Staff services for price rules (価格のルール, SPEC §9): their checking order.

    price_rule_move(*, rule, direction, by, now=None) -> PriceRuleMoved   ("up" / "down": swap with the
                                                                           neighbour in checking order)

Rules are checked by (position, pk) and the first active one that matches applies, so their order is the
rule set's meaning. Saving a rule's fields stays the admin's own (its LogEntry is audited); moving one goes
through here: every rule is locked first, so two staff moving at once each see the other's result, and no
position is ever duplicated or lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.audit import audit_log
from core.exceptions import DomainError
from promotions.models import PriceRule

UP = "up"
DOWN = "down"
DIRECTIONS = (UP, DOWN)


class PriceRuleMoveRefusedError(DomainError):
    """The rule cannot move that way (first up, last down) or is gone: nothing was changed."""


@dataclass(frozen=True)
class PriceRuleMoved:
    """What a move did: `rule` (its new `position`, 1..`count`) swapped places with `other`; `renumbered`:
    {pk: [old, new]} of the rules the renumbering 1..n moved before the swap (duplicates or gaps)."""

    rule: PriceRule
    other: PriceRule
    direction: str
    position: int
    count: int
    renumbered: dict[int, list[int]] = field(default_factory=dict)


def checking_order(rules) -> list[PriceRule]:
    """The rules in the order they are checked: by position, then pk (as PriceRule.Meta.ordering)."""
    return sorted(rules, key=lambda each: (each.position, each.pk))


@transaction.atomic
def price_rule_move(*, rule: PriceRule, direction: str, by, now: datetime | None = None) -> PriceRuleMoved:
    """Swap `rule` with the rule above it ("up") or below it ("down") in checking order, inactive rules
    included (the list staff see). Every rule is locked first (in pk order, so movers never deadlock) and
    read again: the neighbour is the one after any move committed meanwhile. When positions have
    duplicates or gaps they are renumbered 1..n first, keeping the order. The first rule cannot move up nor
    the last down (PriceRuleMoveRefusedError; nothing changed). One audit entry on the moved rule naming the
    other, the positions before and after, and any renumbering."""
    if direction not in DIRECTIONS:
        raise ValueError(f"price_rule_move: direction must be one of {DIRECTIONS}, not {direction!r}")
    now = now or timezone.now()
    rules = checking_order(PriceRule.objects.select_for_update().order_by("pk"))
    index = next((i for i, each in enumerate(rules) if each.pk == rule.pk), None)
    if index is None:
        raise PriceRuleMoveRefusedError(gettext("This price rule no longer exists."))
    moving = rules[index]
    if direction == UP and index == 0:
        raise PriceRuleMoveRefusedError(
            gettext("“%(name)s” is checked first already: it cannot move up.") % {"name": moving.name}
        )
    if direction == DOWN and index == len(rules) - 1:
        raise PriceRuleMoveRefusedError(
            gettext("“%(name)s” is checked last already: it cannot move down.") % {"name": moving.name}
        )
    stored = {each.pk: each.position for each in rules}
    renumbered: dict[int, list[int]] = {}
    for number, each in enumerate(rules, start=1):
        if each.position != number:
            renumbered[each.pk] = [each.position, number]
            each.position = number
    other = rules[index - 1 if direction == UP else index + 1]
    moving.position, other.position = other.position, moving.position
    changed = [each for each in rules if each.position != stored[each.pk]]
    for each in changed:
        each.updated_at = now
    PriceRule.objects.bulk_update(changed, ["position", "updated_at"])
    audit_log(
        action="price_rule.moved",
        obj=moving,
        by=by,
        system="" if by is not None else "price_rule_move",
        payload={
            "direction": direction,
            "position": [stored[moving.pk], moving.position],
            "swapped_with": other.pk,
            "swapped_with_name": other.name,
            "swapped_with_position": [stored[other.pk], other.position],
            "renumbered": renumbered,
        },
        now=now,
    )
    return PriceRuleMoved(
        rule=moving,
        other=other,
        direction=direction,
        position=moving.position,
        count=len(rules),
        renumbered=renumbered,
    )
