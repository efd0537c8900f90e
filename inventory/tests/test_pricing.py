"""inventory.pricing: per-time-unit and per-weekday prices, and the rule warnings (SPEC §4, seed 003)."""

from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest
from django.utils import translation

from inventory.pricing import (
    DAY_TYPES,
    FRIDAY,
    HOLIDAY,
    MONDAY,
    SATURDAY,
    SUNDAY,
    THURSDAY,
    TUESDAY,
    WEDNESDAY,
    Season,
    WeekdayRule,
    cheapest_units,
    cheapest_units_price,
    day_type,
    is_japanese_holiday,
    japanese_holiday_name,
    weekday_price,
    weekday_price_for_day,
    weekday_rule_warnings,
)

SPEC_UNITS = [(60, 1000), (180, 2000)]  # 1 hour: 1,000 yen, 3 hours: 2,000 yen
WEEK_UNITS = [(15, 300), (60, 1000), (180, 2000), (1440, 8000)]

MON_FRI = frozenset({MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY})
SAT_SUN_HOLIDAY = frozenset({SATURDAY, SUNDAY, HOLIDAY})
HIGH_SEASON = Season("ハイシーズン", date(2025, 7, 1), date(2025, 8, 31))  # 一般設定: 2025-07-01|2025-08-31


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- seed 003's rule sets -------------------------------------------------------------------------------

# 間違えやすい設定例 1: an all-week rule above the weekend rule.
SEED_EXAMPLE_1 = [
    WeekdayRule(DAY_TYPES, "平日料金", 3000),
    WeekdayRule(SAT_SUN_HOLIDAY, "土日料金", 4000),
]
# 解決方法1: uncheck 土日祝 in rule 1.
SEED_EXAMPLE_1_FIX_1 = [
    WeekdayRule(MON_FRI, "平日料金", 3000),
    WeekdayRule(SAT_SUN_HOLIDAY, "土日料金", 4000),
]
# 解決方法2: swap rules 1 and 2.
SEED_EXAMPLE_1_FIX_2 = [SEED_EXAMPLE_1[1], SEED_EXAMPLE_1[0]]

# 間違えやすい設定例 2: season-only weekend rules leave ordinary 土日祝 at 0 yen.
SEED_EXAMPLE_2 = [
    WeekdayRule(SAT_SUN_HOLIDAY, "ハイシーズン土日料金", 4000, HIGH_SEASON),
    WeekdayRule(DAY_TYPES, "ハイシーズン平日料金", 3000, HIGH_SEASON),
    WeekdayRule(MON_FRI, "平日料金", 2000),
]
# 解決方法1: add a 土日祝 rule between rules 2 and 3.
SEED_EXAMPLE_2_FIX_1 = [
    *SEED_EXAMPLE_2[:2],
    WeekdayRule(SAT_SUN_HOLIDAY, "土日料金", 2500),
    SEED_EXAMPLE_2[2],
]
# 解決方法2: rule 3 for every day, labelled 通常料金.
SEED_EXAMPLE_2_FIX_2 = [*SEED_EXAMPLE_2[:2], WeekdayRule(DAY_TYPES, "通常料金", 2000)]


# --- per time unit -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected_yen"),
    [
        (120, 2000),  # SPEC: 10:00–12:00 → 1,000 × 2
        (240, 3000),  # SPEC: 10:00–14:00 → 2,000 + 1,000
        (360, 4000),  # SPEC: 10:00–16:00 → 2,000 × 2
        (0, 0),
        (1, 1000),
        (60, 1000),
        (61, 2000),
        (180, 2000),
        (181, 3000),
    ],
)
def test_cheapest_units_price_spec_examples_and_edges(minutes, expected_yen):
    # given the spec's units {1h: 1,000, 3h: 2,000}
    # when
    price = cheapest_units_price(minutes, SPEC_UNITS)
    # then
    assert price == expected_yen


