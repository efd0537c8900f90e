"""The member's ポイント履歴 (my page › Point history): the balance, the next expiries (per record: the
dates and how many points each; whole balance: the one date), the history newest first with the order
link, only their own, paginated, in a constant number of queries; linked from the my page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone, translation

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Order
from points.models import PointEntry, PointSettings
from points.services import points_adjust, points_grant, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind
URL = "/points/mine/"


@pytest.fixture(autouse=True)
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


def grant(member, amount, days_ago=0, order=None):
    day = timezone.localdate() - timedelta(days=days_ago)
    return points_grant(
        member=member,
        amount=amount,
        kind=Kind.PURCHASE,
        by=None,
        system="t",
        order=order,
        now=jst(day, "10:00"),
    )


def test_the_page_shows_the_balance_the_next_expiries_and_the_history(client):
    # given a member with two lots (one partly used, from an order) and an undated bonus
    hanako = MemberFactory()
    order = Order.objects.create(member=hanako, payment_method="card", subtotal_yen=1000, total_yen=1000)
    first = grant(hanako, 100, days_ago=60, order=order)
    second = grant(hanako, 200, days_ago=30)
    points_use(member=hanako, amount=30, by=hanako)
    points_adjust(member=hanako, delta=5, by=MemberFactory(is_staff=True), reason="bonus")
    grant(MemberFactory(), 999)  # someone else's
    client.force_login(hanako)

    response = client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>275</strong>" in html
    assert response.context["expiries"]["dates"] == [(first.expires_on, 70), (second.expires_on, 200)]
    assert response.context["expiries"]["undated"] == 5
    assert "No expiry date" in html
    entries = list(response.context["entries"])
    assert [entry.kind for entry in entries] == [Kind.OTHER, Kind.USE, Kind.PURCHASE, Kind.PURCHASE]
    assert "999" not in html
    assert "Purchase points" in html
    assert "Used" in html
    assert f"/payments/orders/{order.pk}/" in html
    assert "-30" in html
    assert "+200" in html


def test_whole_balance_shows_the_one_date(client):
    row = PointSettings.current()
    row.expiry_method = PointSettings.ExpiryMethod.WHOLE_BALANCE
    row.save()
    hanako = MemberFactory()
    entry = grant(hanako, 100, days_ago=10)
    client.force_login(hanako)

    response = client.get(URL)

    assert response.context["expiries"] == {"whole": True, "date": entry.expires_on}
    assert "All your points share this date" in response.content.decode()


def test_a_member_without_points_sees_an_empty_page_and_visitors_log_in_first(client):
    assert client.get(URL)["Location"] == "/members/login/?next=/points/mine/"
    client.force_login(MemberFactory())
    html = client.get(URL).content.decode()
    assert "You have no points yet." in html


def test_the_history_is_paginated_with_constant_queries(client, django_assert_max_num_queries):
    hanako = MemberFactory()
    staff = MemberFactory(is_staff=True)
    grant(hanako, 1000, days_ago=5)
    client.force_login(hanako)
    client.get(URL)
    with django_assert_max_num_queries(9) as few:
        assert client.get(URL).status_code == 200
    for n in range(45):
        points_adjust(member=hanako, delta=1 + n % 3, by=staff, reason="bonus")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(response.context["entries"]) == 20
    assert "Page 1 of 3" in response.content.decode()
    assert len(client.get(URL + "?page=3").context["entries"]) == 6


def test_the_my_page_links_to_the_point_history(client):
    client.force_login(MemberFactory())
    html = client.get("/members/mypage/").content.decode()
    assert 'href="/points/mine/"' in html
    assert "Point history" in html
