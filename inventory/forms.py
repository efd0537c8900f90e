"""Member-site forms for items and bookings. They only parse input: the booking rules are checked by
inventory.availability / inventory.services, whose DomainErrors the views place next to a field here."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.validators import MaxValueValidator, RegexValidator
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import limits
from core.exceptions import DomainError
from core.periods import JST
from inventory import exceptions
from inventory.availability import DayAvailability, local
from inventory.models import Category, Item, Reservation, Store

FAR_FUTURE_DAYS = 3660


def time_label(dt: datetime) -> str:
    return f"{local(dt):%H:%M}"


class ItemFilterForm(forms.Form):
    """The item list's store and category filter (query string). Invalid values are simply ignored."""

    store = forms.ModelChoiceField(
        label=_("Store"),
        queryset=Store.objects.filter(is_public=True),
        required=False,
        empty_label=_("All stores"),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False, empty_label=_("All categories")
    )

    def filters(self) -> dict:
        self.is_valid()  # cleaned_data keeps the fields that are valid
        return {name: value for name in ("store", "category") if (value := self.cleaned_data.get(name))}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        # Choosing another day reloads the page, so the times offered are those of the new day
        # (static/js/site.js; no inline handler, which the Content-Security-Policy would refuse).
        base = {"data-reload-with-date": ""}
        super().__init__(attrs={**base, **(attrs or {})}, format="%Y-%m-%d")


class SlotRadioSelect(forms.RadioSelect):
    """Radio buttons for a day's slots; full ones are shown but cannot be chosen."""

    def __init__(self, *args, disabled_values=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.disabled_values = set(disabled_values)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


class BookingForm(forms.Form):
    """Shared by both reservation types: the day, the quantity and where a DomainError belongs."""

    date = forms.DateField(label=_("Date"), widget=DateInput())
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        max_value=limits.bounds_of(Reservation, "quantity")["max_value"],
        initial=1,
    )

    # Which field a booking error is about, when the error does not say it itself.
    error_fields: dict[type[DomainError], str] = {}

    def __init__(self, *args, item: Item, day: DayAvailability | None, **kwargs):
        """`day` gives the times offered; None when the form is only checked, never shown (the booking
        steps read no availability of their own: the service checks the booking)."""
        super().__init__(*args, **kwargs)
        self.item = item
        self.day = day

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        # Far beyond any booking horizon (and the calendar arithmetic near date.max): refuse early.
        if day > timezone.localdate() + timedelta(days=FAR_FUTURE_DAYS):
            raise forms.ValidationError(exceptions.TooEarlyError.default_message)
        return day

    def booking_range(self) -> tuple[datetime, datetime]:
        """The booked (start, end); FreeBookingForm and FixedBookingForm each define it (abstract here:
        Django's form metaclass does not combine with ABCMeta)."""
        raise NotImplementedError(f"{type(self).__name__} must define booking_range()")

    def add_domain_error(self, error: DomainError) -> None:
        """Show a refused booking's message next to the field it is about, or above the form."""
        field = error.field
        if field is None:
            field = next((name for cls, name in self.error_fields.items() if isinstance(error, cls)), None)
        if field not in self.fields:
            field = None
        self.add_error(field, str(error.message))


def _aware(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=JST)


