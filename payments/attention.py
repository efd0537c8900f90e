"""What payments puts on the admin home's "needs attention" list (core.attention): money staff still have
to act on, so that no refund and no counter sale waits unseen."""

from django.utils.translation import gettext_lazy as _

from core.attention import AttentionItem
from payments import counter
from payments.models import Order

ORDERS = "admin:payments_order_changelist"
CHANGE_ORDER = "payments.change_order"

ITEMS = (
    AttentionItem(
        label=_("Refunds to decide (要返金): member cancellations and refunds that failed"),
        count=lambda: Order.objects.filter(refund_needed=True).count(),
        url_name=ORDERS,
        query="refund_needed__exact=1",
        permission=CHANGE_ORDER,
    ),
    AttentionItem(
        label=_("Unpaid at the counter (booking past)"),
        count=lambda: counter.past_unpaid_counter_orders().count(),
        url_name=ORDERS,
        query="counter_unpaid=past",
        permission=CHANGE_ORDER,
    ),
)
