from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class BookingError(DomainError):
    default_message = _("This booking is not possible.")


class SoldOutError(BookingError):
    default_message = _("Sorry, this item is fully booked for that time. Please choose another time.")


class SlotFullError(BookingError):
    default_message = _("Sorry, this slot is full. Please choose another slot.")


class ClosedError(BookingError):
    default_message = _("Bookings are not accepted on that day.")


class OutOfHoursError(BookingError):
    default_message = _("That time is outside the hours when bookings are accepted.")


class TooLateError(BookingError):
    default_message = _("It is too late to book this time.")


class TooEarlyError(BookingError):
    default_message = _("Bookings for that date are not open yet.")


class InvalidLengthError(BookingError):
    default_message = _("The length of the booking is not allowed.")


class NoSuchSlotError(BookingError):
    default_message = _("There is no slot at that time.")


class NotBookableError(BookingError):
    default_message = _("This item cannot be booked.")


class PaymentMethodError(BookingError):
    default_message = _("This payment method cannot be used for this booking.")


class CancelError(DomainError):
    default_message = _("This reservation cannot be cancelled.")


class StatusError(DomainError):
    default_message = _("This reservation is not in a state that allows this.")


class CapacityChangeError(DomainError):
    """A stock or capacity edit would leave booked occurrences over their new limit. `conflicts` lists them
    as (start, end, booked, new capacity)."""

    default_message = _("The new stock or capacity is lower than what is already booked.")

    def __init__(self, message=None, *, conflicts=(), field: str | None = None):
        self.conflicts = list(conflicts)
        super().__init__(message, field=field)


class ReviewError(DomainError):
    default_message = _("This review cannot be changed that way.")
