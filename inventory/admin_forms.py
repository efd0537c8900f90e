"""Forms of the inventory staff admin: friendly validation, the weekday checkboxes, the price preview and
the reason asked for before staff cancel reservations.

The models' CHECK constraints have no custom messages, so each form checks the same rule first and puts a
clear error on the field; Django then skips the constraint (its field already has an error).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from core.periods import JST
from core.templatetags.core_tags import yen
from inventory.models import (
    WEEKDAY_CHOICES,
    AcceptanceHours,
    AcceptanceOverride,
    IrregularEvent,
    Item,
    RepeatingEvent,
    ReservationSettings,
    Season,
    WeekdayPriceRule,
)

HOUR_MINUTE = forms.TimeInput(format="%H:%M", attrs={"size": 6})


def _end_after_start(form: forms.ModelForm, start: str, end: str, message) -> None:
    first, last = form.cleaned_data.get(start), form.cleaned_data.get(end)
    if first is not None and last is not None and last <= first:
        form.add_error(end, message)


def _end_not_before_start(form: forms.ModelForm, start: str, end: str, message) -> None:
    first, last = form.cleaned_data.get(start), form.cleaned_data.get(end)
    if first is not None and last is not None and last < first:
        form.add_error(end, message)


def weekdays_field() -> forms.TypedMultipleChoiceField:
    """The weekdays of an ArrayField (0–6 and 7 = 祝) as boxes to tick: the ArrayField's own form field
    would be a comma-separated text box."""
    return forms.TypedMultipleChoiceField(
        label=_("weekdays"),
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "weekday-checkboxes"}),
        help_text=_("Holiday (祝) means Japanese national holidays; a holiday matches 祝, not its weekday."),
        error_messages={"required": _("Tick at least one day.")},
    )


class WeekdayPriceRuleForm(forms.ModelForm):
    weekdays = weekdays_field()

    class Meta:
        model = WeekdayPriceRule
        fields = ("position", "weekdays", "label", "price_yen", "season")

    def clean_weekdays(self) -> list[int]:
        return sorted(set(self.cleaned_data["weekdays"]))


class AcceptanceHoursForm(forms.ModelForm):
    class Meta:
        model = AcceptanceHours
        fields = ("weekday", "opens_at", "closes_at")
        widgets = {"opens_at": HOUR_MINUTE, "closes_at": HOUR_MINUTE}

    def clean(self):
        cleaned = super().clean()
        _end_after_start(self, "opens_at", "closes_at", _("The closing time must be after the opening time."))
        return cleaned


class ReservationSettingsForm(forms.ModelForm):
    class Meta:
        model = ReservationSettings
        fields = (
            "schedule",
            "time_step_minutes",
            "min_minutes",
            "max_minutes",
            "book_ahead_days",
            "booking_deadline_minutes",
            "cancel_deadline_minutes",
            "tentative_hold_minutes",
            "approval_required",
            "approval_hours",
        )

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_minutes"), cleaned.get("max_minutes")
        if low is not None and high and high < low:
            self.add_error(
                "max_minutes",
                _("The maximum length must be at least the minimum length (or 0 for no limit)."),
            )
        return cleaned


class SeasonForm(forms.ModelForm):
    class Meta:
        model = Season
        fields = ("name", "start_date", "end_date")

    def clean(self):
        cleaned = super().clean()
        _end_not_before_start(
            self, "start_date", "end_date", _("The last day must not be before the first day.")
        )
        return cleaned


class RepeatingEventForm(forms.ModelForm):
    class Meta:
        model = RepeatingEvent
        fields = ("weekday", "starts_at", "ends_at", "capacity", "valid_from", "valid_until")
        widgets = {"starts_at": HOUR_MINUTE, "ends_at": HOUR_MINUTE}

    def clean(self):
        cleaned = super().clean()
        _end_after_start(self, "starts_at", "ends_at", _("The end must be after the start."))
        _end_not_before_start(
            self, "valid_from", "valid_until", _("The end of the period must not be before its start.")
        )
        return cleaned


class IrregularEventForm(forms.ModelForm):
    class Meta:
        model = IrregularEvent
        fields = ("date", "starts_at", "ends_at", "capacity")
        widgets = {"starts_at": HOUR_MINUTE, "ends_at": HOUR_MINUTE}

    def clean(self):
        cleaned = super().clean()
        _end_after_start(self, "starts_at", "ends_at", _("The end must be after the start."))
        return cleaned


class AcceptanceOverrideForm(forms.ModelForm):
    class Meta:
        model = AcceptanceOverride
        fields = ("store", "item", "kind", "start_date", "end_date", "note")

    def clean(self):
        cleaned = super().clean()
        _end_not_before_start(
            self, "start_date", "end_date", _("The last day must not be before the first day.")
        )
        store, item, kind = cleaned.get("store"), cleaned.get("item"), cleaned.get("kind")
        if item is not None and store is not None and item.store_id != store.pk:
            self.add_error(
                "item", _("This item belongs to another store (%(store)s).") % {"store": item.store}
            )
        if kind == AcceptanceOverride.Kind.OPEN:
            self._check_open(item)
        return cleaned

    def _check_open(self, item: Item | None) -> None:
        """手動受付設定 opens days only for free-type items whose acceptance schedule is irregular (不定期);
        every other item ignores an "open" day, which would mislead staff."""
        irregular = ReservationSettings.Schedule.IRREGULAR
        if item is None:
            if ReservationSettings.general().schedule != irregular:
                self.add_error(
                    "kind",
                    _(
                        "“Open” days are only for items whose acceptance schedule is irregular (不定期), and "
                        "the general reservation settings are regular. Choose such an item, or use “Closed”."
                    ),
                )
            return
        if item.reservation_type != Item.ReservationType.FREE:
            self.add_error(
                "kind",
                _(
                    "“Open” days are only for free-type items with an irregular schedule (不定期). %(item)s "
                    "has fixed slots: add an irregular event to the item instead."
                )
                % {"item": item},
            )
        elif item.reservation_settings().schedule != irregular:
            self.add_error(
                "kind",
                _(
                    "“Open” days are only for items whose acceptance schedule is irregular (不定期). "
                    "%(item)s follows a regular schedule, so it is already open on its usual days. Change "
                    "its reservation settings to irregular first, or use “Closed”."
                )
                % {"item": item},
            )


class PricePreviewForm(forms.Form):
    """A booking to price: staff pick a date, start and end time (and quantity)."""

    date = forms.DateField(label=_("date"), widget=forms.DateInput(attrs={"type": "date"}))
    start = forms.TimeField(label=_("start time"), widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(
        label=_("end time"),
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=_("00:00 means midnight at the end of the last day."),
    )
    end_date = forms.DateField(
        label=_("last day"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("For bookings over several days; empty means the same day."),
    )
    quantity = forms.IntegerField(label=_("quantity"), min_value=1, max_value=999, initial=1)

    def clean(self):
        cleaned = super().clean()
        day, start, end = cleaned.get("date"), cleaned.get("start"), cleaned.get("end")
        if day is None or start is None or end is None:
            return cleaned
        last_day = cleaned.get("end_date") or day
        if last_day < day:
            self.add_error("end_date", _("The last day must not be before the first day."))
            return cleaned
        starts_at = datetime.combine(day, start, tzinfo=JST)
        ends_at = datetime.combine(last_day, end, tzinfo=JST)
        if end.hour == 0 and end.minute == 0 and ends_at <= starts_at:
            ends_at += timedelta(days=1)
        if ends_at <= starts_at:
            self.add_error("end", _("The end must be after the start."))
            return cleaned
        if ends_at - starts_at > timedelta(days=62):
            self.add_error("end_date", _("Preview at most 62 days at once."))
            return cleaned
        cleaned["starts_at"], cleaned["ends_at"] = starts_at, ends_at
        return cleaned


class ApprovalMessageForm(forms.Form):
    """Approve or decline (承認制): an optional message, e-mailed to the member with the decision."""

    message = forms.CharField(
        label=_("message to the member"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_(
            "Optional. Sent in the e-mail that tells the member the decision, and kept in the history."
        ),
    )


class CancelReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("cancel reason"),
        max_length=200,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("Stored with each reservation and shown in its history."),
    )


def with_refund_question(
    reason_form: type[forms.Form], refundable: list[int], *, several_label
) -> type[forms.Form]:
    """A cancel confirmation's form that also asks about money received, shared by the reservation and the
    order admins. `refundable`: what each row could still refund (only the amounts above 0). One row: the
    amount (`refund_yen`), everything refundable by default, 0 keeps the money; several: refund each in
    full or keep the money (`refund`); no money received: the reason form alone."""
    if not refundable:
        return reason_form
    if len(refundable) == 1:
        field = forms.IntegerField(
            label=_("refund (yen)"),
            min_value=0,
            max_value=refundable[0],
            initial=refundable[0],
            help_text=_("%(amount)s was paid and can be refunded. 0 keeps the money (no refund).")
            % {"amount": yen(refundable[0])},
        )
        return type("CancelAndRefundForm", (reason_form,), {"refund_yen": field})
    field = forms.ChoiceField(
        label=_("refund"),
        choices=[("full", several_label), ("none", _("Keep the money (no refund)"))],
        initial="full",
        widget=forms.RadioSelect,
    )
    return type("CancelAndRefundAllForm", (reason_form,), {"refund": field})


def refund_answer(form: forms.Form, *, refundable_yen: int) -> int:
    """What staff chose to refund for a row that could refund `refundable_yen`."""
    data = form.cleaned_data
    if "refund_yen" in data:
        return data["refund_yen"] or 0
    return refundable_yen if data.get("refund") == "full" else 0


# Staff's answer when a cancellation cannot go ahead as it stands (what the booking's order granted has been
# spent: purchase points); the keys reach the payment method as RefundChoice.keep_granted / deduct_missing.
KEEP_GRANTED = "keep"
DEDUCT_MISSING = "deduct"


def missing_choice_field(previews) -> forms.ChoiceField | None:
    """The question when points are missing on any of the rows (`previews`: objects with `missing` and
    `deduct_yen`): cancel without taking them back, or deduct them from the refund — with the number for
    one row. None when no row needs it (the question is shown only when relevant)."""
    blocked = [preview for preview in previews if preview is not None and preview.missing > 0]
    if not blocked:
        return None
    if len(blocked) == 1:
        missing = blocked[0].missing
        deduct_label = _("Deduct %(points)s points from the refund (%(amount)s)") % {
            "points": f"{missing:,}",
            "amount": yen(blocked[0].deduct_yen or missing),
        }
        help_text = _(
            "%(points)s points earned on this order have already been spent and cannot be taken back."
        ) % {"points": f"{missing:,}"}
    else:
        deduct_label = _("Deduct the missing points from each refund (1 point = ¥1)")
        help_text = _("Points earned on some of these orders have already been spent.")
    return forms.ChoiceField(
        label=_("points already spent"),
        choices=[(KEEP_GRANTED, _("Cancel without taking the points back")), (DEDUCT_MISSING, deduct_label)],
        widget=forms.RadioSelect,
        help_text=help_text,
    )


def with_missing_question(form_class: type[forms.Form], previews) -> type[forms.Form]:
    """`form_class` with the question above (`points`) when it is relevant."""
    field = missing_choice_field(previews)
    if field is None:
        return form_class
    return type(f"{form_class.__name__}WithPoints", (form_class,), {"points": field})


def missing_answer(form: forms.Form | None) -> dict[str, bool]:
    """RefundChoice's keep_granted / deduct_missing for staff's answer (both False when not asked)."""
    choice = form.cleaned_data.get("points", "") if form is not None else ""
    return {"keep_granted": choice == KEEP_GRANTED, "deduct_missing": choice == DEDUCT_MISSING}
