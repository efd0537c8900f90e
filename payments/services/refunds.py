"""Refunds: one code path for every refund, whoever starts it (staff, a member's cancel, a payment the
order could not take, Stripe's dashboard). ARCHITECTURE.md "Money movements have states".

    refund_request   short transaction: lock the order, check the amount against what is left, commit a
                     Refund (created). Nothing is sent yet.
    refund_execute   outside any transaction: mark it pending, call Stripe with the idempotency key
                     `refund-<pk>` and metadata {refund_id, order_id}, then record the outcome.
    refund_settle    the outcome (succeeded / failed / superseded), shared by our call, the webhook and the
                     reconciler; the first to arrive settles, the others find it settled.
    refunds_record_from_stripe   what Stripe says was refunded on a payment: ours are settled, any other
                     (made in the dashboard) is recorded as `external` and takes the same path.

When the refunds of an order add up to all it was paid, the order is refunded and what it delivered is
undone — once, under the order's lock, whichever refund got it there. A partial refund records the money
only; staff adjust the rest by hand.
"""

from __future__ import annotations

import logging
from datetime import datetime

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.audit import audit_log
from core.emails import queue_templated_email
from payments import registry, stripe_api
from payments.exceptions import OrderError
from payments.gateway import using_test_gateway
from payments.models import Order, Payment, Refund
from payments.services.orders import _refund_needed_cleared, actor, order_lock, order_refund_needed_set

logger = logging.getLogger(__name__)

# Orders that took money and may give some back. A cancelled order can still owe its member the money
# (a member's cancel of a paid booking cancels the order first, then refunds).
REFUNDABLE_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED, Order.Status.CANCELLED)
# Orders a refund of all that is left undoes (what they delivered, the points they earned).
UNDONE_BY_FULL_REFUND = (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED)

# Stripe's refund statuses → ours. "pending" / "requires_action": Stripe accepted it and is still working.
STRIPE_DONE = {"succeeded"}
STRIPE_FAILED = {"failed", "canceled"}


def refundable_left(order: Order) -> int:
    """What can still be refunded: the total less the refunds that left or are on their way."""
    counted = order.refunds.filter(state__in=Refund.COUNTED_STATES).exclude(source=Refund.Source.UNCLAIMED)
    return max(order.total_yen - (counted.aggregate(total=Sum("amount_yen"))["total"] or 0), 0)


def _paid_by(order: Order) -> Payment | None:
    return order.payments.filter(state=Payment.State.SUCCEEDED).first()


def shop_text(message: str, **values) -> str:
    """A reason stored on the row, in the shop's language (the member and staff read it later)."""
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(message) % values if values else gettext(message)


@transaction.atomic
def refund_request(
    *,
    order: Order,
    amount_yen: int,
    reason: str,
    by,
    source: str = Refund.Source.STAFF,
    payment: Payment | None = None,
    now: datetime | None = None,
    system: str = "",
) -> Refund:
    """Commit a Refund (created) of `amount_yen`, to be sent by refund_execute after the commit. Refused:
    an order that took no money, an amount outside 1 … what is left, no reason. Staff refunding a 要返金
    order settles the flag.

    An unclaimed payment (money that reached an order which could not take it) is refunded whole,
    whatever the order's state: it was never part of what the order was paid."""
    now = now or timezone.now()
    order = order_lock(order)
    payment = payment or _paid_by(order)
    if source == Refund.Source.UNCLAIMED:
        left = payment.amount_yen if payment is not None else amount_yen
    else:
        if order.status not in REFUNDABLE_STATUSES or order.paid_at is None:
            raise OrderError(gettext("Only a paid order can be refunded."))
        left = refundable_left(order)
    if amount_yen < 1 or amount_yen > left:
        raise OrderError(
            gettext("The refund must be between ¥1 and ¥{left:,} (what is left to refund).").format(
                left=left
            ),
            field="amount_yen",
        )
    if not reason.strip():
        raise OrderError(gettext("Enter the reason for the refund."), field="reason")
    if source == Refund.Source.STAFF and amount_yen >= left and order.status in UNDONE_BY_FULL_REFUND:
        # Refunding all that is left undoes the order: stop here, before any money moves, when the undo
        # could not go ahead (its purchase points have been spent). Staff then cancel the order instead,
        # choosing to keep the points or deduct them from the refund.
        blocking = [effect for effect in registry.undo_effects(order=order, now=now) if effect.missing]
        if blocking:
            raise OrderError(" ".join(effect.text for effect in blocking), field="amount_yen")
    refund = Refund.objects.create(
        order=order,
        payment=payment,
        source=source,
        amount_yen=amount_yen,
        reason=reason.strip()[:200],
        created_by=by,
    )
    audit_log(
        action="order.refund_requested",
        obj=order,
        payload={"refund": refund.pk, "amount_yen": amount_yen, "source": source, "reason": refund.reason},
        now=now,
        **actor(by, system),
    )
    if order.refund_needed and source == Refund.Source.STAFF:
        # Staff refunding settles 要返金; an automatic refund of a second payment does not decide the first.
        _refund_needed_cleared(order=order, by=by, system=system, now=now, decision="refund")
    if source in (Refund.Source.STAFF, Refund.Source.MEMBER_CANCEL):
        queue_templated_email(
            template="payments/refund_started",
            context={"order": order, "amount_yen": amount_yen, "member_name": order.member.name},
            to=[order.member.email],
        )
    return refund


