"""The payment methods offered for one booking, as the member site's payment step and the staff booking page
(電話・来店予約) both show them: one choice per usable method, or one per option of a method that has options
(which ticket pays), each with what the method charges. Read-only: the booking service checks the chosen
method again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inventory import payment_methods
from inventory.models import Item
from inventory.quotes import Quote


@dataclass(frozen=True)
class MethodPrice:
    """What one offered payment method charges for the booking (its own breakdown, SPEC §9)."""

    key: str
    label: str
    charge: payment_methods.Charge


@dataclass(frozen=True)
class PaymentOffer:
    """One radio choice: "<key>" or "<key>:<option>", its label, and the method's price (None: not shown)."""

    value: str
    label: str
    method: payment_methods.PaymentMethod
    price: MethodPrice | None

    @property
    def key(self) -> str:
        return self.value.partition(":")[0]

    @property
    def option(self) -> str:
        return self.value.partition(":")[2]


def payment_offers(
    item: Item,
    member,
    quote: Quote,
    starts_at: datetime,
    *,
    extras: dict | None = None,
    weeks: list[Quote] | None = None,
    repeatable: tuple[str, ...] = (),
) -> list[PaymentOffer]:
    """Every choice for booking `quote` (its quantity) of `item` at `starts_at` for `member`, in the
    registry's order. A method whose `choices` is an empty list (no ticket fits) is not offered.

    `extras` (points, a coupon) price the methods that take them; `weeks`, the quotes of every week of a
    repeat booking, price the `repeatable` methods that make one order for all the weeks (as the member's
    confirm page, inventory.views._payment_choices). Raises the DomainError of an extra a method refuses."""
    offers = []
    for method in payment_methods.all_methods():
        if not method.is_available(item=item, member=member, price_yen=quote.total_yen):
            continue
        options = method.choices(item=item, member=member, starts_at=starts_at, quantity=quote.quantity)
        if options == []:
            continue
        if weeks and method.takes_extras and method.key in repeatable:
            charge = method.price_lines(member=member, item=item, quote=quote, extras=extras, weeks=weeks)
        elif method.takes_extras and extras:
            charge = method.price_lines(member=member, item=item, quote=quote, extras=extras)
        else:
            charge = method.price_lines(member=member, item=item, quote=quote)
        price = MethodPrice(method.key, str(method.label), charge) if charge is not None else None
        if options is None:
            offers.append(PaymentOffer(method.key, str(method.label), method, price))
        else:
            offers.extend(
                PaymentOffer(f"{method.key}:{option}", str(label), method, price) for option, label in options
            )
    return offers
