"""The words staff read for points's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "points.granted": _("Points granted"),
    "points.used": _("Points used"),
    "points.use_reversed": _("Points used given back"),
    "points.grant_reversed": _("Points granted taken back"),
    "points.adjusted": _("Points adjusted by staff"),
    "points.expired": _("Points expired (nightly)"),
    "points.settings_changed": _("Point settings changed"),
    "points.entry_edited": _("Point history entry edited (comment or expiry)"),
    "points.expiry_switched": _("Point expiry dates rewritten by switching the expiry method"),
    "points.ledger_downloaded": _("Point history CSV downloaded"),
    "points.take_back_keep": _("Purchase points not taken back (staff cancelled without them)"),
    "points.take_back_deduct": _("Purchase points missing deducted from the refund"),
    "points.take_back_forced": _("Purchase points missing after a Stripe dashboard refund"),
    "points.shortfall_handled": _("Purchase points shortfall handled"),
}
