"""Staff admin of payments (店舗管理 › 商品, 受注).

Orders change state only through payments.services (order_mark_paid, order_cancel): the change page is
read-only and the actions ask for confirmation first, then call the service once per order, each in its
own transaction, so one refusal does not undo the others. Products are configuration, edited as ordinary
model forms; a product that an order line refers to cannot be deleted (set it off sale instead).
"""

from __future__ import annotations

import dataclasses

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_operations import StaffOperation, StaffOperationsMixin
from core.exceptions import DomainError
from core.templatetags.core_tags import yen
from inventory.admin_forms import refund_answer, with_missing_question, with_refund_question
from payments import services, undo
from payments.admin import counter as counter_admin
from payments.admin.records import OrderRecordInline
from payments.models import Order, OrderLine, Refund
from payments.services.refunds import UNDONE_BY_FULL_REFUND

# ---------------------------------------------------------------------------------------------------------
# Orders (受注)
# ---------------------------------------------------------------------------------------------------------


class NoRefundForm(forms.Form):
    note = forms.CharField(label=_("Why no refund"), max_length=200)


class CancelReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


OPERATIONS = {
    **counter_admin.OPERATIONS,  # "mark_paid" (received at the counter, asks how) and "settle_no_show"
    "cancel": StaffOperation(
        key="cancel",
        label=_("Cancel this order"),
        title=_("Cancel orders"),
        question=_(
            "Cancel these orders? What they delivered is taken back (their reservations are cancelled). "
            "For an order that was paid, say whether to refund the money and how much."
        ),
        button=_("Yes, cancel them"),
        done=lambda n: (
            ngettext("%(count)d order was cancelled.", "%(count)d orders were cancelled.", n) % {"count": n}
        ),
        run=lambda order, request, form: _cancel_and_refund(order, request, form),
        possible=lambda order: order.status in (Order.Status.PENDING, *Order.PAID_STATUSES),
        skip=lambda order: (
            gettext("Order #%(number)s was already cancelled.") % {"number": order.pk}
            if order.status == Order.Status.CANCELLED
            else None
        ),
    ),
    "no_refund": StaffOperation(
        key="no_refund",
        label=_("Decide: no refund (要返金 done)"),
        title=_("Close the refund question without refunding"),
        question=_(
            "These members cancelled paid bookings and the shop decides about refunds (要返金). Record that "
            "the money is kept (or was settled another way)? To give money back, use Refund… instead."
        ),
        button=_("Yes, no refund"),
        done=lambda n: (
            ngettext(
                "%(count)d order no longer needs a refund decision.",
                "%(count)d orders no longer need a refund decision.",
                n,
            )
            % {"count": n}
        ),
        run=lambda order, request, form: services.order_refund_needed_clear(
            order=order, by=request.user, note=form.cleaned_data["note"]
        ),
        possible=lambda order: order.refund_needed,
        form_class=NoRefundForm,
    ),
}


def cancel_form_for(orders, *, now=None) -> type[forms.Form]:
    """The cancel question's form: for paid orders, whether to refund and how much; when points an order
    earned have been spent, whether to cancel without taking them back or deduct them from the refund."""
    now = now or timezone.now()
    refundable = [left for left in (_refundable(order) for order in orders) if left > 0]
    form_class = with_refund_question(
        CancelReasonForm, refundable, several_label=_("Refund what each paid order can still refund, in full")
    )
    return with_missing_question(form_class, [undo.undo_preview(order=order, now=now) for order in orders])


def _refundable(order: Order) -> int:
    return services.refundable_left(order) if order.status in Order.PAID_STATUSES else 0


def _cancel_and_refund(order: Order, request, form) -> Order:
    """Cancel, then (a paid order, staff said so) request the refund in the same transaction; it is sent
    after the commit, outside the order's lock."""
    data = form.cleaned_data if form is not None else {}
    amount = refund_answer(form, refundable_yen=_refundable(order)) if form is not None else 0
    now = timezone.now()
    terms = undo.terms_for(data.get("points", ""))
    with transaction.atomic():
        paid = order.status in Order.PAID_STATUSES
        # Points the order earned and the member spent: deducted from the refund when staff chose so.
        amount = max(amount - undo.deduct_yen(order=order, now=now, terms=terms), 0)
        order = services.order_cancel(order=order, by=request.user, now=now, terms=terms)
        if paid and amount > 0:
            refund = services.refund_request(
                order=order,
                amount_yen=amount,
                reason=data.get("reason") or gettext("Order cancelled by the shop"),
                by=request.user,
            )
            services.refund_execute_on_commit(refund, by=request.user)
    return order