@pytest.mark.parametrize(
    ("minutes", "expected_counts"),
    [
        (120, ((60, 1000, 2),)),  # the seed explains it as 1,000 × 2, not one 3-hour unit at the same price
        (240, ((180, 2000, 1), (60, 1000, 1))),
        (360, ((180, 2000, 2),)),
        (0, ()),
    ],
)
def test_cheapest_units_explains_the_combination_longest_first(minutes, expected_counts):
    # given the spec's units
    # when
    quote = cheapest_units(minutes, SPEC_UNITS)
    # then
    assert quote.counts == expected_counts
    assert quote.total_yen == sum(price * count for _, price, count in quote.counts)
    assert quote.covered_minutes >= minutes
    assert quote.minutes == minutes


@pytest.mark.parametrize(
    ("minutes", "units", "expected_yen", "expected_counts"),
    [
        # a booking of a partial step is rounded up to whole units: 70 min → 60 + 15
        (70, [(15, 300), (60, 1000)], 1300, ((60, 1000, 1), (15, 300, 1))),
        # equal price: the unit that overshoots least is shown
        (60, [(60, 1000), (120, 1000)], 1000, ((60, 1000, 1),)),
        (61, [(60, 1000), (120, 1000)], 1000, ((120, 1000, 1),)),
        # a longer unit that is cheaper than a shorter one wins even for a short booking
        (30, [(30, 900), (60, 500)], 500, ((60, 500, 1),)),
        # the same length twice: the cheaper price counts
        (120, [(60, 1000), (60, 800)], 1600, ((60, 800, 2),)),
        # a free unit makes everything free
        (500, [(60, 0), (180, 2000)], 0, ((60, 0, 9),)),
        # lengths without a common divisor > 1
        (100, [(7, 60), (30, 250)], 850, ((30, 250, 1), (7, 60, 10))),
    ],
)
def test_cheapest_units_other_unit_sets(minutes, units, expected_yen, expected_counts):
    # given the units
    # when
    quote = cheapest_units(minutes, units)
    # then
    assert quote.total_yen == expected_yen
    assert quote.counts == expected_counts


