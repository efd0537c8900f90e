"""The words staff read for plans's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "plan_allowance.used": _("Plan allowance used for a booking"),
    "plan_allowance.restored": _("Plan allowance given back"),
}
