"""Staff admin of reservations (予約).

Reservations change state only through inventory.services (the actions below); the admin never sets a
status itself. Items and their settings are configuration, edited as ordinary model forms. Cancelling a
paid booking asks in the same confirmation page whether to refund and how much; the answer reaches the
payment method as a RefundChoice.
"""

from __future__ import annotations

import dataclasses

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.shortcuts import redirect
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_operations import StaffOperation, StaffOperationsMixin
from core.exceptions import DomainError
from inventory import payment_methods, services, stores
from inventory.admin.staff_booking import URL_NAME as TAKE_URL_NAME
from inventory.admin.staff_booking import TakeBookingView, take_url
from inventory.admin_forms import (
    ApprovalMessageForm,
    CancelReasonForm,
    missing_answer,
    refund_answer,
    with_missing_question,
    with_refund_question,
)
from inventory.models import Reservation

# ---------------------------------------------------------------------------------------------------------
# Reservations
# ---------------------------------------------------------------------------------------------------------


class PaymentMethodFilter(admin.SimpleListFilter):
    title = _("payment method")
    parameter_name = "payment_method"

    def lookups(self, request, model_admin):
        return [(method.key, method.label) for method in payment_methods.all_methods()]

    def queryset(self, request, queryset):
        return queryset.filter(payment_method=self.value()) if self.value() else queryset


def _payment_label(key: str) -> str:
    try:
        return str(payment_methods.get(key).label)
    except DomainError:
        return key


def _started_and_confirmed(reservation: Reservation) -> bool:
    return reservation.status == Reservation.Status.CONFIRMED and reservation.starts_at <= timezone.now()


def _refundable_yen(reservation: Reservation) -> int:
    try:
        return payment_methods.get(reservation.payment_method).refundable_yen(reservation=reservation)
    except DomainError:
        return 0


def cancel_preview(reservation: Reservation, **answer) -> payment_methods.CancelPreview | None:
    """What a staff cancel of `reservation` does beyond the refund (points given back and taken back), as
    the payment method's own cancellation will do it; `answer`: keep_granted / deduct_missing."""
    try:
        method = payment_methods.get(reservation.payment_method)
    except DomainError:
        return None
    refund = payment_methods.RefundChoice(amount_yen=0, **answer)
    return method.cancel_preview(reservation=reservation, now=timezone.now(), refund=refund)


def cancel_lines(reservation: Reservation, **answer) -> list[str]:
    """The confirmation's lines for one reservation: where its money stands (a ticket use given back for a
    ticket booking), then the listeners' effects (points)."""
    try:
        method = payment_methods.get(reservation.payment_method)
    except DomainError:
        return []
    note = method.money_note(reservation=reservation, for_staff=True)
    first = note.text if note is not None else method.cancel_note(reservation=reservation)
    preview = cancel_preview(reservation, **answer)
    return [line for line in (first, *(preview.lines if preview else ())) if line]


def cancel_form_for(reservations) -> type[forms.Form]:
    """The cancel confirmation's form for these reservations: the reason, and — when money was received
    for any of them — whether to refund it and how much; when points a booking earned have been spent,
    whether to cancel without taking them back or deduct them from the refund."""
    refundable = [amount for amount in (_refundable_yen(each) for each in reservations) if amount > 0]
    form_class = with_refund_question(
        CancelReasonForm,
        refundable,
        several_label=_("Refund what each paid booking can still refund, in full"),
    )
    return with_missing_question(form_class, [cancel_preview(each) for each in reservations])


def _refund_choice(reservation: Reservation, form) -> payment_methods.RefundChoice:
    """Staff's answer for this reservation (0 when nothing was paid or they keep the money)."""
    amount = refund_answer(form, refundable_yen=_refundable_yen(reservation))
    return payment_methods.RefundChoice(
        amount_yen=amount, reason=form.cleaned_data.get("reason", ""), **missing_answer(form)
    )


def _awaiting(reservation: Reservation) -> bool:
    return reservation.status == Reservation.Status.AWAITING


