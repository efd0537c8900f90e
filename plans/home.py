"""What plans puts on the staff home (core.home): this month's ticket grants per rule, next month's as
the run would make them now (plans.grants.grants_preview, counted in the database), and the contracts that
started, ended or are past due this month. The queries do not grow with the contracts or the grants (the
preview counts one query per grant rule, and rules are a plan's few settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from core.home import Panel
from core.periods import JST
from plans.models import GrantRule, PlanContract, PlanGrant


@dataclass(frozen=True)
class RuleGrants:
    plan: str
    kind: str
    ticket: str
    contracts: int  # how many contracts got this rule's grant this month
    tickets: int  # how many tickets (the sum of the grants' quantities)


def month_start(day: date) -> date:
    return day.replace(day=1)


def grants_by_rule(month: date) -> list[RuleGrants]:
    """The grants made for `month`, per rule, in plan and rule order: one query."""
    rows = (
        PlanGrant.objects.filter(month=month)
        .values("rule_id", "rule__plan__name", "rule__kind", "rule__ticket_type__name")
        .annotate(contracts=Count("id"), tickets=Sum("quantity"))
        .order_by("rule__plan__display_order", "rule__plan_id", "rule__kind", "rule__position", "rule_id")
    )
    kinds = dict(GrantRule.Kind.choices)
    return [
        RuleGrants(
            plan=row["rule__plan__name"],
            kind=str(kinds.get(row["rule__kind"], row["rule__kind"])),
            ticket=row["rule__ticket_type__name"],
            contracts=row["contracts"],
            tickets=row["tickets"] or 0,
        )
        for row in rows
    ]


def contract_counts(month: date, next_month: date) -> dict[str, int]:
    """Contracts that started and ended in `month`, and those past due now: one query."""
    in_month = {"gte": month, "lt": next_month}
    return PlanContract.objects.aggregate(
        started=Count("id", filter=Q(starts_on__gte=in_month["gte"], starts_on__lt=in_month["lt"])),
        ended=Count("id", filter=Q(ends_on__gte=in_month["gte"], ends_on__lt=in_month["lt"])),
        past_due=Count("id", filter=Q(status=PlanContract.Status.PAST_DUE)),
    )


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def plans_context(request) -> dict:
    from plans.grants import grants_preview

    month = month_start(timezone.localdate(timezone.now(), JST))
    following = _next_month(month)
    upcoming = grants_preview(following, limit=0)
    contracts = reverse("admin:plans_plancontract_changelist")
    return {
        "month": month,
        "next_month": following,
        "grants": grants_by_rule(month),
        "next_grants": sorted(upcoming.counts.items()),
        "counts": contract_counts(month, following),
        "grants_url": reverse("admin:plans_plangrant_changelist") + f"?month={month:%Y-%m-%d}",
        "past_due_url": f"{contracts}?status__exact={PlanContract.Status.PAST_DUE}",
        "preview_url": reverse("admin:plans_plangrant_preview")
        if request.user.has_perm("plans.view_plangrant")
        else "",
    }


def plans_panel() -> Panel:
    return Panel(
        key="plans",
        template="admin/plans/home/plans.html",
        context=plans_context,
        permission="plans.view_plancontract",
        order=60,
    )