def _brute_force_price(minutes: int, units: list[tuple[int, int]]) -> int:
    ranges = [range(-(-minutes // length) + 1) for length, _ in units]
    return min(
        sum(price * count for (_, price), count in zip(units, counts, strict=True))
        for counts in itertools.product(*ranges)
        if sum(length * count for (length, _), count in zip(units, counts, strict=True)) >= minutes
    )


@pytest.mark.parametrize(
    "units",
    [
        SPEC_UNITS,
        [(30, 600), (45, 800), (120, 1900)],
        [(20, 500), (50, 1100), (90, 1800)],
        [(25, 100), (40, 170), (100, 390)],
        [(15, 300), (60, 1000), (180, 2000)],
    ],
)
def test_cheapest_units_matches_brute_force(units):
    # given every booking length from 0 to 4 hours
    for minutes in range(0, 241, 5):
        # when
        quote = cheapest_units(minutes, units)
        # then
        assert quote.total_yen == _brute_force_price(minutes, units), minutes
        assert quote.total_yen == sum(price * count for _, price, count in quote.counts)
        assert quote.covered_minutes >= minutes


@pytest.mark.parametrize(
    ("days", "units", "expected_yen", "expected_counts"),
    [
        # a week in 15-minute units: seven day units are cheapest
        (7, WEEK_UNITS, 7 * 8000, ((1440, 8000, 7),)),
        # a day unit dearer than 8 × 3 hours: the 3-hour unit is used all week
        (7, [(15, 300), (60, 1000), (180, 2000), (1440, 20000)], 7 * 8 * 2000, ((180, 2000, 56),)),
        (30, WEEK_UNITS, 30 * 8000, ((1440, 8000, 30),)),
    ],
)
def test_long_bookings(days, units, expected_yen, expected_counts):
    # given a booking of several whole days
    minutes = days * 24 * 60
    # when
    quote = cheapest_units(minutes, units)
    # then
    assert quote.total_yen == expected_yen
    assert quote.counts == expected_counts


def test_long_booking_with_a_remainder():
    # given a week plus 50 minutes in 15-minute units
    minutes = 7 * 1440 + 50
    # when
    quote = cheapest_units(minutes, WEEK_UNITS)
    # then 7 days, then 50 minutes: one hour (1,000) beats four quarter hours (1,200)
    assert quote.total_yen == 7 * 8000 + 1000
    assert quote.counts == ((1440, 8000, 7), (60, 1000, 1))


@pytest.mark.parametrize(
    ("minutes", "units", "message"),
    [
        (60, [], "at least one time unit"),
        (60, [(0, 1000)], "length must be a positive"),
        (60, [(60, 1000), (-30, 500)], "unit 2: length must be a positive"),
        (60, [(60, -1)], "price must not be negative"),
        (-1, SPEC_UNITS, "minutes must not be negative"),
        (0, [], "at least one time unit"),
    ],
)
def test_cheapest_units_rejects_bad_input(minutes, units, message):
    # given bad input
    # when / then
    with pytest.raises(ValueError, match=message):
        cheapest_units_price(minutes, units)


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(60.0, SPEC_UNITS), (60, [(60.5, 1000)]), (60, [(60, 999.9)])],
)
def test_cheapest_units_rejects_floats(minutes, units):
    # given a float where integer minutes or yen are expected
    # when / then
    with pytest.raises(TypeError, match="must be an int"):
        cheapest_units(minutes, units)


# --- Japanese holidays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected_name"),
    [
        ("2026-11-03", "文化の日"),  # Tuesday
        ("2026-11-23", "勤労感謝の日"),  # Monday
        ("2026-05-03", "憲法記念日"),  # Sunday
        ("2026-05-06", "振替休日"),  # Wednesday, substitute for 5/3
        ("2026-09-22", "国民の休日"),  # Tuesday between two holidays
        ("2025-07-21", "海の日"),  # Monday, inside the high season
        ("2026-11-04", None),
        ("2026-11-24", None),
        ("2026-05-07", None),
    ],
)
def test_japanese_holidays(day, expected_name):
    # given a date
    # when
    name = japanese_holiday_name(d(day))
    # then
    assert name == expected_name
    assert is_japanese_holiday(d(day)) is (expected_name is not None)
    assert day_type(d(day)) == (HOLIDAY if expected_name else d(day).weekday())


def test_day_type_refuses_a_datetime():
    # given a datetime (whose date depends on its time zone)
    moment = datetime(2026, 11, 3, 10, 0)  # noqa: DTZ001 - the point is that it is refused
    # when / then
    with pytest.raises(TypeError, match="calendar date"):
        day_type(moment)


# --- per weekday: one day ------------------------------------------------------------------------------

WEEKDAY_AND_WEEKEND = [
    WeekdayRule(MON_FRI, "平日料金", 2000),
    WeekdayRule(SAT_SUN_HOLIDAY, "土日祝料金", 2500),
]


@pytest.mark.parametrize(
    ("day", "expected_yen", "expected_rule_index"),
    [
        ("2026-11-02", 2000, 0),  # Monday
        ("2026-11-03", 2500, 1),  # 文化の日, a Tuesday: priced as 祝, not as Tuesday
        ("2026-11-23", 2500, 1),  # 勤労感謝の日, a Monday
        ("2026-11-24", 2000, 0),  # the Tuesday after
        ("2026-05-06", 2500, 1),  # 振替休日, a Wednesday
        ("2026-06-06", 2500, 1),  # Saturday
        ("2026-05-03", 2500, 1),  # 憲法記念日, a Sunday
    ],
)
def test_weekday_price_for_day_weekdays_and_holidays(day, expected_yen, expected_rule_index):
    # given 月〜金 and 土日祝 rules
    # when
    result = weekday_price_for_day(d(day), WEEKDAY_AND_WEEKEND)
    # then
    assert result.price_yen == expected_yen
    assert result.rule_index == expected_rule_index
    assert result.rule_number == expected_rule_index + 1
    assert result.label == WEEKDAY_AND_WEEKEND[expected_rule_index].label
    assert result.date == d(day)