OPERATIONS = {
    "approve": StaffOperation(
        key="approve",
        label=_("Approve this booking"),
        title=_("Approve bookings (承認)"),
        question=_(
            "Approve these bookings? The member is e-mailed. A booking paid with a ticket, at the counter or "
            "free is confirmed; a card booking is held for 24 hours for the member to pay through the link "
            "in the e-mail."
        ),
        button=_("Yes, approve them"),
        done=lambda n: (
            ngettext("%(count)d booking was approved.", "%(count)d bookings were approved.", n) % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_approve(
            reservation=reservation, by=request.user, message=form.cleaned_data["message"]
        ),
        possible=_awaiting,
        form_class=ApprovalMessageForm,
    ),
    "decline": StaffOperation(
        key="decline",
        label=_("Decline this booking"),
        title=_("Decline bookings"),
        question=_(
            "Decline these bookings? Their places are freed, a ticket use is given back, nothing is "
            "charged, and the member is e-mailed with your message."
        ),
        button=_("Yes, decline them"),
        done=lambda n: (
            ngettext("%(count)d booking was declined.", "%(count)d bookings were declined.", n) % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_decline(
            reservation=reservation, by=request.user, message=form.cleaned_data["message"]
        ),
        possible=_awaiting,
        form_class=ApprovalMessageForm,
    ),
    "cancel": StaffOperation(
        key="cancel",
        label=_("Cancel this reservation"),
        title=_("Cancel reservations"),
        question=_(
            "Cancel these reservations? The member is notified by e-mail and a ticket use or plan allowance "
            "is given back. Money received is refunded only as you say below. Staff may cancel at any time, "
            "even after the member's cancellation deadline."
        ),
        button=_("Yes, cancel them"),
        done=lambda n: (
            ngettext("%(count)d reservation was cancelled.", "%(count)d reservations were cancelled.", n)
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_cancel(
            reservation=reservation,
            by=request.user,
            reason=form.cleaned_data["reason"],
            as_staff=True,
            refund=_refund_choice(reservation, form),
        ),
        possible=lambda reservation: reservation.is_live,
        form_class=CancelReasonForm,
    ),
    "no_show": StaffOperation(
        key="no_show",
        label=_("Mark as no-show"),
        title=_("Mark as no-show (無断キャンセル)"),
        question=_(
            "Mark these reservations as no-shows? Only confirmed reservations that have started can be "
            "marked. The member is not refunded: a ticket use or plan allowance stays used."
        ),
        button=_("Yes, mark as no-show"),
        done=lambda n: (
            ngettext(
                "%(count)d reservation was marked as a no-show.",
                "%(count)d reservations were marked as no-shows.",
                n,
            )
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_mark_no_show(
            reservation=reservation, by=request.user
        ),
        possible=lambda reservation: _started_and_confirmed(reservation),
    ),
    "complete": StaffOperation(
        key="complete",
        label=_("Mark as completed"),
        title=_("Mark as completed"),
        question=_(
            "Mark these reservations as completed? Only confirmed reservations that have started can be."
        ),
        button=_("Yes, mark as completed"),
        done=lambda n: (
            ngettext(
                "%(count)d reservation was marked as completed.",
                "%(count)d reservations were marked as completed.",
                n,
            )
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_complete(
            reservation=reservation, by=request.user
        ),
        possible=lambda reservation: _started_and_confirmed(reservation),
        confirm=False,
    ),
    "confirm": StaffOperation(
        key="confirm",
        label=_("Confirm this reservation"),
        title=_("Confirm tentative reservations"),
        question=_("Confirm these tentative reservations (payment received or approved by staff)?"),
        button=_("Yes, confirm them"),
        done=lambda n: (
            ngettext("%(count)d reservation was confirmed.", "%(count)d reservations were confirmed.", n)
            % {"count": n}
        ),
        run=lambda reservation, request, form: services.reservation_confirm(
            reservation=reservation, by=request.user
        ),
        possible=lambda reservation: reservation.status == Reservation.Status.TENTATIVE,
        confirm=False,
    ),
}


@admin.register(Reservation)
class ReservationAdmin(StaffOperationsMixin, admin.ModelAdmin):
    """Reservations by date. Read-only: status changes only through the actions, which call the services."""

    list_display = (
        "number",
        "starts_at",
        "ends_at",
        "member_display",
        "item",
        "store",
        "quantity",
        "status",
        "price_display",
        "payment_display",
        "channel",
    )
    list_display_links = ("number", "starts_at")
    list_filter = ("store", "item", "status", PaymentMethodFilter, "channel")
    list_select_related = ("member", "item", "store")
    search_fields = ("member__email", "member__name", "item__code", "item__name")
    search_help_text = _("Member e-mail or name, item code or name.")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at", "-id")
    actions = (
        "approve_selected",
        "decline_selected",
        "cancel_selected",
        "mark_no_show",
        "mark_completed",
        "confirm_selected",
    )
    fieldsets = (
        (
            _("Booking"),
            {"fields": ("member", "item", "store", "slot", "starts_at", "ends_at", "quantity", "channel")},
        ),
        (
            _("Status"),
            {
                "fields": (
                    "status",
                    "approval_deadline",
                    "hold_until",
                    "confirmed_at",
                    "cancelled_at",
                    "cancelled_by",
                    "cancel_reason",
                    "completed_at",
                    "no_show_at",
                )
            },
        ),
        (_("Payment"), {"fields": ("price_display", "payment_display", "price_lines", "money_display")}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "member",
        "item",
        "store",
        "slot",
        "starts_at",
        "ends_at",
        "quantity",
        "channel",
        "status",
        "approval_deadline",
        "hold_until",
        "confirmed_at",
        "cancelled_at",
        "cancelled_by",
        "cancel_reason",
        "completed_at",
        "no_show_at",
        "price_display",
        "payment_display",
        "price_lines",
        "money_display",
        "created_at",
        "updated_at",
    )

    # --- columns --------------------------------------------------------------------------------------

    @admin.display(description=_("No."), ordering="id")
    def number(self, obj: Reservation) -> str:
        return f"#{obj.pk}"

    @admin.display(description=_("member"), ordering="member__email")
    def member_display(self, obj: Reservation) -> str:
        return format_html("{}<br><small>{}</small>", obj.member.name, obj.member.email)

    @admin.display(description=_("price"), ordering="price_yen")
    def price_display(self, obj: Reservation) -> str:
        return f"¥{obj.price_yen:,}"

    @admin.display(description=_("payment method"), ordering="payment_method")
    def payment_display(self, obj: Reservation) -> str:
        return _payment_label(obj.payment_method)

    @admin.display(description=_("price breakdown"))
    def price_lines(self, obj: Reservation) -> str:
        lines = (obj.price_breakdown or {}).get("lines") or []
        if not lines:
            return "-"
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    @admin.display(description=_("money"))
    def money_display(self, obj: Reservation) -> str:
        """Where the booking's money stands (paid, refunded, 要返金) and its order, per its payment method."""
        try:
            note = payment_methods.get(obj.payment_method).money_note(reservation=obj, for_staff=True)
        except DomainError:
            note = None
        if note is None:
            return "-"
        if note.admin_url:
            return format_html('{} <a href="{}">{}</a>', note.text, note.admin_url, note.link_label)
        return note.text

    # --- permissions: read-only change form; no adding or deleting here -------------------------------

    def has_add_permission(self, request):
        # "Add" leads to the staff booking page (電話・来店予約), which books through reservation_create.
        return super().has_add_permission(request)

    def add_view(self, request, form_url="", extra_context=None):
        return redirect(take_url())

    def get_urls(self):
        take = self.admin_site.admin_view(TakeBookingView(self))
        return [path("take/", take, name=TAKE_URL_NAME), *super().get_urls()]

    def get_queryset(self, request):
        # Staff named at some stores see those stores' bookings only (inventory.stores).
        return stores.for_user(super().get_queryset(request), request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the history and the payment ledgers refer to reservations

    def has_change_permission(self, request, obj=None):
        # The change form is view-only (status changes go through the actions); the model-level change
        # permission is what the actions require.
        return obj is None and super().has_change_permission(request)

    # --- actions --------------------------------------------------------------------------------------

    @admin.action(description=_("Approve the selected bookings (承認)…"), permissions=["change"])
    def approve_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["approve"], action="approve_selected")

    @admin.action(description=_("Decline the selected bookings…"), permissions=["change"])
    def decline_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["decline"], action="decline_selected")

    @admin.action(description=_("Cancel the selected reservations…"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["cancel"], action="cancel_selected")

    @admin.action(
        description=_("Mark the selected reservations as no-show (無断キャンセル)…"), permissions=["change"]
    )
    def mark_no_show(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["no_show"], action="mark_no_show")

    @admin.action(description=_("Mark the selected reservations as completed"), permissions=["change"])
    def mark_completed(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["complete"], action="mark_completed")

    @admin.action(description=_("Confirm the selected tentative reservations"), permissions=["change"])
    def confirm_selected(self, request, queryset):
        return self.operate(request, queryset, OPERATIONS["confirm"], action="confirm_selected")

    operations = OPERATIONS
    operation_template = "admin/inventory/reservation/confirm_operation.html"

    def operate(self, request, queryset, operation, *, action=None, ask=False):
        # The cancel question asks about money too, for the reservations at hand (see cancel_form_for).
        if operation.key != "cancel":
            return super().operate(request, queryset, operation, action=action, ask=ask)
        operation = dataclasses.replace(operation, form_class=cancel_form_for(list(queryset)))
        response = super().operate(request, queryset, operation, action=action, ask=ask)
        if response is not None:
            # The confirmation lists what each cancel will do (points given back and taken back), before
            # anyone confirms, under the answer given so far.
            form = response.context_data.get("form")
            answer = missing_answer(form) if form is not None and form.is_bound and form.is_valid() else {}
            rows = list(response.context_data["objects"])
            for reservation in rows:
                reservation.cancel_lines = cancel_lines(reservation, **answer)
            response.context_data["objects"] = rows
        return response

    def operation_rows(self, queryset):
        return queryset.select_related("member", "item", "store").order_by("starts_at", "pk")

    def operation_failed(self, reservation: Reservation, error: DomainError) -> str:
        return gettext("Reservation #%(number)s (%(member)s, %(when)s) was not changed: %(error)s") % {
            "number": reservation.pk,
            "member": reservation.member.name or reservation.member.email,
            "when": f"{timezone.localtime(reservation.starts_at):%Y-%m-%d %H:%M}",
            "error": error,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"operations": self.operation_buttons(request, self.get_object(request, unquote(object_id)))}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})
