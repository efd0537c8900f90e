"""Payment links: a signed, expiring URL that pays one pending order without logging in.

Staff taking a card booking by phone, and staff approving a card booking (承認制), e-mail one to the
member: a customer registered on the phone has no password yet, and must still be able to pay. The link
names the order and its member, is signed with SECRET_KEY (a changed or made-up link is refused) and
expires when the places stop being held (PAYMENT_LINK_HOLD_MINUTES)."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from inventory.payment_methods import PAYMENT_LINK_HOLD_MINUTES
from payments.exceptions import PaymentLinkError
from payments.models import Order

SALT = "payments.payment-link"
MAX_AGE_SECONDS = PAYMENT_LINK_HOLD_MINUTES * 60


def payment_link_token(order: Order) -> str:
    return signing.dumps({"order": order.pk, "member": order.member_id}, salt=SALT)


def payment_link_url(order: Order) -> str:
    """The absolute link, for an e-mail (SITE_URL is the member site's address)."""
    path = reverse("payments:pay_link", args=[payment_link_token(order)])
    return settings.SITE_URL.rstrip("/") + path


def order_for_payment_link(token: str) -> Order:
    """The order a link pays; PaymentLinkError when the link was altered, made up or has expired."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise PaymentLinkError(
            _("This payment link has expired. Please contact the shop for a new one.")
        ) from None
    except signing.BadSignature:
        raise PaymentLinkError(
            _("This payment link is not valid. Please check the address in the e-mail.")
        ) from None
    order = (
        Order.objects.prefetch_related("lines")
        .filter(pk=data.get("order"), member_id=data.get("member"))
        .first()
    )
    if order is None:
        raise PaymentLinkError(_("This payment link is not valid. Please check the address in the e-mail."))
    return order
