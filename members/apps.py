from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self):
        from core.audit import register_action_labels
        from members.audit_labels import ACTION_LABELS

        register_action_labels(ACTION_LABELS)
