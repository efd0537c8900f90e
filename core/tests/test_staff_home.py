"""The staff home (admin index) is built from registered panels: each shown to staff with its permission,
in order, in a constant number of queries. core's own: the "needs attention" box and the latest jobs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from core import home
from core.home import Panel, panels_for, register_panel
from core.models import Job
from members.tests.factories import MemberFactory

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

    assert keys[:2] == ["attention", "bookings"]
    assert "jobs" in keys


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
    with django_assert_max_num_queries(8) as few:
        response = client.get("/admin/")
    assert 'id="panel-jobs"' in response.content.decode()
    assert response.context["jobs"] == []
    for n in range(12):
        make_job(staff, f"取込 {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/")
    assert len(response.context["jobs"]) == home.LATEST_JOBS
