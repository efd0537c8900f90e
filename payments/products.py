"""Products (店舗管理 › 商品): every save goes through `product_save`, under the product's own rules and the
rules of the apps that use it (a ticket's product stays one-time; a free trial's costs 0 yen), with an
audit entry naming who saved it and what changed."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.audit import audit_log
from payments.models import Product

# The stored fields an audit entry compares (what staff can edit).
AUDITED_FIELDS = tuple(f.attname for f in Product._meta.concrete_fields if f.editable and not f.primary_key)


@transaction.atomic
def product_save(*, product: Product, by, system: str = "", now: datetime | None = None) -> Product:
    """Create or change `product` after every rule of `Product.clean` (its own and the registered product
    rules). Raises ValidationError with the field errors; nothing is saved then. Records who saved it and
    the fields that changed (old → new).

    The product's row is locked first, so two edits of one product, or an edit and a ticket type taking
    the product (ticket_type_save locks the product's row too), are checked one after the other."""
    now = now or timezone.now()
    is_new = product.pk is None
    stored: dict = {}
    if not is_new:
        row = Product.objects.select_for_update().filter(pk=product.pk).values(*AUDITED_FIELDS).first()
        stored = row or {}
    product.full_clean()
    product.save()
    changes = {
        name: [stored.get(name), getattr(product, name)]
        for name in AUDITED_FIELDS
        if is_new or stored.get(name) != getattr(product, name)
    }
    audit_log(
        action="product.created" if is_new else "product.changed",
        obj=product,
        by=by,
        system=system,
        payload={"changes": changes},
        now=now,
    )
    return product
