"""The price rule admin: the list in checking order with the linter's warnings (a constant number of
queries), add/edit validation, and the preview that says which rule a booking gets and why."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.periods import JST
from inventory.tests.factories import ItemFactory
from members.tests.factories import MemberFactory
from promotions.models import PriceRule

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MONDAY = date(2027, 6, 7)


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def staff_client(client):
    user = MemberFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__endswith="_pricerule"))
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def rule(name, position, **fields) -> PriceRule:
    fields.setdefault("percent", 10)
    return PriceRule.objects.create(name=name, position=position, **fields)


def form_data(**changes) -> dict:
    data = {
        "name": "Morning",
        "position": 1,
        "is_active": "on",
        "starts_from_0": "",
        "starts_from_1": "",
        "starts_until_0": "",
        "starts_until_1": "",
        "weekdays": [],
        "time_from": "",
        "time_until": "",
        "kind": "percent",
        "percent": 10,
        "yen": 0,
    }
    data.update(changes)
    return data


def test_list_in_order_with_warnings_and_constant_queries(staff_client):
    rule("everything", 1)
    rule("weekends", 2, weekdays=[5, 6])
    url = reverse("admin:promotions_pricerule_changelist")
    staff_client.get(url)
    with CaptureQueriesContext(connection) as few:
        response = staff_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert [each.name for each in response.context["cl"].result_list] == ["everything", "weekends"]
    assert "weekends (order 2): It can never apply: rule “everything” (order 1)" in html
    for n in range(3, 13):
        rule(f"rule {n}", n, weekdays=[n % 8])
    with CaptureQueriesContext(connection) as many:
        assert staff_client.get(url).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_add_validates_ranges_and_percent(staff_client):
    url = reverse("admin:promotions_pricerule_add")
    response = staff_client.post(
        url,
        form_data(
            starts_from_0="2027-06-10",
            starts_from_1="10:00",
            starts_until_0="2027-06-10",
            starts_until_1="09:00",
            time_from="12:00",
            time_until="12:00",
            percent=101,
        ),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "The end must be after the start." in errors["starts_until"]
    assert "The end of the time of day must be after its start." in errors["time_until"]
    assert "percent" in errors
    assert not PriceRule.objects.exists()
    # a good one saves, weekdays as ticked
    response = staff_client.post(url, form_data(weekdays=["7", "5"], time_from="10:00", time_until="12:00"))
    assert response.status_code == 302
    saved = PriceRule.objects.get()
    assert (saved.weekdays, saved.time_from) == ([5, 7], time(10, 0))


def test_change_page_shows_its_own_warning(staff_client):
    rule("everything", 1)
    later = rule("later", 2, time_from=time(10, 0))
    response = staff_client.get(reverse("admin:promotions_pricerule_change", args=[later.pk]))
    assert response.status_code == 200
    assert "It can never apply" in response.content.decode()


def test_preview_says_which_rule_applies_why_and_the_prices(staff_client):
    item = ItemFactory(name="Room", units=[(60, 2000)])
    rule("weekends", 1, weekdays=[5, 6])
    rule("mornings", 2, time_until=time(12, 0), kind=PriceRule.Kind.YEN, percent=0, yen=500)
    response = staff_client.get(
        reverse("admin:promotions_pricerule_preview"),
        {"item": item.pk, "date": MONDAY.isoformat(), "start": "10:00", "end": "11:00", "quantity": 1},
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert result["rule"].name == "mornings"
    assert (result["before_yen"], result["discount_yen"], result["after_yen"]) == (2000, 500, 1500)
    html = response.content.decode()
    assert "Rule “mornings” (order 2) applies." in html
    assert "the day is Mon, not one of Sat, Sun" in html
    assert "starts at 10:00, before 12:00" in html
