"""A CSV file's export and import as jobs (core.jobs), for any `CsvFormat` (core.csv_pipeline): the
services the admin (core.csv_admin), the tasks and the commands call.

    TICKETS = CsvJobs(TicketCsvFormat, kind="tickets", audit="ticket_types", model=TicketType,
                      labels=CsvLabels(…), tasks="tickets.tasks",
                      export_task="export_ticket_types", import_task="import_ticket_types")
    TICKETS.export_start(by=request.user)         → a queued export job, its task enqueued after commit
    TICKETS.import_start(by=…, file_name=…, data=…, dry_run=False)
    TICKETS.import_from_check(checked_id=…, by=…) → the real import of a file a dry-run job checked, once
    TICKETS.export_job / import_job               → the functions core.jobs.job_run runs

A run that writes (an import) or hands data out (an export) records ONE audit entry, on its job, with its
counts, naming the staff user who started it (or the command, as a system job); the job's files hold the
row-by-row detail. A dry run changes nothing and records nothing.
"""

from __future__ import annotations

import importlib
import posixpath
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.audit import audit_log
from core.csv_pipeline import (
    CsvFormat,
    ExportResult,
    ImportResult,
    export_csv,
    export_outcome,
    import_csv,
    import_outcome,
)
from core.exceptions import DomainError
from core.jobs import JobOutcome, JobProgress, job_create
from core.models import Job
from core.storage import private_storage


class AlreadyImportedError(DomainError):
    default_message = _("This file has already been imported.")

    def __init__(self, job_id: int):
        self.job_id = job_id
        super().__init__(gettext("This file has already been imported (job #%(job)s).") % {"job": job_id})


@dataclass(frozen=True)
class CsvLabels:
    export: Promise | str  # "Ticket CSV export"
    import_: Promise | str  # "Ticket CSV import"
    dry_run: Promise | str  # "Ticket CSV import (dry run)"


def checked_file_importable(job: Job) -> bool:
    """A dry-run import job that finished and would create or update something."""
    return (
        job.status in (Job.Status.SUCCEEDED, Job.Status.PARTIAL)
        and bool(job.input_file)
        and bool(job.counts.get("created") or job.counts.get("updated"))
    )


class CsvJobs:
    """The jobs of one CSV file. `kind` names the job kinds (`<kind>.export`, `<kind>.import`) and the
    audit actions (`<audit>.exported`, `<audit>.imported`); `model` is what the rows are (its add and
    change permissions allow an import, its view permission an export)."""

    def __init__(
        self,
        format_class: type[CsvFormat],
        *,
        kind: str,
        audit: str,
        model,
        labels: CsvLabels,
        tasks: str,
        export_task: str,
        import_task: str,
    ):
        self.format_class, self.model, self.labels = format_class, model, labels
        self.export_kind, self.import_kind = f"{kind}.export", f"{kind}.import"
        self.exported_action, self.imported_action = f"{audit}.exported", f"{audit}.imported"
        self.tasks, self.export_task, self.import_task = tasks, export_task, import_task

    def register(self) -> None:
        """From the app's AppConfig.ready(): the job kinds' names and the dry-run job's "Import this file"."""
        from core.csv_admin import import_job_actions
        from core.jobs import register_job_actions, register_job_kind

        register_job_kind(self.export_kind, self.labels.export)
        register_job_kind(self.import_kind, self.labels.import_)
        register_job_actions(self.import_kind, import_job_actions(self))

    @property
    def file_stem(self) -> str:
        return self.format_class.file_stem

    # --- the runs ---------------------------------------------------------------------------------------

    def export(self, progress: JobProgress | None = None) -> ExportResult:
        return export_csv(self.format_class(), progress)

    def import_(self, data: bytes, *, dry_run: bool, progress: JobProgress | None = None) -> ImportResult:
        return import_csv(self.format_class(), data, dry_run=dry_run, progress=progress)

    def export_run(self, job: Job, progress: JobProgress) -> ExportResult:
        """The export of an export job, recorded in the audit trail with its counts."""
        result = self.export(progress)
        counts = {
            "exported": result.rows,
            "substituted_characters": len(result.notices),
            "replaced_characters": len(result.losses),
        }
        self._record_run(job, self.exported_action, counts)
        return result

    def export_outcome(self, result: ExportResult) -> JobOutcome:
        return export_outcome(self.format_class(), result)

    def export_job(self, job: Job, progress: JobProgress) -> JobOutcome:
        return self.export_outcome(self.export_run(job, progress))

    def import_run(self, job: Job, progress: JobProgress) -> ImportResult:
        """The job's input file, imported (validated again now, whatever a preview said before); a real run
        is recorded in the audit trail with its counts."""
        dry_run = bool(job.params.get("dry_run"))
        with job.input_file.open("rb") as handle:
            data = handle.read()
        result = self.import_(data, dry_run=dry_run, progress=progress)
        if not dry_run:
            self._record_run(job, self.imported_action, result.counts)
        return result

    def import_outcome(self, result: ImportResult) -> JobOutcome:
        return import_outcome(self.format_class(), result)

    def import_job(self, job: Job, progress: JobProgress) -> JobOutcome:
        return self.import_outcome(self.import_run(job, progress))

    @staticmethod
    def _record_run(job: Job, action: str, counts: dict) -> None:
        """One audit entry for the run, on its job: the staff user who started it, or the command that did
        (a system job). Its own durable transaction: the run's writes are committed batch by batch."""
        by = job.started_by
        system = "" if by is not None else job.params.get("system") or job.kind
        with transaction.atomic(durable=True):
            audit_log(action=action, obj=job, by=by, system=system, payload={"counts": counts})

    # --- starting the jobs ------------------------------------------------------------------------------

    def _enqueue(self, task_name: str, job: Job) -> None:
        getattr(importlib.import_module(self.tasks), task_name).delay_on_commit(job.pk)

    def export_start(self, *, by, system: str = "", enqueue: bool = True) -> Job:
        """A queued export job started by `by` (None: the command `system`), its task enqueued after
        commit. With `enqueue=False` the caller runs it in its own process (a command, to write the file)."""
        if by is None and not system:
            raise ValueError("export_start: name the command that starts the job (system=...)")
        job = job_create(
            kind=self.export_kind,
            label=self.labels.export,
            started_by=by,
            params={"system": system} if system else None,
        )
        if enqueue:
            self._enqueue(self.export_task, job)
        return job

    def import_start(
        self,
        *,
        by,
        file_name: str,
        data: bytes,
        dry_run: bool = False,
        system: str = "",
        enqueue: bool = True,
    ) -> Job:
        """A queued import job of `data` (stored as its input file), its task enqueued after commit. The
        rows are validated again when it runs. With `dry_run` it only checks the file."""
        if by is None and not system:
            raise ValueError("import_start: name the command that starts the job (system=...)")
        params: dict = {"dry_run": True} if dry_run else {}
        if system:
            params["system"] = system
        job = job_create(
            kind=self.import_kind,
            label=self.labels.dry_run if dry_run else self.labels.import_,
            started_by=by,
            params=params,
            input_name=base_name(file_name, self.file_stem),
            input_bytes=data,
        )
        if enqueue:
            self._enqueue(self.import_task, job)
        return job

    def import_from_check(self, *, checked_id: int, by) -> Job:
        """The real import of the file a finished dry-run job (started by `by`) checked: a queued import
        job of the same bytes, recorded on the dry-run job so the file is imported once, however often
        this is asked (the dry-run job's row is locked meanwhile). Its task is enqueued after commit.

        Raises Job.DoesNotExist when `by` has no such dry-run job, AlreadyImportedError when it was
        imported already, and DomainError when the check found nothing to import."""
        with transaction.atomic():
            checked = Job.objects.select_for_update().get(
                pk=checked_id, kind=self.import_kind, started_by=by, params__dry_run=True
            )
            if imported_as := checked.params.get("import_job"):
                raise AlreadyImportedError(imported_as)
            if not checked_file_importable(checked):
                raise DomainError(gettext("This check has nothing to import."))
            with checked.input_file.open("rb") as handle:
                data = handle.read()
            job = self.import_start(by=by, file_name=posixpath.basename(checked.input_file.name), data=data)
            checked.params = {**checked.params, "import_job": job.pk}
            checked.save(update_fields=["params", "updated_at"])
        return job


