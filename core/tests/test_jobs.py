"""Job history (ジョブ履歴): core.jobs (create, run, progress, outcome, failure), the staff-only downloads,
the job-history admin and the admin header's finished-job notifications."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from core.exceptions import DomainError
from core.jobs import JobOutcome, job_create, job_mark_seen, job_notifications, job_run
from core.models import Job
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def ja(text, params: dict | None = None) -> str:
    """A source string as the shop's language renders it (English until the translation is added)."""
    with translation.override("ja"):
        rendered = str(translation.gettext(str(text)))
    return rendered % params if params else rendered


def staff(**kwargs):
    return MemberFactory(is_staff=True, **kwargs)


def staff_who_sees_every_job():
    user = staff()
    user.user_permissions.add(Permission.objects.get(content_type__app_label="core", codename="view_job"))
    return user


def finished_job(user, *, status=Job.Status.SUCCEEDED, label="Ticket CSV export", result=None, errors=None):
    job = job_create(kind="tests.export", label=label, started_by=user)

    def work(job, progress):
        return JobOutcome(
            counts={"exported": 3},
            result=result,
            errors=errors,
            partial=status == Job.Status.PARTIAL,
        )

    def fail(job, progress):
        raise DomainError("The file is empty.")

    return job_run(job.pk, fail if status == Job.Status.FAILED else work)


