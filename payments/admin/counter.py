"""Counter sales in the order admin (受注): staff mark the money received at the counter (who, when, how),
settle the unpaid order of a no-show, find the unpaid counter orders of bookings already past, and see each
order's Payment rows beside its lines. OrderAdmin (payments/admin/orders.py) takes the operations, the
filter and the inline from here; every change goes through payments.counter's services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_operations import StaffOperation
from core.templatetags.core_tags import yen
from payments import counter
from payments.admin.records import OrderRecordInline
from payments.models import Order, Payment


class CounterReceiveForm(forms.Form):
    how = forms.ChoiceField(
        label=_("Received as"),
        choices=Payment.CounterHow.choices,
        initial=Payment.CounterHow.CASH,
        widget=forms.RadioSelect,
        help_text=_(
            "How the member paid at the counter; recorded on the payment with your name and the time."
        ),
    )


class NoShowSettleForm(forms.Form):
    CANCEL, RECEIVED = "cancel", "received"

    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (CANCEL, _("Cancelled: nothing is owed (the order is cancelled)")),
            (RECEIVED, _("Received: the member paid at the counter")),
        ],
        initial=CANCEL,
        required=False,  # cancelling is the default: an answer without a choice cancels
        widget=forms.RadioSelect,
    )
    how = forms.ChoiceField(
        label=_("Received as"),
        choices=[("", "—"), *Payment.CounterHow.choices],
        required=False,
        help_text=_("Only when the money was received."),
    )

    def clean(self):
        data = super().clean()
        data["outcome"] = data.get("outcome") or self.CANCEL
        if data["outcome"] == self.RECEIVED and not data.get("how"):
            self.add_error("how", gettext("Choose how the money was received."))
        return data


def _receivable(order: Order) -> bool:
    # A no-show's order is offered "Settle no-show" instead, where cancelling is the default.
    return (
        order.status == Order.Status.PENDING
        and order.payment_method != Order.Method.FREE
        and counter.no_show_of(order) is None
    )


OPERATIONS = {
    # Keeps the key of the 入金 operation it replaces, so the order list's action and links still work.
    "mark_paid": StaffOperation(
        key="mark_paid",
        label=_("Mark received at the counter"),
        title=_("Mark the money received at the counter (入金)"),
        question=_(
            "Record that the money for these orders was received at the counter, and how? The payment is "
            "recorded with your name and the time, and each order becomes paid. A booking paid at the "
            "counter is already confirmed, so this only records the money. Card orders normally become "
            "paid by themselves when the card payment completes; mark one here only if the member paid at "
            "the counter instead (its card payment page is closed first)."
        ),
        button=_("Yes, the money was received"),
        done=lambda n: (
            ngettext(
                "%(count)d order was marked as received at the counter.",
                "%(count)d orders were marked as received at the counter.",
                n,
            )
            % {"count": n}
        ),
        run=lambda order, request, form: counter.counter_payment_receive(
            order=order, how=form.cleaned_data["how"], by=request.user
        ),
        possible=_receivable,
        skip=lambda order: (
            gettext("Order #%(number)s was already paid.") % {"number": order.pk}
            if order.status in Order.PAID_STATUSES
            else None
        ),
        form_class=CounterReceiveForm,
    ),
    "settle_no_show": StaffOperation(
        key="settle_no_show",
        label=_("Settle no-show"),
        title=_("Settle the unpaid order of a no-show"),
        question=_(
            "The member did not come and has not paid. Cancel the order (nothing is owed; the default), or "
            "record that the member paid at the counter after all?"
        ),
        button=_("Settle"),
        done=lambda n: (
            ngettext("%(count)d no-show order was settled.", "%(count)d no-show orders were settled.", n)
            % {"count": n}
        ),
        run=lambda order, request, form: counter.counter_no_show_settle(
            order=order,
            received=form.cleaned_data["outcome"] == NoShowSettleForm.RECEIVED,
            how=form.cleaned_data["how"],
            by=request.user,
        ),
        possible=lambda order: counter.no_show_of(order) is not None,
        form_class=NoShowSettleForm,
    ),
}


class UnpaidAtCounterFilter(admin.SimpleListFilter):
    """Pending counter orders whose booking is over (ended, completed or a no-show): money staff still
    have to record, or a no-show to settle."""

    title = _("at the counter")
    parameter_name = "counter_unpaid"
    PAST = "past"

    def lookups(self, request, model_admin):
        return [(self.PAST, _("Unpaid at the counter (booking past)"))]

    def queryset(self, request, queryset):
        if self.value() != self.PAST:
            return queryset
        return queryset.filter(pk__in=counter.past_unpaid_counter_orders().values("pk"))


class PaymentInline(OrderRecordInline):
    """The money received for the order: card payments and counter payments (who received it, when,
    how). Part of the order's record: never edited here."""

    model = Payment
    fields = (
        "provider",
        "state",
        "amount_display",
        "counter_how",
        "received_by",
        "succeeded_at",
        "created_at",
    )
    readonly_fields = fields
    verbose_name_plural = _("payments received")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("received_by")

    @admin.display(description=_("amount"))
    def amount_display(self, obj: Payment) -> str:
        return yen(obj.amount_yen)
