from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = _("Promotions")

    def ready(self):
        from payments import registry
        from promotions.price_rules import PriceRuleStep, PriceRuleUses

        registry.register_price_step("price_rule", PriceRuleStep())
        registry.register_order_listener("price_rules", PriceRuleUses())

        # Coupons: price step 30 (after the member discount), redeemed with the order and given back when
        # it is undone (as the coupon says), and the "Coupon code" field of the booking and checkout pages.
        from core.audit import register_action_labels
        from promotions import redemption
        from promotions.audit_labels import ACTION_LABELS

        register_action_labels(ACTION_LABELS)
        redemption.register()
        # The order page and the receipt name the coupon of the order's coupon line.
        from promotions.selectors import order_coupon_code

        registry.register_order_coupon_code("coupons", order_coupon_code)

        # The staff home's panel: this month's coupon uses and price-rule discounts.
        from core.home import register_panel
        from promotions.home import promotions_panel

        register_panel(promotions_panel())
