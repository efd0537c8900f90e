"""factory_boy factories for promotions (coupons). Rows are written directly: use promotions' services when
a test is about creating coupons itself."""

from __future__ import annotations

import factory

from promotions.models import Coupon


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"COUPON{n}")
    description = "テスト用クーポン"
    discount_kind = Coupon.DiscountKind.PERCENT
    discount_value = 10
    is_active = True

    @factory.post_generation
    def items(self, create, extracted, **kwargs):
        if create and extracted:
            self.items.set(extracted)

    @factory.post_generation
    def categories(self, create, extracted, **kwargs):
        if create and extracted:
            self.categories.set(extracted)
