"""What needs a staff member's attention, listed at the top of the admin's home page (a refund to decide,
money not yet recorded, a refund Stripe refused). Each app registers its own items in AppConfig.ready(), so
core names no domain rule; an item is shown to staff with its permission, and only while something is
waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class AttentionItem:
    label: str
    count: Callable[[], int]  # how many are waiting now (one query)
    url_name: str  # the admin list that shows them …
    query: str  # … filtered by this query string
    permission: str  # "app.codename" a staff member needs to see it


@dataclass(frozen=True)
class Waiting:
    label: str
    count: int
    url: str


_items: list[AttentionItem] = []


def register_attention(item: AttentionItem) -> None:
    _items.append(item)


def waiting_for(user) -> list[Waiting]:
    """The items `user` may act on that have something waiting, in registration order."""
    found = []
    for item in _items:
        if not user.has_perm(item.permission):
            continue
        count = item.count()
        if count:
            found.append(Waiting(str(item.label), count, f"{reverse(item.url_name)}?{item.query}"))
    return found
