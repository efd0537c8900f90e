"""The login forms' shared guard: the username is an e-mail address, so never longer than 254 characters."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.validators import MaxLengthValidator

# An e-mail address's longest form (RFC 5321's 256-octet path less its angle brackets); Django's
# EmailField uses the same.
USERNAME_MAX_LENGTH = 254


class UsernameLengthMixin:
    """Django's AuthenticationForm sets the username field's max_length after the field was built, so the
    length is only a widget attribute, never checked: a longer username went on to authentication and
    axes' failure record (255 characters), which answered 500. The field refuses it here instead, so
    cleaned_data has no username and the form never authenticates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.max_length = USERNAME_MAX_LENGTH
        field.widget.attrs["maxlength"] = USERNAME_MAX_LENGTH
        field.validators.append(MaxLengthValidator(USERNAME_MAX_LENGTH))


class AdminLoginForm(UsernameLengthMixin, AdminAuthenticationForm):
    """The admin site's login form (ShopAdminSite.login_form)."""
