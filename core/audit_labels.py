"""The words staff read for core's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "jobs.failed_stale": _("Stale jobs failed"),
}
