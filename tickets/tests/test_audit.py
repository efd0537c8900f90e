"""Each tickets service writes one audit entry naming who acted; a bulk run (the nightly expiry, a CSV import
or export) writes one entry for the run with its counts (ARCHITECTURE.md "Audit")."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from core.jobs import job_run
from core.models import AuditEntry, Job
from inventory.services import reservation_cancel
from members.tests.factories import MemberFactory
from payments.models import Order
from tickets import csv_jobs, services
from tickets.models import MemberTicket, TicketType
from tickets.services import wallet
from tickets.tests.factories import TicketTypeFactory
from tickets.tests.helpers import NOW, book, give, lesson, open_every_day, product, ticket_type
from tickets.tests.test_csv import csv_bytes, row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def settings_open_every_day():
    return open_every_day()


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def clerk():
    return MemberFactory(is_staff=True)


def entries_of(obj, action: str | None = None):
    found = AuditEntry.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name)
    return found.filter(action=action) if action else found


def test_staff_handing_out_adjusting_and_taking_back_a_ticket_are_recorded_with_the_reason(member, clerk):
    # when staff hand out a ticket, add uses, then take it back
    ticket = services.ticket_hand_out(
        member=member, ticket_type=ticket_type(), by=clerk, reason="お詫び", now=NOW
    )
    services.ticket_adjust(ticket=ticket, delta=2, by=clerk, reason="補填", now=NOW)
    services.ticket_revoke(ticket=ticket, by=clerk, reason="誤配布", now=NOW)
    services.ticket_revoke(ticket=ticket, by=clerk, reason="二度目", now=NOW)  # changes nothing
    # then one entry for each change, by them
    issued, adjusted, revoked = entries_of(ticket).order_by("pk")
    assert (issued.action, issued.actor, issued.payload["source"], issued.payload["reason"]) == (
        "ticket.issued",
        clerk,
        MemberTicket.Source.MANUAL,
        "お詫び",
    )
    assert (adjusted.action, adjusted.actor, adjusted.payload["delta"]) == ("ticket.adjusted", clerk, 2)
    assert adjusted.payload["changes"] == {"uses_left": [5, 7], "uses_total": [5, 7]}
    assert (revoked.action, revoked.actor, revoked.payload["uses_taken"]) == ("ticket.revoked", clerk, 7)
    assert revoked.payload["changes"] == {"status": ["active", "revoked"]}


def test_a_booking_paid_with_a_ticket_records_the_use_and_the_cancel_its_return(member):
    # given a ticket
    item = lesson()
    ticket = give(member, ticket_type(items=[item]))
    # when the member books with it and cancels
    reservation = book(member, item)
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    # then the ticket's history has its use and its return, by the member, linked to the booking
    used = entries_of(ticket, "ticket.used").get()
    restored = entries_of(ticket, "ticket.restored").get()
    assert (used.actor, used.payload) == (
        member,
        {"reservation": reservation.pk, "changes": {"uses_left": [5, 4]}},
    )
    assert (restored.actor, restored.payload["changes"]) == (member, {"uses_left": [4, 5]})


def test_the_nightly_expiry_writes_one_entry_for_the_run_with_its_counts(member):
    # given three tickets past their last day and one still valid
    for _ in range(3):
        give(member, ticket_type(validity_days=10), on=date(2027, 5, 1))
    give(member, ticket_type(validity_days=100), on=date(2027, 5, 1))
    # when the job runs twice (the second finds nothing)
    services.tickets_expire(today=date(2027, 6, 1), now=NOW)
    services.tickets_expire(today=date(2027, 6, 1), now=NOW)
    # then one entry, by the job, with the counts; no entry per ticket (the ledger has them)
    (run,) = AuditEntry.objects.filter(action="tickets.expired")
    assert (run.actor, run.system, run.content_type) == (None, services.EXPIRY_JOB, None)
    assert run.payload == {"tickets": 3, "uses": 15, "today": "2027-06-01"}
    assert not AuditEntry.objects.filter(action__startswith="ticket.", system=services.EXPIRY_JOB).exists()


def test_an_expiry_run_that_stops_half_way_still_records_what_it_expired(member, monkeypatch):
    # given three tickets past their last day, the third of which cannot be expired (the worker dies)
    for _ in range(3):
        give(member, ticket_type(validity_days=10), on=date(2027, 5, 1))
    expire = wallet._expire
    done = []

    def expire_twice_then_stop(ticket, *, now):
        if len(done) == 2:
            raise RuntimeError("worker lost")
        done.append(ticket.pk)
        return expire(ticket, now=now)

    monkeypatch.setattr(wallet, "_expire", expire_twice_then_stop)
    # when the job runs and stops on the third
    with pytest.raises(RuntimeError):
        services.tickets_expire(today=date(2027, 6, 1), now=NOW)
    # then the two tickets it did expire (committed, never found again) are in the trail
    (run,) = AuditEntry.objects.filter(action="tickets.expired")
    assert run.payload["tickets"] == 2


def test_saving_a_ticket_type_records_what_changed_old_and_new(clerk):
    kind = services.ticket_type_save(
        ticket_type=TicketType(name="回数券", uses=5, product=product()), by=clerk
    )
    kind.uses = 8
    services.ticket_type_save(ticket_type=kind, by=clerk)
    created, changed = entries_of(kind).order_by("pk")
    assert (created.action, created.actor, created.payload["changes"]["uses"]) == (
        "ticket_type.created",
        clerk,
        [None, 5],
    )
    assert (changed.action, changed.payload["changes"]) == ("ticket_type.changed", {"uses": [5, 8]})


def test_buying_a_ticket_records_the_purchase_on_its_order(member):
    order = services.ticket_purchase_start(
        member=member, ticket_type=TicketTypeFactory(free_trial=True), by=member, now=NOW
    )
    assert order.status == Order.Status.PAID
    entry = entries_of(order, "ticket.purchase_started").get()
    assert (entry.actor, entry.payload["payment_method"]) == (member, Order.Method.FREE)
    # the ticket the paid order delivered names the order's fulfilment as the job that issued it
    ticket = MemberTicket.objects.get(member=member)
    issued = entries_of(ticket, "ticket.issued").get()
    assert (issued.actor, issued.system) == (None, "order_fulfilment")


# --- CSV jobs ---------------------------------------------------------------------------------------------


def test_an_import_job_writes_one_entry_for_the_run_with_its_counts_by_who_started_it(clerk):
    # given a file of three good rows and a bad one, started by staff
    data = csv_bytes([row(name="A"), row(name="B"), row(name="C"), row(name="D", uses="0")])
    job = csv_jobs.ticket_import_start(by=clerk, file_name="t.csv", data=data, enqueue=False)
    # when it runs
    job = job_run(job.pk, csv_jobs.ticket_import_job)
    # then one entry, on the job, with its counts (not one per ticket type)
    assert TicketType.objects.count() == 3
    (run,) = AuditEntry.objects.all()
    assert (run.action, run.actor, run.object_id) == ("ticket_types.imported", clerk, str(job.pk))
    assert run.payload == {"counts": {"rows": 4, "created": 3, "updated": 0, "unchanged": 0, "errors": 1}}


def test_a_dry_run_records_nothing_and_an_export_records_its_count(clerk):
    TicketTypeFactory.create_batch(2)
    check = csv_jobs.ticket_import_check_start(
        by=clerk, file_name="t.csv", data=csv_bytes([row(name="A")]), enqueue=False
    )
    job_run(check.pk, csv_jobs.ticket_import_job)
    assert not AuditEntry.objects.exists()
    export = csv_jobs.ticket_export_start(by=clerk, enqueue=False)
    job_run(export.pk, csv_jobs.ticket_export_job)
    (run,) = AuditEntry.objects.all()
    assert (run.action, run.actor, run.payload) == (
        "ticket_types.exported",
        clerk,
        {"counts": {"exported": 2, "substituted_characters": 0, "replaced_characters": 0}},
    )


def test_the_import_command_is_named_as_the_system_job(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes([row(name="良い")]))
    call_command("import_tickets", str(source))
    run = AuditEntry.objects.get(action="ticket_types.imported")
    assert (run.actor, run.system, run.payload["counts"]["created"]) == (None, "import_tickets", 1)


def test_the_start_services_make_the_job_and_enqueue_its_task_after_commit(
    clerk, monkeypatch, django_capture_on_commit_callbacks
):
    from tickets import tasks

    sent = []
    monkeypatch.setattr(tasks.export_ticket_types, "delay", lambda job_id: sent.append(("export", job_id)))
    monkeypatch.setattr(tasks.import_ticket_types, "delay", lambda job_id: sent.append(("import", job_id)))
    with django_capture_on_commit_callbacks(execute=True):
        export = csv_jobs.ticket_export_start(by=clerk)
        check = csv_jobs.ticket_import_check_start(by=clerk, file_name="a/b.csv", data=b"x")
        assert sent == []  # nothing before the commit
    assert sent == [("export", export.pk), ("import", check.pk)]
    assert (export.kind, export.started_by, check.params) == (csv_jobs.EXPORT_KIND, clerk, {"dry_run": True})
    assert Job.objects.get(pk=check.pk).input_file.name.endswith("b.csv")
    with pytest.raises(ValueError, match="system"):
        csv_jobs.ticket_export_start(by=None)
