"""Order amounts as the member sees them (`pricing.order_shown`): the member discount as a line of its own,
or folded into the lines when the shop hides it, always adding up to the total charged."""

from django import template

from payments.pricing import order_shown

register = template.Library()


@register.simple_tag
def order_amounts(order):
    """{% order_amounts order as shown %} → shown.lines (description, quantity, amount_yen), subtotal_yen,
    price_rule_discount_yen, member_discount_yen, coupon_discount_yen, points_used, total_yen."""
    return order_shown(order=order, lines=order.lines.all())
