"""What a paid order fulfils is pluggable (ARCHITECTURE.md): payments calls the fulfiller registered for a
line's kind. Higher apps (tickets, plans) register theirs in AppConfig.ready(); payments registers the one
for reservations itself, because inventory sits below payments and cannot import it.

The price pipeline is pluggable the same way: discount steps (price rule, coupon, points) register here
and run in SPEC §9's order: item price → price rule → member discount → coupon → points."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payments.models import OrderLine


class Fulfiller(ABC):
    """What a paid order line delivers. Subclasses implement `fulfil` and `undo`; `check` defaults to
    "still payable"."""

    @abstractmethod
    def fulfil(self, *, line: OrderLine, now: datetime) -> None:
        """Deliver what the line paid for, inside the payment's transaction (idempotent)."""

    @abstractmethod
    def undo(self, *, line: OrderLine, now: datetime, by) -> None:
        """Take it back when the order is cancelled or fully refunded (idempotent)."""

    def check(self, *, line: OrderLine, now: datetime) -> None:  # noqa: B027 - a default: still payable
        """Raise DomainError when the line can no longer be paid for (a purchase limit reached meanwhile);
        called before the member is sent to pay. By default a line stays payable."""


_fulfillers: dict[str, Fulfiller] = {}


def register_fulfiller(kind: str, fulfiller: Fulfiller) -> None:
    _fulfillers[kind] = fulfiller


def fulfiller_for(kind: str) -> Fulfiller:
    return _fulfillers[kind]


def check_line(*, line: OrderLine, now: datetime) -> None:
    fulfiller_for(line.kind).check(line=line, now=now)


class NothingToDeliver(Fulfiller):
    """A product line that delivers nothing by itself (a fee line, or a product no app fulfils yet)."""

    def fulfil(self, *, line, now) -> None:
        """Nothing to deliver: the line is paid and that is all."""

    def undo(self, *, line, now, by) -> None:
        """Nothing was delivered, so nothing is taken back."""


class ProductFulfiller(Fulfiller):
    """A fulfiller of the product lines of one kind of product (ticket products, plan products)."""

    @abstractmethod
    def claims(self, *, product) -> bool:
        """Whether this fulfiller delivers what `product` sells (a ticket type's product, a plan's)."""


class ProductLines(Fulfiller):
    """The fulfiller of product lines: the first registered product fulfiller that claims the line's
    product delivers it (tickets registers one for ticket products, plans for plan products); a product
    nobody claims delivers nothing."""

    def __init__(self) -> None:
        self._fulfillers: list[ProductFulfiller] = []

    def add(self, fulfiller: ProductFulfiller) -> None:
        self._fulfillers.append(fulfiller)

    def _for(self, line: OrderLine):
        return next(
            (each for each in self._fulfillers if each.claims(product=line.product)), NothingToDeliver()
        )

    def fulfil(self, *, line: OrderLine, now: datetime) -> None:
        self._for(line).fulfil(line=line, now=now)

    def undo(self, *, line: OrderLine, now: datetime, by) -> None:
        self._for(line).undo(line=line, now=now, by=by)

    def check(self, *, line: OrderLine, now: datetime) -> None:
        self._for(line).check(line=line, now=now)


product_lines = ProductLines()


def register_product_fulfiller(fulfiller: ProductFulfiller) -> None:
    product_lines.add(fulfiller)


