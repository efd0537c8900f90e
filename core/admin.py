"""Job history (ジョブ履歴) in the staff admin, its file downloads and the header notifications' actions; and
the audit trail (監査ログ), one list of every recorded action.

Read-only: jobs are made and finished by core.jobs, never edited here. Every staff user sees the jobs they
started; `core.view_job` shows everyone's. Files are served only through download_view, never from a
public media URL, and a job that is not yours answers 404 as if it did not exist.
"""

from __future__ import annotations

import json
import posixpath
from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core import audit_display, jobs
from core.audit import action_label
from core.models import AuditEntry, Job
from core.periods import JST

# Which file of a job a download URL names.
JOB_FILES = {"input": "input_file", "result": "result_file", "errors": "error_file"}
# Messages a list row shows before "…" (the job's page shows them all).
MESSAGES_IN_LIST = 3
BR = mark_safe("<br>")


def _is_staff(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_staff


def job_file_links(job: Job) -> list[tuple[str, str, str]]:
    """(role label, file name, download URL) for each file the job has."""
    labels = {
        "input": pgettext_lazy("job file", "input"),
        "result": pgettext_lazy("job file", "result"),
        "errors": pgettext_lazy("job file", "errors"),
    }
    links = []
    for which, field in JOB_FILES.items():
        stored = getattr(job, field)
        if stored:
            url = reverse("admin:core_job_download", args=[job.pk, which])
            links.append((str(labels[which]), posixpath.basename(stored.name), url))
    return links


def status_badge(job: Job) -> str:
    return render_to_string(
        "components/status_badge.html", {"status": job.status, "label": job.get_status_display()}
    )


def progress_text(job: Job) -> str:
    percent = job.progress_percent
    if percent is None:
        return gettext("%(done)s done") % {"done": f"{job.progress_done:,}"}
    return gettext("%(done)s / %(total)s (%(percent)s%%)") % {
        "done": f"{job.progress_done:,}",
        "total": f"{job.progress_total:,}",
        "percent": percent,
    }


class KindFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        kinds = model_admin.get_queryset(request).order_by("kind").values_list("kind", flat=True).distinct()
        return [(kind, jobs.KIND_LABELS.get(kind, kind)) for kind in kinds]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class StartedByFilter(admin.SimpleListFilter):
    """Only for staff who see everyone's jobs: theirs, or all."""

    title = _("started by")
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("1", _("Me"))]

    def queryset(self, request, queryset):
        return queryset.filter(started_by=request.user) if self.value() == "1" else queryset


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "label_display",
        "status_display",
        "progress_display",
        "counts_display",
        "started_by_display",
        "times_display",
        "files_display",
        "messages_display",
    )
    list_display_links = ("label_display",)
    list_select_related = ("started_by",)
    search_fields = ("label",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "kind_display",
                    "status_display",
                    "progress_display",
                    "started_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                )
            },
        ),
        (_("Outcome"), {"fields": ("counts_display", "files_display", "messages_all")}),
        (_("Parameters"), {"fields": ("params",), "classes": ("collapse",)}),
    )
    readonly_fields = tuple(name for _title, options in fieldsets for name in options["fields"])

    # --- columns and fields ---------------------------------------------------------------------------

    @admin.display(description=_("job"), ordering="label")
    def label_display(self, obj: Job) -> str:
        return format_html("{} <small>#{}</small>", obj.label, obj.pk)

    @admin.display(description=_("kind"))
    def kind_display(self, obj: Job) -> str:
        return str(jobs.KIND_LABELS.get(obj.kind, obj.kind))

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Job) -> str:
        return format_html("<span data-job-status>{}</span>", status_badge(obj))

    @admin.display(description=_("progress"))
    def progress_display(self, obj: Job) -> str:
        # A bar while the job is under way (moving without a value until the total is known), and for a
        # finished job whose total was known; a finished job without a total just says how many it did.
        percent = obj.progress_percent
        if obj.is_finished and percent is None and not obj.progress_done:
            return "-"  # the job did not report progress
        if percent is not None:
            bar = format_html('<progress max="100" value="{}"></progress> ', percent)
        elif not obj.is_finished:
            bar = mark_safe('<progress max="100"></progress> ')
        else:
            bar = ""
        return format_html(
            '<span class="job-progress">{}<span data-job-progress>{}</span></span>', bar, progress_text(obj)
        )

    @admin.display(description=_("started by"), ordering="started_by__name")
    def started_by_display(self, obj: Job) -> str:
        user = obj.started_by
        return (user.name or user.email) if user else "-"

    @admin.display(description=_("started → finished"), ordering="created_at")
    def times_display(self, obj: Job) -> str:
        started = obj.started_at or obj.created_at
        text = f"{timezone.localtime(started):%Y/%m/%d %H:%M}"
        if obj.finished_at:
            finished = timezone.localtime(obj.finished_at)
            same_day = finished.date() == timezone.localtime(started).date()
            text += f" → {finished:%H:%M}" if same_day else f" → {finished:%Y/%m/%d %H:%M}"
        return text

    @admin.display(description=_("counts"))
    def counts_display(self, obj: Job) -> str:
        if not obj.counts:
            return "-"
        return format_html_join(
            ", ", "{}: {}", ((jobs.COUNT_LABELS.get(key, key), value) for key, value in obj.counts.items())
        )

    @admin.display(description=_("files"))
    def files_display(self, obj: Job) -> str:
        links = job_file_links(obj)
        if not links:
            return "-"
        return format_html_join(BR, '{}: <a href="{}" download>{}</a>', ((r, u, n) for r, n, u in links))

    @admin.display(description=_("messages"))
    def messages_display(self, obj: Job) -> str:
        return self._messages(obj, limit=MESSAGES_IN_LIST)

    @admin.display(description=_("messages"))
    def messages_all(self, obj: Job) -> str:
        return self._messages(obj, limit=None)

    def _messages(self, obj: Job, *, limit: int | None) -> str:
        lines = [str(obj.notice)] if obj.notice else []
        lines += obj.messages
        if not lines:
            return "-"
        shown = lines if limit is None else lines[:limit]
        more = "…" if len(shown) < len(lines) else ""
        return format_html("{}{}", format_html_join(BR, "{}", ((m,) for m in shown)), more)

    # --- who sees what: your own jobs, or everyone's with core.view_job; nothing is edited here --------

    def get_queryset(self, request):
        return jobs.jobs_visible_to(request.user, super().get_queryset(request))

    def get_list_filter(self, request):
        if request.user.has_perm("core.view_job"):
            return ("status", KindFilter, StartedByFilter)
        return ("status", KindFilter)

    def has_module_permission(self, request):
        return _is_staff(request)

    def has_view_permission(self, request, obj=None):
        if not _is_staff(request):
            return False
        return obj is None or jobs.job_is_visible_to(obj, request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- the job's page: refreshes itself while the job is queued or running --------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra = {}
        if job is not None:
            if job.is_finished and job.started_by_id == request.user.pk and job.seen_at is None:
                jobs.job_mark_seen(user=request.user, job_id=job.pk)  # you are looking at it
            extra = {
                "job": job,
                "job_active": not job.is_finished,
                "status_url": reverse("admin:core_job_status", args=[job.pk]),
                "job_actions": jobs.job_actions(job, request),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:job_id>/download/<str:which>/", view(self.download_view), name="core_job_download"),
            path("<int:job_id>/status/", view(self.status_view), name="core_job_status"),
            path("<int:job_id>/seen/", view(require_POST(self.seen_view)), name="core_job_seen"),
            path("seen/", view(require_POST(self.seen_view)), name="core_job_seen_all"),
            *super().get_urls(),
        ]

    def _visible_job(self, request, job_id: int) -> Job:
        return get_object_or_404(jobs.jobs_visible_to(request.user), pk=job_id)

    def download_view(self, request: HttpRequest, job_id: int, which: str):
        if which not in JOB_FILES:
            raise Http404
        stored = getattr(self._visible_job(request, job_id), JOB_FILES[which])
        if not stored:
            raise Http404
        try:
            handle = stored.open("rb")
        except FileNotFoundError as missing:
            raise Http404 from missing
        # FileResponse writes filename*=utf-8''… (RFC 5987) for a non-ASCII name.
        return FileResponse(handle, as_attachment=True, filename=posixpath.basename(stored.name))

    def status_view(self, request: HttpRequest, job_id: int):
        job = self._visible_job(request, job_id)
        return JsonResponse(
            {
                "status": job.status,
                "status_label": str(job.get_status_display()),
                "finished": job.is_finished,
                "done": job.progress_done,
                "total": job.progress_total,
                "percent": job.progress_percent,
                "progress": progress_text(job),
            }
        )

    def seen_view(self, request: HttpRequest, job_id: int | None = None):
        jobs.job_mark_seen(user=request.user, job_id=job_id)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index")
        return redirect(target)


# --- the audit trail ------------------------------------------------------------------------------------


class ActorKindFilter(admin.SimpleListFilter):
    title = _("who acted")
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return [
            ("staff", pgettext_lazy("audit actor", "Staff")),
            ("member", pgettext_lazy("audit actor", "Member")),
            ("system", _("System job")),
        ]

    def queryset(self, request, queryset):
        match self.value():
            case "staff":
                return queryset.filter(actor__is_staff=True)
            case "member":
                return queryset.filter(actor__isnull=False, actor__is_staff=False)
            case "system":
                return queryset.filter(actor__isnull=True)
        return queryset


class StaffActorFilter(admin.SimpleListFilter):
    """The staff users who appear in the trail (members are too many to list: search by e-mail instead)."""

    title = _("staff member")
    parameter_name = "staff"

    def lookups(self, request, model_admin):
        from django.contrib.auth import get_user_model

        users = get_user_model().objects.filter(
            is_staff=True, pk__in=AuditEntry.objects.filter(actor__isnull=False).values("actor_id")
        )
        return [(str(user.pk), user.name or user.email) for user in users.order_by("email")]

    def queryset(self, request, queryset):
        return queryset.filter(actor_id=self.value()) if self.value() else queryset


class SystemJobFilter(admin.SimpleListFilter):
    title = _("system job")
    parameter_name = "system"

    def lookups(self, request, model_admin):
        names = AuditEntry.objects.exclude(system="").order_by("system").values_list("system", flat=True)
        return [(name, name) for name in names.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(system=self.value()) if self.value() else queryset


class ActionFilter(admin.SimpleListFilter):
    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        return [(action, action_label(action)) for action in actions]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class PeriodFilter(admin.ListFilter):
    """From – to (JST calendar days, both inclusive), as two date fields in the filter sidebar."""

    title = _("period")
    template = "admin/core/auditentry/period_filter.html"
    parameter_from = "from"
    parameter_to = "to"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.request = request
        for name in (self.parameter_from, self.parameter_to):
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return [self.parameter_from, self.parameter_to]

    def _day(self, name: str):
        raw = (self.used_parameters.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise IncorrectLookupParameters(raw) from None

    def queryset(self, request, queryset):
        start, end = self._day(self.parameter_from), self._day(self.parameter_to)
        if start is not None:
            queryset = queryset.filter(created_at__gte=datetime.combine(start, time.min, tzinfo=JST))
        if end is not None:
            queryset = queryset.filter(
                created_at__lt=datetime.combine(end + timedelta(days=1), time.min, JST)
            )
        return queryset

    def choices(self, changelist):
        kept = [
            (key, value)
            for key, values in self.request.GET.lists()
            if key not in (self.parameter_from, self.parameter_to, "p")
            for value in values
        ]
        yield {
            "from": self.used_parameters.get(self.parameter_from, ""),
            "to": self.used_parameters.get(self.parameter_to, ""),
            "kept": kept,
            "clear_url": changelist.get_query_string(remove=[self.parameter_from, self.parameter_to]),
        }


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """監査ログ: every recorded action, newest first. Nothing here is ever added, changed or deleted (the
    database refuses it too); staff need `core.view_auditentry` to see it."""

    list_display = ("created_at", "actor_display", "action_display", "object_display", "payload_display")
    list_display_links = ("created_at",)
    list_select_related = ("actor", "content_type")
    list_filter = (
        PeriodFilter,
        ActorKindFilter,
        StaffActorFilter,
        SystemJobFilter,
        ActionFilter,
        ("content_type", admin.RelatedOnlyFieldListFilter),
    )
    date_hierarchy = "created_at"
    search_fields = ("object_repr", "actor__email", "actor__name", "action", "system")
    search_help_text = _("Object, the e-mail or name of who acted, action or system job.")
    ordering = ("-created_at", "-id")
    show_full_result_count = False  # a second COUNT(*) over a table that only grows
    fields = (
        "created_at",
        "actor_display",
        "action",
        "content_type",
        "object_display",
        "object_id",
        "payload_display",
        "payload_raw",
    )
    readonly_fields = fields

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj: AuditEntry) -> str:
        return format_html('{}<br><code class="audit-action">{}</code>', action_label(obj.action), obj.action)

    @admin.display(description=_("who"), ordering="actor__email")
    def actor_display(self, obj: AuditEntry) -> str:
        return audit_display.actor_text(obj)

    @admin.display(description=_("object"), ordering="object_repr")
    def object_display(self, obj: AuditEntry) -> str:
        return audit_display.object_link(obj)

    @admin.display(description=_("what changed"))
    def payload_display(self, obj: AuditEntry) -> str:
        return audit_display.payload_html(obj.payload)

    @admin.display(description=_("data as recorded"))
    def payload_raw(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, ensure_ascii=False, indent=2))

    def lookup_allowed(self, lookup, value, request=None):
        # An object's history page links here for its whole trail: ?content_type__id__exact=…&object_id=…
        if lookup == "object_id":
            return True
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
