"""The price pipeline of an order (SPEC §9): item price → price rule → member discount → coupon → points.
One function computes it, for the order itself and for every page that shows a price before paying, so the
amount shown is the amount charged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext

from inventory.payment_methods import Charge, ChargeLine
from members.mypage import ProfileFact
from payments import registry
from payments.models import Order, PaymentSettings


def member_discount_yen(*, amount_yen: int, pct: int) -> int:
    """SPEC §2: a percentage discount is floor(amount × pct / 100)."""
    return amount_yen * pct // 100


class MemberDiscountStep(registry.PriceStep):
    """The member's discount (SuperSaaS's supervisor field): card checkouts only, after the price rule."""

    order = 20

    def apply(self, *, draft: registry.PriceDraft, options: dict) -> None:
        pct = getattr(draft.member, "member_discount_pct", 0) or 0
        if draft.payment_method != Order.Method.CARD or not pct:
            return
        draft.member_discount_yen = member_discount_yen(
            amount_yen=draft.subtotal_yen - draft.price_rule_discount_yen, pct=pct
        )


def price_draft(
    *, member, lines: list, payment_method: str, options: dict | None = None, now: datetime | None = None
) -> registry.PriceDraft:
    """The order's amounts for `lines` (objects with unit_price_yen and quantity) paid by `payment_method`,
    through every registered price step, as at `now` (None: a preview, now). Changes nothing."""
    draft = registry.PriceDraft(member=member, payment_method=payment_method, lines=list(lines), now=now)
    draft.subtotal_yen = sum(line.unit_price_yen * line.quantity for line in lines)
    return registry.apply_pipeline(draft, options)


def shows_member_discount() -> bool:
    """The shop-wide choice (SPEC §3): whether members see their member discount as a line of its own."""
    return PaymentSettings.current().show_member_discount


def price_shown_yen(*, draft: registry.PriceDraft, show_member_discount: bool) -> int:
    """The price line a member sees for `draft`: its subtotal, less the member discount when the shop hides
    the discount (the discount is then in the price, never shown as a saving)."""
    return draft.subtotal_yen - (0 if show_member_discount else draft.member_discount_yen)


def charge_shown(
    *,
    draft: registry.PriceDraft,
    label: str,
    details: Iterable[str] = (),
    show_member_discount: bool | None = None,
) -> Charge:
    """The lines a member sees for `draft` before paying, ending in `draft.total_yen`, the amount charged.
    When the shop hides the member discount, the price line is already net of it and the explanation of
    the list price (`details`) is left out, so the member never sees a price they will not pay."""
    if show_member_discount is None:
        show_member_discount = shows_member_discount()
    folded = 0 if show_member_discount else draft.member_discount_yen
    lines = [ChargeLine(label, price_shown_yen(draft=draft, show_member_discount=show_member_discount))]
    if draft.price_rule_discount_yen:
        lines.append(ChargeLine(gettext("Price rule discount"), -draft.price_rule_discount_yen))
    if draft.member_discount_yen and show_member_discount:
        pct = getattr(draft.member, "member_discount_pct", 0)
        lines.append(
            ChargeLine(gettext("Member discount ({pct}%)").format(pct=pct), -draft.member_discount_yen)
        )
    if draft.coupon_discount_yen:
        # the coupon step keeps the coupon it applied on the draft, so the member sees which code it was
        coupon = getattr(draft, "coupon", None)
        if coupon is None and isinstance(draft, Order):  # an order shown again: the code it was redeemed with
            coupon = registry.order_coupon_code(draft)
        label = gettext("Coupon {code}").format(code=coupon) if coupon is not None else gettext("Coupon")
        lines.append(ChargeLine(label, -draft.coupon_discount_yen))
    if draft.points_used:
        lines.append(ChargeLine(gettext("Points used"), -draft.points_used))
    return Charge(
        lines=tuple(lines),
        total_yen=draft.total_yen,
        details=() if folded else tuple(details),
        points_to_earn=getattr(draft, "points_to_earn", 0),
    )


def fold_discount(amounts: list[int], discount_yen: int) -> list[int]:
    """`amounts` less `discount_yen` shared in proportion (floor, the yen left over going to the largest
    amounts first), so the parts add up to exactly sum(amounts) - discount_yen."""
    total = sum(amounts)
    if not discount_yen or not total:
        return list(amounts)
    shares = [amount * discount_yen // total for amount in amounts]
    left = discount_yen - sum(shares)
    for index in sorted(range(len(amounts)), key=lambda i: (-amounts[i], i))[:left]:
        shares[index] += 1
    return [amount - share for amount, share in zip(amounts, shares, strict=True)]


@dataclass(frozen=True)
class LineShares:
    """What one line of an order (or several, added up) holds of each of the order's amounts: its price, the
    price rule's discount on it, its share of the member discount, the coupon and the points, and what is
    left for the member to pay for it (`paid_yen`)."""

    subtotal_yen: int = 0
    price_rule_yen: int = 0
    member_discount_yen: int = 0
    coupon_yen: int = 0
    points_yen: int = 0

    @property
    def paid_yen(self) -> int:
        return (
            self.subtotal_yen
            - self.price_rule_yen
            - self.member_discount_yen
            - self.coupon_yen
            - self.points_yen
        )

    def __add__(self, other: LineShares) -> LineShares:
        return LineShares(
            self.subtotal_yen + other.subtotal_yen,
            self.price_rule_yen + other.price_rule_yen,
            self.member_discount_yen + other.member_discount_yen,
            self.coupon_yen + other.coupon_yen,
            self.points_yen + other.points_yen,
        )


def line_shares(order: Order, lines: list) -> list[LineShares]:
    """Each of `order`'s `lines` (all of them, in a stable order) with its part of every amount, adding up to
    the order's. The price rule's discount is each line's own (a rule matching one week of a repeat booking
    discounts that week only); the member discount, then the coupon, then the points are shared out in
    proportion to what each line costs after the steps before them (fold_discount: largest remainder), in the
    order the pipeline applies them. So cancelling one week of a repeat booking takes off exactly that week's
    part, and a yen discount is shared 334/333/333 across three weeks."""
    totals = [line.total_yen for line in lines]
    rules = [line.price_rule_discount_yen for line in lines]
    if sum(rules) != order.price_rule_discount_yen:  # an order written before lines held their own discount
        rules = [
            total - after
            for total, after in zip(totals, fold_discount(totals, order.price_rule_discount_yen), strict=True)
        ]
    steps = [order.member_discount_yen, order.coupon_discount_yen, order.points_used]
    amounts = [total - rule for total, rule in zip(totals, rules, strict=True)]
    parts: list[list[int]] = []
    for discount in steps:
        after = fold_discount(amounts, discount)
        parts.append([before - left for before, left in zip(amounts, after, strict=True)])
        amounts = after
    return [LineShares(totals[i], rules[i], parts[0][i], parts[1][i], parts[2][i]) for i in range(len(lines))]


def reservation_share(order: Order, reservation_id: int, *, lines: list | None = None) -> LineShares:
    """What the lines of one booking (a week of a repeat booking) hold of `order`'s amounts, added up: what
    cancelling that week refunds (`paid_yen`) when the order is paid, or takes off the order when it is not.
    `lines`: the order's lines in primary-key order, when already read."""
    lines = list(order.lines.order_by("pk")) if lines is None else lines
    share = LineShares()
    for line, part in zip(lines, line_shares(order, lines), strict=True):
        if line.reservation_id == reservation_id:
            share += part
    return share


