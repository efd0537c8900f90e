from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.commands import add_at_argument, parse_at
from core.exceptions import DomainError
from inventory.services import release_unpaid_reservations


class Command(BaseCommand):
    help = "Cancel tentative (unpaid) reservations whose hold has run out."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be released; change nothing."
        )
        add_at_argument(parser)

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        now = parse_at(at)
        try:
            reservations = release_unpaid_reservations(now=now, dry_run=dry_run)
        except DomainError as error:
            raise CommandError(str(error)) from error
        verb = "Would release" if dry_run else "Released"
        for reservation in reservations:
            self.stdout.write(
                f"{verb} #{reservation.pk} {reservation.item.name} "
                f"{timezone.localtime(reservation.starts_at):%Y-%m-%d %H:%M} ({reservation.member.email}), "
                f"held until {timezone.localtime(reservation.hold_until):%Y-%m-%d %H:%M}"
            )
        self.stdout.write(self.style.SUCCESS(f"{verb} {len(reservations)} reservation(s)."))
