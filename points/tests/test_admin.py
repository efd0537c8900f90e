"""Staff screens of points (SPEC §8 staff screens, seed 004 ポイント管理 / 会員ポイント履歴): the settings
page, the ledger searched by period, kind and member (read-only rows, constant queries), one member's
balance and lots, the manual entry (+ with an expiry, − confirmed first, never below 0), editing an
entry's comment or expiry (its lot kept in step), and the streamed CSV of the current search."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation

from core.models import AuditEntry
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from points import ledger_csv
from points.models import PointAccount, PointEntry, PointLot, PointSettings
from points.services import points_adjust, points_grant, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind
LIST = "/admin/points/pointentry/"


@pytest.fixture(autouse=True)
def english(admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


def today() -> date:
    return timezone.localdate()


def grant(member, amount, *, days_ago=0, kind=Kind.PURCHASE):
    return points_grant(
        member=member,
        amount=amount,
        kind=kind,
        by=None,
        system="paid",
        now=jst(today() - timedelta(days=days_ago), "10:00"),
    )


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- settings -----------------------------------------------------------------------------------------------


def test_the_settings_page_edits_through_the_service_and_shows_the_expiry_method_read_only(admin_client):
    # given the settings page
    row = PointSettings.current()
    url = reverse("admin:points_pointsettings_change", args=[row.pk])
    assert admin_client.get("/admin/points/pointsettings/").url == url
    html = page(admin_client.get(url))
    assert "manage.py switch_point_expiry" in html
    assert "applies from the next grant or use" in html
    assert 'name="expiry_method"' not in html  # shown, not edited

    # when staff change the period (and try to sneak the method in)
    response = admin_client.post(
        url,
        {
            "base_rate_percent": "3",
            "signup_points": "100",
            "review_rule": "none",
            "review_points": "0",
            "usage_mode": "1",
            "period_months": "6",
            "expiry_method": "whole_balance",
        },
    )

    # then the change is saved with its audit entry, and the method is untouched
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.base_rate_percent, row.signup_points, row.period_months) == (3, 100, 6)
    assert row.expiry_method == PointSettings.ExpiryMethod.PER_RECORD
    audit = AuditEntry.objects.get(action="points.settings_changed")
    assert audit.payload["changes"]["period_months"] == [12, 6]


# --- the ledger ---------------------------------------------------------------------------------------------


def test_the_ledger_filters_by_period_kind_and_member(admin_client):
    # given entries of two members on different days
    hanako = MemberFactory(email="hanako@example.com", name="山田 花子")
    taro = MemberFactory(email="taro@example.com")
    old = grant(hanako, 100, days_ago=40)
    recent = grant(hanako, 200, days_ago=2)
    used = points_use(member=hanako, amount=50, by=hanako)
    other = grant(taro, 300, days_ago=2)

    def shown(query: str) -> set[int]:
        response = admin_client.get(LIST + query)
        page(response)
        return {entry.pk for entry in response.context["cl"].result_list}

    # then each search narrows the list
    assert shown("") == {old.pk, recent.pk, used.pk, other.pk}
    assert shown("?kind__exact=use") == {used.pk}
    start = (today() - timedelta(days=10)).isoformat()
    assert shown(f"?from={start}") == {recent.pk, used.pk, other.pk}
    assert shown(f"?to={(today() - timedelta(days=30)).isoformat()}") == {old.pk}
    assert shown("?q=hanako@example") == {old.pk, recent.pk, used.pk}
    assert shown("?q=山田") == {old.pk, recent.pk, used.pk}
    assert shown(f"?member={taro.pk}") == {other.pk}
    # and the columns say who, the change with its sign, and the balance after
    html = page(admin_client.get(LIST + "?kind__exact=use"))
    assert "-50" in html
    assert "The member" in html
    assert "System: paid" in page(admin_client.get(LIST + "?kind__exact=purchase"))


def test_the_ledger_list_takes_the_same_queries_however_many_rows(
    admin_client, django_assert_max_num_queries
):
    staff = MemberFactory(is_staff=True)

    def entries(count):
        for _ in range(count):
            member = MemberFactory()
            grant(member, 100)
            points_adjust(member=member, delta=-10, by=staff, reason="fix")

    entries(2)
    admin_client.get(LIST)
    with django_assert_max_num_queries(12) as few:
        page(admin_client.get(LIST))
    entries(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page(admin_client.get(LIST))


def test_rows_are_read_only_and_never_deleted(admin_client):
    entry = grant(MemberFactory(), 100)
    assert admin_client.get(LIST + "add/").status_code == 403
    assert admin_client.post(reverse("admin:points_pointentry_delete", args=[entry.pk])).status_code == 403
    html = page(admin_client.get(reverse("admin:points_pointentry_change", args=[entry.pk])))
    assert 'name="delta"' not in html
    assert reverse("admin:points_pointentry_edit", args=[entry.pk]) in html


def test_one_members_history_shows_the_balance_and_lots_with_their_dates(admin_client):
    # given a member with two lots, one partly used
    hanako = MemberFactory()
    first, second = grant(hanako, 100, days_ago=60), grant(hanako, 200, days_ago=30)
    points_use(member=hanako, amount=30, by=hanako)

    html = page(admin_client.get(LIST + f"?member={hanako.pk}"))

    assert 'id="point-member-summary"' in html
    assert "<strong>270</strong>" in html
    assert first.expires_on.strftime("%Y/%m/%d") in html
    assert second.expires_on.strftime("%Y/%m/%d") in html
    assert html.count('class="point-lot"') == 2
    # and the manual entry is offered for this member
    assert reverse("admin:points_pointentry_adjust") + f"?member={hanako.pk}" in html


# --- manual entry -------------------------------------------------------------------------------------------


ADJUST = "/admin/points/pointentry/adjust/"


def test_a_plus_with_an_expiry_is_saved_at_once(admin_client):
    hanako = MemberFactory(email="hanako@example.com")
    valid = today() + timedelta(days=90)
    assert f'value="{hanako.pk}"' in page(admin_client.get(ADJUST + f"?member={hanako.pk}"))

    response = admin_client.post(
        ADJUST, {"member": "hanako@example.com", "delta": "10", "reason": "bonus", "expires_on": valid}
    )

    assert response.status_code == 302
    entry = PointEntry.objects.get(member=hanako)
    assert (entry.kind, entry.delta, entry.reason, entry.expires_on) == (Kind.OTHER, 10, "bonus", valid)
    assert PointLot.objects.get(entry=entry).expires_on == valid
    assert AuditEntry.objects.filter(action="points.adjusted").count() == 1


def test_a_minus_is_confirmed_first_then_saved(admin_client):
    hanako = MemberFactory()
    grant(hanako, 50)
    data = {"member": str(hanako.pk), "delta": "-20", "reason": "refund correction"}

    # when first posted, it asks with the balance it leaves, and saves nothing
    html = page(admin_client.post(ADJUST, data))
    assert "Take 20 points away" in html
    assert "from 50 to 30 points" in html
    assert 'name="confirmed_delta" value="-20"' in html
    assert PointEntry.objects.filter(member=hanako, kind=Kind.OTHER).count() == 0

    # when confirmed, it is saved
    response = admin_client.post(ADJUST, {**data, "confirmed_delta": "-20"})
    assert response.status_code == 302
    assert PointAccount.objects.get(member=hanako).balance == 30


def test_a_minus_over_the_balance_says_the_balance_and_an_empty_comment_is_refused(admin_client):
    hanako = MemberFactory()
    grant(hanako, 30)

    html = page(admin_client.post(ADJUST, {"member": str(hanako.pk), "delta": "-31", "reason": "x"}))
    assert "The member has only 30 points; at most 30 can be taken away." in html

    html = page(admin_client.post(ADJUST, {"member": str(hanako.pk), "delta": "5", "reason": ""}))
    assert "This field is required." in html
    html = page(admin_client.post(ADJUST, {"member": "nobody@example.com", "delta": "5", "reason": "x"}))
    assert "There is no member with this ID or e-mail address." in html
    assert PointAccount.objects.get(member=hanako).balance == 30


# --- editing an entry ---------------------------------------------------------------------------------------


def test_editing_an_entrys_expiry_moves_its_lot_and_records_before_and_after(admin_client):
    hanako = MemberFactory()
    entry = grant(hanako, 100)
    before = entry.expires_on
    later = before + timedelta(days=30)
    url = reverse("admin:points_pointentry_edit", args=[entry.pk])
    assert 'name="expires_on"' in page(admin_client.get(url))

    response = admin_client.post(url, {"comment": "extended: apology", "expires_on": later})

    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.comment, entry.expires_on) == ("extended: apology", later)
    assert PointLot.objects.get(entry=entry).expires_on == later
    audit = AuditEntry.objects.get(action="points.entry_edited")
    assert audit.payload["changes"] == {
        "comment": ["", "extended: apology"],
        "expires_on": [before.isoformat(), later.isoformat()],
    }


def test_an_entry_without_points_left_edits_only_its_comment_and_a_past_date_is_refused(admin_client):
    hanako = MemberFactory()
    grant(hanako, 10)
    use_entry = points_use(member=hanako, amount=10, by=hanako)
    url = reverse("admin:points_pointentry_edit", args=[use_entry.pk])
    html = page(admin_client.get(url))
    assert 'name="expires_on"' not in html
    admin_client.post(url, {"comment": "checked"})
    use_entry.refresh_from_db()
    assert use_entry.comment == "checked"

    entry = grant(hanako, 100)
    url = reverse("admin:points_pointentry_edit", args=[entry.pk])
    html = page(admin_client.post(url, {"comment": "", "expires_on": today() - timedelta(days=1)}))
    assert "The expiry date cannot be in the past." in html


# --- CSV ----------------------------------------------------------------------------------------------------


def test_the_csv_is_the_current_search_streamed_in_shift_jis(admin_client, monkeypatch):
    hanako = MemberFactory(email="hanako@example.com")
    grant(hanako, 100)
    points_use(member=hanako, amount=40, by=hanako)
    points_use(member=hanako, amount=10, by=hanako)
    grant(MemberFactory(), 300)
    monkeypatch.setattr(ledger_csv, "PIECE_BYTES", 100)  # a piece per row or so

    response = admin_client.get(reverse("admin:points_pointentry_csv") + "?kind__exact=use")

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=Shift_JIS"
    assert "attachment;" in response["Content-Disposition"]
    pieces = list(response.streaming_content)
    assert len(pieces) > 1  # handed out as it is written, never held whole
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("cp932"), newline="")))
    assert rows[0][:3] == ["履歴ID", "日時", "会員ID"]
    assert [row[5:8] for row in rows[1:]] == [["ポイント利用", "-40", "60"], ["ポイント利用", "-10", "50"]]
    audit = AuditEntry.objects.get(action="points.ledger_downloaded")
    assert audit.payload["filters"] == {"kind__exact": ["use"]}
    # the list links to it with its search
    assert "csv/?kind__exact=use" in page(admin_client.get(LIST + "?kind__exact=use"))


def test_a_members_admin_page_links_to_their_point_history_for_staff_who_may_see_it(admin_client, client):
    hanako = MemberFactory()
    url = reverse("admin:members_member_change", args=[hanako.pk])
    ledger = reverse("admin:points_pointentry_changelist") + f"?member={hanako.pk}"

    html = page(admin_client.get(url))
    assert f'href="{ledger}"' in html
    assert "Point history" in html

    staff = MemberFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_member", "change_member"]))
    client.force_login(staff)
    assert f'href="{ledger}"' not in page(client.get(url))


def test_a_csv_of_a_search_the_list_refuses_goes_back_to_the_list(admin_client):
    response = admin_client.get(reverse("admin:points_pointentry_csv") + "?from=2026-02-30")
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_one_members_history_takes_the_same_queries_however_many_lots(
    admin_client, django_assert_max_num_queries
):
    hanako = MemberFactory()
    grant(hanako, 10)
    url = LIST + f"?member={hanako.pk}"
    admin_client.get(url)
    with django_assert_max_num_queries(16) as few:
        page(admin_client.get(url))
    for days in range(1, 25):
        grant(hanako, 10 + days, days_ago=days)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert page(admin_client.get(url)).count('class="point-lot"') == 25
