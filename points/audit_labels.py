"""The words staff read for points's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "points.granted": _("Points granted"),
    "points.used": _("Points used"),
    "points.use_reversed": _("Points used given back"),
    "points.grant_reversed": _("Points granted taken back"),
    "points.adjusted": _("Points adjusted by staff"),
    "points.expired": _("Points expired (nightly)"),
}
