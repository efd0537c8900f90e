from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self):
        from inventory import payment_methods
        from payments import registry
        from payments.models import OrderLine
        from payments.reservations import CardPayment, ReservationFulfiller
        from payments.services import MemberDiscountStep

        payment_methods.register(CardPayment())
        registry.register_fulfiller(OrderLine.Kind.RESERVATION, ReservationFulfiller())
        registry.register_price_step("member_discount", MemberDiscountStep())
