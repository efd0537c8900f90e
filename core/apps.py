from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from core import (
            checks,  # noqa: F401 - registers the system checks
            lookups,  # noqa: F401 - registers field__any
        )
        from core.audit import register_action_labels
        from core.audit_labels import ACTION_LABELS

        register_action_labels(ACTION_LABELS)
        from django.core.signals import request_finished, request_started

        from core import audit

        # Staff edits through the admin's own forms reach the audit trail through Django's LogEntry.
        audit.install_admin_log_auditing()
        request_started.connect(audit.request_started, dispatch_uid="core.audit.request_started")
        request_finished.connect(audit.request_finished, dispatch_uid="core.audit.request_finished")
        audit.install_atomic_bulk_delete()

        from core.home import attention_panel, chart_panel, jobs_panel, register_panel

        register_panel(attention_panel())
        register_panel(chart_panel())
        register_panel(jobs_panel())