@pytest.mark.parametrize(
    ("rules", "day", "expected_yen"),
    [
        # a holiday is 祝 instead of its weekday: a 月〜金 rule does not price a Monday holiday
        ([WeekdayRule(MON_FRI, "平日料金", 2000)], "2026-11-23", 0),
        # nor does a 土日 rule without 祝 price a holiday that falls on a Sunday
        ([WeekdayRule({SATURDAY, SUNDAY}, "土日料金", 2500)], "2026-05-03", 0),
        ([WeekdayRule({SATURDAY, SUNDAY}, "土日料金", 2500)], "2026-06-07", 2500),
        # a rule with 祝 prices holidays on any weekday
        ([WeekdayRule({HOLIDAY}, "祝日料金", 3000)], "2026-11-03", 3000),
        ([WeekdayRule({HOLIDAY}, "祝日料金", 3000)], "2026-11-04", 0),
    ],
)
def test_holiday_matches_rules_with_holiday_only(rules, day, expected_yen):
    # given the rules
    # when
    result = weekday_price_for_day(d(day), rules)
    # then
    assert result.price_yen == expected_yen
    assert (result.rule_index is None) is (expected_yen == 0)


@pytest.mark.parametrize(
    ("day", "expected_yen", "expected_label"),
    [
        ("2025-06-30", 2000, "通常料金"),  # Monday, the day before the season
        ("2025-07-01", 3000, "ハイシーズン平日料金"),  # Tuesday, first day of the season
        ("2025-07-19", 4000, "ハイシーズン土日料金"),  # Saturday in the season
        ("2025-07-21", 4000, "ハイシーズン土日料金"),  # 海の日 in the season
        ("2025-08-31", 4000, "ハイシーズン土日料金"),  # Sunday, last day of the season
        ("2025-09-01", 2000, "通常料金"),  # Monday, the day after the season
        ("2025-09-06", 2000, "通常料金"),  # Saturday after the season
    ],
)
def test_season_boundaries_are_inclusive(day, expected_yen, expected_label):
    # given seed 003's second example, fixed with 解決方法2
    # when
    result = weekday_price_for_day(d(day), SEED_EXAMPLE_2_FIX_2)
    # then
    assert (result.price_yen, result.label) == (expected_yen, expected_label)


@pytest.mark.parametrize(
    ("rules", "expected_yen", "expected_label"),
    [
        ([WeekdayRule(DAY_TYPES, "A", 1000), WeekdayRule({SATURDAY}, "B", 5000)], 1000, "A"),
        ([WeekdayRule({SATURDAY}, "B", 5000), WeekdayRule(DAY_TYPES, "A", 1000)], 5000, "B"),
        ([WeekdayRule({SUNDAY}, "C", 9000), WeekdayRule({SATURDAY}, "B", 5000)], 5000, "B"),
        ([], 0, None),
    ],
)
def test_first_matching_rule_wins(rules, expected_yen, expected_label):
    # given rules in this order and a Saturday
    saturday = d("2026-06-06")
    # when
    result = weekday_price_for_day(saturday, rules)
    # then
    assert (result.price_yen, result.label) == (expected_yen, expected_label)


