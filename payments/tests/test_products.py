"""Products are saved through payments.products.product_save (the admin's save_model calls it), under the
product's own rules and every rule a higher app registers (payments.registry.register_product_rule)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.models import AuditEntry
from payments import registry
from payments.models import Product
from payments.products import product_save

pytestmark = pytest.mark.django_db


class NoOddPrices(registry.ProductRule):
    def errors(self, *, product) -> dict[str, str]:
        return {"price_yen": "odd"} if product.pk and product.price_yen % 2 else {}


@pytest.fixture
def odd_rule(monkeypatch):
    monkeypatch.setattr(registry, "_product_rules", {**registry._product_rules, "test": NoOddPrices()})


def test_a_registered_product_rule_refuses_the_save_on_its_field(odd_rule, admin_user):
    # given a stored product and a rule against odd prices
    product = product_save(product=Product(sku="P1", name="P", price_yen=100), by=admin_user)
    # when it is changed to break the rule
    product.price_yen = 101
    with pytest.raises(ValidationError) as refused:
        product_save(product=product, by=admin_user)
    # then the rule's message is on its field and nothing changed
    assert refused.value.message_dict == {"price_yen": ["odd"]}
    assert Product.objects.get(pk=product.pk).price_yen == 100


def test_product_clean_reports_its_own_rule_and_the_registered_ones_together(odd_rule):
    product = Product.objects.create(sku="P2", name="P", price_yen=100)
    product.price_yen, product.points_per_unit, product.points_rate_pct = 101, 1, 5
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert set(refused.value.message_dict) == {"price_yen", "points_rate_pct"}


def test_product_save_records_who_created_and_changed_it(admin_user):
    # when staff create a product, then change its price
    product = product_save(product=Product(sku="P3", name="P", price_yen=100), by=admin_user)
    product.price_yen = 120
    product_save(product=product, by=admin_user)
    # then one entry each, the change naming old and new
    created, changed = AuditEntry.objects.filter(action__startswith="product.").order_by("pk")
    assert (created.action, changed.action) == ("product.created", "product.changed")
    assert created.actor == changed.actor == admin_user
    assert changed.payload == {"changes": {"price_yen": [100, 120]}}
    assert changed.object_id == str(product.pk)