def read(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


# --- job_create / job_run ------------------------------------------------------------------------------


def test_job_create_queues_the_job_and_keeps_the_uploaded_file():
    # given
    user = staff()

    # when
    job = job_create(
        kind="tests.import",
        label="Ticket CSV import",
        started_by=user,
        params={"dry_run": False},
        input_name="チケット.csv",
        input_bytes="チケットID\r\n".encode("cp932"),
    )

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert job.started_by == user
    assert job.params == {"dry_run": False}
    assert job.input_file.name == f"jobs/{job.created_at:%Y/%m}/{job.pk}/input/チケット.csv"
    assert read(job.input_file) == "チケットID\r\n".encode("cp932")


def test_job_run_records_a_success_with_counts_messages_progress_and_the_result_file():
    # given
    job = job_create(kind="tests.export", label="Ticket CSV export", started_by=staff())
    seen_while_running = {}

    def export(job, progress):
        seen_while_running["status"] = Job.objects.get(pk=job.pk).status
        progress.total(3)
        for _row in range(3):
            progress.advance()
        return JobOutcome(
            counts={"exported": 3}, messages=["3 ticket types"], result=("tickets.csv", b"a,b\r\n")
        )

    # when
    returned = job_run(job.pk, export)

    # then
    job.refresh_from_db()
    assert seen_while_running["status"] == Job.Status.RUNNING
    assert returned.status == job.status == Job.Status.SUCCEEDED
    assert (job.counts, job.messages) == ({"exported": 3}, ["3 ticket types"])
    assert (job.progress_done, job.progress_total, job.progress_percent) == (3, 3, 100)
    assert job.started_at is not None
    assert job.finished_at >= job.started_at
    assert job.result_file.name.endswith(f"/{job.pk}/result/tickets.csv")
    assert read(job.result_file) == b"a,b\r\n"
    assert not job.error_file
    assert job.notice is None


def test_a_partial_job_says_some_rows_had_errors_and_keeps_the_error_file():
    # given
    job = job_create(kind="tests.import", label="Ticket CSV import", started_by=staff())

    def import_rows(job, progress):
        return JobOutcome(
            counts={"created": 8, "errors": 2},
            result=("result.csv", b"ok"),
            errors=("errors.csv", b"row 3: bad"),
            partial=True,
        )

    # when
    job = job_run(job.pk, import_rows)

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.PARTIAL
    assert job.counts == {"created": 8, "errors": 2}
    assert read(job.error_file) == b"row 3: bad"
    assert job.notice == Job.PARTIAL_NOTICE  # 一部エラーが発生しています


def test_a_domain_error_fails_the_job_with_its_own_message():
    # given
    job = job_create(kind="tests.import", label="Ticket CSV import", started_by=staff())

    def import_rows(job, progress):
        progress.total(10)
        progress.advance(4)
        raise DomainError("The file has no header row.")

    # when
    job_run(job.pk, import_rows)

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.messages == ["The file has no header row."]
    assert (job.progress_done, job.progress_total) == (4, 10)
    assert job.finished_at is not None


def test_an_unexpected_error_fails_the_job_and_is_logged_with_its_traceback(caplog):
    # given
    job = job_create(kind="tests.import", label="Ticket CSV import", started_by=staff())

    def broken(job, progress):
        return 1 // 0

    # when
    with caplog.at_level(logging.ERROR, logger="core.jobs"):
        job_run(job.pk, broken)

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.messages == [
        ja("Unexpected error: %(error)s", {"error": "ZeroDivisionError: integer division or modulo by zero"})
    ]
    [record] = caplog.records
    assert record.exc_info[0] is ZeroDivisionError


def test_a_function_that_returns_no_outcome_fails_the_job():
    # given
    job = job_create(kind="tests.import", label="Ticket CSV import", started_by=staff())

    # when
    job_run(job.pk, lambda job, progress: None)

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "TypeError" in job.messages[0]


def test_an_interrupted_job_is_recorded_as_failed_before_the_interruption_goes_on():
    # given
    job = job_create(kind="tests.import", label="Ticket CSV import", started_by=staff())

    def interrupted(job, progress):
        raise KeyboardInterrupt

    # when
    with pytest.raises(KeyboardInterrupt):
        job_run(job.pk, interrupted)

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.messages == [ja("The job was interrupted. Start it again.")]


def test_a_job_that_is_not_queued_is_not_run_again():
    # given: the broker delivered the task twice
    job = finished_job(staff())
    calls = []

    # when
    again = job_run(job.pk, lambda job, progress: calls.append(job))

    # then
    assert calls == []
    assert again.status == Job.Status.SUCCEEDED


def test_progress_is_written_every_percent_with_single_small_updates():
    # given
    job = job_create(kind="tests.export", label="Ticket CSV export", started_by=staff())
    observed = {}

    def export(job, progress):
        with CaptureQueriesContext(connection) as writes:
            progress.total(1000)
            for row in range(1000):
                progress.advance()
                if row == 504:
                    observed["halfway"] = Job.objects.values_list("progress_done", flat=True).get(pk=job.pk)
        observed["updates"] = [q["sql"] for q in writes.captured_queries if q["sql"].startswith("UPDATE")]
        return JobOutcome()

    # when
    job_run(job.pk, export)

    # then: 1 for the total, then one every 10 rows
    assert len(observed["updates"]) == 101
    assert all('"progress_done"' in sql and '"counts"' not in sql for sql in observed["updates"])
    assert observed["halfway"] == 500


def test_progress_without_a_total_is_written_every_200_rows():
    # given
    job = job_create(kind="tests.export", label="Ticket CSV export", started_by=staff())
    written = []

    def export(job, progress):
        for _row in range(450):
            progress.advance()
            written.append(Job.objects.values_list("progress_done", flat=True).get(pk=job.pk))
        return JobOutcome()

    # when
    job = job_run(job.pk, export)

    # then
    assert sorted(set(written)) == [0, 200, 400]
    assert (job.progress_done, job.progress_total, job.progress_percent) == (450, None, None)


# --- downloads -------------------------------------------------------------------------------------------


def download_url(job, which="result"):
    return reverse("admin:core_job_download", args=[job.pk, which])


def download(client, url):
    """GET a download and read it to the end, which closes the file the response holds open."""
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_the_staff_member_who_started_a_job_downloads_its_file_as_an_attachment(client):
    # given
    owner = staff()
    job = finished_job(owner, result=("tickets.csv", b"ID,name\r\n"))
    client.force_login(owner)

    # when
    response, body = download(client, download_url(job))

    # then
    assert response.status_code == 200
    assert body == b"ID,name\r\n"
    assert response["Content-Disposition"] == 'attachment; filename="tickets.csv"'
    assert "no-store" in response["Cache-Control"]


def test_a_japanese_file_name_is_sent_in_rfc_5987_form(client):
    # given
    owner = staff()
    job = finished_job(owner, errors=("チケット_エラー.csv", b"x"))
    client.force_login(owner)

    # when
    response, body = download(client, download_url(job, "errors"))

    # then
    assert (response.status_code, body) == (200, b"x")
    assert response["Content-Disposition"] == f"attachment; filename*=utf-8''{quote('チケット_エラー.csv')}"


def test_other_staff_get_404_for_a_job_that_is_not_theirs(client):
    # given
    job = finished_job(staff(), result=("tickets.csv", b"x"))
    client.force_login(staff())

    # when
    responses = [
        download(client, download_url(job))[0],
        client.get(reverse("admin:core_job_status", args=[job.pk])),
    ]

    # then
    assert [response.status_code for response in responses] == [404, 404]


def test_staff_with_the_view_job_permission_download_any_job(client):
    # given
    job = finished_job(staff(), result=("tickets.csv", b"x"))
    client.force_login(staff_who_sees_every_job())

    # when
    response, body = download(client, download_url(job))

    # then
    assert (response.status_code, body) == (200, b"x")


def test_a_member_is_sent_to_log_in(client):
    # given
    job = finished_job(staff(), result=("tickets.csv", b"x"))
    client.force_login(MemberFactory())

    # when
    response, _body = download(client, download_url(job))

    # then
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_a_file_the_job_does_not_have_is_404(client):
    # given
    owner = staff()
    job = finished_job(owner, result=("tickets.csv", b"x"))
    client.force_login(owner)

    # when / then
    assert client.get(download_url(job, "errors")).status_code == 404
    assert client.get(download_url(job, "secrets")).status_code == 404


# --- the job-history admin -------------------------------------------------------------------------------


def test_staff_see_their_own_jobs_and_with_the_permission_everyones(client):
    # given
    me, colleague = staff(), staff()
    mine = finished_job(me, label="My export")
    theirs = finished_job(colleague, label="Their export")
    changelist = reverse("admin:core_job_changelist")

    # when
    client.force_login(me)
    own_page = client.get(changelist).content.decode()
    other_page = client.get(reverse("admin:core_job_change", args=[theirs.pk]))
    client.force_login(staff_who_sees_every_job())
    manager_page = client.get(changelist).content.decode()

    # then
    assert "My export" in own_page
    assert "Their export" not in own_page
    assert other_page.status_code == 302  # the admin's "does not exist" answer
    assert "My export" in manager_page
    assert "Their export" in manager_page
    assert reverse("admin:core_job_change", args=[mine.pk]) in manager_page


def test_the_list_shows_status_progress_counts_files_and_messages(client):
    # given
    owner = staff()
    job = finished_job(
        owner, status=Job.Status.PARTIAL, result=("result.csv", b"x"), errors=("errors.csv", b"y")
    )
    client.force_login(owner)

    # when
    page = client.get(reverse("admin:core_job_changelist")).content.decode()

    # then
    assert 'class="badge badge-partial"' in page
    assert ja(Job.PARTIAL_NOTICE) in page
    assert download_url(job, "result") in page
    assert download_url(job, "errors") in page
    assert "出力: 3" in page  # the "exported" count


def test_the_job_list_query_count_does_not_grow_with_the_number_of_jobs(
    client, django_assert_max_num_queries
):
    # given
    owner = staff_who_sees_every_job()
    client.force_login(owner)
    url = reverse("admin:core_job_changelist")
    finished_job(owner, result=("a.csv", b"x"))
    with django_assert_max_num_queries(20) as one:
        assert client.get(url).status_code == 200

    # when
    for number in range(60):
        finished_job(owner if number % 2 else staff(), status=Job.Status.PARTIAL, errors=("e.csv", b"y"))

    # then
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get(url).status_code == 200


def test_a_running_jobs_page_polls_its_status_and_a_finished_one_does_not(client):
    # given
    owner = staff()
    running = job_create(kind="tests.export", label="Ticket CSV export", started_by=owner)
    Job.objects.filter(pk=running.pk).update(status=Job.Status.RUNNING, progress_done=30, progress_total=120)
    finished = finished_job(owner)
    client.force_login(owner)
    status_url = reverse("admin:core_job_status", args=[running.pk])

    # when
    running_page = client.get(reverse("admin:core_job_change", args=[running.pk])).content.decode()
    finished_page = client.get(reverse("admin:core_job_change", args=[finished.pk])).content.decode()
    status = client.get(status_url).json()

    # then
    assert status_url in running_page
    assert 'http-equiv="refresh"' in running_page
    assert "30 / 120 件（25%）" in running_page  # the page is in the shop's language, Japanese
    assert status_url not in finished_page
    assert status == {
        "status": "running",
        "status_label": ja("Running"),
        "finished": False,
        "done": 30,
        "total": 120,
        "percent": 25,
        "progress": "30 / 120 件（25%）",
    }


def test_nothing_is_added_changed_or_deleted_in_job_history(client):
    # given
    owner = staff_who_sees_every_job()
    job = finished_job(owner)
    client.force_login(owner)

    # when / then
    assert client.get(reverse("admin:core_job_add")).status_code == 403
    assert client.post(reverse("admin:core_job_delete", args=[job.pk])).status_code == 403
    assert client.post(reverse("admin:core_job_change", args=[job.pk]), {"label": "x"}).status_code == 403
    job.refresh_from_db()
    assert job.label == "Ticket CSV export"


# --- header notifications ----------------------------------------------------------------------------------


def test_the_header_lists_finished_unread_jobs_with_their_downloads(client):
    # given
    owner = staff()
    partial = finished_job(owner, status=Job.Status.PARTIAL, label="Ticket import", errors=("e.csv", b"y"))
    done = finished_job(owner, label="Ticket export", result=("r.csv", b"x"))
    finished_job(owner, status=Job.Status.FAILED, label="Monthly grant")
    job_create(kind="tests.export", label="Still queued", started_by=owner)
    finished_job(staff(), label="Someone else's job")
    client.force_login(owner)

    # when
    page = client.get(reverse("admin:index")).content.decode()

    # then
    assert '<span class="job-count"' in page
    assert ">3</span></summary>" in page
    assert "Ticket import" in page
    assert "Ticket export" in page
    assert "Monthly grant" in page
    assert "The file is empty." in page
    assert "Still queued" not in page
    assert "Someone else&#x27;s job" not in page
    assert ja(Job.PARTIAL_NOTICE) in page
    assert reverse("admin:core_job_change", args=[partial.pk]) in page
    assert download_url(partial, "errors") in page
    assert download_url(done, "result") in page


def test_marking_a_job_as_read_hides_it_from_the_header(client):
    # given
    owner = staff()
    read_job = finished_job(owner, label="Ticket export")
    finished_job(owner, label="Ticket import")
    client.force_login(owner)
    here = reverse("admin:core_job_changelist") + "?status=succeeded"

    # when
    response = client.post(reverse("admin:core_job_seen", args=[read_job.pk]), {"next": here})

    # then
    assert response.status_code == 302
    assert response.url == here
    read_job.refresh_from_db()
    assert read_job.seen_at is not None
    assert [job.label for job in job_notifications(owner)[0]] == ["Ticket import"]


def test_mark_all_as_read_needs_a_post_and_only_touches_your_own_jobs(client):
    # given
    owner, colleague = staff(), staff()
    finished_job(owner)
    finished_job(owner, status=Job.Status.FAILED)
    theirs = finished_job(colleague)
    client.force_login(owner)
    url = reverse("admin:core_job_seen_all")

    # when
    refused = client.get(url)
    response = client.post(url, {"next": "https://evil.example/"})

    # then
    assert refused.status_code == 405
    assert response.url == reverse("admin:index")
    assert job_notifications(owner) == ([], 0)
    assert job_notifications(colleague)[1] == 1
    assert client.post(reverse("admin:core_job_seen", args=[theirs.pk])).status_code == 302
    theirs.refresh_from_db()
    assert theirs.seen_at is None


def test_opening_a_finished_jobs_page_marks_it_as_read(client):
    # given
    owner = staff()
    job = finished_job(owner)
    client.force_login(owner)

    # when
    client.get(reverse("admin:core_job_change", args=[job.pk]))

    # then
    job.refresh_from_db()
    assert job.seen_at is not None


def test_the_header_reads_its_jobs_in_one_query_however_many_there_are(client, django_assert_max_num_queries):
    # given
    owner = staff()
    client.force_login(owner)
    url = reverse("admin:index")
    finished_job(owner)
    with django_assert_max_num_queries(20) as one:
        assert client.get(url).status_code == 200

    # when
    for _number in range(30):
        finished_job(owner, status=Job.Status.PARTIAL, errors=("e.csv", b"y"))

    # then
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(url).content.decode()
    assert ">31</span></summary>" in page
    assert page.count("/seen/") == 5 + 1  # five jobs listed, and "mark all"
    assert sum("core_job" in q["sql"] for q in one.captured_queries) == 1


def test_notifications_come_in_one_query_with_the_full_count(django_assert_num_queries):
    # given
    owner = staff()
    for _number in range(7):
        finished_job(owner)

    # when
    with django_assert_num_queries(1):
        jobs, unread = job_notifications(owner, limit=5)

    # then
    assert (len(jobs), unread) == (5, 7)
    assert job_mark_seen(user=owner, now=timezone.now()) == 7
    assert job_notifications(owner) == ([], 0)


# --- stale jobs ------------------------------------------------------------------------------------------


def job_in(status: str, *, last_change: datetime) -> Job:
    job = job_create(kind="tests.import", label="Ticket CSV import", started_by=staff())
    Job.objects.filter(pk=job.pk).update(status=status, updated_at=last_change, messages=["10 rows read."])
    return job


def test_a_running_job_silent_for_30_minutes_and_a_job_queued_for_a_day_are_failed_with_a_reason():
    # given
    from core.jobs import jobs_sweep_stale

    now = timezone.now()
    lost = job_in(Job.Status.RUNNING, last_change=now - timedelta(minutes=30, seconds=1))
    busy = job_in(Job.Status.RUNNING, last_change=now - timedelta(minutes=29))
    never_started = job_in(Job.Status.QUEUED, last_change=now - timedelta(hours=24, seconds=1))
    waiting = job_in(Job.Status.QUEUED, last_change=now - timedelta(hours=23))
    old_success = job_in(Job.Status.SUCCEEDED, last_change=now - timedelta(days=30))

    # when
    result = jobs_sweep_stale(now=now)

    # then
    assert (result.running, result.queued) == (1, 1)
    for job in (lost, busy, never_started, waiting, old_success):
        job.refresh_from_db()
    assert (lost.status, never_started.status) == (Job.Status.FAILED, Job.Status.FAILED)
    assert lost.messages == [
        "10 rows read.",
        ja("The job stopped without finishing: its worker was lost. Start it again."),
    ]
    assert never_started.messages[-1] == ja(
        "The job was never started: no worker picked it up. Start it again."
    )
    assert lost.finished_at == now
    assert (busy.status, waiting.status, old_success.status) == (
        Job.Status.RUNNING,
        Job.Status.QUEUED,
        Job.Status.SUCCEEDED,
    )
    assert lost in job_notifications(lost.started_by)[0]


def test_a_job_failed_as_never_started_does_not_run_when_its_task_arrives_late():
    from core.jobs import jobs_sweep_stale

    job = job_in(Job.Status.QUEUED, last_change=timezone.now() - timedelta(days=2))
    jobs_sweep_stale()
    calls = []

    again = job_run(job.pk, lambda job, progress: calls.append(job))

    assert calls == []
    assert again.status == Job.Status.FAILED


def test_beat_sweeps_stale_jobs_every_10_minutes():
    from django.conf import settings

    from config.celery import app

    schedule = settings.CELERY_BEAT_SCHEDULE.values()
    entry = next(each for each in schedule if each["task"] == "core.tasks.sweep_stale_jobs")
    assert entry["schedule"] == 600
    app.loader.import_default_modules()
    assert "core.tasks.sweep_stale_jobs" in app.tasks


def test_sweep_stale_jobs_command_dry_run_counts_and_changes_nothing_then_fails_them(capsys):
    from django.core.management import CommandError, call_command

    # given
    lost = job_in(Job.Status.RUNNING, last_change=timezone.now() - timedelta(hours=2))

    # when
    call_command("sweep_stale_jobs", "--dry-run")

    # then
    assert (
        "Would fail 1 running job(s) with no progress and 0 job(s) never started." in capsys.readouterr().out
    )
    lost.refresh_from_db()
    assert lost.status == Job.Status.RUNNING

    # when: as of a time before it went quiet, nothing is stale; as of now, it is
    call_command(
        "sweep_stale_jobs", "--at", (timezone.localtime() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    )
    assert "Failed 0 running" in capsys.readouterr().out
    call_command("sweep_stale_jobs")
    assert "Failed 1 running" in capsys.readouterr().out
    lost.refresh_from_db()
    assert lost.status == Job.Status.FAILED
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("sweep_stale_jobs", "--at", "yesterday")
