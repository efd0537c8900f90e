"""Integer fields have the shop's bounds on the model field (core/limits.py), so the staff forms refuse an
out-of-range number next to the field and change nothing (issue 12, item 5: uses=2147483648 and
delta=1000000000000 answered 500, delta=2147483000 was accepted)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from core.jobs import job_create, job_run
from core.limits import MAX_COUNT
from core.models import Job
from members.tests.factories import MemberFactory
from tickets import csv_jobs
from tickets.models import MemberTicket, TicketEntry, TicketType
from tickets.tests.helpers import give, ticket_type
from tickets.tests.test_admin import form_data
from tickets.tests.test_csv import csv_bytes, row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize("uses", ["2147483648", "1000000000000", "1000", "0", "-1"])
def test_hand_out_refuses_a_number_of_uses_out_of_bounds(admin_client, uses):
    member, kind = MemberFactory(), ticket_type(uses=3)
    response = admin_client.post(
        reverse("admin:tickets_memberticket_hand_out"),
        {"member": member.pk, "ticket_type": kind.pk, "uses": uses, "reason": "お詫び"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["uses"]
    assert not MemberTicket.objects.exists()


def test_hand_out_accepts_the_largest_number_of_uses(admin_client):
    member, kind = MemberFactory(), ticket_type(uses=3)
    response = admin_client.post(
        reverse("admin:tickets_memberticket_hand_out"),
        {"member": member.pk, "ticket_type": kind.pk, "uses": str(MAX_COUNT), "reason": "お詫び"},
    )
    assert response.status_code == 302
    assert MemberTicket.objects.get().uses_left == MAX_COUNT


@pytest.mark.parametrize(
    "delta", ["1000000000000", "2147483000", "2147483648", "-2147483649", "1000", "-1000"]
)
def test_adjust_refuses_a_change_out_of_bounds(admin_client, delta):
    ticket = give(MemberFactory(), ticket_type(uses=3))
    response = admin_client.post(
        reverse("admin:tickets_memberticket_adjust", args=[ticket.pk]), {"delta": delta, "reason": "訂正"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["delta"]
    ticket.refresh_from_db()
    assert (ticket.uses_left, ticket.uses_total) == (3, 3)
    assert not ticket.entries.filter(kind=TicketEntry.Kind.MANUAL).exists()


def test_adjust_refuses_a_change_that_takes_the_ticket_past_the_largest_number_of_uses(admin_client):
    ticket = give(MemberFactory(), ticket_type(uses=3))
    response = admin_client.post(
        reverse("admin:tickets_memberticket_adjust", args=[ticket.pk]),
        {"delta": str(MAX_COUNT - 2), "reason": "補填"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["delta"]
    ticket.refresh_from_db()
    assert ticket.uses_total == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("uses", "2147483648"), ("uses", "1000"), ("validity_days", "99999"), ("max_concurrent", "2147483648")],
)
def test_the_ticket_type_form_refuses_numbers_out_of_bounds(admin_client, field, value):
    response = admin_client.post(reverse("admin:tickets_tickettype_add"), form_data(**{field: value}))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field]
    assert not TicketType.objects.exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("uses", "2147483648"),
        ("uses", "1000"),
        ("concurrent", "1000"),
        ("validity", "99999"),
        ("order", "10000"),
    ],
)
def test_the_csv_import_refuses_numbers_out_of_bounds_through_the_model(column, value):

    data = csv_bytes([row(name="良い行"), row(name="大きすぎる行", **{column: value})])
    job = job_create(kind=csv_jobs.IMPORT_KIND, label="import", input_name="tickets.csv", input_bytes=data)
    job = job_run(job.pk, csv_jobs.ticket_import_job)
    assert job.status == Job.Status.PARTIAL
    assert list(TicketType.objects.values_list("name", flat=True)) == ["良い行"]
