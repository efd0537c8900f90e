"""`manage.py expire_points` and the nightly task: a dry run says what would expire and changes nothing,
a run expires it once (a second run the same day finds nothing), a bad date is refused, and beat runs it at
00:30 JST."""

from __future__ import annotations

from datetime import date

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import CommandError, call_command

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from points import selectors
from points.models import PointEntry, PointSettings
from points.services import points_grant
from points.tasks import expire_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def expiring_member():
    """100 points granted on 2025-01-10 with a 1-month period: valid through 2025-02-10."""
    row = PointSettings.current()
    row.period_months = 1
    row.expiry_method = PointSettings.ExpiryMethod.PER_RECORD
    row.save()
    member = MemberFactory()
    points_grant(
        member=member,
        amount=100,
        kind=PointEntry.Kind.PURCHASE,
        by=None,
        system="test",
        now=jst(date(2025, 1, 10), "10:00"),
    )
    return member


def test_a_dry_run_says_what_would_expire_and_changes_nothing(expiring_member, capsys):
    call_command("expire_points", "--date", "2025-02-11", "--dry-run")

    assert "would expire 100 point(s) in 1 entry" in capsys.readouterr().out
    assert selectors.balance_of(expiring_member) == 100
    assert not PointEntry.objects.filter(kind=PointEntry.Kind.EXPIRED).exists()


def test_the_run_expires_once_and_the_last_valid_day_keeps_the_points(expiring_member, capsys):
    call_command("expire_points", "--date", "2025-02-10")  # still valid on its last day
    assert selectors.balance_of(expiring_member) == 100

    call_command("expire_points", "--date", "2025-02-11")
    call_command("expire_points", "--date", "2025-02-11")

    out = capsys.readouterr().out
    assert "expired 100 point(s) in 1 entry" in out
    assert selectors.balance_of(expiring_member) == 0
    assert PointEntry.objects.filter(kind=PointEntry.Kind.EXPIRED).count() == 1


@pytest.mark.parametrize("value", ["2025-2-11", "2025-02-30", "tomorrow"])
def test_a_bad_date_is_refused_with_a_message(value):
    with pytest.raises(CommandError, match="--date must be"):
        call_command("expire_points", "--date", value)


def test_the_task_expires_as_of_today(expiring_member, time_machine):
    time_machine.move_to(jst(date(2025, 3, 1), "00:30"), tick=False)

    assert expire_points() == {"entries": 1, "points": 100}
    assert expire_points() == {"entries": 0, "points": 0}


def test_beat_runs_the_expiry_at_0030_every_night():
    entry = settings.CELERY_BEAT_SCHEDULE["expire-points"]
    assert entry["task"] == "points.tasks.expire_points"
    assert entry["schedule"] == crontab(hour=0, minute=30)
    assert settings.CELERY_TIMEZONE == "Asia/Tokyo"
