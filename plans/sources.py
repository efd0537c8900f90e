"""How a granted ticket came to the member, in words (tickets.hooks source labels): its plan, the month it
is for and when it was granted."""

from __future__ import annotations

from django.utils.translation import gettext

from plans.models import GrantRule, PlanGrant
from tickets.models import MemberTicket


def grant_source_labels(tickets: list) -> dict[int, str]:
    """How each granted ticket among `tickets` came to the member (tickets.hooks): its plan, the month it
    is for and when it was granted ("月4回プラン, 2027/04 (on the 1st of every month)"). One query."""
    ids = [ticket.pk for ticket in tickets if ticket.source == MemberTicket.Source.GRANT]
    if not ids:
        return {}
    kinds = dict(GrantRule.Kind.choices)
    rows = PlanGrant.objects.filter(member_ticket_id__any=ids).values_list(
        "member_ticket_id", "rule__plan__name", "month", "rule__kind"
    )
    return {
        ticket_id: gettext("%(plan)s, %(month)s (%(when)s)")
        % {"plan": plan, "month": f"{month:%Y/%m}", "when": kinds.get(kind, kind)}
        for ticket_id, plan, month, kind in rows
    }
