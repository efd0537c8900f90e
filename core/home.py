"""The panels of the staff home (店舗管理 top page, the admin index): today's bookings, the latest jobs,
what needs attention, and whatever a later app adds. Each app registers its own panels in
AppConfig.ready(), so core names no domain rule. A panel is shown to staff with its permission; it renders
its own template from a context computed in a constant number of queries, however much data there is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Panel:
    key: str  # unique; also the panel's HTML id ("panel-<key>")
    template: str  # renders the whole panel (its <div class="module"> and heading)
    context: Callable[[object], dict]  # request -> the template's context (a few queries at most)
    permission: str | None = None  # "app.codename" a staff member needs to see it; None: every staff member
    order: int = 100  # panels are shown by order, then by registration
    shown: Callable[[object], bool] | None = None  # user -> whether to show it, beside the permission


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    _panels[panel.key] = panel


def panels_for(user) -> list[Panel]:
    """The panels `user` may see, in display order."""
    shown = [
        panel
        for panel in _panels.values()
        if (panel.permission is None or user.has_perm(panel.permission))
        and (panel.shown is None or panel.shown(user))
    ]
    return sorted(shown, key=lambda panel: panel.order)


def render_panels(request) -> SafeString:
    return mark_safe(  # noqa: S308 - each part is a rendered (autoescaped) template
        "".join(
            render_to_string(
                panel.template, {"panel_key": panel.key, **panel.context(request)}, request=request
            )
            for panel in panels_for(request.user)
        )
    )


def attention_panel() -> Panel:
    """The "needs attention" box (core.attention) as the first panel; its items are filtered one by one."""
    from core.attention import waiting_for

    return Panel(
        key="attention",
        template="admin/core/attention.html",
        context=lambda request: {"waiting": waiting_for(request.user)},
        order=10,
    )


LATEST_JOBS = 5


def jobs_panel() -> Panel:
    """The staff member's latest jobs (started by them), newest first, each linking to its page."""
    from core.jobs import jobs_visible_to
    from core.models import Job

    def context(request) -> dict:
        jobs = list(
            jobs_visible_to(request.user, Job.objects.filter(started_by=request.user))
            .only("id", "label", "status", "created_at", "finished_at", "progress_done", "progress_total")
            .order_by("-created_at", "-id")[:LATEST_JOBS]
        )
        return {"jobs": jobs}

    return Panel(
        key="jobs",
        template="admin/core/home/jobs.html",
        context=context,
        permission="core.view_job",
        order=90,
    )


# --- the 30-day chart: one series per app, each one grouped query -------------------------------------

CHART_DAYS = 30


@dataclass(frozen=True)
class DailySeries:
    key: str
    label: str  # shown in the chart's legend
    values: Callable[[date, date], dict[date, int]]  # (first, last JST day) -> value per day (one query)
    permission: str  # "app.codename" a staff member needs to see it
    axis: str = "count"  # "count" or "yen": each has its own scale
    order: int = 100


_series: dict[str, DailySeries] = {}


def register_daily_series(series: DailySeries) -> None:
    _series[series.key] = series


def chart_context(request) -> dict:
    """The last CHART_DAYS JST days (today included), with every series the user may see, as the data the
    chart script reads from a json_script block."""
    last = timezone.localdate()
    first = last - timedelta(days=CHART_DAYS - 1)
    days = [first + timedelta(days=n) for n in range(CHART_DAYS)]
    shown = sorted(
        (series for series in _series.values() if request.user.has_perm(series.permission)),
        key=lambda series: series.order,
    )
    datasets = []
    for series in shown:
        values = series.values(first, last)
        datasets.append(
            {
                "key": series.key,
                "label": str(series.label),
                "axis": series.axis,
                "data": [values.get(day, 0) for day in days],
            }
        )
    return {"chart": {"labels": [f"{day.month}/{day.day}" for day in days], "datasets": datasets}}


def chart_panel() -> Panel:
    return Panel(
        key="chart",
        template="admin/core/home/chart.html",
        context=chart_context,
        order=80,
        shown=lambda user: any(user.has_perm(series.permission) for series in _series.values()),
    )
