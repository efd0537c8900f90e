"""Every state change of payments (ARCHITECTURE.md "Inside an app"), split by topic:

    orders.py     order_create, order_mark_paid, order_cancel, the 要返金 flag
    checkout.py   money in: order_checkout_start, payment_succeeded, payment_failed
    refunds.py    money out: refund_request, refund_execute, refund_settle, refunds_record_from_stripe
    reconcile.py  reconcile_payments: rows left created / pending settled against Stripe

Import from here: `from payments.services import order_create, refund_request`."""

from payments.services.checkout import (
    CheckoutStart,
    order_checkout_start,
    order_confirm_free,
    payment_failed,
    payment_for_checkout_session,
    payment_record_session,
    payment_succeeded,
    payment_test_gateway_result,
)
from payments.services.orders import (
    LineDraft,
    order_cancel,
    order_check_payable,
    order_create,
    order_lock,
    order_mark_paid,
    order_reduce,
    order_refund_needed_clear,
    order_refund_needed_set,
)
from payments.services.reconcile import ReconcileResult, reconcile_payments
from payments.services.refunds import (
    order_refund,
    order_refund_unclaimed_payment,
    refund_execute,
    refund_execute_on_commit,
    refund_request,
    refund_settle,
    refundable_left,
    refunds_record_amount_from_stripe,
    refunds_record_from_stripe,
)

__all__ = [
    "CheckoutStart",
    "LineDraft",
    "ReconcileResult",
    "order_cancel",
    "order_check_payable",
    "order_checkout_start",
    "order_confirm_free",
    "order_create",
    "order_lock",
    "order_mark_paid",
    "order_reduce",
    "order_refund",
    "order_refund_needed_clear",
    "order_refund_needed_set",
    "order_refund_unclaimed_payment",
    "payment_failed",
    "payment_for_checkout_session",
    "payment_record_session",
    "payment_succeeded",
    "payment_test_gateway_result",
    "reconcile_payments",
    "refund_execute",
    "refund_execute_on_commit",
    "refund_request",
    "refund_settle",
    "refundable_left",
    "refunds_record_amount_from_stripe",
    "refunds_record_from_stripe",
]