@dataclass
class PriceDraft:
    """An order's amounts while the pipeline runs; each step fills its own field."""

    member: object
    payment_method: str
    lines: list = field(default_factory=list)
    subtotal_yen: int = 0
    price_rule_discount_yen: int = 0
    member_discount_yen: int = 0
    coupon_discount_yen: int = 0
    points_used: int = 0
    # What paying this order will earn (points' earning step fills it); shown, never part of the total.
    points_to_earn: int = 0
    # The price rule's discount on each line (the price rule step fills it, a list as long as `lines`), so
    # cancelling one week of a repeat booking takes off what was taken off that week, not a share of another
    # week's discount. Empty: no line has one.
    line_rule_discounts: list = field(default_factory=list)
    # When the order is made (order_create's `now`), for the steps whose conditions are time-bound (a
    # coupon's validity window); None on a preview, which steps read as timezone.now().
    now: datetime | None = None

    @property
    def total_yen(self) -> int:
        return (
            self.subtotal_yen
            - self.price_rule_discount_yen
            - self.member_discount_yen
            - self.coupon_discount_yen
            - self.points_used
        )


class PriceStep(ABC):
    """One step of the price pipeline; `order` places it: 10 price rule, 20 member discount, 30 coupon,
    40 points."""

    order: int = 0

    @abstractmethod
    def apply(self, *, draft: PriceDraft, options: dict) -> None:
        """Fill this step's amount of `draft` (its discount), from what came before it."""


_steps: dict[str, PriceStep] = {}


def register_price_step(key: str, step: PriceStep) -> None:
    _steps[key] = step


def price_steps() -> list[PriceStep]:
    return sorted(_steps.values(), key=lambda step: step.order)


def apply_pipeline(draft: PriceDraft, options: dict | None = None) -> PriceDraft:
    for step in price_steps():
        step.apply(draft=draft, options=options or {})
    return draft


class ProductRule(ABC):
    """A rule a higher app holds a product to once it uses it (tickets: a ticket's product stays one-time,
    a free trial's costs 0 yen). payments cannot import those apps, so they register their rules here and
    `Product.clean()` runs every one: the product admin form, `product_save` and any import check them."""

    @abstractmethod
    def errors(self, *, product) -> dict[str, str]:
        """{product field: why `product` (with its unsaved edits) breaks the rule}; empty when it holds."""


_product_rules: dict[str, ProductRule] = {}


def register_product_rule(key: str, rule: ProductRule) -> None:
    _product_rules[key] = rule


def product_rule_errors(*, product) -> dict[str, list[str]]:
    """Every registered rule's errors for `product`, by field."""
    errors: dict[str, list[str]] = {}
    for rule in _product_rules.values():
        for name, message in rule.errors(product=product).items():
            errors.setdefault(name, []).append(message)
    return errors


@dataclass(frozen=True)
class Subscription:
    """The recurring part of a card checkout (Stripe Checkout in subscription mode), beside the order's
    one-time lines: `price_yen` every month, first billed in full at `billing_cycle_anchor` with nothing
    prorated before it, never discounted (the price pipeline prices the order's lines only)."""

    name: str
    price_yen: int
    billing_cycle_anchor: datetime
    metadata: dict[str, str] = field(default_factory=dict)


class SubscriptionSource(ABC):
    """A higher app (plans) that sells a pending order with a subscription: the order holds what is charged
    once, and `subscription_for` says what recurs."""

    @abstractmethod
    def subscription_for(self, *, order, now: datetime) -> Subscription | None:
        """The subscription `order`'s card checkout starts, or None when it starts none."""


_subscription_sources: dict[str, SubscriptionSource] = {}


def register_subscription_source(key: str, source: SubscriptionSource) -> None:
    _subscription_sources[key] = source


def subscription_for(*, order, now: datetime) -> Subscription | None:
    for source in _subscription_sources.values():
        found = source.subscription_for(order=order, now=now)
        if found is not None:
            return found
    return None


# --- where an order leads -------------------------------------------------------------------------------

# An order page links on to what the order was for (a plan's first order: "My plan"), without payments
# knowing the higher apps: each registers a function order -> (label, url) or None.
OrderLink = Callable[..., tuple[str, str] | None]
_order_links: dict[str, OrderLink] = {}


def register_order_link(key: str, link: OrderLink) -> None:
    _order_links[key] = link


def order_links(order) -> list[tuple[str, str]]:
    """The (label, url) of every page the registered apps link `order` to."""
    return [found for link in _order_links.values() if (found := link(order)) is not None]


