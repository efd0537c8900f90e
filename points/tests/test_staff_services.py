"""The services behind the staff pages: changing the settings (never the expiry method), and editing an
entry's comment or the expiry of the points it added (per record only, while some are left; the lot moves
with it; an audit entry with before and after, none when nothing changed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from core.models import AuditEntry
from members.tests.factories import MemberFactory
from points.exceptions import PointsError
from points.models import PointEntry, PointLot, PointSettings
from points.services import points_adjust, points_entry_edit, points_grant, points_settings_update, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def grant(member, amount=100):
    return points_grant(member=member, amount=amount, kind=Kind.PURCHASE, by=None, system="t")


def test_settings_change_is_audited_and_the_expiry_method_is_refused():
    staff = MemberFactory(is_staff=True)

    points_settings_update(by=staff, period_months=3, base_rate_percent=5)

    row = PointSettings.current()
    assert (row.period_months, row.base_rate_percent) == (3, 5)
    audit = AuditEntry.objects.get(action="points.settings_changed")
    assert audit.payload["changes"] == {"period_months": [12, 3], "base_rate_percent": [1, 5]}
    with pytest.raises(PointsError, match="switch_point_expiry"):
        points_settings_update(by=staff, expiry_method="whole_balance")
    points_settings_update(by=staff, period_months=3)  # nothing changes: no second entry
    assert AuditEntry.objects.filter(action="points.settings_changed").count() == 1


def test_a_new_period_rewrites_no_date_already_set():
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    entry = grant(member)
    before = PointLot.objects.get(entry=entry).expires_on

    points_settings_update(by=staff, period_months=3)

    assert PointLot.objects.get(entry=entry).expires_on == before


def test_editing_the_expiry_keeps_the_lot_in_step_and_a_comment_alone_leaves_the_date():
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    entry = grant(member)
    later = entry.expires_on + timedelta(days=10)

    points_entry_edit(entry=entry, expires_on=later, by=staff)
    points_entry_edit(entry=entry, comment="note", by=staff)

    entry.refresh_from_db()
    assert (entry.expires_on, entry.comment) == (later, "note")
    assert PointLot.objects.get(entry=entry).expires_on == later
    assert AuditEntry.objects.filter(action="points.entry_edited").count() == 2
    points_entry_edit(entry=entry, comment="note", expires_on=later, by=staff)  # nothing changes
    assert AuditEntry.objects.filter(action="points.entry_edited").count() == 2


def test_an_expiry_only_where_points_are_left_per_record_and_never_in_the_past():
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    future = timezone.localdate() + timedelta(days=30)
    spent = grant(member, 10)
    use = points_use(member=member, amount=10, by=member)
    with pytest.raises(PointsError, match="added no points"):
        points_entry_edit(entry=use, expires_on=future, by=staff)
    with pytest.raises(PointsError, match="all used or expired"):
        points_entry_edit(entry=spent, expires_on=future, by=staff)
    kept = grant(member, 50)
    with pytest.raises(PointsError, match="cannot be in the past"):
        points_entry_edit(entry=kept, expires_on=timezone.localdate() - timedelta(days=1), by=staff)

    row = PointSettings.current()
    row.expiry_method = PointSettings.ExpiryMethod.WHOLE_BALANCE
    row.save()
    bonus = points_adjust(member=member, delta=5, by=staff, reason="bonus")
    with pytest.raises(PointsError, match="share one date"):
        points_entry_edit(entry=bonus, expires_on=future, by=staff)
    # nothing was changed by the refusals
    assert PointLot.objects.get(entry=kept).expires_on == kept.expires_on
    assert not AuditEntry.objects.filter(action="points.entry_edited").exists()