class RefundForm(forms.Form):
    amount_yen = forms.IntegerField(label=_("Amount to refund (yen)"), min_value=1)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class RefundInline(OrderRecordInline):
    model = Refund
    fields = (
        "created_at",
        "state",
        "source",
        "amount_display",
        "reason",
        "created_by",
        "stripe_refund_id",
        "finished_at",
        "error",
    )
    readonly_fields = fields

    @admin.display(description=_("amount"))
    def amount_display(self, obj: Refund) -> str:
        return yen(obj.amount_yen)


class OrderLineInline(OrderRecordInline):
    model = OrderLine
    fields = (
        "kind",
        "description",
        "product",
        "reservation_link",
        "quantity",
        "unit_price_display",
        "total_display",
        "fulfilled_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "reservation")

    @admin.display(description=_("reservation"))
    def reservation_link(self, obj: OrderLine) -> str:
        if obj.reservation_id is None:
            return "-"
        url = reverse("admin:inventory_reservation_change", args=[obj.reservation_id])
        return format_html(
            '<a href="{}">#{}</a> {}', url, obj.reservation_id, obj.reservation.get_status_display()
        )

    @admin.display(description=_("unit price"))
    def unit_price_display(self, obj: OrderLine) -> str:
        return yen(obj.unit_price_yen)

    @admin.display(description=_("amount"))
    def total_display(self, obj: OrderLine) -> str:
        return yen(obj.total_yen)


@admin.register(Order)
class OrderAdmin(StaffOperationsMixin, admin.ModelAdmin):
    """受注. Read-only: payments and cancellations go through the actions, which call the services."""

    list_display = (
        "number",
        "member_display",
        "status_display",
        "payment_method",
        "total_display",
        "paid_at",
        "created_at",
    )
    list_display_links = ("number",)
    list_filter = (
        "status",
        "refund_needed",
        "payment_method",
        counter_admin.UnpaidAtCounterFilter,
        "created_at",
        "paid_at",
    )
    list_select_related = ("member",)
    search_fields = ("member__email", "member__name")
    search_help_text = _("Member e-mail or name, or the order number (#123).")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("mark_paid_selected", "cancel_selected", "no_refund_selected")
    inlines = (OrderLineInline, counter_admin.PaymentInline, RefundInline)
    fieldsets = (
        (
            _("Order"),
            {
                "fields": (
                    "number",
                    "member",
                    "status",
                    "payment_method",
                    "created_at",
                    "paid_at",
                    "cancelled_at",
                )
            },
        ),
        (
            _("Amounts (price → price rule → member discount → coupon → points)"),
            {
                "fields": (
                    "subtotal_display",
                    "price_rule_discount_display",
                    "member_discount_display",
                    "coupon_discount_display",
                    "points_used_display",
                    "total_display",
                    "refunded_display",
                )
            },
        ),
        (_("Stripe"), {"fields": ("stripe_checkout_session_id", "stripe_payment_intent_id")}),
    )
    readonly_fields = (
        "number",
        "member",
        "status",
        "payment_method",
        "created_at",
        "paid_at",
        "cancelled_at",
        "subtotal_display",
        "price_rule_discount_display",
        "member_discount_display",
        "coupon_discount_display",
        "points_used_display",
        "total_display",
        "refunded_display",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
    )

    # --- columns and fields ---------------------------------------------------------------------------

    @admin.display(description=_("No."), ordering="id")
    def number(self, obj: Order) -> str:
        return f"#{obj.pk}"

    @admin.display(description=_("member"), ordering="member__email")
    def member_display(self, obj: Order) -> str:
        return format_html("{}<br><small>{}</small>", obj.member.name, obj.member.email)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Order) -> str:
        """The status, with a 要返金 badge when staff must decide about a refund."""
        if obj.refund_needed:
            return format_html(
                '{} <strong class="badge refund-needed">{}</strong>',
                obj.get_status_display(),
                gettext("Refund needed (要返金)"),
            )
        return obj.get_status_display()

    @admin.display(description=_("subtotal"))
    def subtotal_display(self, obj: Order) -> str:
        return yen(obj.subtotal_yen)

    @admin.display(description=_("price rule discount"))
    def price_rule_discount_display(self, obj: Order) -> str:
        return _minus(obj.price_rule_discount_yen)

    @admin.display(description=_("member discount"))
    def member_discount_display(self, obj: Order) -> str:
        return _minus(obj.member_discount_yen)

    @admin.display(description=_("coupon discount"))
    def coupon_discount_display(self, obj: Order) -> str:
        return _minus(obj.coupon_discount_yen)

    @admin.display(description=_("points used"))
    def points_used_display(self, obj: Order) -> str:
        return gettext("%(points)s pt (−%(amount)s)") % {
            "points": f"{obj.points_used:,}",
            "amount": yen(obj.points_used),
        }

    @admin.display(description=_("total (tax included)"), ordering="total_yen")
    def total_display(self, obj: Order) -> str:
        return yen(obj.total_yen)

    @admin.display(description=_("refunded"))
    def refunded_display(self, obj: Order) -> str:
        return yen(obj.refunded_yen)

    # --- search: member e-mail or name, or the order number -------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_term.strip().removeprefix("#")
        if number.isdigit():
            results |= queryset.filter(pk=int(number))
        return results, may_have_duplicates

    # --- permissions: read-only change form; no adding or deleting here -------------------------------

    def has_add_permission(self, request):
        return False  # orders are made by checkout (order_create)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: an order is the record of a sale

    def has_change_permission(self, request, obj=None):
        # The change form is view-only; the model-level change permission is what the actions require.
        return obj is None and super().has_change_permission(request)

    # --- actions --------------------------------------------------------------------------------------

    @admin.action(description=_("Mark the money received at the counter (入金)…"), permissions=["change"])
    def mark_paid_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["mark_paid"], action="mark_paid_selected")

    @admin.action(description=_("Cancel the selected orders…"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["cancel"], action="cancel_selected")

    @admin.action(
        description=_("Decide: no refund for the selected orders (要返金)…"), permissions=["change"]
    )
    def no_refund_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["no_refund"], action="no_refund_selected")

    def operate(self, request, queryset, operation, *, action=None, ask=False):
        # The cancel question asks about money too, for the orders at hand (see cancel_form_for).
        if operation.key != "cancel":
            return super().operate(request, queryset, operation, action=action, ask=ask)
        operation = dataclasses.replace(operation, form_class=cancel_form_for(list(queryset)))
        response = super().operate(request, queryset, operation, action=action, ask=ask)
        if response is not None:
            # What each cancel will do (the refund, points given back and taken back), before anyone
            # confirms, under the answer given so far (everything refundable by default).
            form = response.context_data.get("form")
            answered = form is not None and form.is_bound and form.is_valid()
            terms = undo.terms_for(form.cleaned_data.get("points", "") if answered else "")
            rows, now = list(response.context_data["objects"]), timezone.now()
            for order in rows:
                left = _refundable(order)
                refund_yen = refund_answer(form, refundable_yen=left) if answered and left else left
                order.undo_lines = undo.undo_preview(
                    order=order, now=now, terms=terms, refund_yen=refund_yen if left else None
                ).lines
            response.context_data["objects"] = rows
        return response

    operations = OPERATIONS
    operation_template = "admin/payments/order/confirm_operation.html"

    def operation_rows(self, queryset):
        return queryset.select_related("member").prefetch_related("lines").order_by("pk")

    def operation_failed(self, order: Order, error: DomainError) -> str:
        return gettext("Order #%(number)s (%(member)s) was not changed: %(error)s") % {
            "number": order.pk,
            "member": order.member.name or order.member.email,
            "error": error,
        }

    # --- one order's page: the operations, and a refund ---------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/refund/", view(self.refund_view), name="payments_order_refund"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        extra = {}
        if order is not None and self.has_change_permission(request):
            extra["operations"] = self.operation_buttons(request, order)
            if (
                order.paid_at is not None
                and services.refundable_left(order) > 0
                and order.status
                in (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED, Order.Status.CANCELLED)
            ):
                extra["operations"].append(
                    (gettext("Refund…"), reverse("admin:payments_order_refund", args=[order.pk]))
                )
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def refund_view(self, request: HttpRequest, object_id: str):
        """返金: amount and reason on one page, which is also the confirmation. The POST requests the refund
        (a committed row), then sends it outside the order's lock; the page says what Stripe answered. A
        refusal is reported next to the field."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request):
            raise PermissionDenied
        left = services.refundable_left(order)
        now = timezone.now()
        # Refunding all that is left undoes the order: what that does is said before staff confirm, and
        # when its purchase points have been spent, staff choose to keep them or deduct them in yen.
        full = order.status in UNDONE_BY_FULL_REFUND and left > 0
        preview = undo.undo_preview(order=order, now=now, refund_yen=left) if full else None
        form_class = with_missing_question(RefundForm, [preview]) if full else RefundForm
        if "points" in form_class.base_fields:
            form_class.base_fields["points"].required = False
            form_class.base_fields["points"].help_text = gettext(
                "%(help)s Asked only when refunding everything that is left: the order is then cancelled."
            ) % {"help": form_class.base_fields["points"].help_text}
        form = form_class(request.POST or None, initial={"amount_yen": left})
        if request.method == "POST" and form.is_valid():
            choice = form.cleaned_data.get("points", "")
            try:
                if full and choice and form.cleaned_data["amount_yen"] == left:
                    refund = _cancel_then_refund(order, request, form.cleaned_data, choice=choice, now=now)
                else:
                    refund = services.refund_request(
                        order=order,
                        amount_yen=form.cleaned_data["amount_yen"],
                        reason=form.cleaned_data["reason"],
                        by=request.user,
                    )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                if refund is None:
                    self.message_user(
                        request,
                        gettext("Order #%(number)s was cancelled; nothing was left to refund.")
                        % {"number": order.pk},
                        messages.SUCCESS,
                    )
                else:
                    refund = services.refund_execute(refund=refund, by=request.user)
                    self.message_user(request, *_refund_outcome(refund))
                return redirect(reverse("admin:payments_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Refund order #%(number)s") % {"number": order.pk},
            "subtitle": None,
            "order": order,
            "left": left,
            "form": form,
            "undo_preview": preview,
            "button": gettext("Yes, refund this amount"),
            "changelist_url": reverse("admin:payments_order_changelist"),
            "object_url": reverse("admin:payments_order_change", args=[order.pk]),
            "object_label": f"#{order.pk}",
            "back_url": reverse("admin:payments_order_change", args=[order.pk]),
        }
        return TemplateResponse(request, "admin/payments/order/refund.html", context)


def _cancel_then_refund(order: Order, request, data: dict, *, choice: str, now) -> Refund | None:
    """A refund of all that is left on an order whose purchase points have been spent: the order is
    cancelled under staff's choice (keep the points, or deduct them) — which undoes what it delivered — and
    what is left, less the points deducted, refunded. Returns the refund to send (None: nothing left)."""
    terms = undo.terms_for(choice)
    with transaction.atomic():
        amount = max(data["amount_yen"] - undo.deduct_yen(order=order, now=now, terms=terms), 0)
        order = services.order_cancel(order=order, by=request.user, now=now, terms=terms)
        if amount == 0:
            return None
        return services.refund_request(order=order, amount_yen=amount, reason=data["reason"], by=request.user)


def _refund_outcome(refund: Refund) -> tuple[str, int]:
    values = {"amount": f"{refund.amount_yen:,}", "number": refund.order_id}
    if refund.state == Refund.State.SUCCEEDED:
        return gettext("¥%(amount)s was refunded on order #%(number)s.") % values, messages.SUCCESS
    if refund.state == Refund.State.SUPERSEDED:
        return (
            gettext(
                "Order #%(number)s had already been refunded at Stripe (in its dashboard); nothing more was "
                "sent. The refund found there is recorded."
            )
            % values,
            messages.WARNING,
        )
    if refund.state == Refund.State.FAILED:
        return (
            gettext("Stripe refused the refund of ¥%(amount)s on order #%(number)s: %(error)s")
            % {**values, "error": refund.error},
            messages.ERROR,
        )
    return (
        gettext(
            "The refund of ¥%(amount)s on order #%(number)s is on its way; Stripe has not confirmed it "
            "yet. It is checked again automatically."
        )
        % values,
        messages.WARNING,
    )


def _minus(amount: int) -> str:
    return f"−{yen(amount)}" if amount else yen(0)
