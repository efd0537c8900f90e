from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = _("Points")

    def ready(self):
        from core import ledgers
        from core.audit import register_action_labels
        from points.audit_labels import ACTION_LABELS
        from points.selectors import ledger_report

        register_action_labels(ACTION_LABELS)
        ledgers.register("points", ledger_report)

        # Sign-up points at a member's first login.
        from django.contrib.auth.signals import user_logged_in

        from points.signals import grant_signup_points

        user_logged_in.connect(grant_signup_points, dispatch_uid="points.signup")

        # Review points: points follows inventory's reviews (inventory.review_hooks).
        from points import reviews

        reviews.register()

        # Purchase points: shown before paying (price step 50), granted when paid, taken back when undone.
        from points import earning

        earning.register()

        # Spending points at checkout: price step 40, spent with the order, given back when it is undone;
        # the booking confirm page's points field.
        from points import spending

        spending.register()

        # The staff home's points panel (this month's issued, used and expired, next month's expiries) and
        # the member's ポイント履歴 on the my page.
        from django.utils.translation import pgettext_lazy

        from core.home import register_panel
        from members.mypage import Section, register_section
        from points.home import points_panel

        register_panel(points_panel())

        # A member's admin page links to their point history (the ledger with their balance and lots).
        from django.urls import reverse

        from members.staff_links import MemberLink, register_member_link

        register_member_link(
            "points",
            MemberLink(
                label=_("Point history"),
                url=lambda member_id: reverse("admin:points_pointentry_changelist") + f"?member={member_id}",
                permission="points.view_pointentry",
                order=30,
            ),
        )
        register_section(
            Section(
                title=pgettext_lazy("my page", "Points"),
                description=_("Your points: the balance, when they expire, and their history."),
                url_name="points:history",
                link_label=_("Point history"),
                order=27,
            )
        )
