"""manage.py switch_point_expiry (SPEC §8: switching the expiry method is an explicit command that says what
it will do first): the dry run changes nothing, --apply rewrites every balance's dates by the rule (per
record → whole balance: the latest of the lots' dates; whole balance → per record: the balance's date on
every lot) in one transaction, with audit entries, and the setting switched."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.models import AuditEntry
from core.periods import add_months_clamped
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from points.models import PointAccount, PointEntry, PointLot, PointSettings
from points.services import points_adjust, points_grant, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind
Method = PointSettings.ExpiryMethod


def method(value: str, months: int = 12) -> None:
    row = PointSettings.current()
    row.expiry_method = value
    row.period_months = months
    row.save()


def grant(member, amount, days_ago):
    day = timezone.localdate() - timedelta(days=days_ago)
    return points_grant(
        member=member, amount=amount, kind=Kind.PURCHASE, by=None, system="t", now=jst(day, "10:00")
    )


def run(*args) -> str:
    out = StringIO()
    call_command("switch_point_expiry", *args, stdout=out)
    return out.getvalue()


def lot_dates(member):
    return list(
        PointLot.objects.filter(member=member, remaining__gt=0)
        .order_by("pk")
        .values_list("expires_on", flat=True)
    )


def test_per_record_to_whole_balance_dry_run_says_what_it_will_do_and_changes_nothing():
    # given per record, a member with two lots and one with an undated bonus beside a lot
    method(Method.PER_RECORD)
    hanako, taro = MemberFactory(email="hanako@example.com"), MemberFactory(email="taro@example.com")
    first, second = grant(hanako, 100, 60), grant(hanako, 200, 30)
    grant(taro, 10, 5)
    points_adjust(member=taro, delta=50, by=MemberFactory(is_staff=True), reason="bonus")
    audits = AuditEntry.objects.count()

    # when the command runs without --apply
    out = run("--to", "whole_balance")

    # then it names the rule and each member with the date their balance will have
    assert "per_record → whole_balance" in out
    assert "the latest of its lots' dates" in out
    assert "2 member(s) hold 360 point(s)" in out
    assert (
        f"hanako@example.com (member #{hanako.pk}): 300 point(s) in 2 lot(s), valid through "
        f"{first.expires_on} … {second.expires_on} → the whole balance valid through {second.expires_on}"
        in out
    )
    assert "taro@example.com" in out
    assert "1 lot(s) without a date" in out
    assert "Dry run: nothing was changed" in out
    # and nothing changed
    assert PointSettings.current().expiry_method == Method.PER_RECORD
    assert lot_dates(hanako) == [first.expires_on, second.expires_on]
    assert AuditEntry.objects.count() == audits


def test_per_record_to_whole_balance_applied_gives_each_balance_the_latest_date():
    # given per record
    method(Method.PER_RECORD)
    hanako, taro, empty = MemberFactory(), MemberFactory(), MemberFactory()
    grant(hanako, 100, 60)
    second = grant(hanako, 200, 30)
    dated = grant(taro, 10, 5)
    points_adjust(member=taro, delta=50, by=MemberFactory(is_staff=True), reason="bonus")
    PointAccount.objects.get_or_create(member=empty)

    # when applied
    out = run("--to", "whole_balance", "--apply")

    # then each balance has the latest of its lots' dates, the lots none, and the setting is switched
    assert "Done: the expiry method is now whole_balance." in out
    assert PointSettings.current().expiry_method == Method.WHOLE_BALANCE
    assert PointAccount.objects.get(member=hanako).expires_on == second.expires_on
    assert PointAccount.objects.get(member=taro).expires_on == dated.expires_on
    assert PointAccount.objects.get(member=empty).expires_on is None
    assert lot_dates(hanako) == [None, None]
    assert lot_dates(taro) == [None, None]
    # balances are untouched, and the history says who did what
    assert PointAccount.objects.get(member=hanako).balance == 300
    switched = AuditEntry.objects.filter(action="points.expiry_switched")
    assert switched.count() == 2
    assert all(entry.system == "switch_point_expiry" for entry in switched)
    setting = AuditEntry.objects.get(action="points.settings_changed")
    assert setting.payload["changes"] == {"expiry_method": ["per_record", "whole_balance"]}
    # and from now on a use moves the whole balance's date
    points_use(member=hanako, amount=10, by=hanako)
    today = timezone.localdate()
    assert PointAccount.objects.get(member=hanako).expires_on == add_months_clamped(today, 12)


def test_whole_balance_to_per_record_applied_puts_the_balance_date_on_each_lot():
    # given whole balance: two grants, the balance valid through the second's date
    method(Method.WHOLE_BALANCE)
    hanako = MemberFactory(email="hanako@example.com")
    grant(hanako, 100, 60)
    second = grant(hanako, 200, 30)
    points_use(
        member=hanako, amount=50, by=hanako, now=jst(timezone.localdate() - timedelta(days=20), "12:00")
    )
    balance_date = PointAccount.objects.get(member=hanako).expires_on
    assert lot_dates(hanako) == [None, None]

    # when the dry run, then the real run
    dry = run("--to", "per_record")
    assert f"valid through {balance_date} → each of its lots valid through {balance_date}" in dry
    assert lot_dates(hanako) == [None, None]
    run("--to", "per_record", "--apply")

    # then every remaining lot carries the balance's date, and the balance none
    assert PointSettings.current().expiry_method == Method.PER_RECORD
    assert lot_dates(hanako) == [balance_date, balance_date]
    account = PointAccount.objects.get(member=hanako)
    assert account.expires_on is None
    assert account.balance == 250
    assert balance_date == add_months_clamped(timezone.localdate() - timedelta(days=20), 12)
    assert balance_date != second.expires_on  # the use moved it
    audit = AuditEntry.objects.get(action="points.expiry_switched")
    assert audit.payload["after"] == balance_date.isoformat()


def test_switching_to_the_method_in_force_is_refused():
    method(Method.PER_RECORD)
    with pytest.raises(CommandError, match="already per_record"):
        run("--to", "per_record")
