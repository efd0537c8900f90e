"""Member-site pages for items and reservations. Views read through selectors and change state only by
calling inventory.services; a DomainError becomes a message next to the field it is about."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from core.exceptions import DomainError
from core.sanitize import sanitize_html
from inventory import booking_extras, payment_methods, repeating, services
from inventory.availability import (
    DayAvailability,
    item_availability,
    load_settings,
    local,
    merged_segments,
    month_availability,
)
from inventory.forms import (
    FAR_FUTURE_DAYS,
    CancelForm,
    FixedBookingForm,
    FreeBookingForm,
    ItemFilterForm,
    PaymentForm,
    slot_value,
)
from inventory.models import Item, Reservation, Store
from inventory.pricing import is_japanese_holiday
from inventory.quotes import Quote, prefetch_prices, quote_booking

MONTHS_AHEAD = 24  # the calendar pages forward at most this far, even when bookings open without limit
ITEMS_PER_PAGE = 24
HISTORY_PER_PAGE = 20

DAY_REASONS = {
    "closed": _("The shop is closed on this day."),
    "no_hours": _("There are no bookings on this day."),
    "not_opened": _("This day is not open for bookings."),
    "past": _("Bookings for this day have closed."),
    "not_yet": _("Bookings for this day are not open yet."),
}


def public_items():
    """What the member site shows: public items of public stores."""
    return Item.objects.filter(is_public=True, store__is_public=True).select_related("store", "category")


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_month(value: str | None) -> tuple[int, int] | None:
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        date(year, month, 1)
    except (ValueError, OverflowError):  # OverflowError: a year beyond C's int (99999999999999999999-1)
        return None
    return year, month


def _month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def _month_from_index(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- items -----------------------------------------------------------------------------------------------


def home(request):
    stores = list(Store.objects.filter(is_public=True))
    items = public_items().order_by(
        "store__display_order", "store_id", "category__display_order", "category_id", "display_order", "id"
    )
    by_store: dict[int, list[Item]] = {}
    for item in items:
        by_store.setdefault(item.store_id, []).append(item)
    sections = [
        {
            "store": store,
            "groups": [
                {"category": category, "items": list(group)}
                for category, group in groupby(by_store.get(store.pk, []), key=lambda item: item.category)
            ],
        }
        for store in stores
    ]
    return render(request, "site/inventory/home.html", {"stores": stores, "sections": sections})


def item_list(request):
    form = ItemFilterForm(request.GET)
    filters = form.filters()
    items = public_items().order_by("store__display_order", "store_id", "display_order", "id")
    if store := filters.get("store"):
        items = items.filter(store=store)
    if category := filters.get("category"):
        items = items.filter(category=category)
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "site/inventory/item_list.html",
        {"form": form, "page": page, "items": page.object_list, "store": store, "category": category},
    )


@dataclass
class CalendarCell:
    day: DayAvailability
    is_today: bool
    is_selected: bool
    is_holiday: bool

    @property
    def date(self) -> date:
        return self.day.date

    @property
    def mark(self) -> str:
        # Days outside the booking period are not "full": they get a dash, like paper calendars.
        return "－" if self.day.reason in ("past", "not_yet") else self.day.mark

    @property
    def css(self) -> str:
        classes = [
            "day",
            "day-open" if self.day.is_open else "day-closed",
            f"wd-{self.date.isoweekday() % 7}",
        ]
        if self.is_holiday:
            classes.append("day-holiday")
        if self.is_today:
            classes.append("day-today")
        if self.is_selected:
            classes.append("day-selected")
        return " ".join(classes)


def _calendar_weeks(year: int, month: int, days: list[DayAvailability], today: date, selected: date | None):
    by_date = {day.date: day for day in days}
    weeks = []
    for week in calendar.Calendar(firstweekday=6).monthdatescalendar(year, month):  # Sunday first
        weeks.append(
            [
                CalendarCell(by_date[d], d == today, d == selected, is_japanese_holiday(d))
                if d in by_date
                else None
                for d in week
            ]
        )
    return weeks


def item_detail(request, pk: int):
    item = get_object_or_404(public_items().prefetch_related("images"), pk=pk)
    today = timezone.localdate()
    first_index = _month_index(today.year, today.month)
    last_index = first_index + MONTHS_AHEAD
    selected = _parse_date(request.GET.get("date"))
    if selected and not first_index <= _month_index(selected.year, selected.month) <= last_index:
        selected = None
    if selected:
        year, month = selected.year, selected.month
    else:
        year, month = _parse_month(request.GET.get("month")) or (today.year, today.month)
        if not first_index <= _month_index(year, month) <= last_index:
            year, month = today.year, today.month
    days = month_availability(item, year, month)
    index = _month_index(year, month)
    day = next((d for d in days if d.date == selected), None)
    context = {
        "item": item,
        "free_area": mark_safe(sanitize_html(item.free_area)),  # noqa: S308 - sanitised again just above
        "month": date(year, month, 1),
        "weeks": _calendar_weeks(year, month, days, today, selected),
        "days": days,
        "prev_month": _month_from_index(index - 1) if index > first_index else None,
        "next_month": (
            _month_from_index(index + 1) if index < last_index and days[-1].reason != "not_yet" else None
        ),
        "day": day,
        "day_reason": DAY_REASONS.get(day.reason, "") if day else "",
        "day_ranges": merged_segments(day) if day else [],
        "day_slots": [(slot, slot_value(slot.starts_at, slot.ends_at)) for slot in day.slots] if day else [],
        "is_fixed": item.reservation_type == Item.ReservationType.FIXED,
    }
    return render(request, "site/inventory/item_detail.html", context)


# --- booking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodPrice:
    """What one offered payment method charges for the booking (its own breakdown, SPEC §9)."""

    key: str
    label: str
    charge: payment_methods.Charge


def _offered_methods(item: Item, member, quote: Quote) -> list[payment_methods.PaymentMethod]:
    return [
        method
        for method in payment_methods.all_methods()
        if method.is_available(item=item, member=member, price_yen=quote.total_yen)
    ]


def _payment_choices(
    item: Item,
    member,
    quote: Quote,
    starts_at: datetime,
    methods: list[payment_methods.PaymentMethod],
    extras: dict | None = None,
    weeks: list[Quote] | None = None,
) -> tuple[list[tuple[str, str]], list[str], list[MethodPrice]]:
    """The radio choices of the payment step: one per usable method, or one per option of a method that
    has options (which ticket pays), as "<key>:<option>"; the notes of the methods offered; and what each
    offered method charges, from the method itself (card: the price pipeline with the member discount and
    the points entered in `extras`), so the amount shown for a method is the amount it charges. `methods`:
    the usable ones (_offered_methods). `weeks`: the quotes of every week of a repeat booking (None: one
    booking); a method that makes one order for all the weeks prices that order's lines, a line per week."""
    choices, notes, prices = [], [], []
    for method in methods:
        options = method.choices(item=item, member=member, starts_at=starts_at, quantity=quote.quantity)
        offered = (
            [(method.key, method.label)]
            if options is None
            else [(f"{method.key}:{option}", label) for option, label in options]
        )
        choices.extend(offered)
        if offered and method.note:
            notes.append(str(method.note))
        charge = None
        if offered and weeks and method.takes_extras and method.key in REPEATABLE_METHODS:
            charge = method.price_lines(member=member, item=item, quote=quote, extras=extras, weeks=weeks)
        elif offered and method.takes_extras and extras:
            charge = method.price_lines(member=member, item=item, quote=quote, extras=extras)
        elif offered:
            charge = method.price_lines(member=member, item=item, quote=quote)
        if charge is not None:
            prices.append(MethodPrice(method.key, str(method.label), charge))
    return choices, notes, prices


