from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class EmailAlreadyRegisteredError(DomainError):
    default_message = _("This e-mail address is already registered. Log in, or reset your password.")


class StaffEmailAlreadyRegisteredError(EmailAlreadyRegisteredError):
    """The same refusal as told to staff registering a customer (they may know that the address is taken)."""

    default_message = _("A member with this e-mail address is already registered: search for them instead.")


class InvalidVerificationLinkError(DomainError):
    default_message = _(
        "This verification link is invalid or has expired. Request a new one from the login page."
    )