# --- per weekday: several days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected_prices"),
    [
        ("2025-07-19", "2025-07-21", [4000, 4000, 4000]),  # Sat, Sun, 海の日: 3 days, both ends included
        ("2025-08-30", "2025-09-01", [4000, 4000, 2000]),  # across the end of the season
        ("2025-06-29", "2025-07-01", [2000, 2000, 3000]),  # across the start of the season
        ("2025-07-16", "2025-07-16", [3000]),  # a single day
    ],
)
def test_weekday_price_sums_each_day(start, end, expected_prices):
    # given seed 003's second example, fixed with 解決方法2
    # when
    quote = weekday_price(d(start), d(end), SEED_EXAMPLE_2_FIX_2)
    # then
    assert [day.price_yen for day in quote.days] == expected_prices
    assert quote.total_yen == sum(expected_prices)
    assert (quote.days[0].date, quote.days[-1].date) == (d(start), d(end))
    assert quote.unmatched_days == ()


def test_weekday_price_reports_days_no_rule_matches():
    # given seed 003's second example as configured (no ordinary weekend rule)
    # when a Friday-to-Monday booking outside the season
    quote = weekday_price(d("2026-06-05"), d("2026-06-08"), SEED_EXAMPLE_2)
    # then the weekend is free and shown as unmatched
    assert [day.price_yen for day in quote.days] == [2000, 0, 0, 2000]
    assert quote.total_yen == 4000
    assert [day.date for day in quote.unmatched_days] == [d("2026-06-06"), d("2026-06-07")]


@pytest.mark.parametrize(
    ("start", "end", "error"),
    [
        (date(2025, 7, 2), date(2025, 7, 1), ValueError),
        (datetime(2025, 7, 1, 9), date(2025, 7, 1), TypeError),  # noqa: DTZ001 - refused anyway
        ("2025-07-01", date(2025, 7, 1), TypeError),
    ],
)
def test_weekday_price_rejects_bad_ranges(start, end, error):
    # given a bad range
    # when / then
    with pytest.raises(error):
        weekday_price(start, end, SEED_EXAMPLE_2_FIX_2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: WeekdayRule({8}, "x", 1000), "day types must be 0–6"),
        (lambda: WeekdayRule({-1}, "x", 1000), "day types must be 0–6"),
        (lambda: WeekdayRule({MONDAY}, "x", -1), "price must not be negative"),
        (lambda: Season("逆", date(2025, 8, 31), date(2025, 7, 1)), "is before first day"),
    ],
)
def test_rules_and_seasons_are_validated(make, message):
    # given invalid settings
    # when / then
    with pytest.raises(ValueError, match=message):
        make()


def test_rule_weekdays_become_a_frozenset():
    # given weekdays as a list (as a model's array field gives them)
    # when
    rule = WeekdayRule([MONDAY, FRIDAY, MONDAY], "x", 1000)
    # then
    assert rule.weekdays == frozenset({MONDAY, FRIDAY})
    assert rule.matches(d("2026-06-08"))
    assert not rule.matches(d("2026-06-09"))


# --- seed 003's misconfiguration examples --------------------------------------------------------------


def test_seed_example_1_weekend_rule_is_shadowed():
    # given an all-week 平日料金 rule above the 土日料金 rule
    # when
    warnings = weekday_rule_warnings(SEED_EXAMPLE_1, [HIGH_SEASON])
    # then rule 2 is reported as never applying, because of rule 1
    assert [(w.kind, w.rule_index, w.rule_number, w.shadowed_by) for w in warnings] == [
        ("shadowed", 1, 2, (0,))
    ]
    assert warnings[0].label == "土日料金"
    assert warnings[0].weekdays == SAT_SUN_HOLIDAY


@pytest.mark.parametrize(
    "day",
    ["2026-06-06", "2026-06-07", "2026-11-03", "2026-11-23", "2026-06-08"],  # Sat, Sun, 祝, 祝 (Mon), Mon
)
def test_seed_example_1_prices_weekends_at_the_all_week_price(day):
    # given an all-week 平日料金 rule above the 土日料金 rule
    # when
    result = weekday_price_for_day(d(day), SEED_EXAMPLE_1)
    # then every day gets 3,000 yen, as the seed says
    assert (result.price_yen, result.label) == (3000, "平日料金")


