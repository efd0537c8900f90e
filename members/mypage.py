"""My page is a shell: each higher app (inventory, tickets, plans, points, payments) registers its own card
from its AppConfig.ready(), so members never imports them (ARCHITECTURE.md: dependencies point one way)."""

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
