from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import DomainError
from inventory.models import Reservation
from payments import registry
from payments.gateway import using_test_gateway
from payments.links import order_for_payment_link
from payments.models import Order, Refund
from payments.services import order_checkout_start, order_confirm_free, payment_test_gateway_result
from payments.services.checkout import nothing_to_pay
from payments.stripe_events import WebhookRejectedError, stripe_event_process, verify


def _own_order(request, pk: int) -> Order:
    return get_object_or_404(Order.objects.prefetch_related("lines"), pk=pk, member=request.user)


@login_required
def checkout(request, pk: int):
    """Where a member pays a pending order: Stripe Checkout, or the test page without Stripe keys. The
    payment is a row before Stripe is called (order_checkout_start)."""
    order = _own_order(request, pk)
    if order.status != Order.Status.PENDING:
        messages.info(
            request, gettext("This order is already %(status)s.") % {"status": order.get_status_display()}
        )
        return redirect("payments:order_detail", pk=order.pk)
    if nothing_to_pay(order):
        return _confirm_free(request, order, reverse("payments:order_detail", args=[order.pk]))
    try:
        started = order_checkout_start(
            order=order,
            by=request.user,
            success_url=request.build_absolute_uri(reverse("payments:order_detail", args=[order.pk])),
            cancel_url=request.build_absolute_uri(reverse("payments:checkout_cancelled", args=[order.pk])),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("payments:order_detail", pk=order.pk)
    return _payment_page(request, order, started, reverse("payments:test_gateway_result", args=[order.pk]))


def _confirm_free(request, order: Order, done_url: str):
    """Nothing to pay (points or discounts cover the whole order): no card, the order is paid now."""
    try:
        order_confirm_free(order=order, by=order.member)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Nothing is left to pay: your order is confirmed."))
    return redirect(done_url)


def _payment_page(request, order: Order, started, result_url: str):
    """Where a started checkout goes on: Stripe's page, or the test gateway's with its buttons posting to
    `result_url` (no Stripe keys)."""
    if started.url is not None:
        return redirect(started.url)
    return render(
        request,
        "site/payments/test_gateway.html",
        {"order": order, "payment": started.payment, "result_url": result_url},
    )


@login_required
def checkout_cancelled(request, pk: int):
    """Stripe sends the member back here when they leave the payment page: nothing was charged."""
    order = _own_order(request, pk)
    messages.info(request, gettext("The payment was not completed. You can pay later from this page."))
    return redirect("payments:order_detail", pk=order.pk)


@login_required
@require_POST
def test_gateway_result(request, pk: int):
    """The test gateway's two buttons. It exists only without Stripe keys (never in production)."""
    if not using_test_gateway():
        raise Http404
    order = _own_order(request, pk)
    succeeded = request.POST.get("result") == "succeed"
    try:
        payment_test_gateway_result(order=order, succeeded=succeeded, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("payments:order_detail", pk=order.pk)
    if succeeded:
        order.refresh_from_db()
        if order.status == Order.Status.PAID:
            messages.success(request, gettext("Payment completed (test gateway). Thank you."))
        else:
            messages.error(
                request, gettext("The order could not take the payment; it was refunded (test gateway).")
            )
        return redirect("payments:order_detail", pk=order.pk)
    messages.error(
        request, gettext("The payment failed (test gateway). Nothing was charged; you can try again.")
    )
    return redirect("payments:checkout", pk=order.pk)


@login_required
@require_http_methods(["GET"])
def order_detail(request, pk: int):
    order = _own_order(request, pk)
    refunds = list(order.refunds.exclude(state=Refund.State.SUPERSEDED).order_by("created_at", "pk"))
    # A booking awaiting the shop's approval (承認制) is paid after approval, not before.
    awaiting = order.lines.filter(reservation__status=Reservation.Status.AWAITING).exists()
    return render(
        request,
        "site/payments/order_detail.html",
        {
            "order": order,
            "refunds": refunds,
            "awaiting_approval": awaiting,
            "order_links": registry.order_links(order),
        },
    )


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's webhook endpoint: 400 for a body that fails verification, 200 once stored (a duplicate
    is answered 200 too, so Stripe stops retrying)."""
    try:
        # Verified and of an event's shape: processed exactly as Stripe sent it.
        event = verify(request.body, request.headers.get("Stripe-Signature", ""))
    except WebhookRejectedError as error:
        return JsonResponse({"error": str(error.message)}, status=400)
    processed, result = stripe_event_process(event=event, now=timezone.now())
    return JsonResponse({"received": True, "processed": processed, "result": result})


ORDERS_PER_PAGE = 20
# A receipt (領収書) exists once money was received; a fully cancelled or refunded order has none.
RECEIPT_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED)


@login_required
@require_http_methods(["GET"])
def order_list(request):
    """My page › order history: the member's own orders, newest first."""
    orders = (
        Order.objects.filter(member=request.user).prefetch_related("lines").order_by("-created_at", "-id")
    )
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "site/payments/order_list.html",
        {"orders": page.object_list, "page": page, "receipt_statuses": RECEIPT_STATUSES},
    )


@login_required
@require_http_methods(["GET"])
def order_receipt(request, pk: int):
    """A print-friendly receipt (領収書) of a paid order."""
    order = _own_order(request, pk)
    if order.status not in RECEIPT_STATUSES or order.paid_at is None:
        raise Http404
    return render(request, "site/payments/receipt.html", {"order": order})


# --- payment links: paying a pending order from an e-mailed link, without logging in -------------------


def _link_order(request, token: str):
    """The order the link pays, or a page saying why the link does not work (expired, altered)."""
    try:
        return order_for_payment_link(token), None
    except DomainError as error:
        return None, render(request, "site/payments/pay_link.html", {"error": error.message}, status=404)


@require_http_methods(["GET", "POST"])
def pay_link(request, token: str):
    """GET: the order and a button to pay it by card. POST: Stripe Checkout (or the test gateway's page).
    Whoever holds the signed link acts as the order's member, and only on this one order."""
    order, refused = _link_order(request, token)
    if refused:
        return refused
    here = reverse("payments:pay_link", args=[token])
    context = {"order": order, "token": token, "done": request.GET.get("done") == "1"}
    if request.method == "GET" or order.status != Order.Status.PENDING:
        return render(request, "site/payments/pay_link.html", context)
    if nothing_to_pay(order):
        return _confirm_free(request, order, f"{here}?done=1")
    try:
        started = order_checkout_start(
            order=order,
            by=order.member,
            success_url=request.build_absolute_uri(f"{here}?done=1"),
            cancel_url=request.build_absolute_uri(here),
        )
    except DomainError as error:
        context["error"] = error.message
        return render(request, "site/payments/pay_link.html", context)
    return _payment_page(request, order, started, reverse("payments:pay_link_test_gateway", args=[token]))


@require_POST
def pay_link_test_gateway(request, token: str):
    """The test gateway's two buttons for a link payment (never in production: no Stripe keys only)."""
    if not using_test_gateway():
        raise Http404
    order, refused = _link_order(request, token)
    if refused:
        return refused
    succeeded = request.POST.get("result") == "succeed"
    try:
        payment_test_gateway_result(order=order, succeeded=succeeded, by=order.member)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if not succeeded:
            messages.error(
                request, gettext("The payment failed (test gateway). Nothing was charged; you can try again.")
            )
    done = "?done=1" if succeeded else ""
    return redirect(reverse("payments:pay_link", args=[token]) + done)
