"""The staff home (admin index) is built from registered panels: each shown to staff with its permission,
in order, in a constant number of queries. core's own: the "needs attention" box and the latest jobs."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from core import home
from core.home import Panel, panels_for, register_panel
from core.models import Job
from core.periods import JST
from inventory.tests.factories import ReservationFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order

pytestmark = pytest.mark.django_db


def staff_with(*codenames):
    user = MemberFactory(is_staff=True)
    for codename in codenames:
        app_label, _, code = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
    return user


def make_job(user, label, status=Job.Status.SUCCEEDED):
    return Job.objects.create(kind="test", label=label, started_by=user, status=status)


def test_every_app_registers_its_panels_in_order():
    keys = [panel.key for panel in panels_for(MemberFactory(is_staff=True, is_superuser=True))]

    assert keys == ["attention", "bookings", "plans", "points", "promotions", "chart", "jobs"]


def test_a_later_apps_panel_is_shown_only_with_its_permission(client, monkeypatch):
    monkeypatch.setattr(home, "_panels", dict(home._panels))
    register_panel(
        Panel(
            key="extra",
            template="admin/core/attention.html",
            context=lambda request: {"waiting": []},
            permission="members.view_member",
            order=50,
        )
    )

    assert "extra" in [p.key for p in panels_for(staff_with("members.view_member"))]
    assert "extra" not in [p.key for p in panels_for(staff_with("core.view_job"))]


def test_the_latest_jobs_are_the_staff_members_own_newest_first_with_links(client):
    staff = staff_with("core.view_job")
    older = make_job(staff, "古い取込")
    newer = make_job(staff, "新しい取込", status=Job.Status.FAILED)
    make_job(MemberFactory(is_staff=True), "他の人のジョブ")
    client.force_login(staff)

    response = client.get("/admin/")

    assert response.context["jobs"] == [newer, older]
    html = response.content.decode()
    assert f"/admin/core/job/{newer.pk}/change/" in html
    assert "他の人のジョブ" not in html


def test_staff_without_the_view_job_permission_do_not_see_the_jobs_panel(client):
    staff = staff_with("members.view_member")
    make_job(staff, "取込")
    client.force_login(staff)

    response = client.get("/admin/")

    assert 'id="panel-jobs"' not in response.content.decode()
    assert 'id="attention"' in response.content.decode()  # the attention box is every staff member's


def test_the_jobs_panel_has_an_empty_state_and_a_constant_query_count(client, django_assert_max_num_queries):
    staff = staff_with("core.view_job", "inventory.view_reservation")
    client.force_login(staff)
    client.get("/admin/")
    # 12: one asks whether approval is in use, one counts failed grant runs, one failed price-switch runs of
    # plan changes (core.view_job)
    with django_assert_max_num_queries(12) as few:
        response = client.get("/admin/")
    assert 'id="panel-jobs"' in response.content.decode()
    assert response.context["jobs"] == []
    for n in range(12):
        make_job(staff, f"取込 {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/")
    assert len(response.context["jobs"]) == home.LATEST_JOBS


# --- the 30-day chart ---------------------------------------------------------------------------------

# 00:20 JST on 30 June 2027 (still 29 June in UTC): the window is 1–30 June, JST.
CHART_NOW = datetime(2027, 6, 30, 0, 20, tzinfo=JST)


def test_the_chart_counts_bookings_by_jst_start_day_and_sales_by_payment_day_less_refunds(
    client, time_machine
):
    time_machine.move_to(CHART_NOW, tick=False)
    ReservationFactory(starts_at=jst(date(2027, 6, 1), "00:10"), ends_at=jst(date(2027, 6, 1), "01:10"))
    ReservationFactory(starts_at=jst(date(2027, 6, 1), "23:30"), ends_at=jst(date(2027, 6, 2), "00:30"))
    ReservationFactory(starts_at=jst(date(2027, 6, 30), "10:00"), ends_at=jst(date(2027, 6, 30), "11:00"))
    ReservationFactory(
        starts_at=jst(date(2027, 6, 30), "12:00"), ends_at=jst(date(2027, 6, 30), "13:00"), cancelled=True
    )
    ReservationFactory(starts_at=jst(date(2027, 5, 31), "23:59"), ends_at=jst(date(2027, 6, 1), "00:59"))
    member = MemberFactory()
    paid = {"member": member, "payment_method": "card", "status": Order.Status.PAID}
    Order.objects.create(**paid, subtotal_yen=3000, total_yen=3000, paid_at=jst(date(2027, 6, 2), "23:50"))
    Order.objects.create(
        **paid, subtotal_yen=2000, total_yen=2000, refunded_yen=500, paid_at=jst(date(2027, 6, 2), "09:00")
    )
    Order.objects.create(member=member, payment_method="counter", subtotal_yen=900, total_yen=900)  # unpaid
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/")

    chart = response.context["chart"]
    assert len(chart["labels"]) == 30
    assert (chart["labels"][0], chart["labels"][-1]) == ("6/1", "6/30")
    bookings, sales = chart["datasets"]
    assert (bookings["key"], sales["key"]) == ("bookings", "sales")
    assert (bookings["data"][0], bookings["data"][-1], sum(bookings["data"])) == (2, 1, 3)
    assert (sales["data"][1], sum(sales["data"])) == (4500, 4500)
    html = response.content.decode()
    assert 'id="staff-home-chart-data"' in html
    assert "/static/vendor/chartjs-4.6.1/chart.umd.js" in html


def test_the_chart_shows_only_the_series_the_staff_member_may_see(client):
    client.force_login(staff_with("inventory.view_reservation"))
    assert [s["key"] for s in client.get("/admin/").context["chart"]["datasets"]] == ["bookings"]

    client.force_login(staff_with("members.view_member"))
    assert 'id="panel-chart"' not in client.get("/admin/").content.decode()


def test_the_chart_query_count_does_not_grow_with_the_data(client, django_assert_max_num_queries):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    client.get("/admin/")
    # 25: one asks whether approval is in use, one counts failed grant runs, one failed price-switch runs of
    # plan changes, one the purchase points missing after a dashboard refund, one the reviews awaiting
    # approval, 4 for the plans panel, 3 for the points panel, 3 for the promotions panel (the top coupons,
    # the coupons' totals, the price rules)
    with django_assert_max_num_queries(25) as few:
        assert client.get("/admin/").status_code == 200
    today = timezone.localdate()
    member = MemberFactory()
    for n in range(1, 15):
        day = today - timedelta(days=n)
        ReservationFactory(starts_at=jst(day, "10:00"), ends_at=jst(day, "11:00"))
        Order.objects.create(
            member=member,
            payment_method="card",
            status=Order.Status.PAID,
            subtotal_yen=1000,
            total_yen=1000,
            paid_at=jst(day, "12:00"),
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/")
    assert sum(response.context["chart"]["datasets"][0]["data"]) == 14
