"""The price pipeline of an order (SPEC §9): item price → price rule → member discount → coupon → points.
One function computes it, for the order itself and for every page that shows a price before paying, so the
amount shown is the amount charged."""

from __future__ import annotations

from payments import registry
from payments.models import Order


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
    *, member, lines: list, payment_method: str, options: dict | None = None
) -> registry.PriceDraft:
    """The order's amounts for `lines` (objects with unit_price_yen and quantity) paid by `payment_method`,
    through every registered price step. Changes nothing."""
    draft = registry.PriceDraft(member=member, payment_method=payment_method, lines=list(lines))
    draft.subtotal_yen = sum(line.unit_price_yen * line.quantity for line in lines)
    return registry.apply_pipeline(draft, options)
