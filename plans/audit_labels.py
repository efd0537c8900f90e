"""The words staff read for plans's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    # The demo data's plan and bands (plans.demo); staff edits in the admin read as the admin's own log.
    "plan.created": _("Plan created"),
    "timeband.created": _("Time band created"),
    "plan_allowance.used": _("Plan allowance used for a booking"),
    "plan_allowance.restored": _("Plan allowance given back"),
}

# Contracts (plans.contracts).
CONTRACT_ACTION_LABELS = {
    "plan_contract.created": _("Plan contract made"),
    "plan_contract.activated": _("Plan contract started (first payment)"),
    "plan_contract.recovered": _("Plan contract active again (payment received)"),
    "plan_contract.past_due": _("Plan contract past due (payment failed)"),
    "plan_contract.ended": _("Plan contract ended"),
    "plan_contract.cancelled": _("Plan contract cancelled at the month end"),
    "plan_contract.plan_changed": _("Plan changed"),
    "plan_contract.dropped": _("Unpaid plan contract dropped"),
    "plan_contract.monthly_order": _("Month's counter order made"),
}
