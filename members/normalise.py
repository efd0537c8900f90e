"""The one spelling of an e-mail address that names an account: NFKC, then lower case, without the blanks
around it. NFKC turns what Japanese input methods type in full width (ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ) into
ASCII; lower case because mail providers treat the local part without case and the account is one.

Every way in uses it (the login throttle, authentication, sign-up, password reset, staff registration,
the admin), so that no spelling has its own lockout counter or its own account (issue 12, item 2)."""

import unicodedata

from django import forms
from django.conf import settings

# axes stores the username in a CharField(max_length=255); an address is at most 254 characters, so a
# longer "username" names no account and is cut rather than overflowing the failure record.
_AXES_USERNAME_MAX_LENGTH = 255


def normalise_email(value: str | None) -> str:
    if not value:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip().lower()


def axes_username(request, credentials: dict | None = None) -> str:
    """AXES_USERNAME_CALLABLE: the normalised address from the credentials or, failing that, the POST."""
    field = settings.AXES_USERNAME_FORM_FIELD
    raw = credentials.get(field) if credentials else getattr(request, "data", request.POST).get(field)
    return normalise_email(raw)[:_AXES_USERNAME_MAX_LENGTH]


class NormalisedEmailField(forms.EmailField):
    """An e-mail form field that normalises before validating, so a full-width address is accepted."""

    def to_python(self, value):
        return normalise_email(super().to_python(value))


class NormalisedUsernameField(forms.CharField):
    """The login form's username: normalised, but not validated as an address (a wrong one is just a
    failed login, counted by the throttle like any other)."""

    def to_python(self, value):
        return normalise_email(super().to_python(value))

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "autocapitalize": "none", "autocomplete": "email"}
