from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class TicketError(DomainError):
    default_message = _("This ticket cannot be used that way.")


class TicketUnusableError(TicketError):
    default_message = _("None of your tickets can pay for this booking.")


class TicketLimitError(TicketError):
    default_message = _("You have reached this ticket's limit of reservations.")


class PurchaseLimitError(TicketError):
    default_message = _("You have already bought this ticket as many times as allowed.")
