"""What members read about a booking's money (the card and counter payment methods share it): before they
cancel, what cancelling does to what they paid; on the reservation page, where the money stands, with a
link to the order. One place, so the two methods never tell a member different things."""

from __future__ import annotations

from django.db.models import Sum
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from core.templatetags.core_tags import yen
from inventory.availability import local
from inventory.models import Reservation
from inventory.payment_methods import Charge, MoneyNote
from payments import pricing
from payments.models import Order, OrderLine, Payment, PaymentSettings, Refund
from payments.services import LineDraft


def booking_draft(
    *, member, item, quote, payment_method: str, options: dict | None = None, weeks: list | None = None
):
    """The price draft of the order a booking of `quote` paid by `payment_method` makes (its one reservation
    line), through the pipeline that prices that order; `options` are the booking's extras (points).
    `weeks`: the quotes of every week of a repeat booking (inventory.repeating), a line each with its own
    start, as the one order for all the weeks has them (None: the one booking of `quote`)."""
    return pricing.price_draft(
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.RESERVATION,
                description=str(item.name),
                unit_price_yen=week.total_yen,
                item=item,
                starts_at=getattr(week, "starts_at", None),
            )
            for week in (weeks or [quote])
        ],
        payment_method=payment_method,
        options=options,
    )


def booking_charge(
    *, member, item, quote, payment_method: str, options: dict | None = None, weeks: list | None = None
) -> Charge:
    """What booking `quote` costs paid by `payment_method`, line by line, for the confirmation page: the line
    the method's `authorise` orders (the booking at its price), priced by the pipeline that prices that
    order, so the total shown is the amount charged. `weeks` (two or more quotes, one per week of a repeat
    booking): the one order's lines, a line per week, as `authorise_group` orders them."""
    draft = booking_draft(
        member=member, item=item, quote=quote, payment_method=payment_method, options=options, weeks=weeks
    )
    if weeks and len(weeks) > 1:
        label = ngettext("Booking price ({weeks} week)", "Booking price ({weeks} weeks)", len(weeks)).format(
            weeks=len(weeks)
        )
        details = [f"{local(week.starts_at):%Y-%m-%d}: {yen(week.total_yen)}" for week in weeks]
        return pricing.charge_shown(draft=draft, label=label, details=details)
    return pricing.charge_shown(draft=draft, label=gettext("Booking price"), details=quote.lines)


def points_to_earn(reservation: Reservation) -> int:
    """What paying the booking's order earns, while it is unpaid (the booking e-mail says it)."""
    order = booking_order(reservation)
    return order.points_to_earn if order is not None and order.status == Order.Status.PENDING else 0


def paid_in_cash(order: Order) -> bool:
    """Whether the money the order took was received at the counter (cash cannot go back by itself)."""
    return order.payments.filter(state=Payment.State.SUCCEEDED, provider=Payment.Provider.COUNTER).exists()


def booking_order(reservation: Reservation) -> Order | None:
    return Order.objects.filter(lines__reservation=reservation).order_by("-pk").first()


def charged_yen(*, reservations) -> dict[int, int]:
    """Each booking's order total, in one query (the latest order of each booking)."""
    rows = (
        Order.objects.filter(lines__reservation__in=reservations)
        .order_by("lines__reservation", "-pk")
        .distinct("lines__reservation")
        .values_list("lines__reservation", "total_yen")
    )
    return dict(rows)


