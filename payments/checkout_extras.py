"""Extra inputs an order's confirm page asks for before it is made (points to use; promotions will add a
coupon code), for the pages that sell products (a ticket's purchase). Higher apps register theirs in
AppConfig.ready(); payments names none of them. The booking confirm page has its own registry in inventory
(inventory.booking_extras), which sits below payments.

The values travel as the order's options (`order_create(options=…)`), where the price steps read them. A
refusal is a DomainError whose `field` is the extra's key, shown next to that field."""

from __future__ import annotations

from abc import ABC, abstractmethod

from django import forms
from django.utils.html import escape

from core.exceptions import DomainError
from payments.registry import PriceDraft


class OrderExtra(ABC):
    """One extra input. `key` names the form field and the option."""

    key: str = ""

    @abstractmethod
    def form_field(self) -> forms.Field:
        """The (optional) form field the member fills in; a blank value means "none"."""

    def offered(self, *, draft: PriceDraft) -> bool:
        """Whether the page asks for it, given the order's draft priced without any extras."""
        return True

    def note(self, *, draft: PriceDraft) -> str:
        """A sentence next to the field (plain text)."""
        return ""


_registry: dict[str, OrderExtra] = {}


def register(extra: OrderExtra) -> None:
    _registry[extra.key] = extra


def all_extras() -> list[OrderExtra]:
    return list(_registry.values())


def is_extras_refusal(error) -> bool:
    """Whether a DomainError refuses one of the extras (its field is an extra's key), so a page shows it
    next to that field instead of as the page's message."""
    return error.field in _registry


class OrderExtrasForm(forms.Form):
    """One field per registered extra offered for the order `draft` prices (without extras), with its
    note. Without `draft` (the final step, which only parses what was posted): every extra, no notes."""

    def __init__(self, *args, draft: PriceDraft | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for extra in all_extras():
            if draft is not None and not extra.offered(draft=draft):
                continue
            field = extra.form_field()
            note = extra.note(draft=draft) if draft is not None else ""
            if note:
                field.help_text = escape(note)  # components/form.html renders help text as HTML
            self.fields[extra.key] = field

    def values(self) -> dict:
        """The extras filled in (call after is_valid())."""
        return {key: value for key, value in self.cleaned_data.items() if value not in (None, "", 0)}

    def add_domain_error(self, error) -> bool:
        """Place a refusal next to its field; False when it is about none of these fields."""
        if error.field not in self.fields:
            return False
        self.add_error(error.field, str(error.message))
        return True


def priced_with_extras(data, *, plain: PriceDraft, price, refusal=None):
    """A confirm page's extras and its price: the form for `plain` (the order's draft without extras, which
    says what is offered) bound to `data` (None: the page not posted with its extras), and the draft priced
    with the extras applied (`price(options)`), or `plain` while there are none or one is refused. A refusal
    — `refusal`, raised when the order was made, or the preview's own — goes next to its field. Returns
    (form, draft, the refusal that is about none of the form's fields, else None)."""
    form = OrderExtrasForm(data, draft=plain)
    extras = form.values() if form.is_bound and form.is_valid() else {}
    if refusal is not None:
        return form, plain, None if form.add_domain_error(refusal) else refusal
    if not extras:
        return form, plain, None
    try:
        return form, price(extras), None
    except DomainError as error:
        if not form.add_domain_error(error):
            raise
        return form, plain, None
