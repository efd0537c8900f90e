"""電話・来店予約: staff take a phone or walk-in booking in the admin (SPEC §4, issue 11).

One page, four steps, all state in the query string or hidden fields (nothing in the session):
1. the customer: one search box (name, kana, phone, e-mail), or registering a new one on the spot;
2. the item and the day, then the day's slots (fixed type) or start and end (free type) and the places;
3. how it is paid: the same methods the member site offers for this member and booking, with their prices;
4. a confirmation, then "Book" → inventory.services.reservation_create with channel "admin".

The times offered are the day's, as the member site computes them, but without its cutoff (the booking
deadline, times already past) and beyond its booking window: staff may book those with a reason, which
the service records in the audit entry. Capacity and stock are never overridden. The page only reads;
the one write is the service call (and member_register_by_staff for a new customer). The forms are in
staff_booking_forms.py, what can be booked in inventory/staff_booking.py.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from inventory import services
from inventory.admin.staff_booking_forms import (
    ItemDayForm,
    MemberSearchForm,
    RegisterCustomerForm,
    StaffFixedForm,
    StaffFreeForm,
    StaffPaymentForm,
    reason_needed_message,
)
from inventory.availability import local, merged_segments
from inventory.booking_choices import payment_offers
from inventory.models import Item, Reservation
from inventory.staff_booking import TIMING_ERRORS, staff_day, staff_preview
from members.models import Member
from members.selectors import member_search
from members.services import member_register_by_staff

PERMISSION = "inventory.add_reservation"
URL_NAME = "inventory_reservation_take"

DAY_REASONS = {
    "closed": _("The shop is closed on this day (臨時休業)."),
    "no_hours": _("There are no bookings on this day."),
    "not_opened": _("This day is not open for bookings (the item's schedule is irregular)."),
}


def take_url() -> str:
    return reverse(f"admin:{URL_NAME}")


# --- the page -------------------------------------------------------------------------------------------


def _member_from(value: str | None) -> Member | None:
    if not value or not value.isdigit():
        return None
    return Member.objects.filter(pk=int(value), is_active=True).first()


class TakeBookingView:
    """Bound to the Reservation admin (for its site, opts and permission); see the module docstring."""

    template = "admin/inventory/reservation/take.html"

    def __init__(self, model_admin):
        self.model_admin = model_admin

    def __call__(self, request):
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        if request.method == "POST" and data.get("action") == "register":
            return self.register(request)
        member = _member_from(data.get("member"))
        if member is None:
            unknown = data.get("member")
            if unknown:
                messages.error(
                    request,
                    gettext("There is no customer #{number}: search for them again.").format(number=unknown),
                )
            return self.member_step(request, data)
        return self.booking_steps(request, data, member)

    def render(self, request, context: dict):
        opts = Reservation._meta
        base = {
            **self.model_admin.admin_site.each_context(request),
            "opts": opts,
            "title": gettext("Take a booking (phone or walk-in)"),
            "changelist_url": reverse("admin:inventory_reservation_changelist"),
            "take_url": take_url(),
        }
        return TemplateResponse(request, self.template, {**base, **context})

    # --- step 1: the customer ---------------------------------------------------------------------------

    def member_step(self, request, data, register_form=None, existing=None):
        search = MemberSearchForm(data if "q" in data else None)
        query = search.cleaned_data["q"].strip() if search.is_valid() else ""
        results, more = member_search(query) if query else ([], False)
        if register_form is None:
            initial = {}
            if query and "@" in query:
                initial["email"] = query
            elif query and re.sub(r"\D", "", query) and not re.search(r"[^\d\s+()-]", query):
                initial["phone"] = query
            elif query and not any(ch.isdigit() for ch in query):
                initial["name"] = query
            register_form = RegisterCustomerForm(initial=initial)
        return self.render(
            request,
            {
                "step": "member",
                "search_form": search,
                "query": query,
                "results": results,
                "more": more,
                "register_form": register_form,
                "existing": existing,
            },
        )

    def register(self, request):
        form = RegisterCustomerForm(request.POST)
        if form.is_valid():
            try:
                member = member_register_by_staff(by=request.user, **form.cleaned_data)
            except DomainError as error:
                # the address as the form normalised it (stored addresses are written the same one way),
                # read before add_error takes the field out of cleaned_data
                email = form.cleaned_data["email"]
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
                existing = Member.objects.filter(email=email, is_active=True).first()
                return self.member_step(request, {}, register_form=form, existing=existing)
            messages.success(
                request,
                gettext(
                    "{name} is registered as a customer. They have no password yet: they can set one with "
                    "“Forgot your password?” on the login page."
                ).format(name=member.name),
            )
            return redirect(f"{take_url()}?{urlencode({'member': member.pk})}")
        return self.member_step(request, {}, register_form=form)

    # --- steps 2–4: item and time, payment, confirmation ------------------------------------------------

    def booking_steps(self, request, data, member: Member):
        now = timezone.now()
        step = data.get("step", "")
        context: dict = {"member": member}
        item_form = ItemDayForm(
            data if data.get("item") else None, user=request.user, initial={"date": timezone.localdate()}
        )
        context.update(step="item", item_form=item_form)
        if not item_form.is_valid():
            return self.render(request, context)
        item, day = item_form.cleaned_data["item"], item_form.cleaned_data["date"]
        found = staff_day(item, day, now=now)
        form_class = StaffFixedForm if item.reservation_type == Item.ReservationType.FIXED else StaffFreeForm
        chosen = step in ("payment", "confirm", "book") or any(
            data.get(name) for name in ("slot", "start_time")
        )
        time_form = form_class(
            data if chosen else None,
            item=item,
            day=found.day,
            needs_reason=found.needs_reason,
            initial={"date": day},
        )
        context.update(
            step="time",
            item=item,
            day=day,
            staff_day=found,
            day_reason=DAY_REASONS.get(found.day.reason, ""),
            time_form=time_form,
            free_ranges=merged_segments(found.day),
            day_links=self._day_links(member, item, day),
        )
        if not step or not time_form.is_valid():
            return self.render(request, context)  # "change the time" comes back here with the time chosen
        starts_at, ends_at = time_form.booking_range()
        quantity = time_form.cleaned_data["quantity"]
        try:
            quote, timing_error = staff_preview(item, starts_at, ends_at, quantity, now=now)
        except DomainError as error:
            time_form.add_domain_error(error)
            return self.render(request, context)
        offers = payment_offers(item, member, quote, starts_at)
        payment_form = StaffPaymentForm(
            data if step in ("confirm", "book") else None, offers=offers, timing_error=timing_error
        )
        chosen_query = self._time_query(member, item, day, time_form)
        carry = list(chosen_query.items())  # the booking chosen so far, as the next forms' hidden fields
        context.update(
            step="payment",
            quote=quote,
            starts_at=local(starts_at),
            ends_at=local(ends_at),
            quantity=quantity,
            timing_error=timing_error,
            payment_form=payment_form,
            offers=offers,
            carry=carry,
            change_time_url=f"{take_url()}?{urlencode(chosen_query)}",
            change_payment_url=f"{take_url()}?{urlencode({**chosen_query, 'step': 'payment'})}",
        )
        if step not in ("confirm", "book") or not payment_form.is_valid():
            return self.render(request, context)
        offer = payment_form.chosen()
        if step == "confirm":
            context.update(
                step="confirm",
                offer=offer,
                reason=payment_form.reason(),
                payment_carry=[("payment_method", offer.value), ("override_reason", payment_form.reason())],
            )
            return self.render(request, context)
        try:
            reservation = services.reservation_create(
                member=member,
                by=request.user,
                item=item,
                starts_at=starts_at,
                ends_at=ends_at,
                quantity=quantity,
                payment_method=offer.key,
                payment_option=offer.option,
                channel=Reservation.Channel.ADMIN,
                override_reason=payment_form.reason(),
            )
        except DomainError as error:
            if isinstance(error, TIMING_ERRORS):
                payment_form.add_error(
                    "override_reason" if "override_reason" in payment_form.fields else None,
                    reason_needed_message(error),
                )
            elif error.field == "payment_method":
                payment_form.add_error("payment_method", str(error.message))
            else:
                time_form.add_domain_error(error)
                context["step"] = "time"
            return self.render(request, context)
        messages.success(request, self._done_message(reservation))
        return redirect(reverse("admin:inventory_reservation_change", args=[reservation.pk]))

    # --- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _time_fields(time_form) -> list[str]:
        return [name for name in time_form.fields if name != "date"]

    def _time_query(self, member, item, day, time_form) -> dict:
        query = {"member": member.pk, "item": item.pk, "date": day.isoformat()}
        for name in self._time_fields(time_form):
            value = time_form.cleaned_data.get(name)
            query[name] = value.strftime("%H:%M") if hasattr(value, "strftime") else value
        return query

    @staticmethod
    def _day_links(member, item, day) -> dict:
        def url(d: date) -> str:
            return f"{take_url()}?{urlencode({'member': member.pk, 'item': item.pk, 'date': d.isoformat()})}"

        today = timezone.localdate()
        return {
            "previous": url(day - timedelta(days=1)) if day > today else "",
            "next": url(day + timedelta(days=1)),
        }

    @staticmethod
    def _done_message(reservation: Reservation) -> str:
        when = f"{local(reservation.starts_at):%Y-%m-%d %H:%M}"
        done = gettext("Reservation #{number} for {member} on {when} is booked.").format(
            number=reservation.pk, member=reservation.member.name or reservation.member.email, when=when
        )
        if reservation.status == Reservation.Status.CONFIRMED:
            confirmed = gettext("It is confirmed; the customer is e-mailed a confirmation.")
            return f"{done} {confirmed}"
        if reservation.payment_method == "card" and reservation.hold_until:
            return "{} {}".format(
                done,
                gettext(
                    "A payment link is e-mailed to {email}; the places are held until {until} and released "
                    "if it is not paid by then."
                ).format(
                    email=reservation.member.email, until=f"{local(reservation.hold_until):%Y-%m-%d %H:%M}"
                ),
            )
        tentative = gettext("It is tentative until it is paid.")
        return f"{done} {tentative}"
