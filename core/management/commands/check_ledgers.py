from django.core.management.base import BaseCommand, CommandError

from core import ledgers


class Command(BaseCommand):
    help = (
        "Compare every cached balance (ticket uses; points once they exist) with its ledger. Prints each "
        "difference and exits 1 when there is one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--only", choices=sorted(ledgers.checks()), help="Check one ledger only.")

    def handle(self, *args, only=None, **options):
        differences = 0
        for name, check in sorted(ledgers.checks().items()):
            if only and name != only:
                continue
            lines = check()
            differences += len(lines)
            for line in lines:
                self.stdout.write(f"{name}: {line}")
            status = (
                self.style.SUCCESS("OK") if not lines else self.style.ERROR(f"{len(lines)} difference(s)")
            )
            self.stdout.write(f"{name}: {status}")
        if differences:
            raise CommandError(f"{differences} balance(s) differ from their ledger.", returncode=1)
