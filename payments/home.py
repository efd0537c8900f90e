"""What payments puts on the staff home (core.home): sales per day for the 30-day chart."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import F, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from core.home import DailySeries
from core.periods import JST, start_of_day
from payments.models import Order


def sales_per_day(first: date, last: date) -> dict[date, int]:
    """Sales in yen by the JST day the order was paid, `first`–`last`: each paid order's total less what has
    been refunded on it so far (whenever refunded), counted on its payment day — one grouped query. Orders
    never paid (pending, cancelled unpaid) count nothing; free orders count 0."""
    rows = (
        Order.objects.filter(
            paid_at__gte=start_of_day(first), paid_at__lt=start_of_day(last + timedelta(days=1))
        )
        .annotate(day=TruncDate("paid_at", tzinfo=JST))
        .values("day")
        .annotate(yen=Sum(F("total_yen") - F("refunded_yen")))
        .order_by()
        .values_list("day", "yen")
    )
    return {day: int(yen or 0) for day, yen in rows}


def sales_series() -> DailySeries:
    return DailySeries(
        key="sales",
        label=_("Sales (yen)"),
        values=sales_per_day,
        permission="payments.view_order",
        axis="yen",
        order=20,
    )