def refund_execute_on_commit(refund: Refund, *, by=None, system: str = "") -> None:
    """Send `refund` once the surrounding transaction commits (outside its locks). A failure is logged and
    left for the reconciler: the row is committed, so nothing is lost."""
    pk = refund.pk

    def send():
        try:
            refund_execute(refund=Refund.objects.get(pk=pk), by=by, system=system)
        except Exception:
            logger.exception("Refund #%s could not be sent; the reconciler will finish it", pk)

    transaction.on_commit(send)


def _target(refund: Refund) -> str:
    """The payment intent a refund goes back through; "" when no provider is called (a counter or test
    gateway payment, or a card order paid before payments had rows and without an intent): the refund is
    recorded, the money handed back by staff."""
    payment = refund.payment
    if payment is not None:
        return payment.stripe_payment_intent_id if payment.provider == Payment.Provider.STRIPE else ""
    order = refund.order
    return order.stripe_payment_intent_id if order.payment_method == Order.Method.CARD else ""


def _by_card(refund: Refund) -> bool:
    payment = refund.payment
    if payment is not None:
        return payment.provider == Payment.Provider.STRIPE
    return refund.order.payment_method == Order.Method.CARD and not using_test_gateway()


def refund_execute(*, refund: Refund, by=None, system: str = "", now: datetime | None = None) -> Refund:
    """Send a created (or pending, when retried) refund. Never call it inside a transaction: Stripe is
    called with no row locked, between two short transactions of its own (durable, so a caller inside a
    transaction fails loudly instead of holding the order's lock over the call)."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        order = order_lock(refund.order_id)
        refund = (
            Refund.objects.select_for_update(of=("self",))
            .select_related("payment", "order")
            .get(pk=refund.pk)
        )
        if refund.state not in Refund.OPEN_STATES:
            return refund
        intent = _target(refund)
        if not intent and _by_card(refund):
            # A card payment Stripe cannot be asked about (no payment intent recorded): nothing can be sent,
            # so the refund fails and the order waits for staff (要返金) — never "refunded" with no money.
            return refund_settle(
                refund=refund,
                state=Refund.State.FAILED,
                error="no Stripe payment intent is recorded for this payment",
                by=by,
                system=system,
                now=now,
            )
        if not intent:
            # Cash at the counter, or the test gateway: recorded; staff hand the money back themselves.
            return refund_settle(refund=refund, state=Refund.State.SUCCEEDED, by=by, system=system, now=now)
        if refund.state == Refund.State.CREATED:
            refund.state = Refund.State.PENDING
            refund.save(update_fields=["state", "updated_at"])
    try:
        sent = stripe_api.refund_create(
            payment_intent=intent,
            amount_yen=refund.amount_yen,
            idempotency_key=refund.idempotency_key,
            metadata={"refund_id": str(refund.pk), "order_id": str(order.pk)},
        )
    except stripe.InvalidRequestError as error:
        # Stripe refused: nothing was sent. If the money already left another way (a dashboard refund),
        # record that refund and mark ours superseded; otherwise ours failed.
        return _refused(refund=refund, intent=intent, error=error, by=by, system=system, now=now)
    except stripe.StripeError as error:
        # No answer (network, Stripe down): the refund may or may not exist. Stay pending; the reconciler
        # asks Stripe later, finds it by its metadata or sends it again with the same key.
        logger.warning("Refund #%s: no answer from Stripe (%s); left pending", refund.pk, error)
        Refund.objects.filter(pk=refund.pk).update(error=str(error)[:300])
        refund.refresh_from_db()
        return refund
    with transaction.atomic(durable=True):
        return refund_settle(
            refund=refund,
            state=_state_of(sent.status),
            stripe_refund_id=sent.id,
            error=getattr(sent, "failure_reason", None) or "",
            by=by,
            system=system,
            now=now,
        )


def _state_of(stripe_status: str | None) -> str:
    if stripe_status in STRIPE_DONE:
        return Refund.State.SUCCEEDED
    if stripe_status in STRIPE_FAILED:
        return Refund.State.FAILED
    return Refund.State.PENDING


def _refused(*, refund: Refund, intent: str, error, by, system: str, now: datetime) -> Refund:
    already = getattr(error, "code", None) == "charge_already_refunded"
    try:
        found = stripe_api.refunds_list(payment_intent=intent)
    except stripe.StripeError:
        found = []
    with transaction.atomic(durable=True):
        refunds_record_from_stripe(order=refund.order, stripe_refunds=found, by=by, system=system, now=now)
        return refund_settle(
            refund=refund,
            state=Refund.State.SUPERSEDED if already else Refund.State.FAILED,
            error=str(getattr(error, "user_message", None) or error)[:300],
            by=by,
            system=system,
            now=now,
        )


@transaction.atomic
def refund_settle(
    *,
    refund: Refund,
    state: str,
    stripe_refund_id: str = "",
    error: str = "",
    by=None,
    system: str = "",
    now: datetime | None = None,
) -> Refund:
    """Record a refund's outcome: succeeded, failed, superseded (Stripe had refunded the charge another
    way; nothing was sent), or still pending with Stripe's id. The first path to arrive settles it; a
    settled refund is never changed again. Under the order's lock, so the order is undone once."""
    now = now or timezone.now()
    order = order_lock(refund.order_id)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.state not in Refund.OPEN_STATES:
        return refund
    fields = ["updated_at"]
    if stripe_refund_id and not refund.stripe_refund_id:
        refund.stripe_refund_id = stripe_refund_id
        fields.append("stripe_refund_id")
    if state == Refund.State.PENDING:
        refund.state = state
        refund.save(update_fields=[*fields, "state"])
        return refund
    refund.state = state
    refund.finished_at = now
    refund.error = error[:300]
    refund.save(update_fields=[*fields, "state", "finished_at", "error"])
    audit_log(
        action=f"refund.{state}",
        obj=order,
        payload={
            "refund": refund.pk,
            "amount_yen": refund.amount_yen,
            "stripe_refund_id": refund.stripe_refund_id,
            "error": refund.error,
        },
        now=now,
        **actor(by, system),
    )
    if state == Refund.State.FAILED:
        # Money is still owed and nothing will send it by itself: the order waits for staff (要返金), who
        # refund it another way or decide, and the member is told the shop will contact them.
        order_refund_needed_set(order=order, by=by, system=system, now=now)
    _order_after_refund(order=order, by=by, system=system, now=now)
    return refund


