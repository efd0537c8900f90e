"""The forms of the staff booking page (電話・来店予約, inventory/admin/staff_booking.py). They only parse
input; the booking rules are checked by inventory.staff_booking and inventory.services."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from inventory import repeating, stores
from inventory.booking_choices import PaymentOffer
from inventory.exceptions import TooEarlyError
from inventory.forms import FAR_FUTURE_DAYS, FixedBookingForm, FreeBookingForm, slot_value, time_label
from inventory.models import Item
from members.models import KANA_VALIDATOR, PHONE_VALIDATOR
from members.normalise import NormalisedEmailField


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
    email = NormalisedEmailField(  # full-width input from a Japanese keyboard is accepted, stored one way
        label=_("E-mail address"),
        help_text=_(
            "Booking e-mails (and a card payment link) go to this address. The customer can set a password "
            "later with “Forgot your password?” on the login page."
        ),
    )


def bookable_items(user):
    """The items `user` may book for a customer: those of the stores they see (inventory.stores), private
    ones too (staff may book them)."""
    return stores.for_user(Item.objects.select_related("store"), user)


def item_choices(user) -> list[tuple[str, list[tuple[int, str]]]]:
    """The bookable items grouped by store, private ones marked."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for item in bookable_items(user).order_by("store__display_order", "store_id", "display_order", "id"):
        label = f"{item.name} ({item.code})"
        if not item.is_public or not item.store.is_public:
            label = gettext("{item} — private").format(item=label)
        groups.setdefault(item.store.name, []).append((item.pk, label))
    return list(groups.items())


class ItemDayForm(forms.Form):
    item = forms.TypedChoiceField(label=_("Item"), coerce=int)
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["item"].choices = [("", "---------"), *item_choices(user)]

    def clean_item(self) -> Item:
        item = bookable_items(self.user).filter(pk=self.cleaned_data["item"]).first()
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


def weeks_field() -> forms.IntegerField:
    """The member's confirm page's "Repeat weekly for … weeks" (inventory.forms.PaymentForm), asked with the
    time: the payment step then prices every method for all the weeks."""
    return forms.IntegerField(
        label=_("Repeat weekly for … weeks"),
        initial=1,
        required=False,
        widget=forms.NumberInput(
            attrs={"min": 1, "max": repeating.MAX_WEEKS, "step": 1, "class": "take-weeks-input"}
        ),
        help_text=_(
            "1: this booking only. 2 to 12: the same time every week, booked together (all or nothing: a "
            "full week books none of them) as one order, paid by card, at the counter or free. The next step "
            "shows the price of all the weeks."
        ),
    )


def clean_weeks(value: int | None) -> int:
    weeks = 1 if value is None else value
    if not 1 <= weeks <= repeating.MAX_WEEKS:
        raise forms.ValidationError(
            gettext("Enter 1 (this booking only) to {high} weeks.").format(high=repeating.MAX_WEEKS)
        )
    return weeks


class StaffFixedForm(FixedBookingForm):
    """The member's slot form over all of the day's slots, the ones a member could not book marked, and how
    many weeks to book it."""

    weeks = weeks_field()

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

    def clean_weeks(self) -> int:
        return clean_weeks(self.cleaned_data.get("weeks"))

    def clean_slot(self) -> str:
        value = self.cleaned_data["slot"]
        if value not in {slot_value(start, end) for start, end in self._slot_times()}:
            raise forms.ValidationError(gettext("There is no slot at that time on this day."))
        return value


class StaffFreeForm(FreeBookingForm):
    """The member's start/end form over the whole day's hours, the starts a member could not book marked,
    and how many weeks to book it."""

    weeks = weeks_field()

    def clean_weeks(self) -> int:
        return clean_weeks(self.cleaned_data.get("weeks"))

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

    def __init__(
        self,
        *args,
        offers: list[PaymentOffer],
        timing_error: DomainError | None,
        weeks: int = 1,
        repeatable: tuple[str, ...] = (),
        **kwargs,
    ):
        """`weeks` > 1: a repeat booking, offered only with the `repeatable` methods (the others are refused
        with a field error when posted)."""
        super().__init__(*args, **kwargs)
        self.offers = {offer.value: offer for offer in offers}
        self.weeks = weeks
        self.repeatable = repeatable
        self.fields["payment_method"].choices = [(offer.value, offer_label(offer)) for offer in offers]
        shown = self.shown_offers()
        self.fields["payment_method"].widget.choices = [(offer.value, offer_label(offer)) for offer in shown]
        if len(shown) == 1:
            self.initial.setdefault("payment_method", shown[0].value)
        self.timing_error = timing_error
        if timing_error is None:
            del self.fields["override_reason"]
        else:
            self.fields["override_reason"].required = True
            self.fields["override_reason"].error_messages["required"] = reason_needed_message(timing_error)

    def shown_offers(self) -> list[PaymentOffer]:
        """The offers the radio list shows: all, or for a repeat booking those that can pay one."""
        offers = list(self.offers.values())
        if self.weeks > 1:
            return [offer for offer in offers if offer.key in self.repeatable]
        return offers

    def clean_payment_method(self) -> str:
        value = self.cleaned_data["payment_method"]
        if self.weeks > 1 and self.offers[value].key not in self.repeatable:
            raise forms.ValidationError(repeat_methods_message())
        return value

    def chosen(self) -> PaymentOffer:
        return self.offers[self.cleaned_data["payment_method"]]

    def reason(self) -> str:
        return self.cleaned_data.get("override_reason", "").strip()


def repeat_methods_message() -> str:
    return gettext("A repeat booking is paid by card, at the counter or free; choose one of them.")


def reason_needed_message(error: DomainError) -> str:
    return gettext("{error} Staff can book it anyway: give the reason.").format(error=error.message)


def offer_label(offer: PaymentOffer) -> str:
    """The option's own label (a ticket's names the method), with what the method charges."""
    if offer.price is None:
        return offer.label
    return f"{offer.label} — ¥{offer.price.charge.total_yen:,}"
