from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.exceptions import DomainError
from inventory.services import release_unpaid_reservations


class Command(BaseCommand):
    help = "Cancel tentative (unpaid) reservations whose hold has run out."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be released; change nothing."
        )
        parser.add_argument(
            "--at",
            help="Treat this as the current time (ISO 8601, JST when no offset), e.g. 2026-11-23T10:00.",
        )

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        now = timezone.now()
        if at:
            try:
                parsed = datetime.fromisoformat(at)
            except ValueError:
                raise CommandError(
                    f"--at: {at!r} is not an ISO 8601 date-time such as 2026-11-23T10:00"
                ) from None
            now = parsed if parsed.tzinfo else timezone.make_aware(parsed)
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
