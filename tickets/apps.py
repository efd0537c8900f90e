from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self):
        from core.audit import register_action_labels
        from tickets.audit_labels import ACTION_LABELS

        register_action_labels(ACTION_LABELS)
        from core import ledgers
        from inventory import payment_methods
        from payments import registry
        from tickets.plugins import TicketPayment, TicketProductFulfiller
        from tickets.selectors import ledger_report

        payment_methods.register(TicketPayment())
        registry.register_product_fulfiller(TicketProductFulfiller())

        from tickets.rules import TicketProductRule

        registry.register_product_rule("tickets", TicketProductRule())
        ledgers.register("tickets", ledger_report)

        from tickets.csv_jobs import TICKETS

        TICKETS.register()

        from members.mypage import Section, register_section

        register_section(
            Section(
                title=pgettext_lazy("my page", "Tickets"),
                description=_("Your tickets: uses left, valid through, where they can be used, and history."),
                url_name="tickets:wallet",
                link_label=_("My tickets"),
                order=20,
            )
        )
