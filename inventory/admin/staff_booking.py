"""電話・来店予約: staff take a phone or walk-in booking in the admin (SPEC §4, issue 11).

One page, four steps, all state in the query string or hidden fields (nothing in the session):
1. the customer: one search box (name, kana, phone, e-mail), or registering a new one on the spot;
2. the item and the day, then the day's slots (fixed type) or start and end (free type) and the places;
3. how it is paid: the same methods the member site offers for this member and booking, with their prices;
4. a confirmation, then "Book" → inventory.repeating.reservations_create (one booking, or weekly for N
   weeks) with channel "admin".

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
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from inventory import booking_extras, repeating, services
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
from inventory.booking_choices import PaymentOffer, payment_offers
from inventory.models import Item, Reservation
from inventory.staff_booking import TIMING_ERRORS, staff_day, staff_preview, staff_repeat_preview
from inventory.views import REPEATABLE_METHODS
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


def _methods_of(offers: list[PaymentOffer], weeks: int) -> list:
    """The methods offered (once each, in order): for a repeat booking, only those that can pay one."""
    methods = {offer.key: offer.method for offer in offers if weeks == 1 or offer.key in REPEATABLE_METHODS}
    return list(methods.values())


def _weeks_price_label(weeks: int) -> str:
    # the member's confirm page's label (payments.money_notes.booking_charge), so one translation serves both
    return ngettext("Booking price ({weeks} week)", "Booking price ({weeks} weeks)", weeks).format(
        weeks=weeks
    )


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
        weeks = time_form.cleaned_data.get("weeks") or 1
        week_quotes: list = []
        try:
            quote, timing_error = staff_preview(item, starts_at, ends_at, quantity, now=now)
            if weeks > 1:  # every week checked and priced as the booking will be; full weeks named
                week_quotes, timing_error = staff_repeat_preview(
                    item, starts_at, ends_at, quantity, weeks, now=now
                )
        except DomainError as error:
            time_form.add_domain_error(error)
            return self.render(request, context)
        posted = step in ("confirm", "book")
        offers = payment_offers(
            item, member, quote, starts_at, weeks=week_quotes or None, repeatable=REPEATABLE_METHODS
        )
        # The member's confirm page's extras (points to use, a coupon code: inventory.booking_extras), for the
        # methods that make an order; the offers' prices include them once they can be used.
        extras_form = booking_extras.ExtrasForm(
            data if posted else None,
            member=member,
            item=item,
            quote=quote,
            methods=_methods_of(offers, weeks),
            weeks=week_quotes or None,
        )
        extras = extras_form.values() if posted and extras_form.is_valid() else {}
        if extras:
            try:
                offers = payment_offers(
                    item,
                    member,
                    quote,
                    starts_at,
                    extras=extras,
                    weeks=week_quotes or None,
                    repeatable=REPEATABLE_METHODS,
                )
            except DomainError as error:
                if not extras_form.add_domain_error(error):
                    raise
                extras = {}
        payment_form = StaffPaymentForm(
            data if posted else None,
            offers=offers,
            timing_error=timing_error,
            weeks=weeks,
            repeatable=REPEATABLE_METHODS,
        )
        chosen_query = self._time_query(member, item, day, time_form)
        carry = list(chosen_query.items())  # the booking chosen so far, as the next forms' hidden fields
        context.update(
            step="payment",
            quote=quote,
            starts_at=local(starts_at),
            ends_at=local(ends_at),
            quantity=quantity,
            weeks=weeks,
            week_quotes=week_quotes,
            weeks_price_label=_weeks_price_label(weeks),
            weeks_total_yen=sum(week.total_yen for week in week_quotes),
            timing_error=timing_error,
            payment_form=payment_form,
            extras_form=extras_form,
            offers=payment_form.shown_offers(),
            carry=carry,
            change_time_url=f"{take_url()}?{urlencode(chosen_query)}",
            change_payment_url=f"{take_url()}?{urlencode({**chosen_query, 'step': 'payment'})}",
        )
        if not posted or not payment_form.is_valid() or (extras_form.is_bound and not extras_form.is_valid()):
            return self.render(request, context)
        offer = payment_form.chosen()
        try:
            services.method_taking(offer.key, extras)  # points or a coupon with a method that takes none
        except DomainError as error:
            if not extras_form.add_domain_error(error):
                payment_form.add_error("payment_method", str(error.message))
            return self.render(request, context)
        if step == "confirm":
            context.update(
                step="confirm",
                offer=offer,
                reason=payment_form.reason(),
                payment_carry=[
                    ("payment_method", offer.value),
                    ("override_reason", payment_form.reason()),
                    *extras.items(),
                ],
            )
            return self.render(request, context)
        try:
            reservations = repeating.reservations_create(
                weeks=weeks,
                member=member,
                by=request.user,
                item=item,
                starts_at=starts_at,
                ends_at=ends_at,
                quantity=quantity,
                payment_method=offer.key,
                payment_option=offer.option,
                extras=extras,
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
            # a coupon or points refused: next to its field, on the payment step; anything else (a full
            # week, named, or a slot taken meanwhile) on the time step
            elif not extras_form.add_domain_error(error):
                time_form.add_domain_error(error)
                context["step"] = "time"
            return self.render(request, context)
        first = reservations[0]
        if len(reservations) > 1:
            messages.success(request, self._repeat_done_message(reservations))
        else:
            messages.success(request, self._done_message(first))
        return redirect(reverse("admin:inventory_reservation_change", args=[first.pk]))

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

    @classmethod
    def _done_message(cls, reservation: Reservation) -> str:
        when = f"{local(reservation.starts_at):%Y-%m-%d %H:%M}"
        done = gettext("Reservation #{number} for {member} on {when} is booked.").format(
            number=reservation.pk, member=reservation.member.name or reservation.member.email, when=when
        )
        return f"{done} {cls._status_sentence(reservation)}"

    @classmethod
    def _repeat_done_message(cls, reservations: list[Reservation]) -> str:
        """How many weeks were booked, the first linked (its page is where staff land)."""
        first, last = reservations[0], reservations[-1]
        done = ngettext(
            "{count} week is booked for {member}, weekly from {first} to {last}: the first is {link}.",
            "{count} weeks are booked for {member}, weekly from {first} to {last}: the first is {link}.",
            len(reservations),
        )
        return format_html(
            done + " {status}",
            count=len(reservations),
            member=first.member.name or first.member.email,
            first=f"{local(first.starts_at):%Y-%m-%d}",
            last=f"{local(last.starts_at):%Y-%m-%d}",
            link=format_html(
                '<a href="{}">#{}</a>',
                reverse("admin:inventory_reservation_change", args=[first.pk]),
                first.pk,
            ),
            status=cls._status_sentence(first),
        )

    @staticmethod
    def _status_sentence(reservation: Reservation) -> str:
        """Where the booking stands: confirmed, waiting for the e-mailed card link, or tentative."""
        if reservation.status == Reservation.Status.CONFIRMED:
            return gettext("It is confirmed; the customer is e-mailed a confirmation.")
        if reservation.payment_method == "card" and reservation.hold_until:
            return gettext(
                "A payment link is e-mailed to {email}; the places are held until {until} and released "
                "if it is not paid by then."
            ).format(email=reservation.member.email, until=f"{local(reservation.hold_until):%Y-%m-%d %H:%M}")
        return gettext("It is tentative until it is paid.")
