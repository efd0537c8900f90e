"""The words staff read for payments's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "order.created": _("Order made"),
    "order.paid": _("Order paid"),
    "order.cancelled": _("Order cancelled"),
    "order.reduced": _("Order reduced (a week cancelled before payment)"),
    "order.refunded": _("Order refunded in full"),
    "order.partially_cancelled": _("Order partially cancelled (part refunded)"),
    "order.paid_again": _("Order paid again (a part refund failed)"),
    "order.refund_requested": _("Refund requested"),
    "order.refund_needed": _("Flagged as refund needed (要返金)"),
    "order.refund_needed_cleared": _("Refund needed cleared"),
    "order.counter_received": _("Money received at the counter"),
    "order.counter_no_show_settled": _("No-show settled"),
    "payment.created": _("Payment started"),
    "payment.pending": _("Payment sent to the provider"),
    "payment.succeeded": _("Payment succeeded"),
    "payment.failed": _("Payment failed"),
    "refund.pending": _("Refund sent to the provider"),
    "refund.succeeded": _("Refund succeeded"),
    "refund.failed": _("Refund failed"),
    "refund.superseded": _("Refund superseded (already refunded)"),
    "refund.external": _("Refund made in the Stripe dashboard"),
    "payments.reconciled": _("Payments reconciled with Stripe"),
    "payments.settings_changed": _("Payment settings changed"),
    "product.created": _("Product created"),
    "product.changed": _("Product changed"),
}
