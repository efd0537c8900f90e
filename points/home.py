"""What points puts on the staff home (core.home): the points issued, used and expired this month (JST),
and what expires next month — points and members (per record: the lots valid through a day of next month;
whole balance: the balances whose one date falls in it). Three queries however many entries and lots."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from core.home import Panel
from core.periods import JST
from points.models import PointAccount, PointEntry, PointLot, PointSettings

Kind = PointEntry.Kind


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_figures(month: date) -> dict[str, int]:
    """Points issued (grants and manual pluses), used (net of uses given back) and expired in `month`:
    one query over the entries made in it."""
    start = datetime.combine(month, time.min, tzinfo=JST)
    end = datetime.combine(_next_month(month), time.min, tzinfo=JST)
    totals = PointEntry.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        issued=Sum("delta", filter=Q(kind__in=PointEntry.GRANT_KINDS) | Q(kind=Kind.OTHER, delta__gt=0)),
        used=Sum("delta", filter=Q(kind=Kind.USE)),
        given_back=Sum("delta", filter=Q(kind=Kind.USE_REVERSAL)),
        expired=Sum("delta", filter=Q(kind=Kind.EXPIRED)),
    )
    return {
        "issued": totals["issued"] or 0,
        "used": -(totals["used"] or 0) - (totals["given_back"] or 0),
        "expired": -(totals["expired"] or 0),
    }


def expiring_in(month: date, *, method: str) -> dict[str, int]:
    """Points valid through a day of `month` (they expire the day after) and how many members hold them:
    one query."""
    through = {"expires_on__gte": month, "expires_on__lt": _next_month(month)}
    if method == PointSettings.ExpiryMethod.WHOLE_BALANCE:
        totals = PointAccount.objects.filter(balance__gt=0, **through).aggregate(
            points=Sum("balance"), members=Count("member_id")
        )
    else:
        totals = PointLot.objects.filter(remaining__gt=0, **through).aggregate(
            points=Sum("remaining"), members=Count("member_id", distinct=True)
        )
    return {"points": totals["points"] or 0, "members": totals["members"] or 0}


def points_context(request) -> dict:
    month = timezone.localdate(timezone.now(), JST).replace(day=1)
    following = _next_month(month)
    last_day = date.fromordinal(following.toordinal() - 1)
    # Read, not made: the home never writes (the settings row is made with its defaults where it is used).
    method = (
        PointSettings.objects.values_list("expiry_method", flat=True).first()
        or PointSettings._meta.get_field("expiry_method").default
    )
    ledger = reverse("admin:points_pointentry_changelist")
    return {
        "month": month,
        "next_month": following,
        "figures": month_figures(month),
        "expiring": expiring_in(following, method=method),
        "month_url": f"{ledger}?from={month.isoformat()}&to={last_day.isoformat()}",
    }


def points_panel() -> Panel:
    return Panel(
        key="points",
        template="admin/points/home/points.html",
        context=points_context,
        permission="points.view_pointentry",
        order=65,
    )