def _chosen_payment_choices(
    item: Item, member, quote: Quote, starts_at: datetime, value: str
) -> list[tuple[str, str]]:
    """The final step's choices: only what the chosen method offers (its `is_available` and `choices`), so
    booking with "free" runs no other method's queries (which tickets could pay, a card's discounts). The
    service checks the method again under its locks."""
    key, _sep, _option = value.partition(":")
    try:
        method = payment_methods.get(key)
    except DomainError:
        return []
    if not method.is_available(item=item, member=member, price_yen=quote.total_yen):
        return []
    options = method.choices(item=item, member=member, starts_at=starts_at, quantity=quote.quantity)
    if options is None:
        return [(method.key, method.label)]
    return [(f"{method.key}:{option}", label) for option, label in options]


# The methods a repeat booking is offered with: one order for all the weeks (card, counter), or none (free).
REPEATABLE_METHODS = ("card", "counter", "free")


def _repeat_week_quotes(
    data, item: Item, starts_at: datetime, ends_at: datetime, quantity: int
) -> list[Quote] | None:
    """The quotes of every week when the confirm page is posted with a repeat of 2 or more weeks (the
    "weeks" field, re-posted by "Apply and show the price"), each priced as its booking will be; None for one
    booking, a value the form refuses, or a week that cannot be priced (the booking step says why)."""
    try:
        weeks = int(data.get("weeks") or 1)
    except (TypeError, ValueError):
        return None
    if not repeating.MIN_WEEKS <= weeks <= repeating.MAX_WEEKS:
        return None
    try:
        return [
            quote_booking(item, week_starts, week_ends, quantity)
            for week_starts, week_ends in repeating.occurrences(starts_at, ends_at, weeks)
        ]
    except DomainError:
        return None


