"""Job history (ジョブ履歴): the service API other apps use for long staff jobs.

A view (or a command) makes the row and hands its id to a task; the task runs the work through `job_run`,
which records progress, the outcome, the files and any failure on the row, so the staff user who started
it finds it in the admin header when it finishes:

    job = job_create(kind="tickets.import", label=_("Ticket CSV import"), started_by=request.user,
                     input_name=upload.name, input_bytes=upload.read())
    import_ticket_types.delay_on_commit(job.pk)

    @shared_task
    def import_ticket_types(job_id):
        job_run(job_id, ticket_type_import)     # ticket_type_import(job, progress) -> JobOutcome

`job_run` is an ordinary function: a management command calls it directly and gets the same record.

The job row is the record of a job (who started it, when, how it ended), so making, running and reading
jobs writes no audit entries; what a job changes is recorded by its own services (an import records its
run). Failing stale jobs is a system job's change to other people's jobs: it records one entry per run.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Count, JSONField, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop, pgettext_lazy

from core.audit import audit_log
from core.exceptions import DomainError
from core.models import Job

logger = logging.getLogger(__name__)

# With an unknown total, progress is written every this many rows; with a known total, every 1%.
PROGRESS_ROWS_UNKNOWN_TOTAL = 200

# Labels for the count keys jobs commonly report; a key not listed here is shown as it is. An app adds its
# own with register_count_label() from its AppConfig.ready().
COUNT_LABELS: dict[str, Promise | str] = {
    "rows": pgettext_lazy("job count", "rows"),
    "created": pgettext_lazy("job count", "created"),
    "updated": pgettext_lazy("job count", "updated"),
    "unchanged": pgettext_lazy("job count", "unchanged"),
    "skipped": pgettext_lazy("job count", "skipped"),
    "errors": pgettext_lazy("job count", "errors"),
    "exported": pgettext_lazy("job count", "exported"),
    # A CSV export's characters (core.csv_pipeline): written as their Shift_JIS counterpart, or lost as ?.
    "substituted_characters": pgettext_lazy("job count", "characters written as their Shift_JIS counterpart"),
    "replaced_characters": pgettext_lazy("job count", "characters not in Shift_JIS"),
}
# Display names of job kinds ("tickets.import" → "Ticket CSV import") for the job-history filter.
KIND_LABELS: dict[str, Promise | str] = {}


def register_count_label(key: str, label: Promise | str) -> None:
    COUNT_LABELS[key] = label


def register_job_kind(kind: str, label: Promise | str) -> None:
    KIND_LABELS[kind] = label


@dataclass(frozen=True)
class JobAction:
    """A button on a finished job's page: a POST to `url` (e.g. "Import this file" after a dry run), or with
    `is_link` a plain link (e.g. to the job that followed it)."""

    label: str
    url: str
    help: str = ""
    is_link: bool = False


# kind → a function (job, request) → the actions that staff member may take on that job now.
JOB_ACTIONS: dict[str, Callable[..., list[JobAction]]] = {}


def register_job_actions(kind: str, actions: Callable[..., list[JobAction]]) -> None:
    JOB_ACTIONS[kind] = actions


def job_actions(job: Job, request) -> list[JobAction]:
    actions = JOB_ACTIONS.get(job.kind)
    return actions(job, request) if actions is not None else []


@dataclass(frozen=True)
class JobOutcome:
    """What a job's function returns. `result` and `errors` are (file name, content) to offer for download;
    `partial` means some rows failed (the job then says 一部エラーが発生しています)."""

    counts: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    result: tuple[str, bytes] | None = None
    errors: tuple[str, bytes] | None = None
    partial: bool = False


class JobProgress:
    """Handed to a job's function: `total(n)` once the size is known, `advance(k)` as rows are done.

    Progress is written with a single UPDATE of two columns, at most every 1% of a known total (every
    PROGRESS_ROWS_UNKNOWN_TOTAL rows otherwise), so a 100 000-row import makes about 100 small writes.
    Call it outside your own transactions: a write inside one is only seen when that commits.
    """

    def __init__(self, job: Job):
        self.job = job
        self.done = job.progress_done
        self._total = job.progress_total
        self._written = self.done

    @property
    def step(self) -> int:
        if self._total is None:
            return PROGRESS_ROWS_UNKNOWN_TOTAL
        return max(1, math.ceil(self._total / 100))

    def total(self, n: int) -> None:
        if n < 0:
            raise ValueError("a job's total cannot be negative")
        self._total = n
        self.done = min(self.done, n)
        self._write(total=True)

    def advance(self, k: int = 1) -> None:
        self.done += k
        if self._total is not None:
            self.done = min(self.done, self._total)
        if self.done - self._written >= self.step:
            self._write()

    def flush(self) -> None:
        if self.done != self._written:
            self._write()

    def _write(self, *, total: bool = False) -> None:
        values = {"progress_done": self.done, "updated_at": timezone.now()}
        if total:
            values["progress_total"] = self._total
        Job.objects.filter(pk=self.job.pk).update(**values)
        self._written = self.done
        self.job.progress_done = self.done
        self.job.progress_total = self._total


JobFunction = Callable[[Job, JobProgress], JobOutcome]


def job_create(
    *,
    kind: str,
    label: str | Promise,
    started_by=None,
    params: dict | None = None,
    input_name: str | None = None,
    input_bytes: bytes | None = None,
) -> Job:
    """A queued job; the uploaded input (if any) is stored with it. Enqueue its task after commit."""
    if (input_name is None) != (input_bytes is None):
        raise ValueError("input_name and input_bytes go together")
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            label=_in_shop_language(label),
            started_by=started_by,
            params=params or {},
            status=Job.Status.QUEUED,
        )
        if input_name is not None:
            # The row exists first: the file's folder is named after the job's id.
            job.input_file.save(input_name, ContentFile(input_bytes), save=False)
            job.save(update_fields=["input_file", "updated_at"])
    return job


def job_run(job_id: int, fn: JobFunction) -> Job:
    """Run `fn(job, progress)` for a queued job and record how it ended; returns the job as recorded.

    The job becomes running, then succeeded or partial with the outcome's counts, messages and files, or
    failed with the error's message (a DomainError's own message, anything else as "Unexpected error: …"
    and logged with its traceback). It never stays running because `fn` raised. `fn` runs outside any
    transaction job_run opens, so it may use its own (durable) transactions.

    A job that is no longer queued (the broker delivered the task twice) is left alone and returned.
    Labels, messages and files are made in the shop's language (LANGUAGE_CODE), whoever or whatever runs
    the job: they are stored, and read later by other staff.
    """
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, updated_at=now
    )
    job = Job.objects.get(pk=job_id)
    if not claimed:
        logger.warning("Job %s is %s, not queued; not running it again", job_id, job.status)
        return job

    progress = JobProgress(job)
    with translation.override(settings.LANGUAGE_CODE):
        try:
            outcome = fn(job, progress)
            if not isinstance(outcome, JobOutcome):
                raise TypeError(f"{fn!r} returned {type(outcome).__name__}, not JobOutcome")
            _finish(job, progress, outcome)
        except DomainError as error:
            _fail(job, progress, str(error.message))
        except Exception as error:
            logger.exception("Job %s (%s) failed", job.pk, job.kind)
            _fail(job, progress, gettext("Unexpected error: %(error)s") % {"error": _describe(error)})
        except BaseException:
            # The worker is being stopped (or the command interrupted): say so before going down.
            _fail(job, progress, gettext("The job was interrupted. Start it again."))
            raise
    return job


# A running job writes its progress at least every 1% (updated_at); one silent for this long has lost its
# worker (killed, out of memory, the machine restarted) and will never finish by itself.
RUNNING_STALE_AFTER = timedelta(minutes=30)
# A job queued this long was never picked up (its message was lost, or no worker ran for a day).
QUEUED_STALE_AFTER = timedelta(hours=24)


SWEEP_JOB = "sweep_stale_jobs"


@dataclass(frozen=True)
class SweepResult:
    running: int
    queued: int


def jobs_sweep_stale(*, now: datetime | None = None, dry_run: bool = False) -> SweepResult:
    """Fail the jobs that can no longer finish, so staff see it and start them again instead of waiting:
    running with no progress for RUNNING_STALE_AFTER, or queued for QUEUED_STALE_AFTER. Each is one
    conditional UPDATE, so a job that moves on meanwhile is left alone; a task delivered later for a job
    failed here does not run (job_run only runs queued jobs). With `dry_run`, only counts them. Beat runs
    it every 10 minutes; `manage.py sweep_stale_jobs [--dry-run] [--at …]` is the same by hand."""
    now = now or timezone.now()
    counts = {}
    with transaction.atomic(durable=not dry_run):
        _sweep(now, dry_run, counts)
    if not dry_run and (counts[Job.Status.RUNNING] or counts[Job.Status.QUEUED]):
        logger.warning(
            "Failed %s stale running and %s stale queued jobs",
            counts[Job.Status.RUNNING],
            counts[Job.Status.QUEUED],
        )
    return SweepResult(running=counts[Job.Status.RUNNING], queued=counts[Job.Status.QUEUED])


def _sweep(now: datetime, dry_run: bool, counts: dict) -> None:
    for status, age, message in (
        (
            Job.Status.RUNNING,
            RUNNING_STALE_AFTER,
            gettext_noop("The job stopped without finishing: its worker was lost. Start it again."),
        ),
        (
            Job.Status.QUEUED,
            QUEUED_STALE_AFTER,
            gettext_noop("The job was never started: no worker picked it up. Start it again."),
        ),
    ):
        stale = Job.objects.filter(status=status, updated_at__lt=now - age)
        if dry_run:
            counts[status] = stale.count()
            continue
        with translation.override(settings.LANGUAGE_CODE):
            text = gettext(message)
        counts[status] = stale.update(
            status=Job.Status.FAILED,
            # The message is appended to the job's own (jsonb ||), in the same statement.
            messages=RawSQL("messages || %s::jsonb", [json.dumps([text])], output_field=JSONField()),
            finished_at=now,
            updated_at=now,
        )
    if not dry_run and (counts[Job.Status.RUNNING] or counts[Job.Status.QUEUED]):
        audit_log(
            action="jobs.failed_stale",
            obj=None,
            by=None,
            system=SWEEP_JOB,
            now=now,
            payload={"running": counts[Job.Status.RUNNING], "queued": counts[Job.Status.QUEUED]},
        )


def _finish(job: Job, progress: JobProgress, outcome: JobOutcome) -> None:
    if outcome.result is not None:
        name, content = outcome.result
        job.result_file.save(name, ContentFile(content), save=False)
    if outcome.errors is not None:
        name, content = outcome.errors
        job.error_file.save(name, ContentFile(content), save=False)
    job.status = Job.Status.PARTIAL if outcome.partial else Job.Status.SUCCEEDED
    job.counts = dict(outcome.counts)
    job.messages = [str(message) for message in outcome.messages]
    _record_end(job, progress, "counts", "result_file", "error_file")


def _fail(job: Job, progress: JobProgress, message: str) -> None:
    # A database error may have left the connection unusable; a fresh one can still record the failure.
    # (Inside an outer transaction, as in tests, the connection is not ours to close.)
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
    job.status = Job.Status.FAILED
    job.messages = [*Job.objects.values_list("messages", flat=True).get(pk=job.pk), message]
    _record_end(job, progress)


def _record_end(job: Job, progress: JobProgress, *fields: str) -> None:
    job.progress_done = progress.done
    job.progress_total = progress._total
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "messages",
            "progress_done",
            "progress_total",
            "finished_at",
            "updated_at",
            *fields,
        ]
    )


def _in_shop_language(text: str | Promise) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(text)


def _describe(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --- reading and notifications -------------------------------------------------------------------------


def jobs_visible_to(user, queryset: QuerySet[Job] | None = None) -> QuerySet[Job]:
    """Staff see the jobs they started; with core.view_job, every job. Anyone else sees none."""
    queryset = Job.objects.all() if queryset is None else queryset
    if not (user.is_active and user.is_staff):
        return queryset.none()
    if user.has_perm("core.view_job"):
        return queryset
    return queryset.filter(started_by=user)


def job_is_visible_to(job: Job, user) -> bool:
    """The same rule as jobs_visible_to, for a job already loaded."""
    if not (user.is_active and user.is_staff):
        return False
    return job.started_by_id == user.pk or user.has_perm("core.view_job")


def job_notifications(user, *, limit: int = 5) -> tuple[list[Job], int]:
    """The user's finished jobs not yet marked as read, newest first (at most `limit`), and how many there
    are in all — in one query (the count rides on each row as a window aggregate)."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return [], 0
    rows = list(
        _unseen(user)
        .annotate(unread_count=Window(Count("id")))
        .only(
            "id",
            "label",
            "status",
            "messages",
            "result_file",
            "error_file",
            "finished_at",
            "progress_done",
            "progress_total",
            "created_at",
        )
        .order_by("-finished_at", "-id")[:limit]
    )
    return rows, (rows[0].unread_count if rows else 0)


def job_mark_seen(*, user, job_id: int | None = None, now=None) -> int:
    """Dismiss the user's notification for one finished job (or all of them); returns how many."""
    jobs = _unseen(user)
    if job_id is not None:
        jobs = jobs.filter(pk=job_id)
    return jobs.update(seen_at=now or timezone.now())


def _unseen(user) -> QuerySet[Job]:
    return Job.objects.filter(started_by=user, seen_at__isnull=True, status__in=Job.FINISHED_STATUSES)