@pytest.mark.parametrize("rules", [SEED_EXAMPLE_1_FIX_1, SEED_EXAMPLE_1_FIX_2], ids=["fix1", "fix2"])
@pytest.mark.parametrize(
    ("day", "expected_yen"),
    [("2026-06-08", 3000), ("2026-06-06", 4000), ("2026-06-07", 4000), ("2026-11-23", 4000)],
)
def test_seed_example_1_fixes(rules, day, expected_yen):
    # given one of the seed's two fixes
    # when
    warnings = weekday_rule_warnings(rules, [HIGH_SEASON])
    result = weekday_price_for_day(d(day), rules)
    # then no warnings, and 土日祝 (a Monday holiday included) get 4,000 yen
    assert warnings == []
    assert result.price_yen == expected_yen


def test_seed_example_2_ordinary_weekends_fall_through():
    # given only high-season rules for 土日祝 and an ordinary 月〜金 rule
    # when
    warnings = weekday_rule_warnings(SEED_EXAMPLE_2, [HIGH_SEASON])
    # then one warning: outside the season, 土日祝 match no rule
    assert [(w.kind, w.rule_index, w.seasons, w.weekdays) for w in warnings] == [
        ("falls_through", None, (), SAT_SUN_HOLIDAY)
    ]
    assert warnings[0].season_names == ()


@pytest.mark.parametrize(
    ("day", "expected_yen", "expected_label"),
    [
        ("2026-06-06", 0, None),  # ordinary Saturday: 0 yen, as the seed says
        ("2026-06-07", 0, None),  # ordinary Sunday
        ("2026-11-03", 0, None),  # ordinary holiday (a Tuesday)
        ("2026-06-08", 2000, "平日料金"),  # ordinary Monday
        ("2025-07-16", 3000, "ハイシーズン平日料金"),  # Wednesday in the season
        ("2025-07-19", 4000, "ハイシーズン土日料金"),  # Saturday in the season
        ("2025-07-21", 4000, "ハイシーズン土日料金"),  # 海の日 in the season
    ],
)
def test_seed_example_2_prices(day, expected_yen, expected_label):
    # given only high-season rules for 土日祝 and an ordinary 月〜金 rule
    # when
    result = weekday_price_for_day(d(day), SEED_EXAMPLE_2)
    # then
    assert (result.price_yen, result.label) == (expected_yen, expected_label)


@pytest.mark.parametrize(
    ("rules", "expected_ordinary_weekend_yen"),
    [(SEED_EXAMPLE_2_FIX_1, 2500), (SEED_EXAMPLE_2_FIX_2, 2000)],
    ids=["fix1", "fix2"],
)
def test_seed_example_2_fixes(rules, expected_ordinary_weekend_yen):
    # given one of the seed's two fixes
    # when
    warnings = weekday_rule_warnings(rules, [HIGH_SEASON])
    saturday = weekday_price_for_day(d("2026-06-06"), rules)
    holiday = weekday_price_for_day(d("2026-11-03"), rules)
    in_season = weekday_price_for_day(d("2025-07-19"), rules)
    # then
    assert warnings == []
    assert saturday.price_yen == holiday.price_yen == expected_ordinary_weekend_yen
    assert in_season.price_yen == 4000


# --- other warnings ------------------------------------------------------------------------------------