def _booking_done_message(reservation: Reservation) -> str:
    if reservation.status == Reservation.Status.CONFIRMED:
        return gettext("Your reservation is confirmed. We have sent you a confirmation e-mail.")
    if reservation.status == Reservation.Status.AWAITING:
        return gettext(
            "Your booking request is received: a tentative booking awaiting the shop's approval, with your "
            "places held. We will e-mail you when the shop approves or declines it."
        )
    return gettext("Your reservation is held. It will be confirmed when the payment is received.")


def _bookable_item_or_404(pk: int) -> Item:
    """The item of public_items() with this pk, with its store (the service checks both are public) and
    not its category: the lookup by primary key alone, the publicness checked here, is a smaller query to
    build and to plan on every step of the booking."""
    try:
        item = Item.objects.select_related("store").get(pk=pk)
    except Item.DoesNotExist:
        raise Http404 from None
    if not (item.is_public and item.store.is_public):
        raise Http404
    return item


@login_required
@require_http_methods(["GET", "POST"])
def book(request, pk: int):
    """Booking in two steps: choose the time (step "confirm" shows the price and how to pay), then book.
    The booking form's data travels in hidden fields, so nothing is kept in the session.

    The day's availability (its times and places left) is read only for the page that shows it: the
    confirm step and the booking itself have the schedule read once, by the service's checks, and a
    booking that goes through shows no form."""
    item = _bookable_item_or_404(pk)
    now = timezone.now()
    source = request.POST if request.method == "POST" else request.GET
    today = timezone.localdate()
    day_date = _parse_date(source.get("date")) or today
    if not today - timedelta(days=1) <= day_date <= today + timedelta(days=FAR_FUTURE_DAYS):
        day_date = today  # the form refuses such a date; the times offered are today's meanwhile
    form_class = FixedBookingForm if item.reservation_type == Item.ReservationType.FIXED else FreeBookingForm
    step = request.POST.get("step") if request.method == "POST" else None
    initial = {"date": day_date}
    if request.method == "GET" and request.GET.get("slot"):
        initial["slot"] = request.GET["slot"]

    def form_page(error: DomainError | None = None):
        """The booking form with the day's times, bound to what was posted, with the refusal if any."""
        day = item_availability(item, day_date, day_date, now=now)[0]
        form = form_class(request.POST if step else None, item=item, day=day, initial=initial)
        if error is not None and form.is_valid():
            form.add_domain_error(error)
        context = {"item": item, "form": form, "day": day, "day_reason": DAY_REASONS.get(day.reason, "")}
        return render(request, "site/inventory/book.html", context)

    if step not in ("confirm", "book"):
        return form_page()
    form = form_class(request.POST, item=item, day=None, initial=initial)
    if not form.is_valid():
        return form_page()
    starts_at, ends_at = form.booking_range()
    quantity = form.cleaned_data["quantity"]
    prefetch_prices(item)
    try:
        quote = (
            services.booking_preview(
                item=item, starts_at=starts_at, ends_at=ends_at, quantity=quantity, now=now
            )
            if step == "confirm"
            else quote_booking(item, starts_at, ends_at, quantity)
        )
    except DomainError as error:
        return form_page(error)
    refusal = None
    # The extras beside the method (points to use), posted from the confirm page ("extras" marks that it
    # showed them). The final step only parses them (no query: it asks nothing of the other methods).
    extras_data = request.POST if "extras" in request.POST else None
    extras: dict = {}
    extras_refusal: DomainError | None = None
    if step == "book" and extras_data is not None:
        parsed = booking_extras.ExtrasForm(extras_data)
        if parsed.is_valid():
            extras = parsed.values()
        else:
            step = "confirm"  # the confirm page again, the errors next to their fields; nothing is booked
    if step == "book":
        chosen = request.POST.get("payment_method", "")
        payment_form = PaymentForm(
            request.POST, choices=_chosen_payment_choices(item, request.user, quote, starts_at, chosen)
        )
        weeks = (payment_form.cleaned_data.get("weeks") or 1) if payment_form.is_valid() else 1
        if weeks > 1 and chosen.partition(":")[0] not in REPEATABLE_METHODS:
            refusal = gettext("A repeat booking is paid by card, at the counter or free; choose one of them.")
        elif payment_form.is_valid():
            try:
                reservations = repeating.reservations_create(
                    weeks=weeks,
                    member=request.user,
                    by=request.user,
                    item=item,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    quantity=quantity,
                    payment_method=chosen.partition(":")[0],
                    payment_option=chosen.partition(":")[2],
                    channel=Reservation.Channel.SITE,
                    extras=extras,
                )
                reservation = reservations[0]
            except DomainError as error:
                if weeks > 1 and error.field in (None, "weeks"):
                    refusal = str(error.message)  # a full week: said on the confirm page, nothing booked
                    error = None
                if error is None:
                    pass
                elif error.field in booking_extras.extra_keys():
                    extras_refusal = error
                elif error.field != "payment_method":
                    return form_page(error)
                else:
                    refusal = str(error.message)
            else:
                done = _booking_done_message(reservation)
                if weeks > 1:
                    done = (
                        ngettext(
                            "%(count)d week is booked, weekly from %(first)s to %(last)s.",
                            "%(count)d weeks are booked, weekly from %(first)s to %(last)s.",
                            weeks,
                        )
                        % {
                            "count": weeks,
                            "first": f"{local(reservations[0].starts_at):%Y-%m-%d}",
                            "last": f"{local(reservations[-1].starts_at):%Y-%m-%d}",
                        }
                        + " "
                        + done
                    )
                messages.success(request, done)
                # A method that takes payment elsewhere (card → checkout) says where the member goes next.
                method = payment_methods.get(reservation.payment_method)
                next_url = method.next_url(reservation=reservation)
                return redirect(next_url or reverse("site:reservation_detail", args=[reservation.pk]))
    # The confirm page, or again after a refusal, with every method's choices and prices: with the extras
    # entered when they can be used, otherwise with their refusal next to their field.
    offered = _offered_methods(item, request.user, quote)
    week_quotes = (
        _repeat_week_quotes(request.POST, item, starts_at, ends_at, quantity)
        if request.method == "POST"
        else None
    )
    extras_form = booking_extras.ExtrasForm(
        extras_data, member=request.user, item=item, quote=quote, methods=offered, weeks=week_quotes
    )
    extras = extras_form.values() if extras_form.is_bound and extras_form.is_valid() else {}
    if extras_refusal is not None:
        extras_form.add_domain_error(extras_refusal)
        extras = {}
    try:
        choices, payment_notes, method_prices = _payment_choices(
            item, request.user, quote, starts_at, offered, extras, weeks=week_quotes
        )
    except DomainError as error:
        if not extras_form.add_domain_error(error):
            raise
        choices, payment_notes, method_prices = _payment_choices(
            item, request.user, quote, starts_at, offered, weeks=week_quotes
        )
    initial = {"weeks": len(week_quotes)} if week_quotes else {}  # the repeat asked for, kept
    chosen = request.POST.get("payment_method", "")
    if chosen in {value for value, _label in choices}:
        initial["payment_method"] = chosen  # "Apply and show the price" keeps the method chosen
    payment_form = PaymentForm(
        request.POST if request.POST.get("step") == "book" else None, choices=choices, initial=initial
    )
    if refusal and payment_form.is_valid():
        payment_form.add_error("payment_method", refusal)
    context = {
        "item": item,
        "form": form,
        "payment_form": payment_form,
        "extras_form": extras_form,
        "payment_notes": payment_notes,
        "method_prices": method_prices,
        "quote": quote,
        "starts_at": local(starts_at),
        "ends_at": local(ends_at),
        "quantity": quantity,
        # 承認制: said before the member books (one query, on this page only)
        "needs_approval": load_settings(item).approval_required,
    }
    return render(request, "site/inventory/book_confirm.html", context)


