import posixpath

from django.conf import settings
from django.db import connection
from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.static import serve
from redis import Redis
from redis.exceptions import RedisError


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_redis() -> str:
    try:
        client = Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except RedisError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    """Reachability of the database and Redis, for load balancers and compose health checks."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


def serve_media(request, path: str):
    """MEDIA_ROOT for the development server (config/urls.py routes it only with DEBUG). Job files are not
    there any more (core.storage); a jobs/ folder left from before they moved is refused however the path
    is spelt (//jobs, ./jobs, x/../jobs, %2e/jobs), since the check is made on the normalised path."""
    normalised = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if normalised == "jobs" or normalised.startswith("jobs/"):
        raise Http404
    return serve(request, path, document_root=settings.MEDIA_ROOT)
