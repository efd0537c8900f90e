"""The ticket's rules from the product's side (issue 10, defect 6): a product a ticket sells must keep what
the ticket requires of it (one-time; 0 yen for a free trial, more than 0 for a paid one) when the product
itself is edited. Registered with payments' product rules in TicketsConfig.ready(), so the product admin
form, `payments.products.product_save` and any import refuse the change (`Product.clean()`)."""

from __future__ import annotations

from django.utils.translation import gettext

from payments.registry import ProductRule
from tickets.models import TicketType


class TicketProductRule(ProductRule):
    def errors(self, *, product) -> dict[str, str]:
        if product.pk is None:
            return {}  # a new product: no ticket sells it yet
        ticket_type = TicketType.objects.filter(product_id=product.pk).only("pk", "name", "kind").first()
        if ticket_type is None:
            return {}
        broken = ticket_type.product_rule_error(product)
        if broken is None:
            return {}
        field, rule = broken
        return {
            field: gettext("The ticket “{ticket}” sells this product. {rule}").format(
                ticket=ticket_type.name, rule=rule
            )
        }
