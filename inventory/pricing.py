"""Price calculation for bookable items (SPEC §4, seed 003 料金計算タイプ): pure functions, integer yen.

Two calculation types live here; "none" (料金計算しない) needs no code, every booking is 0 yen.

* Per time unit (一定時間毎に料金を加算): :func:`cheapest_units` / :func:`cheapest_units_price` find the
  cheapest multiset of units whose lengths add up to at least the booked length.
* Per weekday (曜日毎に料金設定): an ordered list of :class:`WeekdayRule`; for each day the first rule
  that matches wins, no match means 0 yen, and a multi-day booking is the sum of its days
  (:func:`weekday_price_for_day`, :func:`weekday_price`). :func:`weekday_rule_warnings` finds the two
  misconfigurations seed 003 warns about: rules that can never match, and day types / seasons that no
  rule covers (they silently cost 0 yen).

This module does not touch the database or the models: callers convert their rows into the dataclasses
below. Dates passed in must already be local (JST) calendar dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache, reduce
from itertools import pairwise
from math import gcd
from typing import Literal

import holidays
from django.utils.translation import get_language, gettext, gettext_lazy, ngettext

# ---------------------------------------------------------------------------------------------------------
# Per time unit (一定時間毎に料金を加算)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitsQuote:
    """The cheapest combination of time units for a booking of `minutes`.

    `counts` holds (unit length in minutes, unit price in yen, how many), longest unit first, only units
    that are used. Among equally cheap combinations the one that overshoots the booked length least is
    chosen, then the one with fewer units: 2 hours with {1h: 1,000, 3h: 2,000} is 1,000 × 2, as the seed
    explains it, not one 3-hour unit at the same price.
    """

    minutes: int
    total_yen: int
    counts: tuple[tuple[int, int, int], ...]

    @property
    def covered_minutes(self) -> int:
        """Total length of the chosen units (>= `minutes`)."""
        return sum(length * count for length, _price, count in self.counts)


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return value


def _validated_units(units: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Units checked, deduplicated by length (the cheapest price wins), longest first."""
    if not units:
        raise ValueError("at least one time unit (length in minutes, price in yen) is required")
    cheapest: dict[int, int] = {}
    for position, unit in enumerate(units, start=1):
        length, price = unit
        _require_int(f"unit {position} length", length)
        _require_int(f"unit {position} price", price)
        if length <= 0:
            raise ValueError(f"unit {position}: length must be a positive number of minutes, got {length}")
        if price < 0:
            raise ValueError(f"unit {position}: price must not be negative, got {price} yen")
        cheapest[length] = min(price, cheapest.get(length, price))
    return sorted(cheapest.items(), reverse=True)


