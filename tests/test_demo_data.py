import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from inventory.models import Store
from members import demo as member_demo
from members.models import Member

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_demo_data_loader_is_idempotent(capsys):
    # given the demo data loaded once
    call_command("load_demo_data")
    first = _counts()
    staff = Member.objects.get(email=member_demo.STAFF_EMAIL)
    staff_password = staff.password

    # when it is loaded again
    call_command("load_demo_data")

    # then nothing is duplicated or overwritten
    assert _counts() == first
    assert Member.objects.get(email=member_demo.STAFF_EMAIL).password == staff_password
    assert first["members.Member"] == 2
    assert Store.objects.count() == 2
    # and the demo member has points to spend, granted once (beside what their paid demo orders earned)
    from points.models import PointEntry
    from points.selectors import balance_of

    demo_member = Member.objects.get(email=member_demo.MEMBER_EMAIL)
    [signup] = PointEntry.objects.filter(member=demo_member, kind=PointEntry.Kind.SIGNUP)
    assert signup.delta == 1500
    earned = PointEntry.objects.filter(member=demo_member, kind="purchase").values_list("delta", flat=True)
    assert balance_of(demo_member) == 1500 + sum(earned)
    # and it prints the staff login
    assert member_demo.STAFF_PASSWORD in capsys.readouterr().out


def test_the_printed_demo_logins_work(client):
    call_command("load_demo_data")
    response = client.post(
        reverse("admin:login"),
        {"username": member_demo.STAFF_EMAIL, "password": member_demo.STAFF_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    client.logout()
    response = client.post(
        reverse("members:login"),
        {"username": member_demo.MEMBER_EMAIL, "password": member_demo.MEMBER_PASSWORD},
    )
    assert response.status_code == 302


def test_stores_edited_by_staff_are_kept_by_a_second_load():
    # given the demo data, then a staff edit
    call_command("load_demo_data")
    store = Store.objects.get(name="渋谷店")
    store.phone = "03-9999-9999"
    store.save()
    # when the loader runs again (every `make run` does)
    call_command("load_demo_data")
    # then the edit is kept
    store.refresh_from_db()
    assert store.phone == "03-9999-9999"