# --- my page: reservations -------------------------------------------------------------------------------


@dataclass
class ReservationRow:
    reservation: Reservation
    cancel_deadline: datetime | None
    can_cancel: bool
    charged_yen: int  # what its payment method charges (a card order net of the member discount)


def _rows(reservations: list[Reservation], now: datetime) -> list[ReservationRow]:
    deadlines = services.cancel_deadlines(reservations)
    charged: dict[int, int] = {}
    by_method: dict[str, list[Reservation]] = {}
    for reservation in reservations:
        by_method.setdefault(reservation.payment_method, []).append(reservation)
    for key, group in by_method.items():  # one query at most per method, whatever the page's length
        method = _method_of(key)
        charged.update(method.charged_yen(reservations=group) if method else {})
    rows = []
    for reservation in reservations:
        deadline = deadlines.get(reservation.pk) if reservation.is_live else None
        rows.append(
            ReservationRow(
                reservation,
                deadline,
                deadline is not None and now <= deadline,
                charged.get(reservation.pk, reservation.price_yen),
            )
        )
    return rows


def _own_reservations(request):
    return Reservation.objects.filter(member=request.user).select_related("item", "store")


@login_required
def reservation_list(request):
    now = timezone.now()
    mine = _own_reservations(request)
    upcoming_filter = Q(status__in=Reservation.LIVE_STATUSES, ends_at__gt=now)
    upcoming = list(mine.filter(upcoming_filter).order_by("starts_at", "id"))
    history = Paginator(
        mine.exclude(upcoming_filter).order_by("-starts_at", "-id"), HISTORY_PER_PAGE
    ).get_page(request.GET.get("page"))
    rows = _rows([*upcoming, *history.object_list], now)
    return render(
        request,
        "site/inventory/reservation_list.html",
        {"upcoming": rows[: len(upcoming)], "history": rows[len(upcoming) :], "history_page": history},
    )


