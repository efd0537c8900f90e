"""The points panel of the staff home: points issued, used (net of uses given back) and expired this month
(JST), and what expires next month (points and members); its queries do not grow with the ledger."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from points.home import points_context
from points.models import PointEntry, PointSettings
from points.services import points_adjust, points_expire, points_grant, points_reverse_use, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def in_april(monkeypatch):
    """The home is looked at on 2027-04-10 (JST)."""
    from django.utils import timezone

    now = jst(date(2027, 4, 10), "10:00")
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def staff(*codenames: str):
    user = MemberFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def grant(member, amount, day: date):
    return points_grant(
        member=member, amount=amount, kind=Kind.PURCHASE, by=None, system="t", now=jst(day, "10:00")
    )


def april_ledger():
    hanako, taro, jiro = MemberFactory(), MemberFactory(), MemberFactory()
    grant(hanako, 50, date(2026, 5, 15))  # valid through 2027-05-15
    grant(taro, 70, date(2026, 5, 31))  # valid through 2027-05-31
    grant(jiro, 40, date(2026, 4, 4))  # valid through 2027-04-04: expires on 4/5
    grant(hanako, 100, date(2027, 3, 20))  # March: not this month's
    grant(hanako, 300, date(2027, 4, 2))
    points_adjust(member=hanako, delta=10, by=staff(), reason="bonus", now=jst(date(2027, 4, 3), "10:00"))
    points_use(member=taro, amount=20, by=taro, now=jst(date(2027, 4, 5), "10:00"))
    used = points_use(member=hanako, amount=30, by=hanako, now=jst(date(2027, 4, 6), "10:00"))
    points_reverse_use(entry=used, by=hanako, now=jst(date(2027, 4, 7), "10:00"))
    points_expire(on=date(2027, 4, 5), now=jst(date(2027, 4, 5), "00:30"))


def test_the_panel_shows_this_months_points_and_next_months_expiries(client, in_april):
    # given April's ledger (per record)
    april_ledger()
    client.force_login(staff("view_pointentry"))
    client.cookies["django_language"] = "en"

    response = client.get("/admin/")

    html = response.content.decode()
    assert 'id="panel-points"' in html
    # issued 300 + 10, used 20 + 30 − 30 given back, expired 40
    assert response.context["figures"] == {"issued": 310, "used": 20, "expired": 40}
    # May: hanako's lot of 5/15 (50, 30 of them used: the use given back came back as a new lot) and
    # taro's of 5/31 (70 − 20)
    assert response.context["expiring"] == {"points": 70, "members": 2}
    assert "70 points held by 2 members" in html
    assert "?from=2027-04-01&amp;to=2027-04-30" in html


def test_whole_balance_counts_the_balances_whose_date_is_next_month(in_april):
    row = PointSettings.current()
    row.expiry_method = PointSettings.ExpiryMethod.WHOLE_BALANCE
    row.save()
    grant(MemberFactory(), 80, date(2026, 5, 20))
    grant(MemberFactory(), 20, date(2026, 6, 1))

    context = points_context(RequestFactory().get("/admin/"))

    assert context["expiring"] == {"points": 80, "members": 1}


def test_the_panel_is_for_staff_who_may_see_the_ledger_and_its_queries_do_not_grow(client, in_april):
    client.force_login(staff("view_reservation"))
    assert 'id="panel-points"' not in client.get("/admin/").content.decode()

    request = RequestFactory().get("/admin/")
    april_ledger()
    with CaptureQueriesContext(connection) as few:
        points_context(request)
    april_ledger()
    april_ledger()
    with CaptureQueriesContext(connection) as more:
        points_context(request)
    assert len(more) == len(few) <= 4


def test_the_panel_says_so_when_nothing_expires_next_month(client, in_april):
    # given a ledger whose only points are valid through next year
    grant(MemberFactory(), 30, date(2027, 4, 2))
    client.force_login(staff("view_pointentry"))
    client.cookies["django_language"] = "en"
    # when staff open the home
    html = client.get("/admin/").content.decode()
    # then the panel says nothing expires in May, not "0 points held by 0 members"
    assert "No points expire that month." in html
    assert "held by 0 members" not in html
