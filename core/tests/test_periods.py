from datetime import date

import pytest

from core.periods import add_months_clamped, valid_through_days, valid_through_months


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 1, 5), 31, date(2026, 2, 4)),  # the example: the start is day 1
        (date(2026, 1, 5), 1, date(2026, 1, 5)),  # one day: valid through the start day itself
        (date(2024, 2, 28), 2, date(2024, 2, 29)),  # leap day exists in 2024
        (date(2023, 2, 28), 2, date(2023, 3, 1)),  # and not in 2023
        (date(2026, 12, 31), 2, date(2027, 1, 1)),  # across the year end
        (date(2026, 1, 1), 365, date(2026, 12, 31)),
    ],
)
def test_valid_through_days(start, days, expected):
    # when / then
    assert valid_through_days(start, days) == expected


@pytest.mark.parametrize("days", [0, -1])
def test_valid_through_days_rejects_counts_below_one(days):
    with pytest.raises(ValueError, match="days must be 1 or more"):
        valid_through_days(date(2026, 1, 5), days)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 5), 1, date(2026, 1, 31)),  # the examples
        (date(2026, 1, 5), 2, date(2026, 2, 28)),
        (date(2024, 1, 31), 2, date(2024, 2, 29)),  # leap February
        (date(2026, 1, 1), 1, date(2026, 1, 31)),  # the first of the month still ends that month
        (date(2026, 11, 30), 3, date(2027, 1, 31)),  # across the year end
        (date(2026, 12, 15), 1, date(2026, 12, 31)),
        (date(2026, 4, 10), 12, date(2027, 3, 31)),
        (date(2026, 3, 31), 2, date(2026, 4, 30)),  # a 30-day month
    ],
)
def test_valid_through_months(start, months, expected):
    assert valid_through_months(start, months) == expected


@pytest.mark.parametrize("months", [0, -3])
def test_valid_through_months_rejects_counts_below_one(months):
    with pytest.raises(ValueError, match="months must be 1 or more"):
        valid_through_months(date(2026, 1, 5), months)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # the examples
        (date(2023, 12, 31), 2, date(2024, 2, 29)),
        (date(2019, 6, 3), 12, date(2020, 6, 3)),
        (date(2018, 1, 1), 12, date(2019, 1, 1)),  # SPEC §8 per-record expiry example
        (date(2024, 2, 29), 48, date(2028, 2, 29)),  # leap day to leap day
        (date(2026, 1, 31), 3, date(2026, 4, 30)),  # 4/31 → 4/30
        (date(2026, 3, 31), 3, date(2026, 6, 30)),  # 6/31 → 6/30
        (date(2026, 8, 31), 1, date(2026, 9, 30)),  # 9/31 → 9/30
        (date(2026, 10, 31), 1, date(2026, 11, 30)),  # 11/31 → 11/30
        (date(2026, 1, 30), 1, date(2026, 2, 28)),  # 2/30 → 2/28
        (date(2026, 1, 15), 0, date(2026, 1, 15)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),  # across the year end
        (date(2026, 3, 31), -1, date(2026, 2, 28)),  # negative months go back, clamped
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2026, 1, 15), -13, date(2024, 12, 15)),
    ],
)
def test_add_months_clamped(start, months, expected):
    assert add_months_clamped(start, months) == expected
