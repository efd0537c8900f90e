from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class OrderError(DomainError):
    default_message = _("This order cannot be changed that way.")


class FulfilmentError(DomainError):
    default_message = _("The order was paid, but what it pays for could not be delivered.")


class PaymentLinkError(DomainError):
    default_message = _("This payment link is not valid.")