def test_a_well_configured_rule_set_gets_no_warnings():
    # given season prices for every day type and ordinary prices for every day type
    golden_week = Season("GW", date(2026, 4, 29), date(2026, 5, 6))
    rules = [
        WeekdayRule({HOLIDAY}, "GW祝日", 5000, golden_week),
        WeekdayRule(SAT_SUN_HOLIDAY, "ハイシーズン土日", 4000, HIGH_SEASON),
        WeekdayRule(DAY_TYPES, "ハイシーズン平日", 3000, HIGH_SEASON),
        WeekdayRule(MON_FRI, "平日", 2000),
        WeekdayRule(SAT_SUN_HOLIDAY, "土日祝", 2500),
    ]
    # when
    warnings = weekday_rule_warnings(rules, [HIGH_SEASON, golden_week])
    # then
    assert warnings == []


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # a season rule below an ordinary rule for the same days
        (
            [
                WeekdayRule(DAY_TYPES, "通常", 2000),
                WeekdayRule(SAT_SUN_HOLIDAY, "ハイシーズン土日", 4000, HIGH_SEASON),
            ],
            [(1, (0,))],
        ),
        # covered by two earlier rules together
        (
            [
                WeekdayRule({MONDAY, TUESDAY, WEDNESDAY}, "月火水", 1000),
                WeekdayRule({THURSDAY, FRIDAY, SATURDAY, SUNDAY, HOLIDAY}, "木〜祝", 1200),
                WeekdayRule(DAY_TYPES, "全日", 1500),
            ],
            [(2, (0, 1))],
        ),
        # a rule with nothing checked matches no day at all
        ([WeekdayRule(frozenset(), "空", 1000), WeekdayRule(DAY_TYPES, "通常", 2000)], [(0, ())]),
        # an ordinary rule below a season rule is only partly covered: not shadowed
        ([WeekdayRule(DAY_TYPES, "夏", 3000, HIGH_SEASON), WeekdayRule(DAY_TYPES, "通常", 2000)], []),
        # the same rule twice
        ([WeekdayRule(MON_FRI, "平日", 2000), WeekdayRule(MON_FRI, "平日(2)", 2100)], [(1, (0,))]),
    ],
)
def test_shadowed_rules(rules, expected):
    # given the rules
    # when
    warnings = weekday_rule_warnings(rules, [HIGH_SEASON])
    # then
    assert [(w.rule_index, w.shadowed_by) for w in warnings if w.kind == "shadowed"] == expected


def test_a_holiday_rule_in_a_season_without_holidays_never_applies():
    # given a June season (Japan has no national holidays in June) with a 祝 rule
    june = Season("6月", date(2026, 6, 1), date(2026, 6, 30))
    rules = [WeekdayRule({HOLIDAY}, "6月祝日", 5000, june), WeekdayRule(DAY_TYPES, "通常", 2000)]
    # when
    warnings = weekday_rule_warnings(rules, [june])
    # then
    assert [(w.kind, w.rule_index, w.shadowed_by) for w in warnings] == [("shadowed", 0, ())]


def test_falls_through_lists_only_day_types_that_occur_in_a_season():
    # given Golden Week 2026 (Wed 4/29–Wed 5/6): Thu 4/30, Fri 5/1, Sat 5/2 and holidays, no plain Sunday
    golden_week = Season("GW", date(2026, 4, 29), date(2026, 5, 6))
    rules = [
        WeekdayRule({SATURDAY, HOLIDAY}, "GW休日", 5000, golden_week),
        WeekdayRule(MON_FRI, "平日", 2000),
    ]
    # when
    warnings = weekday_rule_warnings(rules, [golden_week])
    # then only the days outside the season are reported, not "Sunday in GW"
    assert [(w.kind, w.seasons, w.weekdays) for w in warnings] == [
        ("falls_through", (), frozenset({SATURDAY, SUNDAY, HOLIDAY}))
    ]


def test_falls_through_per_season_and_overlap():
    # given お盆 inside the high season and only a 月〜金 rule
    obon = Season("お盆", date(2025, 8, 9), date(2025, 8, 17))
    rules = [WeekdayRule(MON_FRI, "平日", 2000)]
    # when
    warnings = weekday_rule_warnings(rules, [obon, HIGH_SEASON])
    # then outside, the high season alone and the overlap are each listed, outside first
    assert [(w.kind, w.season_names, w.weekdays) for w in warnings] == [
        ("falls_through", (), SAT_SUN_HOLIDAY),
        ("falls_through", ("ハイシーズン",), SAT_SUN_HOLIDAY),
        ("falls_through", ("ハイシーズン", "お盆"), SAT_SUN_HOLIDAY),
    ]


