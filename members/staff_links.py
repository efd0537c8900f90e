"""Links on a member's admin page to what the higher apps keep about them (their point history, …). Each
app registers its own from its AppConfig.ready(), so members never imports them (ARCHITECTURE.md:
dependencies point one way); a link is shown to staff with its permission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class MemberLink:
    label: str | Promise
    url: Callable[[int], str]  # the member's id -> the page about them
    permission: str | None = None  # "app.codename" a staff member needs to see it
    order: int = 100


_links: dict[str, MemberLink] = {}


def register_member_link(key: str, link: MemberLink) -> None:
    _links[key] = link


def member_links(user, member_id: int) -> list[tuple[str, str]]:
    """(label, url) of each link `user` may follow, in order."""
    shown = sorted(
        (link for link in _links.values() if link.permission is None or user.has_perm(link.permission)),
        key=lambda link: link.order,
    )
    return [(str(link.label), link.url(member_id)) for link in shown]
