"""The member's points (マイページ › ポイント履歴, seed 004 member_point_record): the balance, the next
expiries and the history, newest first, paginated. A member sees only their own."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Sum
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from points.models import PointAccount, PointEntry, PointLot, PointSettings

HISTORY_PER_PAGE = 20
NEXT_EXPIRIES = 5  # the dates listed (per record); the rest are summed up as "later"


def next_expiries(member, *, method: str, account: PointAccount | None) -> dict:
    """Per record: the next dates and how many points are valid through each (the lots with points left,
    summed per date: one query), plus the points without a date. Whole balance: the one date of the whole
    balance."""
    if method == PointSettings.ExpiryMethod.WHOLE_BALANCE:
        return {"whole": True, "date": account.expires_on if account and account.balance else None}
    rows = list(
        PointLot.objects.filter(member=member, remaining__gt=0)
        .values("expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("expires_on")
    )
    dated = [(row["expires_on"], row["points"]) for row in rows if row["expires_on"] is not None]
    undated = sum(row["points"] for row in rows if row["expires_on"] is None)
    return {
        "whole": False,
        "dates": dated[:NEXT_EXPIRIES],
        "later": sum(points for _day, points in dated[NEXT_EXPIRIES:]),
        "undated": undated,
    }


@login_required
@require_http_methods(["GET"])
def history(request):
    member = request.user
    account = PointAccount.objects.filter(member=member).first()
    method = PointSettings.current().expiry_method
    entries = PointEntry.objects.filter(member=member).order_by("-created_at", "-id")
    page = Paginator(entries, HISTORY_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "site/points/history.html",
        {
            "balance": account.balance if account else 0,
            "expiries": next_expiries(member, method=method, account=account),
            "entries": page.object_list,
            "page": page,
        },
    )
