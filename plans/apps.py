from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlansConfig(AppConfig):
    name = "plans"
    verbose_name = _("Plans")

    def ready(self):
        # ecforce's ticket CSV lists plans as メンバーシップ契約 rows: plans plugs them into the ticket CSV.
        from plans.csv import PLAN_KIND, PlanRowsFormat
        from tickets.resources import register_row_kind

        register_row_kind(PLAN_KIND, PlanRowsFormat)

        # Bookings paid with the plan's monthly allowance, and its ledger in `manage.py check_ledgers`.
        from core import ledgers
        from core.audit import register_action_labels
        from inventory import payment_methods
        from plans.allowance import ledger_report
        from plans.audit_labels import ACTION_LABELS
        from plans.plugins import PlanPayment

        register_action_labels(ACTION_LABELS)
        payment_methods.register(PlanPayment())
        ledgers.register("plans", ledger_report)

        # Ticket grants (plans.grants): the usable-plan restriction checked when a granted ticket is used,
        # the grant runs in the job history, and a failed run on the admin home until one succeeds.
        from core.attention import register_attention
        from core.jobs import register_count_label, register_job_kind
        from plans import grants
        from tickets.hooks import register_source_labels, register_use_check

        register_action_labels(grants.ACTION_LABELS)
        register_use_check(grants.restriction_refusals)
        from plans.sources import grant_source_labels

        register_source_labels(grant_source_labels)
        register_job_kind(grants.GRANT_JOB, grants.JOB_LABEL)
        register_attention(grants.FAILED_RUNS)
        for key, label in grants.COUNT_LABELS.items():
            register_count_label(key, label)

        # Contracts: the subscription of a contract's first order, paying it starts the contract, and the
        # subscription's webhooks (invoices paid and failed, the subscription deleted).
        from plans import contracts
        from plans.audit_labels import CONTRACT_ACTION_LABELS

        register_action_labels(CONTRACT_ACTION_LABELS)
        contracts.register()

        # A plan change's Stripe price switch made later by the daily job: its runs in the job history, a
        # failed run on the admin home until one succeeds.
        from plans import price_switches

        register_action_labels(price_switches.ACTION_LABELS)
        register_job_kind(price_switches.SWITCH_JOB, price_switches.JOB_LABEL)
        register_attention(price_switches.FAILED_RUNS)
        for key, label in price_switches.COUNT_LABELS.items():
            register_count_label(key, label)

        from django.utils.translation import pgettext_lazy

        from members.mypage import Section, register_section

        register_section(
            Section(
                title=pgettext_lazy("my page", "Plan"),
                description=_(
                    "Your plan: its status, the bookings left this month, changing or cancelling it."
                ),
                url_name="plans:mine",
                link_label=_("My plan"),
                order=25,
            )
        )

        # The staff home's plans panel: this month's and next month's grants, contracts started, ended
        # and past due.
        from core.home import register_panel
        from plans.home import plans_panel

        register_panel(plans_panel())
