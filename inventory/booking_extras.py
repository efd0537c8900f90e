"""Extra inputs the booking's confirm step asks for beside the payment method (points to use; promotions
will add a coupon code), pluggable like the payment methods (ARCHITECTURE.md): inventory defines the
interface and the form; a higher app registers its extra in its AppConfig.ready(). inventory never imports
those apps.

The values travel with the booking: `reservation_create(extras=…)` hands them to the payment method's
`authorise(…, extras=…)` (only methods with `takes_extras`: the card and the counter, which make an order),
which prices its order with them (`order_create(options=…)`). A refusal is a DomainError whose `field` is the
extra's key, shown next to that field; nothing is booked."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from django import forms
from django.utils.html import escape

if TYPE_CHECKING:
    from inventory.payment_methods import PaymentMethod
    from inventory.quotes import Quote


class BookingExtra(ABC):
    """One extra input. `key` names the form field and the extras entry."""

    key: str = ""
    # True: `offered` and `note` also take `weeks`, the quotes of every week of a repeat booking (None: one
    # booking), which the methods that make one order for all the weeks price together.
    takes_weeks: bool = False

    @abstractmethod
    def form_field(self) -> forms.Field:
        """The (optional) form field the member fills in; a blank value means "none"."""

    def offered(self, *, member, item, quote: Quote, methods: list[PaymentMethod]) -> bool:
        """Whether the confirm page asks for it, given the offered `methods` that take extras."""
        return bool(methods)

    def note(self, *, member, item, quote: Quote, methods: list[PaymentMethod]) -> str:
        """A sentence next to the field (plain text): "You have 1,200 points; up to 800 can pay…"."""
        return ""

    def is_empty(self, value) -> bool:
        return value in (None, "", 0)


_registry: dict[str, BookingExtra] = {}


def register(extra: BookingExtra) -> None:
    _registry[extra.key] = extra


def all_extras() -> list[BookingExtra]:
    return list(_registry.values())


def extra_keys() -> set[str]:
    return set(_registry)


def without_empty(values: dict | None) -> dict:
    """`values` less what was left blank (a blank extra is no extra)."""
    return {
        key: value
        for key, value in (values or {}).items()
        if not (_registry[key].is_empty(value) if key in _registry else value in (None, "", 0))
    }


class ExtrasForm(forms.Form):
    """The extras the confirm page asks for: one field per registered extra offered for this booking, with
    its note. Without `member` (the final step, which only parses what was posted, asking nothing): every
    registered extra's field, no notes. `weeks`: the quotes of every week of a repeat booking (None: one
    booking), for the extras that take them."""

    def __init__(
        self,
        *args,
        member=None,
        item=None,
        quote: Quote | None = None,
        methods: list[PaymentMethod] = (),
        weeks: list[Quote] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        methods = [method for method in methods if method.takes_extras]
        for extra in all_extras():
            if member is None:
                self.fields[extra.key] = extra.form_field()
                continue
            asked = {"member": member, "item": item, "quote": quote, "methods": methods}
            if extra.takes_weeks:
                asked["weeks"] = weeks
            if not extra.offered(**asked):
                continue
            field = extra.form_field()
            note = extra.note(**asked)
            if note:
                field.help_text = escape(note)  # components/form.html renders help text as HTML
            self.fields[extra.key] = field

    def values(self) -> dict:
        """The extras filled in (call after is_valid())."""
        return without_empty(self.cleaned_data)

    def add_domain_error(self, error) -> bool:
        """Place a refusal next to its field; False when it is about none of these fields."""
        if error.field not in self.fields:
            return False
        self.add_error(error.field, str(error.message))
        return True