@transaction.atomic
def refunds_record_from_stripe(
    *, order: Order, stripe_refunds: list[dict], by=None, system: str = "", now: datetime | None = None
) -> Order:
    """What Stripe lists as refunded on the order's payment. Ours (known by Stripe's id, or by the
    refund_id in its metadata) are settled; one we did not make (the dashboard) becomes a Refund
    `external` — once: its Stripe id is unique — and takes the same path as ours. Safe twice, out of order,
    and concurrently with our own call (everything under the order's lock)."""
    now = now or timezone.now()
    order = order_lock(order)
    for each in stripe_refunds:
        status, stripe_id = each.get("status"), each.get("id") or ""
        ours = _ours(order, each)
        if ours is not None:
            if ours.state in Refund.OPEN_STATES:
                refund_settle(
                    refund=ours,
                    state=_state_of(status),
                    stripe_refund_id=stripe_id,
                    error=each.get("failure_reason") or "",
                    by=by,
                    system=system,
                    now=now,
                )
            elif ours.state in Refund.DONE_STATES and status in STRIPE_FAILED:
                _refund_failed_after_success(
                    refund=ours, error=each.get("failure_reason") or "", by=by, system=system, now=now
                )
            continue
        if status in STRIPE_FAILED or not stripe_id:
            continue
        _record_external(
            order=order,
            amount_yen=int(each.get("amount") or 0),
            stripe_refund_id=stripe_id,
            by=by,
            system=system,
            now=now,
        )
    return order