@dataclass(frozen=True)
class ShownOrderLine:
    description: str
    quantity: int
    amount_yen: int


@dataclass(frozen=True)
class ShownOrder:
    """An order's amounts as its member sees them (order page, checkout, receipt): with the member discount
    as its own line, or, when the shop hides it, folded into the lines and the subtotal."""

    lines: tuple[ShownOrderLine, ...]
    subtotal_yen: int
    price_rule_discount_yen: int
    member_discount_yen: int  # 0 when folded in
    coupon_discount_yen: int
    points_used: int
    total_yen: int
    coupon_code: str = ""  # the coupon of the coupon line, when the app that redeemed it says (registry)

    @property
    def coupon_label(self) -> str:
        """The coupon line's label, as the confirm page's breakdown has it: "Coupon SUMMER10"."""
        if not self.coupon_code:
            return gettext("Coupon")
        return gettext("Coupon {code}").format(code=self.coupon_code)


def order_shown(*, order: Order, lines: Iterable, show_member_discount: bool | None = None) -> ShownOrder:
    """`order`'s amounts for its member; `lines` are its order lines (passed in, so a page that already
    read them does not read them twice)."""
    if show_member_discount is None:
        show_member_discount = shows_member_discount()
    lines = list(lines)
    folded = 0 if show_member_discount else order.member_discount_yen
    amounts = fold_discount([line.total_yen for line in lines], folded)
    return ShownOrder(
        lines=tuple(
            ShownOrderLine(line.description, line.quantity, amount)
            for line, amount in zip(lines, amounts, strict=True)
        ),
        subtotal_yen=order.subtotal_yen - folded,
        price_rule_discount_yen=order.price_rule_discount_yen,
        member_discount_yen=order.member_discount_yen - folded,
        coupon_discount_yen=order.coupon_discount_yen,
        points_used=order.points_used,
        total_yen=order.total_yen,
        coupon_code=(registry.order_coupon_code(order) or "") if order.coupon_discount_yen else "",
    )


def member_discount_fact(*, member) -> ProfileFact | None:
    """The my page's member discount line: shown only when the member has one and the shop shows it."""
    pct = getattr(member, "member_discount_pct", 0)
    if not pct or not shows_member_discount():
        return None
    return ProfileFact(gettext("Member discount"), f"{pct}%")
