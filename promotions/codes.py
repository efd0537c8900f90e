"""Coupon codes (SPEC §9): half-width letters and digits, case-insensitive, stored normalised.

NFKC folds full-width letters and digits to half-width (`ＳＵＭＭＥＲ１０` → `SUMMER10`), upper-casing
makes `summer10` the same code, and stripping forgives a pasted space at either end. Anything left that
is not an ASCII letter or digit is refused, so a code never depends on how a member's keyboard spells it.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MAX_CODE_LENGTH = 32
_CODE = re.compile(r"[A-Z0-9]+")


def normalise_code(text: str) -> str:
    """The stored form of a code: NFKC, stripped, upper-case. It does not validate (see `clean_code`)."""
    return unicodedata.normalize("NFKC", text or "").strip().upper()


def clean_code(text: str) -> str:
    """The normalised code, or a ValidationError saying what is wrong with it."""
    code = normalise_code(text)
    if not code:
        raise ValidationError(_("Enter a coupon code."), code="required")
    if len(code) > MAX_CODE_LENGTH:
        raise ValidationError(
            _("A coupon code has at most %(max)d letters and digits."),
            code="max_length",
            params={"max": MAX_CODE_LENGTH},
        )
    if not _CODE.fullmatch(code):
        raise ValidationError(
            _("A coupon code has only letters A–Z and digits 0–9 (no spaces or symbols)."), code="invalid"
        )
    return code


def validate_code(value: str) -> None:
    """Model-field validator: the value must already be a valid normalised code."""
    if clean_code(value) != value:
        raise ValidationError(_("Store the code normalised (upper-case, half-width)."), code="not_normalised")
