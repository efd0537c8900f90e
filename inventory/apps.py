from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self):
        from core.audit import register_action_labels
        from inventory.audit_labels import ACTION_LABELS

        register_action_labels(ACTION_LABELS)
        from inventory import payment_methods

        payment_methods.register(payment_methods.FreeBooking())

        from core.home import register_daily_series, register_panel
        from inventory.home import approvals_panel, bookings_panel, bookings_series

        register_panel(bookings_panel())
        register_panel(approvals_panel())
        register_daily_series(bookings_series())

        # Reviews waiting for staff (when the point settings make reviews wait for approval).
        from core.attention import AttentionItem, register_attention
        from inventory.models import Review

        register_attention(
            AttentionItem(
                label=_("Reviews awaiting approval"),
                count=lambda: Review.objects.filter(status=Review.Status.PENDING).count(),
                url_name="admin:inventory_review_changelist",
                query="status__exact=pending",
                permission="inventory.change_review",
            )
        )

        from members.mypage import Section, register_section

        register_section(
            Section(
                title=_("Reservations"),
                description=_("See your upcoming and past reservations, and cancel a booking."),
                url_name="site:reservation_list",
                link_label=_("My reservations"),
                order=10,
            )
        )
        register_section(
            Section(
                title=_("Reviews"),
                description=_("Review the items of your completed bookings, and see the reviews you wrote."),
                url_name="site:my_reviews",
                link_label=_("My reviews"),
                order=60,
            )
        )
