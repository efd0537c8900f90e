"""How a reservation is paid is pluggable (ARCHITECTURE.md): inventory defines the interface and registers
"free"; payments registers "card" and "at the counter" (a counter booking makes an order, which only payments
can), tickets "ticket", plans "plan allowance" from their AppConfig.ready(). inventory never imports those
apps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inventory.exceptions import PaymentMethodError

if TYPE_CHECKING:
    from inventory.models import Reservation
    from inventory.quotes import Quote


# Places booked by staff with a payment link (or a booking approved before it is paid) are held this long
# for the member to pay through the e-mailed link.
PAYMENT_LINK_HOLD_MINUTES = 24 * 60


@dataclass(frozen=True)
class ChargeLine:
    """One line of a method's price: the booking's price (positive) or a discount (negative)."""

    label: str
    amount_yen: int

    @property
    def is_discount(self) -> bool:
        return self.amount_yen < 0


@dataclass(frozen=True)
class Charge:
    """What paying a booking with one method costs, as the confirmation page shows it. `total_yen` is the
    amount the method charges, never a list price, so what is shown is what is paid."""

    lines: tuple[ChargeLine, ...]
    total_yen: int
    details: tuple[str, ...] = ()  # how the booking's price was worked out (the quote's explanation)
    points_to_earn: int = 0  # purchase points paying it earns (shown, never part of the total)


class PaymentMethod(ABC):
    """A way to pay for a booking. Subclasses set `key` and `label` and say what booking (`authorise`),
    cancelling (`release`) and a no-show (`no_show`) do to the payment; the other hooks have defaults."""

    key: str = ""
    label: str = ""
    note: str | None = None  # a sentence shown under the choices when the method is offered
    # True: the booking is confirmed when made (or approved); False: it stays tentative until paid, and is
    # released when unpaid after `hold_minutes`. Known before the insert, so the row is written once.
    confirms_at_once: bool = True
    # True: the method makes an order priced with the booking's extras (inventory.booking_extras: points, a
    # coupon), so `authorise` and `price_lines` also take `extras` (a dict, blank values left out).
    takes_extras: bool = False

    def hold_minutes(self, *, reservation: Reservation) -> int | None:
        """How long an unpaid booking is held (None: the reservation settings' hold)."""
        return None

    def payment_url(self, *, reservation: Reservation) -> str | None:
        """An absolute link that pays the booking without logging in (e-mailed to the member when staff
        book by phone, or when a booking is approved); None for methods that take no payment online."""
        return None

    def is_available(self, *, item, member, price_yen: int) -> bool:
        """Whether the booking form offers this method for this booking."""
        return True

    def choices(self, *, item, member, starts_at, quantity: int = 1) -> list[tuple[str, str]] | None:
        """The options the member picks from (which ticket pays) for a booking of `quantity` places, each
        offered as "<key>:<option>"; an empty list hides the method; None (the default) means the method has
        no options."""
        return None

    @abstractmethod
    def authorise(self, *, reservation: Reservation, now: datetime, option: str = "", by=None) -> None:
        """Called inside the booking transaction, after capacity is secured and the reservation row is
        written (in its final status: see `confirms_at_once`); raise DomainError to refuse (the whole booking
        rolls back). `option` is what the member picked among the method's choices ("" when it has none);
        `by` is who books (the member, or staff taking the booking)."""

    def authorise_group(
        self,
        *,
        reservations: list[Reservation],
        now: datetime,
        option: str = "",
        by=None,
        extras: dict | None = None,
    ) -> None:
        """The weeks of a repeat booking (inventory.repeating), written in one transaction, paid together.
        Default: each authorised on its own (a ticket use per week). A method that makes an order overrides
        it to make ONE order with a line per week, so a once-only coupon discounts the total once."""
        for reservation in reservations:
            if self.takes_extras:
                self.authorise(reservation=reservation, now=now, option=option, by=by, extras=extras)
            else:
                self.authorise(reservation=reservation, now=now, option=option, by=by)

    def repeat_weeks(self, *, reservation: Reservation) -> list[Reservation]:
        """The live bookings paid together with `reservation` (the weeks of its repeat booking, itself
        included while live), in start order; [] when it is not part of one (the default)."""
        return []

    def lock_paid_together(self, *, reservation_id: int) -> None:  # noqa: B027 - a default: nothing to lock
        """Lock, in primary-key order, the bookings paid together with this one (every week of its repeat
        booking's order), before this one is locked for a change: a change that goes on to lock the order
        (order_lock: its bookings first, in primary-key order) then holds them in the same order as every
        other path, so cancelling two weeks of one order at once never deadlocks. Nothing by default."""

    @abstractmethod
    def release(
        self,
        *,
        reservation: Reservation,
        now: datetime,
        by=None,
        refund: RefundChoice | None = None,
        system: str = "",
    ) -> None:
        """Called inside the cancellation transaction (a member or staff cancel, or an unpaid release).
        `refund` is the staff's answer to "refund, and how much?" (None: a member's cancel or a release,
        where the shop's policy decides); `system` names the job cancelling when `by` is None."""

    @abstractmethod
    def no_show(self, *, reservation: Reservation, now: datetime) -> None:
        """Called when staff mark a no-show: what was taken is kept."""

    def next_url(self, *, reservation: Reservation) -> str | None:
        """Where the member goes after booking (a payment page); None: the reservation's page."""
        return None

    def refundable_yen(self, *, reservation: Reservation) -> int:
        """Money received for this booking that could still be refunded (staff are asked about it when
        they cancel); 0 for methods that take no money."""
        return 0

    def charged_yen(self, *, reservations: list[Reservation]) -> dict[int, int]:
        """What this method charges for each of `reservations` (by pk), read in bulk for a list page.
        Default: the booking's price."""
        return {reservation.pk: reservation.price_yen for reservation in reservations}

    def cancel_note(self, *, reservation: Reservation) -> str | None:
        """What a member's cancellation does to what they paid, said on the cancel page before they
        confirm (a refund in full, the shop deciding, a ticket use given back); None: nothing to say."""
        return None

    def cancel_preview(
        self, *, reservation: Reservation, now: datetime, refund: RefundChoice | None = None
    ) -> CancelPreview | None:
        """What cancelling the booking does beyond the payment itself (points given back or taken back), for
        the page that asks to confirm it, computed by the code the cancellation then runs; `refund`: the
        staff's answer (None: a member's cancel). None: nothing more to say."""
        return None

    def points_to_earn(self, *, reservation: Reservation) -> int:
        """Purchase points paying the booking will earn, said in the booking e-mail while it is unpaid (0:
        none, or nothing left to pay)."""
        return 0

    def money_note(self, *, reservation: Reservation, for_staff: bool = False) -> MoneyNote | None:
        """Where the booking's money stands (paid, refunded, a refund on its way), with a link to the order,
        for the member's reservation page (or, `for_staff`, the reservation's admin page); None for methods
        that take no money."""
        return None

    def price_lines(self, *, member, item, quote: Quote) -> Charge | None:
        """What this method would charge for the booking `quote` prices, line by line, shown on the
        confirmation page for each method offered; its total must be what `authorise` charges (a method
        with discounts computes them with the code that makes its order). Default: the booking's price
        with no discount. None: the method shows no price."""
        return Charge(
            lines=(ChargeLine(gettext("Booking price"), quote.total_yen),),
            total_yen=quote.total_yen,
            details=tuple(quote.lines),
        )


@dataclass(frozen=True)
class MoneyNote:
    """A sentence about the booking's money, and where to see more (the order page)."""

    text: str
    url: str = ""
    link_label: str = ""
    charge: Charge | None = None  # what the order charges, line by line, when it differs from the price
    admin_url: str = ""  # the same order in the staff admin


@dataclass(frozen=True)
class RefundChoice:
    """Staff's answer when cancelling a paid booking: refund `amount_yen` (0: keep the money). When what the
    booking's order granted cannot all be taken back (points already spent): `keep_granted` cancels without
    taking it back, `deduct_missing` takes the missing part off the refund in yen."""

    amount_yen: int
    reason: str = ""
    keep_granted: bool = False
    deduct_missing: bool = False


@dataclass(frozen=True)
class CancelPreview:
    """What a cancellation will do, one sentence a line. `blocked`: why it cannot go ahead as it stands (""
    when it can); a member is told to contact the shop, staff are asked what to do (`missing` points, what
    deducting them would take off the refund: `deduct_yen`)."""

    lines: tuple[str, ...] = ()
    blocked: str = ""
    missing: int = 0
    deduct_yen: int = 0


_registry: dict[str, PaymentMethod] = {}


def register(method: PaymentMethod) -> None:
    _registry[method.key] = method


def get(key: str) -> PaymentMethod:
    try:
        return _registry[key]
    except KeyError:
        raise PaymentMethodError(_("This payment method is not available.")) from None


def registered(key: str | None) -> PaymentMethod | None:
    """The method registered under `key`, or None (a booking's method no longer registered)."""
    return _registry.get(key or "")


def all_methods() -> list[PaymentMethod]:
    return list(_registry.values())


class FreeBooking(PaymentMethod):
    """0-yen bookings (料金計算しない, or a price of 0): confirmed at once."""

    key = "free"
    label = _("Free")

    def is_available(self, *, item, member, price_yen: int) -> bool:
        return price_yen == 0

    def authorise(self, *, reservation, now, option: str = "", by=None) -> None:
        if reservation.price_yen != 0:
            raise PaymentMethodError(_("Only bookings that cost 0 yen can be booked without payment."))

    def release(self, *, reservation, now, by=None, refund=None, system: str = "") -> None:
        """Nothing was taken, so nothing is given back."""

    def no_show(self, *, reservation, now) -> None:
        """Nothing was taken, so nothing is kept."""
