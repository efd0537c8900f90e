"""The words staff read for members's audit actions (core.audit.register_action_labels)."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "member.signed_up": _("Member signed up"),
    "member.email_verified": _("E-mail address verified"),
    "member.profile_changed": _("Profile changed"),
    "member.registered_by_staff": _("Member registered by staff"),
}
