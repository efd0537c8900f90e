"""Prices of bookings from an item's price settings, with an explanation staff and members can read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.db.models import Prefetch, prefetch_related_objects
from django.utils.translation import gettext

from inventory.availability import local
from inventory.models import Item, Season, WeekdayPriceRule
from inventory.pricing import Season as PricingSeason
from inventory.pricing import WeekdayRule, cheapest_units, weekday_price, weekday_rule_warnings


@dataclass
class Quote:
    unit_price_yen: int
    quantity: int
    total_yen: int
    price_type: str
    lines: list[str] = field(default_factory=list)
    # The booked start (for the price rules of the order the booking makes); not part of the breakdown.
    starts_at: datetime | None = None

    def as_breakdown(self) -> dict:
        breakdown = asdict(self)
        del breakdown["starts_at"]
        return breakdown


def prefetch_prices(item: Item) -> None:
    """Read the item's price settings once (one query) for the quotes of one request: the booking page
    prices the booking, and the booking service prices it again with the same item object."""
    if item.price_type == Item.PriceType.PER_UNIT:
        prefetch_related_objects([item], "price_units")
    elif item.price_type == Item.PriceType.PER_WEEKDAY:
        prefetch_related_objects(
            [item], Prefetch("weekday_rules", queryset=WeekdayPriceRule.objects.select_related("season"))
        )


def pricing_rules(item: Item, rules: list[WeekdayPriceRule] | None = None) -> list[WeekdayRule]:
    if rules is None and "weekday_rules" in getattr(item, "_prefetched_objects_cache", {}):
        rules = list(item.weekday_rules.all())
    rows = rules if rules is not None else list(item.weekday_rules.select_related("season"))
    return [
        WeekdayRule(
            weekdays=frozenset(rule.weekdays),
            label=rule.label,
            price_yen=rule.price_yen,
            season=pricing_season(rule.season) if rule.season else None,
        )
        for rule in rows
    ]


def pricing_season(season: Season) -> PricingSeason:
    return PricingSeason(name=season.name, start=season.start_date, end=season.end_date)


def quote_booking(item: Item, starts_at: datetime, ends_at: datetime, quantity: int = 1) -> Quote:
    """The price of booking `quantity` units of `item` from `starts_at` to `ends_at`."""
    if item.price_type == Item.PriceType.PER_UNIT:
        minutes = int((ends_at - starts_at).total_seconds() // 60)
        units = [(u.minutes, u.price_yen) for u in item.price_units.all()]
        if not units:
            return Quote(
                0, quantity, 0, item.price_type, [gettext("No time unit prices are set: 0 yen.")], starts_at
            )
        result = cheapest_units(minutes, units)
        lines = [
            gettext("{minutes} min × {count}: ¥{price:,} each").format(minutes=m, count=c, price=p)
            for m, p, c in result.counts
        ]
        unit_price = result.total_yen
    elif item.price_type == Item.PriceType.PER_WEEKDAY:
        first = local(starts_at).date()
        last = (local(ends_at) - timedelta(microseconds=1)).date()
        result = weekday_price(first, last, pricing_rules(item))
        lines = [
            f"{day.date:%Y-%m-%d} {day.label or gettext('no matching rule')}: ¥{day.price_yen:,}"
            for day in result.days
        ]
        unit_price = result.total_yen
    else:
        return Quote(0, quantity, 0, item.price_type, [gettext("This item is free of charge.")], starts_at)
    if quantity > 1:
        lines.append(gettext("× {quantity} units").format(quantity=quantity))
    return Quote(unit_price, quantity, unit_price * quantity, item.price_type, lines, starts_at)


def item_price_warnings(item: Item) -> list[str]:
    """What would make this item's prices surprising: seed 003's two weekday-rule mistakes (a rule that
    can never apply; days that fall through to 0 yen), or a per-unit item with no units."""
    if item.pk is None:
        return []
    if item.price_type == Item.PriceType.PER_WEEKDAY:
        seasons = [pricing_season(season) for season in Season.objects.all()]
        return [warning.message for warning in weekday_rule_warnings(pricing_rules(item), seasons)]
    if item.price_type == Item.PriceType.PER_UNIT and not item.price_units.exists():
        return [gettext("No time unit prices are set: every booking of this item costs 0 yen.")]
    return []