def _method_of(key: str) -> payment_methods.PaymentMethod | None:
    """The reservation's payment method (None for a key no app registers any more)."""
    try:
        return payment_methods.get(key)
    except DomainError:
        return None


def _method_label(key: str) -> str:
    method = _method_of(key)
    return method.label if method else key


@login_required
def reservation_detail(request, pk: int):
    reservation = get_object_or_404(_own_reservations(request), pk=pk)
    row = _rows([reservation], timezone.now())[0]
    method = _method_of(reservation.payment_method)
    return render(
        request,
        "site/inventory/reservation_detail.html",
        {
            "row": row,
            "reservation": reservation,
            "breakdown": reservation.price_breakdown or {},
            "payment_method_label": _method_label(reservation.payment_method),
            "money_note": method.money_note(reservation=reservation) if method else None,
            "charged_yen": row.charged_yen,
            "method_note": method.note if method else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def reservation_cancel(request, pk: int):
    """A confirmation page first; the POST cancels through the service, which enforces the deadline."""
    reservation = get_object_or_404(_own_reservations(request), pk=pk)
    form = CancelForm(request.POST or None)
    if not repeating.later_weeks(reservation):
        del form.fields["later_weeks"]
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data.get("later_weeks"):
                repeating.reservation_cancel_remaining_weeks(
                    reservation=reservation, by=request.user, reason=form.cleaned_data["reason"]
                )
            else:
                services.reservation_cancel(
                    reservation=reservation,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    as_staff=False,
                )
        except DomainError as error:
            form.add_error(None, str(error.message))
        else:
            # What happened to the money is said with the cancellation (the refund was sent after commit).
            method = _method_of(reservation.payment_method)
            note = method.money_note(reservation=reservation) if method else None
            done = gettext("Your reservation has been cancelled.")
            messages.success(request, f"{done} {note.text}" if note else done)
            return redirect(reverse("site:reservation_list"))
    now = timezone.now()
    row = _rows([reservation], now)[0]
    method = _method_of(reservation.payment_method)
    # What cancelling will do beyond the money (points given back, points taken back), from the code the
    # cancellation runs; when it cannot go ahead (points it earned already spent), the member is told to
    # contact the shop instead of being offered the button (the POST refuses the same way).
    preview = method.cancel_preview(reservation=reservation, now=now) if method and row.can_cancel else None
    return render(
        request,
        "site/inventory/reservation_cancel.html",
        {
            "form": form,
            "row": row,
            "reservation": reservation,
            "cancel_note": method.cancel_note(reservation=reservation) if method else None,
            "cancel_preview": preview,
        },
    )
