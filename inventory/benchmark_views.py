"""The trivial one-INSERT view that `manage.py benchmark_booking_http` measures the booking POST against.

Routed only when the settings say BENCHMARK_VIEWS (config.settings.local reads it from the environment,
and the benchmark sets it for the server it starts); production settings never define it, so this view
is never reachable there. It goes through the same middleware as the booking (session, CSRF, login) and
does one INSERT in a transaction, so the ratio compares the booking's own work with the bare minimum of a
logged-in POST on the same server."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from inventory.models import AcceptanceOverride, Store

FAR_DAY = date(2099, 1, 1)  # a closure nobody will ever book against
PATH = "benchmark/trivial-insert/"  # named here: the benchmark's own process does not route it


@login_required
@require_POST
def trivial_insert(request):
    store = get_object_or_404(Store, pk=request.POST.get("store"), name__startswith="BENCH-")
    with transaction.atomic():
        AcceptanceOverride.objects.create(store=store, start_date=FAR_DAY, end_date=FAR_DAY, note="benchmark")
    return HttpResponse("ok", content_type="text/plain")
