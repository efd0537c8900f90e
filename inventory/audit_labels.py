"""The words staff read for inventory's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "reservation.created": _("Reservation made"),
    "reservation.confirmed": _("Reservation confirmed"),
    "reservation.approved": _("Booking approved"),
    "reservation.declined": _("Booking declined"),
    "reservation.cancelled": _("Reservation cancelled"),
    "reservation.no_show": _("Marked as a no-show"),
    "reservation.completed": _("Reservation completed"),
    "item.duplicated": _("Item duplicated"),
    "item.own_settings_enabled": _("Item's own reservation settings switched on"),
    "item.capacity_changed": _("Stock or capacity applied to future bookings"),
    "review.posted": _("Review posted"),
    "review.approved": _("Review approved"),
    "review.rejected": _("Review rejected"),
}
