"""CSV export and import of ticket types in the staff admin (SPEC §6, seed 000): buttons on the ticket list,
the upload form with its dry-run preview, each run as a job (core.jobs).

- CSVエクスポート → a confirmation page (確認画面) → OK queues the export job and goes to its page; the
  file is downloaded from there (or from the header's notification) when it is ready.
- CSVインポート → upload → a dry run shows every row that would be created or updated (column by column)
  and every row error, with nothing written → Import queues the job with the uploaded file as its input
  (every row is validated again when it runs) and goes to its page.
- A file of more than PREVIEW_IN_PAGE_ROWS rows is too long to check while the browser waits (20,000 rows
  take several seconds): its dry run runs as a job instead, with progress, and the finished job's page
  offers "Import this file" (counts, every error and every row's would-be result are in its files).

Between the preview and the confirmation the upload waits in the job files' folder (jobs/pending/, never
served from the media URL), named by a token signed for the staff user who uploaded it.
Permissions: view for the export; add and change for the import.
"""

from __future__ import annotations

import posixpath
import uuid
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.http import Http404, HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.csvio import CsvFileError
from core.exceptions import DomainError
from core.jobs import JobAction
from core.models import Job
from core.storage import private_storage
from tickets import csv_jobs
from tickets.models import TicketType

# An uploaded file waits here for "Import" (member and business data: private storage, like job files).
PENDING_DIR = "jobs/pending"
PENDING_MAX_AGE = timedelta(days=1)
PENDING_SIGNATURE_SALT = "tickets.admin_csv.import"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# The preview lists at most this many rows of each kind (the counts are always complete).
PREVIEW_ERRORS = 1000
PREVIEW_CHANGES = 300
# Files with more rows than this are checked by a dry-run job rather than in the upload's request.
PREVIEW_IN_PAGE_ROWS = 2000


class TicketCsvUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "The format of the ticket CSV export, in Shift_JIS or UTF-8. Leave チケットID empty to add a "
            "ticket; 利用可能プラン名 and 登録日時 are not imported."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                gettext("The file is larger than %(size)s MB.") % {"size": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        return upload


class TicketTypeCsvAdminMixin:
    """Adds the CSV export/import views and buttons to TicketTypeAdmin."""

    change_list_template = "admin/tickets/tickettype/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("csv/export/", view(self.csv_export_view), name="tickets_tickettype_csv_export"),
            path("csv/import/", view(self.csv_import_view), name="tickets_tickettype_csv_import"),
            path(
                "csv/import/confirm/",
                view(require_POST(self.csv_import_confirm_view)),
                name="tickets_tickettype_csv_import_confirm",
            ),
            path(
                "csv/import/from-job/<int:job_id>/",
                view(require_POST(self.csv_import_from_job_view)),
                name="tickets_tickettype_csv_import_from_job",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_export_csv": self.can_export_csv(request),
            "can_import_csv": self.can_import_csv(request),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def can_export_csv(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def can_import_csv(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def _context(self, request: HttpRequest, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "subtitle": None,
            "changelist_url": reverse("admin:tickets_tickettype_changelist"),
            **extra,
        }

    @staticmethod
    def _go_to_job(job):
        return redirect(reverse("admin:core_job_change", args=[job.pk]))

    # --- export ---------------------------------------------------------------------------------------

    def csv_export_view(self, request: HttpRequest):
        if not self.can_export_csv(request):
            raise PermissionDenied
        if request.method == "POST":
            job = csv_jobs.ticket_export_start(by=request.user)
            self.message_user(
                request,
                gettext(
                    "The ticket CSV export started (job #%(job)s). You will be notified here when the file "
                    "is ready to download."
                )
                % {"job": job.pk},
                messages.SUCCESS,
            )
            return self._go_to_job(job)
        context = self._context(
            request,
            gettext("CSV export"),
            count=TicketType.objects.count(),
        )
        return TemplateResponse(request, "admin/tickets/tickettype/csv_export.html", context)

    # --- import ---------------------------------------------------------------------------------------

    def csv_import_view(self, request: HttpRequest):
        if not self.can_import_csv(request):
            raise PermissionDenied
        form = TicketCsvUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.read()
            try:
                rows = csv_jobs.ticket_csv_rows(data)
                if rows > PREVIEW_IN_PAGE_ROWS:
                    return self._dry_run_as_job(request, upload.name, data, rows)
                result = csv_jobs.import_ticket_types(data, dry_run=True)
            except CsvFileError as error:
                form.add_error("file", str(error))
            else:
                token = self._keep_upload(request, upload.name, data)
                context = self._context(
                    request,
                    gettext("CSV import: check before importing"),
                    result=result,
                    file_name=upload.name,
                    token=token,
                    errors=result.errors[:PREVIEW_ERRORS],
                    errors_hidden=max(0, len(result.errors) - PREVIEW_ERRORS),
                    previews=result.previews[:PREVIEW_CHANGES],
                    previews_hidden=max(0, len(result.previews) - PREVIEW_CHANGES),
                    can_import=bool(result.created or result.updated),
                )
                return TemplateResponse(request, "admin/tickets/tickettype/csv_import_preview.html", context)
        context = self._context(request, gettext("CSV import"), form=form)
        return TemplateResponse(request, "admin/tickets/tickettype/csv_import.html", context)

    def csv_import_confirm_view(self, request: HttpRequest):
        if not self.can_import_csv(request):
            raise PermissionDenied
        try:
            pending = signing.loads(
                request.POST.get("token", ""),
                salt=PENDING_SIGNATURE_SALT,
                max_age=PENDING_MAX_AGE.total_seconds(),
            )
        except signing.BadSignature:
            pending = None
        if (
            not pending
            or pending.get("user") != request.user.pk
            or not private_storage.exists(pending["path"])
        ):
            self.message_user(
                request, gettext("The uploaded file is no longer there. Upload it again."), messages.ERROR
            )
            return redirect(reverse("admin:tickets_tickettype_csv_import"))
        with private_storage.open(pending["path"], "rb") as handle:
            data = handle.read()
        job = csv_jobs.ticket_import_start(by=request.user, file_name=pending["name"], data=data)
        private_storage.delete(pending["path"])
        self._import_started(request, job)
        return self._go_to_job(job)

    def _dry_run_as_job(self, request: HttpRequest, name: str, data: bytes, rows: int):
        job = csv_jobs.ticket_import_check_start(by=request.user, file_name=_base_name(name), data=data)
        self.message_user(
            request,
            gettext(
                "The file has %(rows)s rows, so it is being checked as a job (#%(job)s). Nothing is saved "
                "yet: when the check has finished, this page shows what would change and offers to import "
                "the file."
            )
            % {"rows": f"{rows:,}", "job": job.pk},
            messages.SUCCESS,
        )
        return self._go_to_job(job)

    def csv_import_from_job_view(self, request: HttpRequest, job_id: int):
        """Import this file: the real import of the file a finished dry-run job checked, once."""
        if not self.can_import_csv(request):
            raise PermissionDenied
        try:
            job = csv_jobs.ticket_import_from_check(checked_id=job_id, by=request.user)
        except Job.DoesNotExist as missing:
            raise Http404 from missing
        except csv_jobs.AlreadyImportedError as imported:
            self.message_user(request, str(imported.message), messages.WARNING)
            return redirect(reverse("admin:core_job_change", args=[imported.job_id]))
        except DomainError as error:
            self.message_user(request, str(error.message), messages.ERROR)
            return redirect(reverse("admin:core_job_change", args=[job_id]))
        self._import_started(request, job)
        return self._go_to_job(job)

    def _import_started(self, request: HttpRequest, job) -> None:
        self.message_user(
            request,
            gettext(
                "The ticket CSV import started (job #%(job)s). Every row is checked again as it is imported; "
                "you will be notified here when it has finished."
            )
            % {"job": job.pk},
            messages.SUCCESS,
        )

    @staticmethod
    def _keep_upload(request: HttpRequest, name: str, data: bytes) -> str:
        _forget_old_uploads()
        stored = private_storage.save(
            posixpath.join(PENDING_DIR, f"{uuid.uuid4().hex}.csv"), ContentFile(data)
        )
        return signing.dumps(
            {"path": stored, "name": _base_name(name), "user": request.user.pk}, salt=PENDING_SIGNATURE_SALT
        )


def _base_name(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/")) or "tickets.csv"


def import_job_actions(job: Job, request: HttpRequest) -> list[JobAction]:
    """On the page of a finished dry-run import: "Import this file", for the staff member who uploaded it,
    when it would create or update something and was not imported yet."""
    user = request.user
    if job.params.get("dry_run") and (imported_as := job.params.get("import_job")):
        return [
            JobAction(
                label=gettext("This file was imported: job #%(job)s") % {"job": imported_as},
                url=reverse("admin:core_job_change", args=[imported_as]),
                is_link=True,
            )
        ]
    if not (
        job.params.get("dry_run")
        and job.started_by_id == user.pk
        and user.has_perms(["tickets.add_tickettype", "tickets.change_tickettype"])
        and csv_jobs.checked_file_importable(job)
    ):
        return []
    return [
        JobAction(
            label=gettext("Import this file"),
            url=reverse("admin:tickets_tickettype_csv_import_from_job", args=[job.pk]),
            help=gettext(
                "Creates %(created)s and updates %(updated)s tickets; rows with errors are not imported. "
                "Every row is checked again as it is imported."
            )
            % {"created": job.counts.get("created", 0), "updated": job.counts.get("updated", 0)},
        )
    ]


def _forget_old_uploads() -> None:
    """Uploads previewed but never imported are deleted after a day."""
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
