"""The admin menu (index page, nav sidebar) grouped by the day's work, security last (core/admin_site.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from core.admin_site import MENU_GROUPS, ShopAdminSite
from members.models import Member
from members.tests.factories import MemberFactory
from payments.models import Payment

pytestmark = pytest.mark.django_db

ORDER = [
    "reservations",
    "members",
    "items",
    "tickets",
    "plans",
    "points",
    "promotions",
    "orders",
    "settings",
    "system",
    "security",
]
HEADINGS = [
    "予約",
    "会員",
    "アイテム",
    "チケット",
    "プラン",
    "ポイント",
    "クーポン・割引",
    "受注",
    "設定",
    "システム",
    "セキュリティ",
]
EXPECTED = {
    "reservations": ["inventory.Reservation"],
    "members": ["members.Member"],
    "items": [
        "inventory.Item",
        "inventory.Review",
        "inventory.Category",
        "inventory.Store",
        "inventory.Slot",
        "inventory.AcceptanceOverride",
    ],
    "tickets": ["tickets.TicketType", "tickets.MemberTicket"],
    "plans": ["plans.Plan", "plans.PlanContract", "plans.PlanGrant", "plans.TimeBand"],
    "points": ["points.PointEntry", "points.PointShortfall"],
    "promotions": ["promotions.Coupon", "promotions.PriceRule"],
    "orders": ["payments.Order", "payments.Product", "payments.StripeEvent"],
    "settings": [
        "inventory.ReservationSettings",
        "inventory.Season",
        "payments.PaymentSettings",
        "points.PointSettings",
    ],
    "system": ["core.Job", "core.AuditEntry", "auth.Group"],
    "security": ["axes.AccessAttempt", "axes.AccessFailureLog", "axes.AccessLog"],
}


def superuser():
    return MemberFactory(is_staff=True, is_superuser=True)


def staff_with(*codenames):
    user = MemberFactory(is_staff=True)
    for codename in codenames:
        app_label, _, code = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
    return user


def groups(app_list):
    return {group["app_label"]: [m["model"]._meta.label for m in group["models"]] for group in app_list}


def headings(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]*" class="section"[^>]*>([^<]+)</a>', html)


def test_the_index_lists_the_days_work_in_order_with_security_last(client):
    client.force_login(superuser())

    response = client.get("/admin/")

    assert response.status_code == 200
    app_list = response.context["app_list"]
    assert [group["app_label"] for group in app_list] == ORDER
    assert groups(app_list) == EXPECTED
    assert headings(response.content.decode()) == HEADINGS
    assert app_list[-1]["app_label"] == "security"
    assert [m["model"]._meta.app_label for m in app_list[-1]["models"]] == ["axes"] * 3


def test_the_nav_sidebar_follows_the_same_groups(client):
    client.force_login(superuser())

    response = client.get("/admin/members/member/")

    assert response.status_code == 200
    assert [group["app_label"] for group in response.context["available_apps"]] == ORDER
    html = response.content.decode()
    sidebar = html[html.index('id="nav-sidebar"') :]
    assert headings(sidebar)[: len(HEADINGS)] == HEADINGS
    # the group headings lead back to the menu, and only the page's model is marked current
    assert 'href="/admin/#members" class="section"' in sidebar
    assert "current-app" not in sidebar
    assert 'class="model-member current-model"' in sidebar


def test_staff_see_only_the_models_they_may_use_and_no_empty_group(client):
    client.force_login(
        staff_with("inventory.view_reservation", "members.view_member", "axes.view_accessattempt")
    )

    response = client.get("/admin/")

    assert groups(response.context["app_list"]) == {
        "reservations": ["inventory.Reservation"],
        "members": ["members.Member"],
        "system": ["core.Job"],  # every staff member sees their own jobs
        "security": ["axes.AccessAttempt"],
    }
    assert headings(response.content.decode()) == ["予約", "会員", "システム", "セキュリティ"]
    assert "/admin/payments/order/" not in response.content.decode()


def test_every_registered_model_is_in_exactly_one_group():
    request = RequestFactory().get("/admin/")
    request.user = superuser()

    listed = [label for models in groups(admin.site.get_app_list(request)).values() for label in models]

    assert sorted(listed) == sorted(model._meta.label for model in admin.site._registry)
    assert len(listed) == len(set(listed))
    named = [label for _key, _heading, labels in MENU_GROUPS for label in labels]
    assert len(named) == len(set(named))


def test_a_model_named_in_no_group_is_listed_under_system():
    site = ShopAdminSite(name="menu_test")
    site.register(Member)
    # models of installed apps that the shop's admin does not register
    site.register(Permission)
    site.register(Payment)
    request = RequestFactory().get("/admin/")
    request.user = superuser()

    listed = groups(site.get_app_list(request))

    assert list(listed) == ["members", "system"]
    assert listed["members"] == ["members.Member"]
    assert sorted(listed["system"]) == ["auth.Permission", "payments.Payment"]


def test_per_app_pages_keep_djangos_own_list(client):
    client.force_login(superuser())

    response = client.get("/admin/inventory/")

    assert response.status_code == 200
    (app,) = response.context["app_list"]
    assert app["app_label"] == "inventory"
    assert {m["model"]._meta.label for m in app["models"]} == {
        model._meta.label for model in admin.site._registry if model._meta.app_label == "inventory"
    }
    assert client.get("/admin/axes/").status_code == 200
    assert client.get("/admin/nope/").status_code == 404


def test_the_index_query_count_is_constant(client, django_assert_max_num_queries):
    # session, user, the job menu, the staff home's panels (6 attention counts, whether approval is in use,
    # the bookings, the chart's 2 series, the latest jobs, the plans panel's 4: this month's grants, the
    # contract counts, the grant rules and the last grant run for next month's preview; the points panel's
    # 3: the expiry method, this month's figures, next month's expiries; the promotions panel's 3: the top
    # coupons, the coupons' totals, the price rules) and recent actions: the grouping itself adds none,
    # however many models and rows there are
    client.force_login(superuser())
    with django_assert_max_num_queries(25):
        assert client.get("/admin/").status_code == 200
    MemberFactory.create_batch(20)
    with django_assert_max_num_queries(25):
        assert client.get("/admin/").status_code == 200

    # staff without the superuser flag: their permissions are read once (user and group), not per model
    client.force_login(staff_with("inventory.view_reservation", "members.view_member"))
    with django_assert_max_num_queries(9):
        assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("year", ["99999999999999999999", "9999", "-1", "0"])
def test_a_date_hierarchy_year_out_of_range_is_refused_like_a_bad_filter(client, year):
    client.force_login(superuser())
    for url in ("/admin/payments/order/", "/admin/core/auditentry/", "/admin/inventory/reservation/"):
        response = client.get(url, {"created_at__year": year, "starts_at__year": year})
        assert response.status_code == 302, (url, response.status_code)
        assert response["Location"].endswith("?e=1")