# --- an upload waiting between its preview and "Import" -------------------------------------------------

# Member and business data: private storage, like job files, never served from the media URL.
PENDING_DIR = "jobs/pending"
PENDING_MAX_AGE = timedelta(days=1)
PENDING_SIGNATURE_SALT = "core.csv_jobs.pending"


def upload_keep(*, by, name: str, data: bytes, kind: str) -> str:
    """Keeps an uploaded file that a staff member previewed until they confirm its import; returns the
    token (signed for `by` and the import `kind`) that `upload_take` gives it back for. Uploads never
    confirmed are deleted after a day."""
    _forget_old_uploads()
    stored = private_storage.save(posixpath.join(PENDING_DIR, f"{uuid.uuid4().hex}.csv"), ContentFile(data))
    return signing.dumps(
        {"path": stored, "name": base_name(name, "upload"), "user": by.pk, "kind": kind},
        salt=PENDING_SIGNATURE_SALT,
    )


def upload_take(*, token: str, by, kind: str) -> tuple[str, bytes] | None:
    """The (name, bytes) of the file `upload_keep` kept for `by`, taken out of storage; None when the token
    is not one of `by`'s for `kind`, is older than a day, or was taken already."""
    try:
        pending = signing.loads(token, salt=PENDING_SIGNATURE_SALT, max_age=PENDING_MAX_AGE.total_seconds())
    except signing.BadSignature:
        return None
    if (
        pending.get("user") != by.pk
        or pending.get("kind") != kind
        or not private_storage.exists(pending["path"])
    ):
        return None
    with private_storage.open(pending["path"], "rb") as handle:
        data = handle.read()
    private_storage.delete(pending["path"])
    return pending["name"], data


def _forget_old_uploads() -> None:
    try:
        _folders, names = private_storage.listdir(PENDING_DIR)
    except FileNotFoundError:
        return
    cutoff = timezone.now() - PENDING_MAX_AGE
    for name in names:
        stored = posixpath.join(PENDING_DIR, name)
        try:
            if private_storage.get_modified_time(stored) < cutoff:
                private_storage.delete(stored)
        except FileNotFoundError:
            continue  # another request deleted it meanwhile


def base_name(name: str, stem: str) -> str:
    """An uploaded file's name without any folder a browser sent along."""
    return posixpath.basename(name.replace("\\", "/")) or f"{stem}.csv"