def cheapest_units(minutes: int, units: Sequence[tuple[int, int]]) -> UnitsQuote:
    """The cheapest multiset of `units` (length in minutes, price in yen) covering at least `minutes`.

    Unbounded-knapsack DP over lengths divided by their gcd g: best[a] is the best way to cover at least
    a·g minutes, best[a] = min over units u of price(u) + best[max(0, a - len(u))]. Each entry is
    compared as (yen, minutes covered, number of units), which are all additive, so the DP stays exact
    for the tie-breaks too. O((minutes / g) · len(units)): a week in 15-minute units is 672 × len(units).
    """
    _require_int("minutes", minutes)
    if minutes < 0:
        raise ValueError(f"minutes must not be negative, got {minutes}")
    checked = _validated_units(units)
    if minutes == 0:
        return UnitsQuote(minutes=0, total_yen=0, counts=())

    step = reduce(gcd, (length for length, _ in checked))
    reduced = [(length // step, price) for length, price in checked]
    target = -(-minutes // step)  # ceil: covering a partial step needs the whole step

    # best[a] = (yen, covered steps, units used); choice[a] = index into `reduced` of the first unit.
    best: list[tuple[int, int, int]] = [(0, 0, 0)] * (target + 1)
    choice = [-1] * (target + 1)
    for a in range(1, target + 1):
        winner = (-1, 0, 0)
        winner_index = -1
        for index, (length, price) in enumerate(reduced):
            rest = best[a - length] if a > length else best[0]
            candidate = (rest[0] + price, rest[1] + length, rest[2] + 1)
            if winner_index < 0 or candidate < winner:
                winner, winner_index = candidate, index
        best[a] = winner
        choice[a] = winner_index

    used = [0] * len(reduced)
    a = target
    while a > 0:
        index = choice[a]
        used[index] += 1
        a = max(0, a - reduced[index][0])
    counts = tuple(
        (length, price, count) for (length, price), count in zip(checked, used, strict=True) if count
    )
    return UnitsQuote(minutes=minutes, total_yen=best[target][0], counts=counts)


def cheapest_units_price(minutes: int, units: Sequence[tuple[int, int]]) -> int:
    """Yen for a booking of `minutes` priced per time unit; see :func:`cheapest_units`.

    With units {60: 1,000, 180: 2,000}: 120 → 2,000, 240 → 3,000, 360 → 4,000.
    """
    return cheapest_units(minutes, units).total_yen


# ---------------------------------------------------------------------------------------------------------
# Japanese national holidays (祝)
# ---------------------------------------------------------------------------------------------------------

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
HOLIDAY = 7
"""祝: the day type of a Japanese national holiday (incl. 振替休日 and 国民の休日). 0–6 = date.weekday()."""

WEEKDAYS = frozenset(range(7))
DAY_TYPES = frozenset(range(8))
"""Every day type, in display order 月火水木金土日祝 when sorted."""

DAY_TYPE_LABELS = {
    MONDAY: gettext_lazy("Mon"),
    TUESDAY: gettext_lazy("Tue"),
    WEDNESDAY: gettext_lazy("Wed"),
    THURSDAY: gettext_lazy("Thu"),
    FRIDAY: gettext_lazy("Fri"),
    SATURDAY: gettext_lazy("Sat"),
    SUNDAY: gettext_lazy("Sun"),
    HOLIDAY: gettext_lazy("Holiday"),
}


@lru_cache(maxsize=64)
def _japanese_holidays(year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("JP", years=year, language="ja").items())


def japanese_holiday_name(d: date) -> str | None:
    """The Japanese name of the national holiday on `d` (e.g. 文化の日, 振替休日), or None."""
    return _japanese_holidays(d.year).get(d)


def is_japanese_holiday(d: date) -> bool:
    """Whether `d` is a Japanese national holiday, substitute holidays (振替休日) included."""
    return japanese_holiday_name(d) is not None


def day_type(d: date) -> int:
    """The day type rules are matched against: HOLIDAY (7) on a national holiday, else d.weekday().

    A holiday is a 祝 day *instead of* its weekday. Seed 003 reasons this way in both of its examples:
    in the first, unchecking 土日祝 from an all-week 平日料金 rule (leaving 月〜金) is given as enough for
    土日祝 to get the 土日料金 rule below it, which only holds if a Monday holiday no longer matches 月;
    in the second, with a 月〜金 rule in place, 通常時の「土日祝」 are said to cost 0 yen, which only holds
    if a weekday holiday does not match 月〜金. So a rule for 月〜金 does not price a Monday holiday, and a
    rule for 土日 without 祝 does not price a holiday that falls on a Sunday: check 祝 as well.
    :func:`weekday_rule_warnings` reports 祝 as falling through when no rule has it.
    """
    if isinstance(d, datetime):
        raise TypeError("pass a local (JST) calendar date, not a datetime")
    return HOLIDAY if is_japanese_holiday(d) else d.weekday()


def _day_types_text(types: Iterable[int]) -> str:
    separator = "・" if (get_language() or "").startswith("ja") else ", "
    return separator.join(str(DAY_TYPE_LABELS[t]) for t in sorted(types))


# ---------------------------------------------------------------------------------------------------------
# Per weekday (曜日毎に料金設定)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Season:
    """A named date range from the general settings, both days included.

    e.g. ハイシーズン 2025-07-01|2025-08-31.
    """

    name: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"season {self.name!r}: last day {self.end} is before first day {self.start}")

    def __contains__(self, d: object) -> bool:
        return isinstance(d, date) and self.start <= d <= self.end

    def __str__(self) -> str:
        return f"{self.name} ({self.start.isoformat()}|{self.end.isoformat()})"


@dataclass(frozen=True)
class WeekdayRule:
    """One row of 曜日毎に料金設定: day types (0–6 Mon–Sun, 7 祝), a label, a price, an optional season."""

    weekdays: frozenset[int]
    label: str
    price_yen: int
    season: Season | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        unknown = sorted(t for t in self.weekdays if t not in DAY_TYPES)
        if unknown:
            raise ValueError(f"rule {self.label!r}: day types must be 0–6 (Mon–Sun) or 7 (祝), got {unknown}")
        _require_int(f"rule {self.label!r} price", self.price_yen)
        if self.price_yen < 0:
            raise ValueError(f"rule {self.label!r}: price must not be negative, got {self.price_yen} yen")

    def matches(self, d: date) -> bool:
        """Whether this rule applies to `d` (its day type is checked and `d` is in the season, if any)."""
        return day_type(d) in self.weekdays and (self.season is None or d in self.season)


@dataclass(frozen=True)
class DayPrice:
    """The price of one day: which rule (0-based index, None when no rule matched) gave it."""

    date: date
    price_yen: int
    rule_index: int | None
    label: str | None
    day_type: int

    @property
    def rule_number(self) -> int | None:
        """The rule's number as staff see it (1-based)."""
        return None if self.rule_index is None else self.rule_index + 1

    @property
    def holiday_name(self) -> str | None:
        return japanese_holiday_name(self.date)


@dataclass(frozen=True)
class WeekdayQuote:
    start_day: date
    end_day: date
    total_yen: int
    days: tuple[DayPrice, ...]

    @property
    def unmatched_days(self) -> tuple[DayPrice, ...]:
        """Days no rule matched (priced at 0 yen)."""
        return tuple(day for day in self.days if day.rule_index is None)


def weekday_price_for_day(d: date, rules: Sequence[WeekdayRule]) -> DayPrice:
    """The first rule, top to bottom, whose day types include `d`'s and whose season (if any) contains `d`.

    No match → 0 yen with rule_index None (seed 003 仕様3). Holidays: see :func:`day_type`.
    """
    kind = day_type(d)
    for index, rule in enumerate(rules):
        if kind in rule.weekdays and (rule.season is None or d in rule.season):
            return DayPrice(
                date=d, price_yen=rule.price_yen, rule_index=index, label=rule.label, day_type=kind
            )
    return DayPrice(date=d, price_yen=0, rule_index=None, label=None, day_type=kind)


def weekday_price(start_day: date, end_day: date, rules: Sequence[WeekdayRule]) -> WeekdayQuote:
    """Sum of the day prices from `start_day` to `end_day`, both included (07-19 → 07-21 is 3 days)."""
    for name, value in (("start_day", start_day), ("end_day", end_day)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a local (JST) calendar date, got {value!r}")
    if end_day < start_day:
        raise ValueError(f"end_day {end_day} is before start_day {start_day}")
    days = tuple(
        weekday_price_for_day(start_day + timedelta(days=offset), rules)
        for offset in range((end_day - start_day).days + 1)
    )
    return WeekdayQuote(
        start_day=start_day, end_day=end_day, total_yen=sum(day.price_yen for day in days), days=days
    )


# ---------------------------------------------------------------------------------------------------------
# Misconfiguration warnings (seed 003: 間違えやすい設定例)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleWarning:
    """A rule that can never apply ("shadowed") or days no rule prices ("falls_through").

    shadowed: `rule_index` (0-based) is the rule, `weekdays` its day types, `seasons` its season (if
    any), `shadowed_by` the 0-based indices of the earlier rules that win instead (empty when the rule
    matches no day at all, e.g. nothing checked or 祝 only in a season without holidays).
    falls_through: `rule_index` is None, `weekdays` the uncovered day types, `seasons` where: () outside
    any season, (S,) in season S, several where those seasons overlap.
    `message` is translated into the active language each time it is read.
    """

    kind: Literal["shadowed", "falls_through"]
    rule_index: int | None
    weekdays: frozenset[int]
    seasons: tuple[Season, ...] = ()
    shadowed_by: tuple[int, ...] = ()
    label: str = ""

    @property
    def rule_number(self) -> int | None:
        return None if self.rule_index is None else self.rule_index + 1

    @property
    def season_names(self) -> tuple[str, ...]:
        return tuple(season.name for season in self.seasons)

    @property
    def message(self) -> str:
        days = _day_types_text(self.weekdays)
        if self.kind == "shadowed":
            number = (self.rule_index or 0) + 1
            if not self.shadowed_by:
                return gettext(
                    "Rule %(number)d (%(label)s) can never apply: it matches no day (no weekday is "
                    "checked, or its season contains none of its days)."
                ) % {"number": number, "label": self.label}
            earlier = ", ".join(str(index + 1) for index in self.shadowed_by)
            return ngettext(
                "Rule %(number)d (%(label)s) can never apply: rule %(earlier)s above it already matches "
                "every day it covers (%(days)s). Move it up, or uncheck those days in the earlier rule.",
                "Rule %(number)d (%(label)s) can never apply: rules %(earlier)s above it already match "
                "every day it covers (%(days)s). Move it up, or uncheck those days in the earlier rules.",
                len(self.shadowed_by),
            ) % {"number": number, "label": self.label, "earlier": earlier, "days": days}
        if not self.seasons:
            return gettext(
                "Outside any season, %(days)s match no rule and cost 0 yen. Add a rule for them "
                "(a 0 yen rule is fine if that is intended)."
            ) % {"days": days}
        if len(self.seasons) == 1:
            return gettext(
                "In season %(season)s, %(days)s match no rule and cost 0 yen. Add a rule for them "
                "(a 0 yen rule is fine if that is intended)."
            ) % {"season": self.seasons[0], "days": days}
        return gettext(
            "Where seasons %(seasons)s overlap, %(days)s match no rule and cost 0 yen. Add a rule for "
            "them (a 0 yen rule is fine if that is intended)."
        ) % {"seasons": ", ".join(str(season) for season in self.seasons), "days": days}

    def __str__(self) -> str:
        return self.message


_FULL_YEAR = 366  # any 366 consecutive days contain every weekday as a non-holiday and some holidays


def _day_types_between(first: date, last: date) -> frozenset[int]:
    """The day types that occur from `first` to `last` inclusive."""
    if (last - first).days + 1 >= _FULL_YEAR:
        return DAY_TYPES
    found: set[int] = set()
    d = first
    while d <= last and len(found) < len(DAY_TYPES):
        found.add(day_type(d))
        d += timedelta(days=1)
    return frozenset(found)


def _situations(seasons: Sequence[Season]) -> dict[frozenset[Season], frozenset[int]]:
    """Season memberships a day can have, each with the day types that really occur there.

    frozenset() is "outside any season": seasons are finite, so every day type occurs outside them.
    The others come from cutting the calendar at every season boundary, so overlapping seasons give
    their own membership (both seasons at once) and a short season only the day types it contains.
    """
    found: dict[frozenset[Season], set[int]] = {frozenset(): set(DAY_TYPES)}
    cuts = sorted({s.start for s in seasons} | {s.end + timedelta(days=1) for s in seasons})
    for first, after in pairwise(cuts):
        members = frozenset(s for s in seasons if first in s)
        if members:
            found.setdefault(members, set()).update(_day_types_between(first, after - timedelta(days=1)))
    return {members: frozenset(types) for members, types in found.items()}


def _rule_matches(rule: WeekdayRule, kind: int, members: frozenset[Season]) -> bool:
    return kind in rule.weekdays and (rule.season is None or rule.season in members)


def weekday_rule_warnings(rules: Sequence[WeekdayRule], seasons: Sequence[Season] = ()) -> list[RuleWarning]:
    """Rules that can never apply, then day types / seasons that fall through to 0 yen.

    A day is characterised by its day type (月–日, or 祝 on a holiday, see :func:`day_type`) and the set
    of seasons it lies in; every such situation that can occur is checked, so the result is exact for
    the given seasons (pass the shop's seasons; seasons used by rules are added if missing).

    * shadowed: every situation rule i matches is matched by an earlier rule (seed 003 example 1: an
      all-week rule above a 土日祝 rule), or it matches none.
    * falls_through: one warning per season membership (outside any season first, then by date) listing
      the day types no rule matches, in the order 月火水木金土日祝 (seed 003 example 2: only ハイシーズン
      rules for 土日祝 leaves ordinary weekends and holidays at 0 yen).
    """
    all_seasons = list(dict.fromkeys([*seasons, *(r.season for r in rules if r.season is not None)]))
    situations = _situations(all_seasons)
    warnings: list[RuleWarning] = []

    for index, rule in enumerate(rules):
        winners: set[int] = set()
        shadowed = True
        for members, kinds in situations.items():
            for kind in kinds:
                if not _rule_matches(rule, kind, members):
                    continue
                winner = next((j for j in range(index) if _rule_matches(rules[j], kind, members)), None)
                if winner is None:
                    shadowed = False
                    break
                winners.add(winner)
            if not shadowed:
                break
        if shadowed:
            warnings.append(
                RuleWarning(
                    kind="shadowed",
                    rule_index=index,
                    weekdays=rule.weekdays,
                    seasons=(rule.season,) if rule.season is not None else (),
                    shadowed_by=tuple(sorted(winners)),
                    label=rule.label,
                )
            )

    def where(members: frozenset[Season]) -> tuple:
        ordered = sorted(members, key=lambda s: (s.start, s.end, s.name))
        return (len(ordered) > 0, [(s.start, s.end, s.name) for s in ordered])

    for members in sorted(situations, key=where):
        uncovered = frozenset(
            kind for kind in situations[members] if not any(_rule_matches(r, kind, members) for r in rules)
        )
        if uncovered:
            warnings.append(
                RuleWarning(
                    kind="falls_through",
                    rule_index=None,
                    weekdays=uncovered,
                    seasons=tuple(sorted(members, key=lambda s: (s.start, s.end, s.name))),
                )
            )
    return warnings