def test_season_rules_cover_overlaps():
    # given weekday prices for the high season and weekend prices for お盆 inside it
    obon = Season("お盆", date(2025, 8, 9), date(2025, 8, 17))
    rules = [
        WeekdayRule(SAT_SUN_HOLIDAY, "お盆休日", 6000, obon),
        WeekdayRule(MON_FRI, "夏平日", 3000, HIGH_SEASON),
    ]
    # when
    warnings = weekday_rule_warnings(rules, [HIGH_SEASON, obon])
    # then the overlap is fully covered; weekends in the rest of the season and everything outside are not
    assert [(w.season_names, w.weekdays) for w in warnings] == [
        ((), DAY_TYPES),
        (("ハイシーズン",), SAT_SUN_HOLIDAY),
    ]


def test_seasons_used_by_rules_are_considered_even_if_not_passed():
    # given a season rule whose season was not passed in
    rules = [WeekdayRule(DAY_TYPES, "ハイシーズン", 3000, HIGH_SEASON), WeekdayRule(DAY_TYPES, "通常", 2000)]
    # when
    warnings = weekday_rule_warnings(rules)
    # then
    assert warnings == []


def test_no_rules_means_everything_falls_through():
    # given no rules
    # when
    warnings = weekday_rule_warnings([], [HIGH_SEASON])
    # then
    assert [(w.season_names, w.weekdays) for w in warnings] == [
        ((), DAY_TYPES),
        (("ハイシーズン",), DAY_TYPES),
    ]


@pytest.mark.parametrize(
    ("rules", "seasons", "expected_parts"),
    [
        (SEED_EXAMPLE_1, [], ["Rule 2 (土日料金)", "rule 1 above it", "Sat, Sun, Holiday"]),
        (
            [WeekdayRule(MON_FRI, "a", 1), WeekdayRule({SATURDAY}, "b", 1), WeekdayRule({SATURDAY}, "c", 1)],
            [],
            ["Rule 3 (c)", "rule 2 above it", "Sat"],
        ),
        (
            [
                WeekdayRule({MONDAY}, "a", 1),
                WeekdayRule({TUESDAY}, "b", 1),
                WeekdayRule({MONDAY, TUESDAY}, "c", 1),
            ],
            [],
            ["Rule 3 (c)", "rules 1, 2 above it"],
        ),
        (
            [WeekdayRule(frozenset(), "空", 1), WeekdayRule(DAY_TYPES, "x", 1)],
            [],
            ["Rule 1 (空)", "matches no day"],
        ),
        (SEED_EXAMPLE_2, [HIGH_SEASON], ["Outside any season", "Sat, Sun, Holiday", "0 yen"]),
        (
            [WeekdayRule(MON_FRI, "平日", 1)],
            [HIGH_SEASON],
            ["In season ハイシーズン (2025-07-01|2025-08-31)", "Sat, Sun, Holiday"],
        ),
        (
            [WeekdayRule(MON_FRI, "平日", 1)],
            [HIGH_SEASON, Season("お盆", date(2025, 8, 9), date(2025, 8, 17))],
            ["Where seasons ハイシーズン (2025-07-01|2025-08-31), お盆 (2025-08-09|2025-08-17) overlap"],
        ),
    ],
)
def test_warning_messages_say_what_and_where(rules, seasons, expected_parts):
    # given a misconfigured rule set
    # when
    with translation.override("en"):
        messages = [str(w) for w in weekday_rule_warnings(rules, seasons)]
    # then one of the messages says what is wrong and where, with rule numbers as staff see them (1-based)
    assert any(all(part in message for part in expected_parts) for message in messages), messages


def test_warning_messages_render_in_japanese():
    # given a warning
    (warning,) = weekday_rule_warnings(SEED_EXAMPLE_2, [HIGH_SEASON])
    # when
    with translation.override("ja"):
        message = warning.message
    # then day types are joined the Japanese way
    assert "・" in message
