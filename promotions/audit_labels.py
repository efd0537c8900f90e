"""The words staff read for promotions's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "coupon.redeemed": _("Coupon used"),
    "coupon.released": _("Coupon use given back (cancelled)"),
    "coupon.reduced": _("Coupon discount reduced (a week cancelled before payment)"),
    "price_rule.reduced": _("Price rule discount reduced (a week cancelled before payment)"),
    "coupon.kept": _("Coupon use not given back (cancelled; the coupon keeps it)"),
    "price_rule.applied": _("Price rule applied"),
    "price_rule.moved": _("Price rule moved up or down (checking order)"),
    "coupon.created": _("Coupon created"),
    "coupon.changed": _("Coupon changed"),
    "coupon.uses_downloaded": _("Coupon uses downloaded (CSV)"),
}
