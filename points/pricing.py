"""Spending points at checkout (SPEC §8 "Using", seed 004 ポイント利用区分): the price pipeline's last step
(order 40, after price rule, member discount and coupon), 1 point = 1 yen.

What points may pay for follows the shop's usage mode:
  1  every line;
  2  every line, unless the order mixes point-payable and non-payable products: then nothing;
  3  the point-payable products' lines, fee lines (Product.is_fee: 入会金, 手数料) never;
  4  the point-payable products' lines, fee lines included (a fee the shop marked "points cannot pay for
     it" stays excluded, as in points.earning.point_payable, which shares the purchase points out the same
     way).
A reservation line (no product) counts as point-payable and is never a fee. A line's payable amount is what
it costs after the earlier discounts, shared across the lines in proportion (payments.pricing.fold_discount),
so a discount on the whole order never lets points pay for more than the lines they may pay for."""

from __future__ import annotations

from django.utils.translation import gettext

from payments import registry
from payments.models import Order
from payments.pricing import fold_discount
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import MAX_POINTS, PointSettings
from points.selectors import balance_of

Mode = PointSettings.UsageMode

# Only money-taking orders take points; a ticket or plan booking costs no money and makes no such order.
POINT_METHODS = (Order.Method.CARD, Order.Method.COUNTER)


def _is_fee(line) -> bool:
    product = getattr(line, "product", None)
    return product is not None and product.is_fee


def _is_payable(line) -> bool:
    product = getattr(line, "product", None)
    return product is None or product.points_payable


def line_payable(lines: list, mode: int) -> list[bool]:
    """For each of `lines`, whether points may pay for it under usage `mode`."""
    if mode == Mode.NONE_WHEN_MIXED:
        flags = [_is_payable(line) for line in lines]
        return flags if all(flags) else [False] * len(lines)
    if mode == Mode.PAYABLE_ONLY_NO_FEES:
        return [_is_payable(line) and not _is_fee(line) for line in lines]
    if mode == Mode.PAYABLE_ONLY_WITH_FEES:
        return [_is_payable(line) for line in lines]
    return [True] * len(lines)


def discount_before_points(draft: registry.PriceDraft) -> int:
    return draft.price_rule_discount_yen + draft.member_discount_yen + draft.coupon_discount_yen


def line_amounts_before_points(draft: registry.PriceDraft) -> list[int]:
    """Each line's amount after the discounts that come before points, shared in proportion."""
    amounts = [line.unit_price_yen * line.quantity for line in draft.lines]
    return fold_discount(amounts, discount_before_points(draft))


def points_payable_yen(draft: registry.PriceDraft, *, mode: int | None = None) -> int:
    """How many yen of `draft` points may pay for (its points step not counted)."""
    mode = mode if mode is not None else PointSettings.current().usage_mode
    amounts = line_amounts_before_points(draft)
    return sum(
        amount for amount, payable in zip(amounts, line_payable(draft.lines, mode), strict=True) if payable
    )


def parse_points(value) -> int:
    """The points a member entered: a whole number of 0 or more (blank: 0). Anything else is a clear error
    next to the field."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise PointsError(gettext("Enter the points to use as a whole number."), field="points")
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if text.startswith("-") and text[1:].isdigit():
            raise PointsError(gettext("Enter 0 or more points."), field="points")
        if not text.isascii() or not text.isdigit():
            raise PointsError(gettext("Enter the points to use as a whole number."), field="points")
        value = int(text)
    if not isinstance(value, int):
        raise PointsError(gettext("Enter the points to use as a whole number."), field="points")
    if value < 0:
        raise PointsError(gettext("Enter 0 or more points."), field="points")
    if value > MAX_POINTS:
        raise PointsError(
            gettext("At most {max} points can be used at once.").format(max=f"{MAX_POINTS:,}"), field="points"
        )
    return value


def check_points(*, draft: registry.PriceDraft, points: int, balance: int | None = None) -> None:
    """Refuse `points` for `draft` with the limit it breaks and its number: the method, the member's
    balance, or the point-payable amount."""
    if draft.payment_method not in POINT_METHODS:
        raise PointsError(
            gettext("Points can be used only when paying by card or at the counter."), field="points"
        )
    balance = balance_of(draft.member) if balance is None else balance
    if points > balance:
        raise NotEnoughPointsError(
            gettext("You have {balance} points; you cannot use {points}.").format(
                balance=f"{balance:,}", points=f"{points:,}"
            ),
            field="points",
        )
    payable = points_payable_yen(draft)
    if points > payable:
        if payable == 0:
            raise PointsError(gettext("Points cannot pay for this order."), field="points")
        raise PointsError(
            gettext("At most {payable} points can pay for this order.").format(payable=f"{payable:,}"),
            field="points",
        )


class PointsStep(registry.PriceStep):
    """Points the member entered (`options["points"]`), checked against their balance and what points may
    pay for. The balance is read without a lock here; spending it (points.spending, in the order's
    transaction) locks the account and checks again, so a balance spent meanwhile in another tab still
    stops the order."""

    order = 40

    def apply(self, *, draft: registry.PriceDraft, options: dict) -> None:
        points = parse_points(options.get("points"))
        if not points:
            return
        check_points(draft=draft, points=points)
        draft.points_used = points


def points_limit(draft: registry.PriceDraft) -> int:
    """The most points the member could use on `draft` (its points step not counted): the smaller of their
    balance and the point-payable amount; 0 for a method that takes no points."""
    if draft.payment_method not in POINT_METHODS:
        return 0
    return min(balance_of(draft.member), points_payable_yen(draft))
