"""The shop's bounds on integer fields, given once on the model field (validators), so every form, admin
page, import and later app refuses a value out of range with a form error instead of PostgreSQL's
"integer out of range" (a 500) or a nonsense value (a ticket of 2,147,483,000 uses).

The database column stays an integer: the bounds are the shop's rules, not the column's."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator

MAX_YEN = 10_000_000  # a price, a unit price or a product: ten million yen
MAX_COUNT = 999  # ticket uses, stock, capacity, quantity, per-member and concurrency limits
MAX_DISPLAY_ORDER = 9_999
MAX_DAYS = 3_660  # validity and booking horizon: ten years
MINUTES_PER_DAY = 24 * 60  # a booking's length and time step (a booking is within one day)
MAX_DEADLINE_MINUTES = 30 * MINUTES_PER_DAY  # booking and cancellation deadlines: 30 days
MAX_HOLD_MINUTES = 7 * MINUTES_PER_DAY  # an unpaid tentative reservation is held at most a week
MAX_POINTS_PER_UNIT = 1_000_000
MAX_PERCENT = 100


def at_most(limit: int) -> list:
    """For a PositiveIntegerField: the column already refuses a negative value."""
    return [MaxValueValidator(limit)]


def between(low: int, high: int) -> list:
    return [MinValueValidator(low), MaxValueValidator(high)]


def bounds_of(model, field_name: str) -> dict:
    """min_value / max_value for a plain form's IntegerField from a model field's validators (its own
    and the column's range), so a form that is no ModelForm refuses exactly what the model refuses."""
    validators = model._meta.get_field(field_name).validators
    lows = [v.limit_value for v in validators if isinstance(v, MinValueValidator)]
    highs = [v.limit_value for v in validators if isinstance(v, MaxValueValidator)]
    return {"min_value": max(lows, default=None), "max_value": min(highs, default=None)}
