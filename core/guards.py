"""Request guards that run before any view or query."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.utils.translation import gettext

NUL = "\x00"


def _has_nul(querydict) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in querydict.lists())


class RefuseNulMiddleware:
    """PostgreSQL refuses NUL in text (a ``?status__exact=%00`` filter or ``?q=%00`` search would end in a
    DataError and a 500), and no form of the shop has a use for it: a request with a NUL in its path,
    query string, posted form values or cookies is answered 400 before any view runs."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            NUL in request.path
            or _has_nul(request.GET)
            or any(NUL in key or NUL in value for key, value in request.COOKIES.items())
            or (request.method == "POST" and _has_nul(request.POST))
        ):
            return HttpResponseBadRequest(
                gettext("The request contains a NUL character, which is not allowed."),
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
