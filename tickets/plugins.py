"""tickets plugs into the apps below it (ARCHITECTURE.md): the "ticket" payment method of bookings
(inventory's registry) and the fulfiller of ticket products (payments' registry)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inventory.payment_methods import Charge, ChargeLine, PaymentMethod
from payments.exceptions import FulfilmentError
from payments.registry import ProductFulfiller
from tickets import locks, selectors, services
from tickets.exceptions import TicketError
from tickets.models import MemberTicket, TicketType

# The system names on audit entries written when nobody acts (by=None): a paid order delivered by payments,
# a booking cancelled or an order undone by a job or a payment-provider event.
ORDER_FULFILMENT = "order_fulfilment"
RESERVATION_CANCELLED = "reservation_cancelled"
ORDER_UNDONE = "order_undone"


def ticket_choice_label(ticket: MemberTicket) -> str:
    through = (
        gettext("valid through {date}").format(date=date_format(ticket.valid_through, "SHORT_DATE_FORMAT"))
        if ticket.valid_through
        else gettext("no expiry")
    )
    return gettext("Ticket: {name} ({left} of {total} uses left, {through})").format(
        name=ticket.ticket_type.name, left=ticket.uses_left, total=ticket.uses_total, through=through
    )


class TicketPayment(PaymentMethod):
    """Pay a booking with a ticket, one use per place booked, all from one ticket (SPEC §6): confirmed at
    once, costs no money (SPEC §9). Cancelling gives the uses back; a no-show keeps them used (seed 000)."""

    key = "ticket"
    label = _("Ticket")
    note = _("Paying with a ticket uses one of its uses per place booked; nothing is charged.")

    def is_available(self, *, item, member, price_yen: int) -> bool:
        return True  # which tickets fit depends on the booking's day: `choices` lists them

    def choices(self, *, item, member, starts_at, quantity: int = 1) -> list[tuple[str, str]]:
        """The tickets that can pay a booking of `quantity` places (one use per place, from one ticket)."""
        tickets = selectors.usable_tickets(
            member=member,
            item=item,
            on=timezone.localdate(starts_at),
            today=timezone.localdate(),
            uses=quantity,
        )
        return [(str(ticket.pk), ticket_choice_label(ticket)) for ticket in tickets]

    def authorise(self, *, reservation, now, option: str = "", by=None) -> None:
        ticket_id = int(option) if option.isdigit() else None
        # Whoever books uses the ticket (the member on the site, staff taking the booking).
        services.ticket_use(
            reservation=reservation, by=by or reservation.member, ticket_id=ticket_id, now=now
        )

    def release(self, *, reservation, now, by=None, refund=None, system: str = "") -> None:
        # by=None: the system job that cancelled the booking gives the use back.
        services.ticket_restore(
            reservation=reservation, by=by, system=system or RESERVATION_CANCELLED, now=now
        )

    def charged_yen(self, *, reservations) -> dict[int, int]:
        """A ticket pays the booking: no money is charged (SPEC §9)."""
        return {reservation.pk: 0 for reservation in reservations}

    def cancel_note(self, *, reservation) -> str | None:
        if reservation.quantity > 1:
            return gettext("The {uses} ticket uses this booking took are given back to your ticket.").format(
                uses=reservation.quantity
            )
        return gettext("The ticket use this booking took is given back to your ticket.")

    def no_show(self, *, reservation, now) -> None:
        """A no-show keeps the ticket's uses (seed 000): nothing is given back."""

    def price_lines(self, *, member, item, quote) -> Charge:
        # SPEC §9: a booking paid with a ticket costs no money (and so takes no member discount or coupon).
        return Charge(lines=(ChargeLine(gettext("One use of the ticket per place"), 0),), total_yen=0)


class TicketProductFulfiller(ProductFulfiller):
    """A paid ticket product puts the ticket in the buyer's wallet, valid from the payment day. The
    purchase limit is checked again here: another order may have been paid since this one was made."""

    def claims(self, *, product) -> bool:
        return product is not None and TicketType.objects.filter(product=product).exists()

    def check(self, *, line, now) -> None:
        ticket_type = TicketType.objects.select_related("product").get(product=line.product)
        services.check_purchase_allowed(member=line.order.member, ticket_type=ticket_type)

    def fulfil(self, *, line, now) -> None:
        if MemberTicket.objects.filter(order_line=line).exists():
            return
        ticket_type = TicketType.objects.select_related("product").get(product=line.product)
        member = line.order.member
        locks.member_purchase_lock(member_id=member.pk, ticket_type_id=ticket_type.pk)
        if line.quantity != 1:
            raise FulfilmentError(gettext("A ticket is bought one at a time."))
        try:
            services.check_purchase_limit(member=member, ticket_type=ticket_type)
        except TicketError as error:
            raise FulfilmentError(error.message) from error
        services.ticket_issue(
            member=member,
            ticket_type=ticket_type,
            source=MemberTicket.Source.PURCHASE,
            valid_from=timezone.localdate(now),
            order_line=line,
            by=None,
            system=ORDER_FULFILMENT,
            now=now,
        )

    def undo(self, *, line, now, by) -> None:
        for ticket in MemberTicket.objects.filter(order_line=line):
            services.ticket_revoke(
                ticket=ticket,
                by=by,
                system=ORDER_UNDONE,
                reason=gettext("Order #{order} cancelled or refunded").format(order=line.order_id),
                order_line=line,
                now=now,
            )
