from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class PointsError(DomainError):
    default_message = _("These points cannot be changed that way.")


class NotEnoughPointsError(PointsError):
    default_message = _("You do not have enough points.")