def _refund_failed_after_success(*, refund: Refund, error: str, by, system: str, now: datetime) -> None:
    """Stripe can fail a refund after it succeeded (the card was closed meanwhile): the money did not reach
    the member after all. The refund becomes failed, the refunded total drops, and the order waits for staff
    (要返金). What the order delivered stays undone: staff decide what to do with it."""
    order = order_lock(refund.order_id)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.state not in Refund.DONE_STATES:
        return
    before = refund.state
    refund.state = Refund.State.FAILED
    refund.error = (error or "failed after it had succeeded")[:300]
    refund.finished_at = now
    refund.save(update_fields=["state", "error", "finished_at", "updated_at"])
    audit_log(
        action="refund.failed",
        obj=order,
        payload={"refund": refund.pk, "changes": {"state": [before, refund.state]}, "error": refund.error},
        now=now,
        **actor(by, system),
    )
    order_refund_needed_set(order=order, by=by, system=system, now=now)
    _order_after_refund(order=order, by=by, system=system, now=now)


def _ours(order: Order, stripe_refund: dict) -> Refund | None:
    stripe_id = stripe_refund.get("id") or ""
    if stripe_id:
        known = Refund.objects.select_for_update().filter(stripe_refund_id=stripe_id).first()
        if known is not None:
            return known
    reference = str((stripe_refund.get("metadata") or {}).get("refund_id") or "")
    if reference.isdigit():
        return Refund.objects.select_for_update().filter(pk=int(reference), order=order).first()
    return None


def refunds_record_amount_from_stripe(
    *, order: Order, amount_refunded_yen: int, by=None, system: str = "", now: datetime | None = None
) -> Order:
    """The last resort when Stripe's refunds cannot be listed: the charge's refunded total. What it says
    beyond the refunds we know of at Stripe is recorded as one external refund (an older event with a
    smaller total records nothing)."""
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(order)
        known = (
            order.refunds.filter(state__in=Refund.DONE_STATES).aggregate(total=Sum("amount_yen"))["total"]
            or 0
        ) + (
            # Ours on their way count as known whether or not Stripe's id is recorded yet: a refund of ours
            # must never be recorded a second time as a dashboard one (the reconciler settles them exactly).
            order.refunds.filter(state__in=Refund.OPEN_STATES).aggregate(total=Sum("amount_yen"))["total"]
            or 0
        )
        unknown = min(amount_refunded_yen, order.total_yen) - known
        if unknown > 0:
            _record_external(
                order=order, amount_yen=unknown, stripe_refund_id="", by=by, system=system, now=now
            )
        return order


def _record_external(*, order: Order, amount_yen: int, stripe_refund_id: str, by, system: str, now) -> None:
    if amount_yen < 1:
        return
    refund = Refund.objects.create(
        order=order,
        payment=_paid_by(order),
        state=Refund.State.EXTERNAL,
        source=Refund.Source.DASHBOARD,
        amount_yen=amount_yen,
        reason=shop_text(gettext_noop("Refunded in the Stripe dashboard"))[:200],
        stripe_refund_id=stripe_refund_id,
        finished_at=now,
    )
    audit_log(
        action="refund.external",
        obj=order,
        payload={"refund": refund.pk, "amount_yen": amount_yen, "stripe_refund_id": stripe_refund_id},
        now=now,
        **actor(by, system),
    )
    queue_templated_email(
        template="payments/refund_started",
        context={"order": order, "amount_yen": amount_yen, "member_name": order.member.name},
        to=[order.member.email],
    )
    # Made in the dashboard: the money has gone back and nothing can stop the undo. What cannot be taken
    # back (purchase points spent) is recorded and flagged for staff.
    _order_after_refund(order=order, by=by, system=system, now=now, terms=registry.UndoTerms(forced=True))


# The money has gone back by the time a refund settles: the undo it completes can no longer stop. (A staff
# refund was checked before it was requested; a balance spent meanwhile is recorded as a shortfall.)
SETTLED_TERMS = registry.UndoTerms(forced=True)


