"""The words staff read for tickets's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "ticket.issued": _("Ticket issued"),
    "ticket.used": _("Ticket used for a booking"),
    "ticket.restored": _("Ticket use given back"),
    "ticket.adjusted": _("Ticket uses adjusted"),
    "ticket.revoked": _("Ticket taken back"),
    "ticket.purchase_started": _("Ticket purchase started"),
    "ticket_type.created": _("Ticket type created"),
    "ticket_type.changed": _("Ticket type changed"),
    "ticket_types.imported": _("Ticket CSV imported"),
    "ticket_types.exported": _("Ticket CSV exported"),
    "tickets.expired": _("Tickets expired (nightly)"),
}
