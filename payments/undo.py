"""What cancelling or refunding an order in full will do, said before anyone confirms it (issue 14): the
money going back and every listener's effects (points given back, points taken back, or why they cannot
be), from payments.registry.undo_effects — the code the undo then runs. The member's cancel page, the
staff's order cancel and refund pages and the staff's reservation cancel page all read it here.

When the order's purchase points have been spent, the undo stops under the default terms; staff may then
choose to cancel without taking them back (`keep`) or to deduct the missing points from the refund in yen
(`deduct`), and a member is told to contact the shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext

from core.templatetags.core_tags import yen
from inventory.admin_forms import DEDUCT_MISSING, KEEP_GRANTED
from payments import registry
from payments.models import Order

KEEP = KEEP_GRANTED
DEDUCT = DEDUCT_MISSING


@dataclass(frozen=True)
class UndoPreview:
    """`lines`: what will happen, one sentence each. `missing` > 0: the undo cannot go ahead under these
    terms (`blocked` says why); `deduct_yen`: what deducting the missing points would take off the refund."""

    lines: tuple[str, ...]
    missing: int = 0
    blocked: str = ""
    deduct_yen: int = 0

    @property
    def is_blocked(self) -> bool:
        return self.missing > 0


def terms_for(choice: str = "", *, forced: bool = False) -> registry.UndoTerms:
    """The terms a staff answer stands for ("" / "keep" / "deduct")."""
    return registry.UndoTerms(keep_granted=choice == KEEP, deduct_missing=choice == DEDUCT, forced=forced)


def undo_preview(
    *, order: Order, now: datetime, terms: registry.UndoTerms | None = None, refund_yen: int | None = None
) -> UndoPreview:
    """What undoing `order` under `terms` does; `refund_yen`: the money that will go back with it (a line of
    its own, less what `deduct` takes). Changes nothing."""
    effects = registry.undo_effects(order=order, now=now, terms=terms or registry.UndoTerms())
    lines = []
    deduct = sum(effect.deduct_yen for effect in effects)
    if refund_yen is not None:
        if terms is not None and terms.deduct_missing and deduct:
            lines.append(
                gettext("%(amount)s is refunded (%(full)s less %(deduct)s for the points already spent).")
                % {"amount": yen(max(refund_yen - deduct, 0)), "full": yen(refund_yen), "deduct": yen(deduct)}
            )
        elif refund_yen > 0:
            lines.append(gettext("%(amount)s is refunded.") % {"amount": yen(refund_yen)})
        else:
            lines.append(gettext("Nothing is refunded."))
    lines += [effect.text for effect in effects]
    blocking = [effect for effect in effects if effect.missing]
    return UndoPreview(
        lines=tuple(lines),
        missing=sum(effect.missing for effect in blocking),
        blocked=" ".join(effect.text for effect in blocking),
        deduct_yen=deduct,
    )


def deduct_yen(*, order: Order, now: datetime, terms: registry.UndoTerms) -> int:
    """What `terms` (deduct) take off the refund of `order` for points that cannot be taken back."""
    if not terms.deduct_missing:
        return 0
    return sum(effect.deduct_yen for effect in registry.undo_effects(order=order, now=now, terms=terms))


def member_refusal(*, order: Order, now: datetime) -> str:
    """Why a member cannot cancel `order` themselves ("" when they can): points it earned have been spent,
    so only the shop can settle it."""
    preview = undo_preview(order=order, now=now)
    if not preview.is_blocked:
        return ""
    return gettext(
        "This booking cannot be cancelled online: the points it earned have already been used "
        "(%(missing)d points are missing). Please contact the shop."
    ) % {"missing": preview.missing}


# The staff's question when points are missing is inventory's (the reservation and the order admins ask it
# the same way): inventory.admin_forms.with_missing_question.


# --- bookings: the card and counter payment methods ---------------------------------------------------------


def _terms_of(refund) -> registry.UndoTerms:
    if refund is None:
        return registry.UndoTerms()
    return registry.UndoTerms(keep_granted=refund.keep_granted, deduct_missing=refund.deduct_missing)


def booking_cancel_preview(*, reservation, now: datetime, refund=None):
    """The listeners' effects of cancelling `reservation`'s orders (inventory's CancelPreview), under the
    staff's answer `refund` (None: a member's cancel, told to contact the shop when it cannot go ahead)."""
    from inventory.payment_methods import CancelPreview

    orders = Order.objects.filter(
        lines__reservation=reservation, status__in=(Order.Status.PENDING, *Order.PAID_STATUSES)
    ).distinct()
    lines, blocked, missing, deduct = [], [], 0, 0
    from payments.reservations import other_live_weeks

    for order in orders.order_by("pk"):
        if other_live_weeks(order, reservation).exists():
            if order.status == Order.Status.PENDING:
                lines += reduce_preview(order=order, reservation=reservation)
            continue  # one week of a paid repeat booking: only its share goes back, the order stays
        preview = undo_preview(order=order, now=now, terms=_terms_of(refund))
        lines += preview.lines
        missing += preview.missing
        deduct += preview.deduct_yen
        if preview.is_blocked:
            blocked.append(member_refusal(order=order, now=now) if refund is None else preview.blocked)
    if not lines:
        return None
    return CancelPreview(lines=tuple(lines), blocked=" ".join(blocked), missing=missing, deduct_yen=deduct)


def reduce_preview(*, order: Order, reservation) -> list[str]:
    """What cancelling one week of an unpaid repeat booking does to its order (services.order_reduce, from
    the same shares): the amount left to pay, and the points that week used coming back."""
    from payments.pricing import reservation_share

    dropped = reservation_share(order, reservation.pk)
    said = [
        gettext("The unpaid order asks %(new)s instead of %(old)s for the other weeks.")
        % {"new": yen(order.total_yen - dropped.paid_yen), "old": yen(order.total_yen)}
    ]
    if dropped.points_yen:
        said.append(
            gettext("%(points)s points used for this week come back.") % {"points": f"{dropped.points_yen:,}"}
        )
    return said


def release_paid_order(*, order: Order, now: datetime, refund) -> tuple[registry.UndoTerms, int]:
    """Before a booking's paid `order` is cancelled with it: the terms to undo it under and the yen the
    refund loses for points deducted. A member's cancel (`refund` None) that cannot go ahead stops here with
    the message the cancel page showed: contact the shop."""
    from payments.exceptions import OrderError

    terms = _terms_of(refund)
    if refund is None:
        refusal = member_refusal(order=order, now=now)
        if refusal:
            raise OrderError(refusal)
    return terms, deduct_yen(order=order, now=now, terms=terms)
