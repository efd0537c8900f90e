"""電話・来店予約: staff take a phone or walk-in booking in the admin (SPEC §4, issue 11).

One page, four steps, all state in the query string or hidden fields (nothing in the session):
1. the customer: one search box (name, kana, phone, e-mail), or registering a new one on the spot;
2. the item and the day, then the day's slots (fixed type) or start and end (free type) and the places;
3. how it is paid: the same methods the member site offers for this member and booking, with their prices;
4. a confirmation, then "Book" → inventory.services.reservation_create with channel "admin".

The times offered are the day's, as the member site computes them, but without its cutoff (the booking
deadline, times already past) and beyond its booking window: staff may book those with a reason, which
the service records in the audit entry. Capacity and stock are never overridden. The page only reads;
the one write is the service call (and member_register_by_staff for a new customer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django import forms
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
from inventory.availability import (
    DayAvailability,
    ItemSchedule,
    check_fixed_booking,
    check_free_booking,
    check_timing,
    live_bookings,
    local,
    peak_quantity,
)
from inventory.booking_choices import PaymentOffer, payment_offers
from inventory.exceptions import SlotFullError, SoldOutError, TooEarlyError, TooLateError
from inventory.forms import FAR_FUTURE_DAYS, FixedBookingForm, FreeBookingForm, slot_value, time_label
from inventory.models import Item, Reservation, Slot
from inventory.quotes import Quote, quote_booking
from members.models import KANA_VALIDATOR, PHONE_VALIDATOR, Member
from members.selectors import member_search
from members.services import member_register_by_staff

PERMISSION = "inventory.add_reservation"
URL_NAME = "inventory_reservation_take"
TIMING_ERRORS = (TooLateError, TooEarlyError)

DAY_REASONS = {
    "closed": _("The shop is closed on this day (臨時休業)."),
    "no_hours": _("There are no bookings on this day."),
    "not_opened": _("This day is not open for bookings (the item's schedule is irregular)."),
}


def take_url() -> str:
    return reverse(f"admin:{URL_NAME}")


# --- what can be booked, for staff ----------------------------------------------------------------------


@dataclass
class StaffDay:
    """A day's slots or free segments as the member site computes them, but all of them: also those inside
    the booking deadline, already past, or beyond the booking window. `needs_reason` holds the starts a
    member could not book, which staff may book with a reason."""

    day: DayAvailability
    needs_reason: set[datetime] = field(default_factory=set)


def staff_day(item: Item, d: date, *, now: datetime) -> StaffDay:
    schedule = ItemSchedule(item, d, d)
    live = [] if schedule.fixed else live_bookings(item, schedule.range_start, schedule.range_end)
    day = schedule.day(d, live)
    needs_reason = set()
    for starts_at in [slot.starts_at for slot in day.slots] + [seg.starts_at for seg in day.segments]:
        try:
            check_timing(schedule.settings, starts_at, now)
        except TIMING_ERRORS:
            needs_reason.add(starts_at)
    return StaffDay(day, needs_reason)


def staff_preview(
    item: Item, starts_at: datetime, ends_at: datetime, quantity: int, *, now: datetime
) -> tuple[Quote, DomainError | None]:
    """The price of the booking after the service's checks made read-only, and the timing error (too late
    or too early) that only an override reason lifts, if any. Raises the other DomainErrors (no such slot,
    closed, out of hours, full…). The service checks everything again under its locks."""
    timing = None
    try:
        check_timing(item.reservation_settings(), starts_at, now)
    except TIMING_ERRORS as error:
        timing = error
    if item.reservation_type == Item.ReservationType.FIXED:
        _settings, capacity = check_fixed_booking(item, starts_at, ends_at, now=now, timing=False)
        made = Slot.objects.filter(item=item, starts_at=starts_at, ends_at=ends_at).first()
        if quantity > (made.capacity - made.booked if made else capacity):
            raise SlotFullError
    else:
        check_free_booking(item, starts_at, ends_at, now=now, timing=False)
        used = peak_quantity(live_bookings(item, starts_at, ends_at), starts_at, ends_at)
        if used + quantity > item.stock:
            raise SoldOutError
    return quote_booking(item, starts_at, ends_at, quantity), timing


@dataclass
class FreeRange:
    starts_at: datetime
    ends_at: datetime
    remaining: int


def free_ranges(day: DayAvailability) -> list[FreeRange]:
    """A free-type day's time steps, consecutive ones with the same places left merged (10:00–13:00: 2)."""
    merged: list[FreeRange] = []
    for segment in day.segments:
        last = merged[-1] if merged else None
        if last and last.ends_at == segment.starts_at and last.remaining == segment.remaining:
            last.ends_at = segment.ends_at
        else:
            merged.append(FreeRange(segment.starts_at, segment.ends_at, segment.remaining))
    return merged


# --- forms ---------------------------------------------------------------------------------------------


class MemberSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Name, kana, phone or e-mail"),
        max_length=100,
        required=False,
        widget=forms.TextInput(
            attrs={"autofocus": True, "size": 40, "placeholder": "山田 / ヤマダ / 090-1234"}
        ),
    )


