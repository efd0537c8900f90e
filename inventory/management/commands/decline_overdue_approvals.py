from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.commands import add_at_argument, parse_at
from core.exceptions import DomainError
from inventory.services import decline_overdue_approvals


class Command(BaseCommand):
    help = (
        "Decline bookings still awaiting approval (承認制) at their deadline: the request time plus the "
        "approval hours, or the booking deadline when that comes first. Members are e-mailed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be declined; change nothing."
        )
        add_at_argument(parser)

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        now = parse_at(at)
        try:
            reservations = decline_overdue_approvals(now=now, dry_run=dry_run)
        except DomainError as error:
            raise CommandError(str(error)) from error
        verb = "Would decline" if dry_run else "Declined"
        for reservation in reservations:
            deadline = reservation.approval_deadline
            due = f"due {timezone.localtime(deadline):%Y-%m-%d %H:%M}" if deadline else "decided meanwhile"
            self.stdout.write(
                f"{verb} #{reservation.pk} {reservation.item.name} "
                f"{timezone.localtime(reservation.starts_at):%Y-%m-%d %H:%M} ({reservation.member.email}), "
                f"{due}"
            )
        self.stdout.write(self.style.SUCCESS(f"{verb} {len(reservations)} reservation(s)."))
