"""Switch the shop's point expiry method (SPEC §8: an explicit migration command, never a settings click).

    python manage.py switch_point_expiry --to per_record|whole_balance [--apply]

Without --apply it says exactly what it would do — the rule, then each member holding points with their
points' dates now and the date they will have — and changes nothing. With --apply it does it in one
transaction (points.services.points_expiry_switch): whatever is already past its date is expired first
under the old method, every balance's dates are set by the rule, the setting is switched, and each member
changed gets an audit entry (the command is the system job `switch_point_expiry`).

The rule (chosen so that no point expires earlier than it would have):
- per_record → whole_balance: each balance gets one date, the latest of its lots' dates;
- whole_balance → per_record: each member's remaining points keep the balance's one date, as their own.
Run it when the shop is quiet: a grant or use already under way when it starts is made under the old
method."""

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import DomainError
from points.models import PointSettings
from points.services import ExpirySwitchPlan, expiry_switch_plan, points_expiry_switch

Method = PointSettings.ExpiryMethod
JOB = "switch_point_expiry"

RULES = {
    Method.WHOLE_BALANCE: (
        "Each member's balance gets one date: the latest of its lots' dates (points without a date join "
        "the balance; a balance with no dated lot gets no date). The lots lose their own dates; from now on "
        "every grant or use moves the balance's date to that day + {months} months."
    ),
    Method.PER_RECORD: (
        "Each member's remaining points keep the balance's one date as their own (a balance without a "
        "date keeps none). From now on each grant expires {months} months after it is made, and points "
        "are spent from the lot that expires first."
    ),
}


class Command(BaseCommand):
    help = (
        "Switch the point expiry method (per_record or whole_balance). Without --apply it only says what it "
        "would do."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=Method.values, help="The method to switch to.")
        parser.add_argument(
            "--apply", action="store_true", help="Do it (without: only say what it would do)."
        )

    def handle(self, *args, to, apply=False, **options):
        settings = PointSettings.current()
        if settings.expiry_method == to:
            raise CommandError(f"The expiry method is already {to}: nothing to do.")
        if not apply:
            self._describe(expiry_switch_plan(to=to), settings, dry_run=True)
            self.stdout.write("Dry run: nothing was changed. Run again with --apply to do it.")
            return
        try:
            plan = points_expiry_switch(to=to, by=None, system=JOB)
        except DomainError as error:
            raise CommandError(str(error.message)) from error
        self._describe(plan, settings, dry_run=False)
        self.stdout.write(f"Done: the expiry method is now {to}.")

    def _describe(self, plan: ExpirySwitchPlan, settings: PointSettings, *, dry_run: bool) -> None:
        verb = "will" if dry_run else "was"
        self.stdout.write(
            f"Expiry method: {plan.current} → {plan.to} (period: {settings.period_months} months)."
        )
        self.stdout.write(RULES[plan.to].format(months=settings.period_months))
        self.stdout.write(
            f"{len(plan.rows)} member(s) hold {plan.points} point(s); each {verb} be set as follows"
            + (" (points already past their date are expired first):" if dry_run else ":")
        )
        target = "the whole balance" if plan.to == Method.WHOLE_BALANCE else "each of its lots"
        for row in plan.rows:
            after = f"valid through {row.after}" if row.after else "no date"
            self.stdout.write(
                f"  {row.email} (member #{row.member_id}): {row.balance} point(s) in {row.lots} lot(s), "
                f"{row.before} → {target} {after}"
            )