# --- which coupon discounted an order -----------------------------------------------------------------------

# The order page, the receipt and the paid e-mail name the coupon of an order's coupon line ("Coupon
# SUMMER10"), as the confirm page's breakdown did, without payments knowing promotions: it registers a
# function order -> the coupon's code, or None.
OrderCouponCode = Callable[..., str | None]
_order_coupon_codes: dict[str, OrderCouponCode] = {}


def register_order_coupon_code(key: str, find: OrderCouponCode) -> None:
    _order_coupon_codes[key] = find


def order_coupon_code(order) -> str | None:
    """The code of the coupon that discounted `order`, as the first registered app that knows it says."""
    for find in _order_coupon_codes.values():
        if code := find(order):
            return code
    return None


# --- what follows an order's life -------------------------------------------------------------------------

# Points (and, later, promotions) follow orders without payments knowing them: each registers an
# OrderListener, called inside the order's own transaction, under the order's lock.


@dataclass(frozen=True)
class UndoTerms:
    """How an order is being undone (cancelled, or refunded in full), as the person undoing it chose.

    - `keep_granted`: staff cancel without taking back what the order granted (points already spent);
      recorded as such.
    - `deduct_missing`: staff take what cannot be taken back out of the refund instead, in yen.
    - `forced`: the money has already gone back (a refund made in the Stripe dashboard): nothing may stop
      the undo, so it takes back what it can and records the shortfall for staff."""

    keep_granted: bool = False
    deduct_missing: bool = False
    forced: bool = False


@dataclass(frozen=True)
class UndoEffect:
    """One line of what undoing an order will do, for the page that asks to confirm it (and the record of
    what it did): "200 points come back, expiring 2020-06-03". `missing` > 0 means the undo cannot go
    ahead under these terms: `text` then says why (points already spent) and how many are missing;
    `deduct_yen` is what `deduct_missing` would take out of the refund."""

    text: str
    missing: int = 0
    deduct_yen: int = 0


class OrderListener:
    """A higher app following orders (points: spends on creation, grants when paid, gives back and takes
    back when the order is undone). Every hook runs inside the order's transaction; raising DomainError
    stops the change with its message. `effects` must be computed by the same code `undone` runs, so the
    preview a member or staff confirm is what happens."""

    def created(self, *, order, by, system: str, now: datetime, options: dict) -> None:
        """The order and its lines were just written (order_create)."""

    def paid(self, *, order, by, system: str, now: datetime) -> None:
        """The order was just marked paid and its lines fulfilled (order_mark_paid)."""

    def effects(self, *, order, now: datetime, terms: UndoTerms) -> list[UndoEffect]:
        """What `undone` would do to this order under `terms`; changes nothing."""
        return []

    def undone(self, *, order, by, system: str, now: datetime, terms: UndoTerms) -> None:
        """The order was just cancelled or refunded in full; undo what this app did for it."""

    def reduced(self, *, order, dropped, by, system: str, now: datetime) -> None:
        """A pending order just lost lines (one week of an unpaid repeat booking cancelled): `order` holds
        its new amounts, `dropped` (payments.pricing.LineShares) what the lines gone had of each; follow it
        (points spent on it come back in part, the coupon's recorded discount shrinks)."""


_order_listeners: dict[str, OrderListener] = {}


def register_order_listener(key: str, listener: OrderListener) -> None:
    _order_listeners[key] = listener


def order_listeners() -> list[OrderListener]:
    return list(_order_listeners.values())


def undo_effects(*, order, now: datetime, terms: UndoTerms | None = None) -> list[UndoEffect]:
    """Every listener's preview of undoing `order` (the cancel and refund confirmation pages)."""
    terms = terms or UndoTerms()
    return [
        effect
        for listener in order_listeners()
        for effect in listener.effects(order=order, now=now, terms=terms)
    ]
