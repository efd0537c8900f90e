"""The use side of points following orders (SPEC §8): the points an order was priced with are spent when the
order is written, in its transaction, and given back when the order is cancelled or refunded in full
(pending or paid: an unpaid counter or card booking cancelled or released gives them back too).

Spending locks the member's account (points.services.points_use): a balance spent meanwhile in another tab
stops the order with the balance's message, and the whole order (and the booking around it) rolls back.
Earning and taking back purchase points is points.earning's listener, not this one."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inventory import booking_extras
from payments import checkout_extras, money_notes, registry
from points import pricing
from points.models import MAX_POINTS, PointAccount, PointEntry, PointLot, PointSettings
from points.selectors import balance_of
from points.services import points_reverse_use, points_use, use_reversal_dates


def uses_to_give_back(*, order, now: datetime) -> list[tuple[PointEntry, int, object]]:
    """The uses of `order` not given back yet, each with its points and the date they will be valid through
    once given back on `now`'s day: (use, points, date). The preview and `undone` both read it."""
    uses = [
        use
        for use in PointEntry.objects.filter(order=order, kind=PointEntry.Kind.USE).order_by("pk")
        if not use.reversals.filter(kind=PointEntry.Kind.USE_REVERSAL).exists()
    ]
    if not uses:
        return []
    settings = PointSettings.current()
    today = timezone.localdate(now)
    balance_date = (
        PointAccount.objects.filter(member_id=order.member_id).values_list("expires_on", flat=True).first()
    )
    planned = []
    for use in uses:
        lot_date, balance_date = use_reversal_dates(
            use=use, balance_expires_on=balance_date, settings=settings, today=today
        )
        planned.append((use, -use.delta, lot_date or balance_date))
    return planned


def give_back_text(points: int, valid_through) -> str:
    return gettext("{points} points come back, valid through {date}.").format(
        points=f"{points:,}", date=date_format(valid_through, "Y-m-d") if valid_through else "—"
    )


class PointsSpending(registry.OrderListener):
    def created(self, *, order, by, system: str, now: datetime, options: dict) -> None:
        if order.points_used:
            points_use(
                member=order.member,
                amount=order.points_used,
                by=by,
                system=system,
                order=order,
                now=now,
            )

    def effects(self, *, order, now: datetime, terms: registry.UndoTerms) -> list[registry.UndoEffect]:
        return [
            registry.UndoEffect(text=give_back_text(points, valid_through))
            for _use, points, valid_through in uses_to_give_back(order=order, now=now)
        ]

    def undone(self, *, order, by, system: str, now: datetime, terms: registry.UndoTerms) -> None:
        if uses_to_give_back(order=order, now=now):
            points_reverse_use(order=order, by=by, system=system or "order_undone", now=now)

    def reduced(self, *, order, dropped, by, system: str, now: datetime) -> None:
        """An unpaid order lost a week and with it `dropped.points_yen` of the points spent on it: the use is
        given back whole (as a cancellation gives it back: per record a new lot, whole balance the date put
        back) and what the order still takes is used again from that lot first, so exactly the week's points
        come back, valid as given-back points are. One balance lock (points_use's and points_reverse_use's)
        held throughout, in the order's transaction."""
        if not dropped.points_yen:
            return
        reason = gettext("One week of the repeat booking was cancelled before it was paid")
        written = points_reverse_use(
            order=order, by=by, system=system or "order_reduced", reason=reason, now=now
        )
        if order.points_used:
            lot = (
                PointLot.objects.filter(entry__in=written)
                .order_by("-pk")
                .values_list("pk", flat=True)
                .first()
            )
            points_use(
                member=order.member,
                amount=order.points_used,
                by=by,
                system=system or "order_reduced",
                order=order,
                reason=reason,
                now=now,
                first_lot_id=lot,
            )


def points_field() -> forms.Field:
    return forms.IntegerField(
        label=_("Points to use"),
        required=False,
        min_value=0,
        max_value=MAX_POINTS,
        error_messages={
            "invalid": _("Enter the points to use as a whole number."),
            "min_value": _("Enter 0 or more points."),
        },
        widget=forms.NumberInput(attrs={"min": 0, "step": 1, "inputmode": "numeric"}),
    )


class PointsToUse(booking_extras.BookingExtra):
    """The booking confirm page's "Points to use" (card and counter bookings: the methods that make an
    order), with the member's balance and how many can pay for the booking next to it."""

    key = "points"
    takes_weeks = True  # a repeat booking's points pay the one order for all its weeks

    def form_field(self) -> forms.Field:
        return points_field()

    def offered(self, *, member, item, quote, methods, weeks=None) -> bool:
        return bool(methods) and balance_of(member) > 0

    def note(self, *, member, item, quote, methods, weeks=None) -> str:
        """`weeks`: the quotes of every week of a repeat booking; the limit is then that of the one order
        for all of them (a line per week), as the confirm page prices it."""
        balance = balance_of(member)
        limits = []
        for method in methods:
            draft = money_notes.booking_draft(
                member=member, item=item, quote=quote, payment_method=method.key, weeks=weeks
            )
            payable = pricing.points_payable_yen(draft) if method.key in pricing.POINT_METHODS else 0
            limits.append((method, min(balance, payable)))
        if not limits:
            return ""
        if len({limit for _method, limit in limits}) == 1:
            return gettext("You have {balance} points; up to {limit} can pay for this booking.").format(
                balance=f"{balance:,}", limit=f"{limits[0][1]:,}"
            )
        each = gettext(", ").join(
            gettext("{limit} ({method})").format(limit=f"{limit:,}", method=method.label)
            for method, limit in limits
        )
        return gettext("You have {balance} points; up to {each} can pay for this booking.").format(
            balance=f"{balance:,}", each=each
        )


class PointsForOrder(checkout_extras.OrderExtra):
    """A product order's confirm page (a ticket's purchase): "Points to use", for an order that costs money
    and is paid by card or at the counter, with the balance and how many can pay for it."""

    key = "points"

    def form_field(self) -> forms.Field:
        return points_field()

    def offered(self, *, draft) -> bool:
        return (
            draft.payment_method in pricing.POINT_METHODS
            and draft.total_yen > 0
            and balance_of(draft.member) > 0
        )

    def note(self, *, draft) -> str:
        return gettext("You have {balance} points; up to {limit} can pay for this order.").format(
            balance=f"{balance_of(draft.member):,}", limit=f"{pricing.points_limit(draft):,}"
        )


def register() -> None:
    registry.register_price_step("points", pricing.PointsStep())
    registry.register_order_listener("points_spending", PointsSpending())
    booking_extras.register(PointsToUse())
    checkout_extras.register(PointsForOrder())
