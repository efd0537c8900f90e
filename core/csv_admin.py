"""CSV export and import pages for a model admin, for any CSV file with its jobs (core.csv_jobs): buttons on
the change list, the upload form with its dry-run preview, each run as a job (core.jobs).

    class TicketTypeAdmin(CsvAdminMixin, admin.ModelAdmin):
        csv_jobs = tickets.csv_jobs.TICKETS

- CSVエクスポート → a confirmation page (確認画面) → OK queues the export job and goes to its page; the
  file is downloaded from there (or from the header's notification) when it is ready.
- CSVインポート → upload → a dry run shows every row that would be created or updated (column by column)
  and every row error, with nothing written → Import queues the job with the uploaded file as its input
  (every row is validated again when it runs) and goes to its page.
- A file of more than PREVIEW_IN_PAGE_ROWS rows is too long to check while the browser waits: its dry run
  runs as a job instead, with progress, and the finished job's page offers "Import this file" (counts,
  every error and every row's would-be result are in its files).

Between the preview and the confirmation the upload waits in private storage (core.csv_jobs.upload_keep),
named by a token signed for the staff user who uploaded it.
Permissions: view for the export; add and change for the import.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.csv_jobs import AlreadyImportedError, CsvJobs, checked_file_importable, upload_keep, upload_take
from core.csv_pipeline import count_rows
from core.csvio import CsvFileError
from core.exceptions import DomainError
from core.jobs import JobAction
from core.models import Job

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# The preview lists at most this many rows with errors (the counts are always complete; the rows to
# create or update it lists are the first core.csv_pipeline.PREVIEWS_KEPT).
PREVIEW_ERRORS = 1000
# Files with more rows than this are checked by a dry-run job rather than in the upload's request.
PREVIEW_IN_PAGE_ROWS = 2000


class CsvUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))

    def __init__(self, *args, help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = help_text

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                gettext("The file is larger than %(size)s MB.") % {"size": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        return upload


def _url_name(jobs: CsvJobs, view: str) -> str:
    opts = jobs.model._meta
    return f"{opts.app_label}_{opts.model_name}_csv_{view}"


def _can_import(user, jobs: CsvJobs) -> bool:
    opts = jobs.model._meta
    return user.has_perms(
        [f"{opts.app_label}.add_{opts.model_name}", f"{opts.app_label}.change_{opts.model_name}"]
    )


class CsvAdminMixin:
    """Adds the CSV export/import views and buttons to a ModelAdmin; set `csv_jobs`."""

    csv_jobs: CsvJobs
    change_list_template = "admin/csv/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        name = lambda which: _url_name(self.csv_jobs, which)  # noqa: E731
        return [
            path("csv/export/", view(self.csv_export_view), name=name("export")),
            path("csv/import/", view(self.csv_import_view), name=name("import")),
            path(
                "csv/import/confirm/",
                view(require_POST(self.csv_import_confirm_view)),
                name=name("import_confirm"),
            ),
            path(
                "csv/import/from-job/<int:job_id>/",
                view(require_POST(self.csv_import_from_job_view)),
                name=name("import_from_job"),
            ),
            *super().get_urls(),
        ]

    def _csv_url(self, which: str, *args) -> str:
        return reverse(f"admin:{_url_name(self.csv_jobs, which)}", args=args)

    def changelist_view(self, request, extra_context=None):
        extra = {
            "csv_export_url": self._csv_url("export") if self.can_export_csv(request) else "",
            "csv_import_url": self._csv_url("import") if self.can_import_csv(request) else "",
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
            "changelist_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
            "import_url": self._csv_url("import"),
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
            job = self.csv_jobs.export_start(by=request.user)
            self.message_user(
                request,
                gettext(
                    "%(what)s started (job #%(job)s). You will be notified here when the file is ready to "
                    "download."
                )
                % {"what": self.csv_jobs.labels.export, "job": job.pk},
                messages.SUCCESS,
            )
            return self._go_to_job(job)
        fmt = self.csv_jobs.format_class
        context = self._context(
            request,
            gettext("CSV export"),
            question=fmt.export_question(fmt.export_count()),
        )
        return TemplateResponse(request, "admin/csv/export.html", context)

    # --- import ---------------------------------------------------------------------------------------

    def csv_import_view(self, request: HttpRequest):
        if not self.can_import_csv(request):
            raise PermissionDenied
        jobs = self.csv_jobs
        form = CsvUploadForm(
            request.POST or None, request.FILES or None, help_text=jobs.format_class.upload_help
        )
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.read()
            try:
                rows = count_rows(jobs.format_class(), data)
                if rows > PREVIEW_IN_PAGE_ROWS:
                    return self._dry_run_as_job(request, upload.name, data, rows)
                result = jobs.import_(data, dry_run=True)
            except CsvFileError as error:
                form.add_error("file", str(error))
            else:
                return self._preview(request, upload.name, data, result)
        context = self._context(request, gettext("CSV import"), form=form)
        return TemplateResponse(request, "admin/csv/import.html", context)

    def _preview(self, request: HttpRequest, name: str, data: bytes, result):
        fmt = self.csv_jobs.format_class
        key_at, name_at = fmt.columns.index(fmt.key_column), fmt.columns.index(fmt.name_column)
        errors = [
            (error, _cell(error.cells, key_at), _cell(error.cells, name_at))
            for error in result.errors[:PREVIEW_ERRORS]
        ]
        context = self._context(
            request,
            gettext("CSV import: check before importing"),
            result=result,
            file_name=name,
            token=upload_keep(by=request.user, name=name, data=data, kind=self.csv_jobs.import_kind),
            key_column=fmt.key_column,
            name_column=fmt.name_column,
            errors=errors,
            errors_hidden=max(0, len(result.errors) - PREVIEW_ERRORS),
            previews=result.previews,
            previews_hidden=result.previews_hidden,
            can_import=bool(result.created or result.updated),
            confirm_url=self._csv_url("import_confirm"),
        )
        return TemplateResponse(request, "admin/csv/import_preview.html", context)

    def csv_import_confirm_view(self, request: HttpRequest):
        if not self.can_import_csv(request):
            raise PermissionDenied
        pending = upload_take(
            token=request.POST.get("token", ""), by=request.user, kind=self.csv_jobs.import_kind
        )
        if pending is None:
            self.message_user(
                request, gettext("The uploaded file is no longer there. Upload it again."), messages.ERROR
            )
            return redirect(self._csv_url("import"))
        name, data = pending
        job = self.csv_jobs.import_start(by=request.user, file_name=name, data=data)
        self._import_started(request, job)
        return self._go_to_job(job)

    def _dry_run_as_job(self, request: HttpRequest, name: str, data: bytes, rows: int):
        job = self.csv_jobs.import_start(by=request.user, file_name=name, data=data, dry_run=True)
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
            job = self.csv_jobs.import_from_check(checked_id=job_id, by=request.user)
        except Job.DoesNotExist as missing:
            raise Http404 from missing
        except AlreadyImportedError as imported:
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
                "%(what)s started (job #%(job)s). Every row is checked again as it is imported; you will be "
                "notified here when it has finished."
            )
            % {"what": self.csv_jobs.labels.import_, "job": job.pk},
            messages.SUCCESS,
        )


def _cell(cells: list[str], index: int) -> str:
    return cells[index] if index < len(cells) else ""


def import_job_actions(jobs: CsvJobs):
    """The actions on the page of a finished dry-run import of `jobs`: "Import this file", for the staff
    member who uploaded it, when it would create or update something and was not imported yet; a link to
    the import once it was."""

    def actions(job: Job, request: HttpRequest) -> list[JobAction]:
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
            and _can_import(user, jobs)
            and checked_file_importable(job)
        ):
            return []
        return [
            JobAction(
                label=gettext("Import this file"),
                url=reverse(f"admin:{_url_name(jobs, 'import_from_job')}", args=[job.pk]),
                help=gettext(
                    "Creates %(created)s and updates %(updated)s rows; rows with errors are not imported. "
                    "Every row is checked again as it is imported."
                )
                % {"created": job.counts.get("created", 0), "updated": job.counts.get("updated", 0)},
            )
        ]

    return actions