def cancel_note(*, reservation: Reservation, automatic_refund: bool) -> str | None:
    """`automatic_refund`: whether this method's money goes back by itself under the shop's policy (a card
    can; cash handed over at the counter cannot)."""
    order = booking_order(reservation)
    if order is None:
        return None
    from payments.reservations import other_live_weeks, week_share_yen

    repeat = other_live_weeks(order, reservation).exists()  # one week of a repeat booking, others standing
    if order.status == Order.Status.PENDING:
        if repeat:
            return gettext(
                "This week is part of a repeat booking that has not been paid yet: cancelling it takes this "
                "week off the order, and the other weeks stay booked. Nothing is charged for it."
            )
        return gettext("Nothing has been paid for this booking yet, so nothing is charged.")
    if order.status not in Order.PAID_STATUSES:
        return None
    paid = yen(order.total_yen - order.refunded_yen)
    automatic = PaymentSettings.current().refund_policy == PaymentSettings.RefundPolicy.AUTOMATIC
    if repeat:
        share = yen(min(week_share_yen(order, reservation), order.total_yen - order.refunded_yen))
        if automatic_refund and automatic and not paid_in_cash(order):
            return gettext(
                "This week's share of your payment, %(amount)s, will be refunded to your card."
            ) % {"amount": share}
        return gettext(
            "This week's share of your payment is %(amount)s. The shop will contact you about refunding it "
            "after you cancel."
        ) % {"amount": share}
    if automatic_refund and automatic and not paid_in_cash(order):
        return gettext("Your payment of %(amount)s will be refunded in full to your card.") % {"amount": paid}
    return gettext("You paid %(amount)s. The shop will contact you about refunding it after you cancel.") % {
        "amount": paid
    }


def money_note(*, reservation: Reservation, for_staff: bool = False) -> MoneyNote | None:
    order = booking_order(reservation)
    if order is None:
        return None
    refunds = order.refunds.exclude(state__in=(Refund.State.FAILED, Refund.State.SUPERSEDED))
    done = refunds.filter(state__in=Refund.DONE_STATES).aggregate(total=Sum("amount_yen"))["total"] or 0
    on_the_way = refunds.filter(state__in=Refund.OPEN_STATES).aggregate(total=Sum("amount_yen"))["total"] or 0
    if on_the_way:
        text = gettext("A refund of %(amount)s is on its way.") % {"amount": yen(on_the_way)}
    elif done:
        text = gettext("%(amount)s has been refunded.") % {"amount": yen(done)}
    elif order.refund_needed:
        text = (
            gettext("Refund needed (要返金): the member cancelled; refund or decide on the order's page.")
            if for_staff
            else gettext("The shop will contact you about refunding your payment.")
        )
    elif order.status == Order.Status.PENDING and reservation.status == Reservation.Status.AWAITING:
        text = (
            gettext("To be paid at the store: %(amount)s.")
            if order.payment_method == Order.Method.COUNTER
            else gettext("To be paid by card once the shop approves the booking: %(amount)s.")
        ) % {"amount": yen(order.total_yen)}
    elif order.status == Order.Status.PENDING:
        text = (
            gettext("To be paid at the store: %(amount)s.")
            if order.payment_method == Order.Method.COUNTER
            else gettext("Not paid yet: %(amount)s.")
        ) % {"amount": yen(order.total_yen)}
    elif order.status in (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED):
        text = gettext("Paid: %(amount)s.") % {"amount": yen(order.total_yen)}
    else:
        text = gettext("The order was cancelled; nothing was paid.")
    # The reservation keeps the booking's price; the order may charge less (a member discount): show the
    # order's own lines then, so the page never says ¥2,000 above "paid ¥1,900".
    charge = None
    if order.total_yen != reservation.price_yen:
        # a repeat booking's order: every week's line, so "¥3,000" is never read as this week's price
        week_lines = [line for line in order.lines.select_related("reservation") if line.reservation_id]
        if len(week_lines) > 1:
            label = ngettext(
                "Booking price ({weeks} week)", "Booking price ({weeks} weeks)", len(week_lines)
            ).format(weeks=len(week_lines))
            details = [
                f"{local(line.reservation.starts_at):%Y-%m-%d}: {yen(line.total_yen)}"
                for line in sorted(week_lines, key=lambda line: line.reservation.starts_at)
            ]
        else:
            label = gettext("Booking price")
            details = (reservation.price_breakdown or {}).get("lines", [])
        charge = pricing.charge_shown(draft=order, label=label, details=details)
    return MoneyNote(
        charge=charge,
        text=text,
        url=reverse("payments:order_detail", args=[order.pk]),
        admin_url=reverse("admin:payments_order_change", args=[order.pk]),
        link_label=gettext("Order #%(number)s") % {"number": order.pk},
    )
