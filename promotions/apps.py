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
