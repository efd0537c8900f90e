from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.storage import private_storage


class TimeStampedModel(models.Model):
    """Every business table records when a row was made and last changed."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


def _job_file_path(job: "Job", role: str, filename: str) -> str:
    # One folder per job and role, so an input and a result with the same name both keep their name (the
    # download is named after the stored file). The job is saved before its files, so pk and created_at exist.
    return f"jobs/{job.created_at:%Y/%m}/{job.pk}/{role}/{filename}"


def job_input_path(job: "Job", filename: str) -> str:
    return _job_file_path(job, "input", filename)


def job_result_path(job: "Job", filename: str) -> str:
    return _job_file_path(job, "result", filename)


def job_error_path(job: "Job", filename: str) -> str:
    return _job_file_path(job, "errors", filename)


class Job(TimeStampedModel):
    """ジョブ履歴: a long staff job (CSV import/export, a grant run) and its outcome. The worker updates
    progress while it runs; the staff user who started it sees it in the admin header when it finishes.

    Files are kept in private storage (PRIVATE_ROOT, outside MEDIA_ROOT, see core.storage) under jobs/ and
    downloaded only through a staff-only view, never from a URL of their own (they hold member and business
    data)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Finished")
        PARTIAL = "partial", _("Finished with errors")
        FAILED = "failed", _("Failed")

    FINISHED_STATUSES = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED)
    # What a partial job says wherever it is shown; ja: 一部エラーが発生しています (the seeds' wording).
    PARTIAL_NOTICE = _("Some rows had errors.")

    kind = models.CharField(_("kind"), max_length=50, db_index=True)
    label = models.CharField(_("job"), max_length=200)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.QUEUED, db_index=True
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    progress_done = models.PositiveIntegerField(_("done"), default=0)
    progress_total = models.PositiveIntegerField(_("total"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    messages = models.JSONField(_("messages"), default=list, blank=True)
    input_file = models.FileField(
        _("input file"), upload_to=job_input_path, storage=private_storage, blank=True, max_length=255
    )
    result_file = models.FileField(
        _("result file"), upload_to=job_result_path, storage=private_storage, blank=True, max_length=255
    )
    error_file = models.FileField(
        _("error file"), upload_to=job_error_path, storage=private_storage, blank=True, max_length=255
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    seen_at = models.DateTimeField(
        _("notification read at"), null=True, blank=True, help_text=_("When the staff user dismissed it.")
    )

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("job history")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["started_by", "seen_at", "status"], name="job_notification_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_total__isnull=True) | Q(progress_done__lte=F("progress_total")),
                name="job_progress_within_total",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def progress_percent(self) -> int | None:
        """Whole percent done, or None while the total is unknown."""
        if self.progress_total is None:
            return None
        if self.progress_total == 0:
            return 100 if self.is_finished else 0
        return min(100, self.progress_done * 100 // self.progress_total)

    @property
    def notice(self):
        """The line a finished job leads with in lists and notifications (None when it has nothing to say)."""
        return self.PARTIAL_NOTICE if self.status == self.Status.PARTIAL else None


class AuditEntry(models.Model):
    """One state change: who acted (a staff user or member; a system job when `actor` is empty, named in
    `system`), what (`action`, e.g. ``order.refunded``), on which object, what changed (`payload`) and
    when. Written by the service in the same transaction as the change; never edited or deleted (a
    database trigger refuses UPDATE and DELETE, see the migration)."""

    action = models.CharField(_("action"), max_length=64, db_index=True)
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        verbose_name=_("object type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    system = models.CharField(
        _("system job"), max_length=64, blank=True, help_text=_("The job that acted when nobody did.")
    )
    payload = models.JSONField(_("what changed"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "created_at"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"
