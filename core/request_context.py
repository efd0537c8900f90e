"""The request being served, for the few rules that depend on who is asking from where but are checked
deep inside a form field or a service that is not handed the request (promotions' throttle of unknown
coupon codes, keyed by member and by address). Set by RequestContextMiddleware for the request's duration;
None outside a request (a task, a command, a test calling a service)."""

from __future__ import annotations

from contextvars import ContextVar

_current_request: ContextVar[object | None] = ContextVar("current_request", default=None)


def current_request():
    return _current_request.get()


def client_ip(request=None) -> str:
    """The address the request came from: REMOTE_ADDR, not X-Forwarded-For, which a client can forge (a
    proxy in front of the app sets REMOTE_ADDR to the client's address, e.g. gunicorn's
    --forwarded-allow-ips with a trusted proxy); "" outside a request."""
    request = request if request is not None else current_request()
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR") or "")


def current_member():
    """The signed-in member of the request being served, or None."""
    request = current_request()
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
