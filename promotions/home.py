"""What promotions puts on the staff home (core.home; issue 15: redemptions and discount given this month
per coupon and per price rule). This month is the JST calendar month. A coupon's uses count the
redemptions made this month that still stand (a use given back by a cancellation does not count, nor does
its discount); a price rule's, the orders it priced this month. Three queries however many uses: the
coupons with the most discount this month (at most TOP_COUPONS rows, since a bulk-created campaign has a
coupon per member), the coupons' totals, and the rules (a shop has a handful)."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import Count, Sum
from django.utils import timezone

from core.home import Panel
from core.periods import JST
from promotions.models import CouponRedemption, PriceRuleUse

TOP_COUPONS = 10


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime.combine(month, time.min, tzinfo=JST), datetime.combine(following, time.min, tzinfo=JST)


def coupon_figures(month: date) -> dict:
    start, end = _month_bounds(month)
    standing = CouponRedemption.objects.filter(
        redeemed_at__gte=start, redeemed_at__lt=end, released_at__isnull=True
    )
    rows = list(
        standing.values("coupon_id", "coupon__code")
        .annotate(uses=Count("id"), discount_yen=Sum("discount_yen"))
        .order_by("-discount_yen", "-uses", "coupon__code")[:TOP_COUPONS]
    )
    totals = standing.aggregate(
        uses=Count("id"), discount_yen=Sum("discount_yen"), coupons=Count("coupon_id", distinct=True)
    )
    return {
        "rows": [
            {
                "id": row["coupon_id"],
                "code": row["coupon__code"],
                "uses": row["uses"],
                "discount_yen": row["discount_yen"] or 0,
            }
            for row in rows
        ],
        "uses": totals["uses"],
        "discount_yen": totals["discount_yen"] or 0,
        "coupons": totals["coupons"],
        "more": max(totals["coupons"] - len(rows), 0),
    }


def price_rule_figures(month: date) -> dict:
    start, end = _month_bounds(month)
    rows = list(
        PriceRuleUse.objects.filter(at__gte=start, at__lt=end)
        .values("rule_id", "rule__name")
        .annotate(uses=Count("id"), discount_yen=Sum("discount_yen"))
        .order_by("-discount_yen", "-uses", "rule__name")
    )
    return {
        "rows": [
            {
                "id": row["rule_id"],
                "name": row["rule__name"],
                "uses": row["uses"],
                "discount_yen": row["discount_yen"] or 0,
            }
            for row in rows
        ],
        "uses": sum(row["uses"] for row in rows),
        "discount_yen": sum(row["discount_yen"] or 0 for row in rows),
    }


def promotions_context(request) -> dict:
    month = timezone.localdate(timezone.now(), JST).replace(day=1)
    return {"month": month, "coupons": coupon_figures(month), "rules": price_rule_figures(month)}


def promotions_panel() -> Panel:
    return Panel(
        key="promotions",
        template="admin/promotions/home/promotions.html",
        context=promotions_context,
        permission="promotions.view_coupon",
        order=67,
    )