def _order_after_refund(
    *, order: Order, by, system: str, now: datetime, terms: registry.UndoTerms = SETTLED_TERMS
) -> None:
    """Under the order's lock: the refunded total (what has left), and — when the refunds of what the order
    was paid reach its total — the order refunded and its lines undone, once, the listeners under `terms`.
    A cancelled order was undone when it was cancelled and stays cancelled, with its money back."""
    done = order.refunds.filter(state__in=Refund.DONE_STATES)
    # An order that took its money: a second payment given back (unclaimed) is not a refund of the order.
    # Never paid (cancelled before the money came): what came back is all the money there was.
    done_for_order = done.exclude(source=Refund.Source.UNCLAIMED) if order.paid_at is not None else done
    refunded = min(done_for_order.aggregate(total=Sum("amount_yen"))["total"] or 0, order.total_yen)
    fields = []
    if refunded != order.refunded_yen:
        order.refunded_yen = refunded
        fields.append("refunded_yen")
    paid_back = done.exclude(source=Refund.Source.UNCLAIMED).aggregate(total=Sum("amount_yen"))["total"] or 0
    full = order.total_yen > 0 and paid_back >= order.total_yen
    if full and order.status in Order.PAID_STATUSES:
        before = order.status
        # The status first: undoing a booking releases its payment method, which must see the order as
        # refunded already (or it would take the cancel for a member's and refund it again).
        order.status = Order.Status.REFUNDED
        order.save(update_fields=[*fields, "status", "updated_at"])
        for line in order.lines.order_by("pk"):
            registry.fulfiller_for(line.kind).undo(line=line, now=now, by=by)
        for listener in registry.order_listeners():
            listener.undone(order=order, by=by, system=system, now=now, terms=terms)
        audit_log(
            action="order.refunded",
            obj=order,
            payload={"changes": {"status": [before, order.status]}, "refunded_yen": refunded},
            now=now,
            **actor(by, system),
        )
        return
    if order.status in Order.PAID_STATUSES:
        # A part refunded: the order is partially cancelled (一部キャンセル). What it delivered and the points
        # stay as they were (SPEC §8: staff adjust by hand). A refund that failed after succeeding may bring
        # it back to paid.
        status = Order.Status.PARTIALLY_CANCELLED if refunded > 0 else Order.Status.PAID
        if status != order.status:
            before = order.status
            order.status = status
            fields.append("status")
            audit_log(
                action="order.partially_cancelled" if refunded > 0 else "order.paid_again",
                obj=order,
                payload={"changes": {"status": [before, status]}, "refunded_yen": refunded},
                now=now,
                **actor(by, system),
            )
    if fields:
        order.save(update_fields=[*fields, "updated_at"])


# --- whole refunds in one call ----------------------------------------------------------------------------


def order_refund(*, order: Order, amount_yen: int, reason: str, by, now: datetime | None = None) -> Refund:
    """Staff give back `amount_yen` of a paid order: requested, then sent at once. Returns the Refund as
    it stands after the call (succeeded, or pending / failed when Stripe did not agree)."""
    refund = refund_request(order=order, amount_yen=amount_yen, reason=reason, by=by, now=now)
    return refund_execute(refund=refund, by=by, now=now)


def order_refund_unclaimed_payment(
    *, order: Order, payment: Payment, why: str, by=None, system: str = "", now: datetime | None = None
) -> Refund:
    """A card payment that reached an order which cannot take it goes straight back to the member: the
    order was cancelled before the money arrived (an unpaid booking released), or what it pays for can no
    longer be delivered (a purchase limit reached by another order meanwhile). The whole payment is
    requested back (the caller sends it after its transaction), the member is e-mailed why."""
    refund = refund_request(
        order=order,
        payment=payment,
        amount_yen=payment.amount_yen,
        reason=shop_text(gettext_noop("Refunded automatically: %(why)s"), why=why),
        by=by,
        source=Refund.Source.UNCLAIMED,
        now=now,
        system=system,
    )
    with translation.override(settings.LANGUAGE_CODE):
        queue_templated_email(
            template="payments/payment_refunded",
            context={
                "order": order,
                "amount_yen": payment.amount_yen,
                "why": why,
                "member_name": order.member.name,
            },
            to=[order.member.email],
        )
    return refund
