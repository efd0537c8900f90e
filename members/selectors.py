"""Reads of members that are more than a filter."""

from __future__ import annotations

import re

from django.db.models import F, Q, Value
from django.db.models.functions import Replace

from members.models import Member

SEARCH_LIMIT = 20

_PHONE_LIKE = re.compile(r"^[\d\s\-+()（）－ー‐]+$")
_SPACES = (" ", "\u3000")  # ASCII and full-width (全角) spaces


def _without_spaces(expression):
    for space in _SPACES:
        expression = Replace(expression, Value(space), Value(""))
    return expression


def _katakana(text: str) -> str:
    """ひらがな → カタカナ, so a kana search finds a name whichever of the two it was typed in."""
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)


def _hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)


def member_search(query: str, *, limit: int = SEARCH_LIMIT) -> tuple[list[Member], bool]:
    """Active customers (not staff) whose name, kana, e-mail or phone contains `query`, for staff taking a
    booking on the phone: spaces are ignored in names (山田花子 finds 山田 花子), hiragana and katakana
    match each other, and a query of digits finds the phone number whatever its hyphens. Returns at most
    `limit` members, by kana, and whether there were more."""
    text = query.strip()
    if not text:
        return [], False
    squeezed = text
    for space in _SPACES:
        squeezed = squeezed.replace(space, "")
    condition = Q(email__icontains=text)
    for variant in {squeezed, _katakana(squeezed), _hiragana(squeezed)}:
        condition |= Q(name_flat__icontains=variant) | Q(kana_flat__icontains=variant)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 3 and _PHONE_LIKE.match(text):
        condition |= Q(phone_digits__contains=digits)
    rows = list(
        Member.objects.filter(is_active=True, is_staff=False)
        .annotate(
            name_flat=_without_spaces(F("name")),
            kana_flat=_without_spaces(F("name_kana")),
            phone_digits=Replace(F("phone"), Value("-"), Value("")),
        )
        .filter(condition)
        .order_by("name_kana", "name", "pk")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit
