from django.core.management.base import BaseCommand, CommandError

from core.commands import add_at_argument, parse_at
from core.exceptions import DomainError
from payments.services import reconcile_payments
from payments.services.reconcile import SETTLE_AFTER


class Command(BaseCommand):
    help = (
        "Settle refunds and card payments left created or pending for more than "
        f"{int(SETTLE_AFTER.total_seconds() // 60)} minutes against Stripe: a refund is looked for among "
        "the payment's refunds (by our refund id in its metadata) before it is ever sent again; a pending "
        "payment's Checkout Session is retrieved. Beat runs it every 10 minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the open rows; change nothing."
        )
        add_at_argument(parser)

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        now = parse_at(at)
        try:
            result = reconcile_payments(now=now, dry_run=dry_run)
        except DomainError as error:
            raise CommandError(str(error)) from error
        if dry_run:
            self.stdout.write(
                f"Would look at {result.refunds_seen} open refund(s) and {result.payments_seen} open "
                "payment(s)."
            )
            return
        self.stdout.write(
            f"Refunds: {result.refunds_seen} open, {result.refunds_settled} settled, "
            f"{result.refunds_sent} sent again, {result.refunds_open} still open. "
            f"Payments: {result.payments_seen} open, "
            f"{result.payments_succeeded} succeeded, {result.payments_failed} failed, {result.payments_open} "
            "still open."
        )
