from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self):
        from inventory import payment_methods

        payment_methods.register(payment_methods.FreeBooking())
        payment_methods.register(payment_methods.AtCounter())
