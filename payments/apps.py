from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self):
        from core.audit import register_action_labels
        from payments.audit_labels import ACTION_LABELS

        register_action_labels(ACTION_LABELS)
        from inventory import payment_methods
        from payments import registry
        from payments.counter import AtCounter
        from payments.models import OrderLine
        from payments.pricing import MemberDiscountStep
        from payments.reservations import CardPayment, ReservationFulfiller

        # Counter before card: the booking form lists the methods in the order they were registered.
        payment_methods.register(AtCounter())
        payment_methods.register(CardPayment())
        registry.register_fulfiller(OrderLine.Kind.RESERVATION, ReservationFulfiller())
        registry.register_fulfiller(OrderLine.Kind.PRODUCT, registry.product_lines)
        registry.register_price_step("member_discount", MemberDiscountStep())

        from core.attention import register_attention
        from payments.attention import ITEMS

        for item in ITEMS:
            register_attention(item)

        from core.home import register_daily_series
        from payments.home import sales_series

        register_daily_series(sales_series())

        from members.mypage import Section, register_profile_fact, register_section
        from payments.pricing import member_discount_fact

        register_profile_fact("member_discount", member_discount_fact)

        register_section(
            Section(
                title=pgettext_lazy("my page", "Orders"),
                description=_("Your orders and payments, with a receipt (領収書) for each paid order."),
                url_name="payments:order_list",
                link_label=_("My orders"),
                order=30,
            )
        )
