from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class PlanError(DomainError):
    default_message = _("This plan cannot be used that way.")


class AllowanceError(PlanError):
    """A booking cannot be paid with the plan's monthly allowance (the message says why)."""

    default_message = _("Your plan cannot pay for this booking.")


class AllowanceUsedUpError(AllowanceError):
    default_message = _("Your plan's bookings for this month are used up.")


class AllowanceLimitError(AllowanceError):
    default_message = _("You have reached your plan's limit of bookings at once.")