class FreeBookingForm(BookingForm):
    """自由予約: a start and an end on one day, offered in the item's time steps within the day's hours.

    The selects only offer what the acceptance window allows; the server checks the times again (a time
    outside the hours gets the shop's hours in the error), so the fields accept any HH:MM.
    """

    start_time = forms.TimeField(label=_("Start time"), widget=forms.Select)
    end_time = forms.TimeField(label=_("End time"), widget=forms.Select)

    field_order = ["date", "start_time", "end_time", "quantity"]
    error_fields = {
        exceptions.ClosedError: "date",
        exceptions.TooEarlyError: "date",
        exceptions.TooLateError: "start_time",
        exceptions.OutOfHoursError: "start_time",
        exceptions.InvalidLengthError: "end_time",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        segments = self.day.segments if self.day else []
        starts = [time_label(segment.starts_at) for segment in segments]
        ends = [time_label(segment.ends_at) for segment in segments]
        self.fields["start_time"].widget.choices = [("", "---")] + [(value, value) for value in starts]
        self.fields["end_time"].widget.choices = [("", "---")] + [(value, value) for value in ends]
        self.fields["quantity"].validators.append(MaxValueValidator(self.item.stock))
        self.fields["quantity"].widget.attrs["max"] = self.item.stock
        self.fields["quantity"].help_text = gettext("Up to {stock}.").format(stock=self.item.stock)
        if not self.is_bound and starts:
            self.initial.setdefault("start_time", starts[0])
            self.initial.setdefault("end_time", ends[0])

    def booking_range(self) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        return _aware(data["date"], data["start_time"]), _aware(data["date"], data["end_time"])


SLOT_VALIDATOR = RegexValidator(r"^\d{2}:\d{2}-\d{2}:\d{2}$", _("Choose a slot."))


def slot_value(starts_at: datetime, ends_at: datetime) -> str:
    return f"{time_label(starts_at)}-{time_label(ends_at)}"


class FixedBookingForm(BookingForm):
    """固定予約: one of the day's slots."""

    slot = forms.CharField(label=_("Slot"), validators=[SLOT_VALIDATOR], widget=SlotRadioSelect)

    field_order = ["date", "slot", "quantity"]
    error_fields = {
        exceptions.ClosedError: "date",
        exceptions.TooEarlyError: "date",
        exceptions.TooLateError: "slot",
        exceptions.NoSuchSlotError: "slot",
        exceptions.SlotFullError: "slot",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices, full = [], []
        for slot in self.day.slots if self.day else []:
            value = slot_value(slot.starts_at, slot.ends_at)
            if slot.remaining:
                label = gettext("{start}–{end} ({remaining} left)").format(
                    start=time_label(slot.starts_at), end=time_label(slot.ends_at), remaining=slot.remaining
                )
            else:
                label = gettext("{start}–{end} (full)").format(
                    start=time_label(slot.starts_at), end=time_label(slot.ends_at)
                )
                full.append(value)
            choices.append((value, label))
        self.fields["slot"].widget = SlotRadioSelect(
            choices=choices, disabled_values=full, attrs={"class": "choice-list"}
        )
        open_values = [value for value, _label in choices if value not in full]
        if not self.is_bound and len(open_values) == 1:
            self.initial.setdefault("slot", open_values[0])

    def clean_slot(self) -> str:
        # The pattern lets through times that do not exist (25:99-26:00): refuse them here, not with a 500.
        value = self.cleaned_data["slot"]
        try:
            for part in value.split("-"):
                time.fromisoformat(part)
        except ValueError:
            raise forms.ValidationError(SLOT_VALIDATOR.message, code="invalid") from None
        return value

    def booking_range(self) -> tuple[datetime, datetime]:
        day = self.cleaned_data["date"]
        starts, ends = self.cleaned_data["slot"].split("-")
        return _aware(day, time.fromisoformat(starts)), _aware(day, time.fromisoformat(ends))


class PaymentForm(forms.Form):
    """How to pay: only the methods that can be used for the quoted price are offered."""

    payment_method = forms.ChoiceField(
        label=_("Payment method"), widget=forms.RadioSelect(attrs={"class": "choice-list"})
    )

    # Repeat bookings (inventory.repeating): the same time weekly, one order for all the weeks.
    weeks = forms.IntegerField(
        label=_("Repeat weekly for … weeks"),
        min_value=1,
        max_value=12,
        initial=1,
        required=False,
        help_text=_(
            "1: this booking only. 2 to 12: the same time every week, booked together (all or nothing) as "
            "one order, paid by card, at the counter or free. Press “Apply and show the price” to see the "
            "price of all the weeks (a coupon counts once for all of them)."
        ),
    )

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_method"].choices = choices
        if len(choices) == 1:
            self.initial.setdefault("payment_method", choices[0][0])


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (optional)"),
        required=False,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Offered only for a week of a repeat booking with later weeks (the view removes it otherwise).
    later_weeks = forms.BooleanField(
        label=_("Also cancel every later week of this repeat booking"), required=False
    )