class RegisterCustomerForm(forms.Form):
    """A customer registered by staff: no password (they set one later with the password reset)."""

    name = forms.CharField(
        label=_("Name"), max_length=100, widget=forms.TextInput(attrs={"placeholder": "山田 花子"})
    )
    name_kana = forms.CharField(
        label=_("Name (kana)"),
        max_length=100,
        required=False,
        validators=[KANA_VALIDATOR],
        widget=forms.TextInput(attrs={"placeholder": "ヤマダ ハナコ"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=20,
        required=False,
        validators=[PHONE_VALIDATOR],
        widget=forms.TextInput(attrs={"placeholder": "090-1234-5678"}),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        help_text=_(
            "Booking e-mails (and a card payment link) go to this address. The customer can set a password "
            "later with “Forgot your password?” on the login page."
        ),
    )


def item_choices() -> list[tuple[str, list[tuple[int, str]]]]:
    """Every item, grouped by store (private ones too: staff may book them; they are marked)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for item in Item.objects.select_related("store").order_by(
        "store__display_order", "store_id", "display_order", "id"
    ):
        label = f"{item.name} ({item.code})"
        if not item.is_public or not item.store.is_public:
            label = gettext("{item} — private").format(item=label)
        groups.setdefault(item.store.name, []).append((item.pk, label))
    return list(groups.items())


class ItemDayForm(forms.Form):
    item = forms.TypedChoiceField(label=_("Item"), coerce=int)
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = [("", "---------"), *item_choices()]

    def clean_item(self) -> Item:
        item = Item.objects.select_related("store").filter(pk=self.cleaned_data["item"]).first()
        if item is None:
            raise forms.ValidationError(gettext("Choose an item."))
        return item

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        today = timezone.localdate()
        if day < today:
            raise forms.ValidationError(gettext("Choose today or a later day."))
        if day > today + timedelta(days=FAR_FUTURE_DAYS):
            raise forms.ValidationError(TooEarlyError.default_message)
        return day


REASON_NEEDED = _("reason needed")


class StaffFixedForm(FixedBookingForm):
    """The member's slot form over all of the day's slots, the ones a member could not book marked."""

    def __init__(self, *args, needs_reason=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date"].widget = forms.HiddenInput()
        marked = {slot_value(start, end) for start, end in self._slot_times() if start in needs_reason}
        widget = self.fields["slot"].widget
        widget.choices = [
            (value, f"{label} — {REASON_NEEDED}" if value in marked else label)
            for value, label in widget.choices
        ]

    def _slot_times(self):
        return [(slot.starts_at, slot.ends_at) for slot in self.day.slots]

    def clean_slot(self) -> str:
        value = self.cleaned_data["slot"]
        if value not in {slot_value(start, end) for start, end in self._slot_times()}:
            raise forms.ValidationError(gettext("There is no slot at that time on this day."))
        return value


class StaffFreeForm(FreeBookingForm):
    """The member's start/end form over the whole day's hours, the starts a member could not book marked."""

    def __init__(self, *args, needs_reason=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date"].widget = forms.HiddenInput()
        marked = {time_label(start) for start in needs_reason}
        widget = self.fields["start_time"].widget
        widget.choices = [
            (value, f"{label} ({REASON_NEEDED})" if value in marked else label)
            for value, label in widget.choices
        ]


class StaffPaymentForm(forms.Form):
    payment_method = forms.ChoiceField(
        label=_("Payment method"), widget=forms.RadioSelect(attrs={"class": "radiolist"})
    )
    override_reason = forms.CharField(
        label=_("Reason for booking outside the booking window or deadline"),
        max_length=200,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Recorded in the audit trail. Capacity and stock are never overridden."),
    )

    def __init__(self, *args, offers: list[PaymentOffer], timing_error: DomainError | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.offers = {offer.value: offer for offer in offers}
        self.fields["payment_method"].choices = [(offer.value, offer_label(offer)) for offer in offers]
        if len(offers) == 1:
            self.initial.setdefault("payment_method", offers[0].value)
        self.timing_error = timing_error
        if timing_error is None:
            del self.fields["override_reason"]
        else:
            self.fields["override_reason"].required = True
            self.fields["override_reason"].error_messages["required"] = reason_needed_message(timing_error)

    def chosen(self) -> PaymentOffer:
        return self.offers[self.cleaned_data["payment_method"]]

    def reason(self) -> str:
        return self.cleaned_data.get("override_reason", "").strip()


def reason_needed_message(error: DomainError) -> str:
    return gettext("{error} Staff can book it anyway: give the reason.").format(error=error.message)


def offer_label(offer: PaymentOffer) -> str:
    if offer.price is None:
        return offer.label
    label = offer.label if offer.option == "" else f"{offer.method.label}: {offer.label}"
    return f"{label} — ¥{offer.price.charge.total_yen:,}"


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
                email = form.cleaned_data["email"].strip()
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
                existing = Member.objects.filter(email__iexact=email, is_active=True).first()
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
        item_form = ItemDayForm(data if data.get("item") else None, initial={"date": timezone.localdate()})
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
            free_ranges=free_ranges(found.day),
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
