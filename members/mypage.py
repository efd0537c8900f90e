"""My page is a shell: each higher app (inventory, tickets, plans, points, payments) registers its own card
from its AppConfig.ready(), so members never imports them (ARCHITECTURE.md: dependencies point one way)."""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise


@dataclass(frozen=True)
class Section:
    title: str | Promise
    description: str | Promise
    url_name: str
    link_label: str | Promise
    order: int = 100

    @property
    def url(self) -> str:
        return reverse(self.url_name)


_sections: dict[str, Section] = {}


def register_section(section: Section) -> None:
    _sections[section.url_name] = section


def sections() -> list[Section]:
    return sorted(_sections.values(), key=lambda section: section.order)


@dataclass(frozen=True)
class ProfileFact:
    """A line of the my page's profile card that a higher app supplies (the member discount, which the
    shop's payment settings show or hide)."""

    label: str | Promise
    value: str


_profile_facts: dict[str, Callable[..., ProfileFact | None]] = {}


def register_profile_fact(key: str, fact: Callable[..., ProfileFact | None]) -> None:
    """`fact(member=...)` returns the line to show, or None to show nothing."""
    _profile_facts[key] = fact


def profile_facts(member) -> list[ProfileFact]:
    return [shown for fact in _profile_facts.values() if (shown := fact(member=member)) is not None]
