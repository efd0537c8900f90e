"""No URL answers 500 (issue 12): every URL pattern of the project, as an anonymous visitor, a member and a
staff member with every permission, with hostile values in each path and query parameter, and each form
posted back with hostile values, answers something other than 5xx.

Path ids point at real objects (the demo data: stores, items, bookings, orders, tickets of the demo
member), so a `<pk>` URL reaches its view; each POST runs in a savepoint rolled back afterwards. A fixed,
seeded sample of the hostile values keeps the walk inside its time. New URL patterns are walked without
anyone adding them here."""

from __future__ import annotations

import random
import re
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from members.demo import MEMBER_EMAIL, STAFF_EMAIL
from members.models import Member

pytestmark = pytest.mark.django_db

SEED = 20261201
HUGE = "99999999999999999999"
HOSTILE = [
    "0",
    "-1",
    "2147483648",
    HUGE,
    "1.5",
    "abc",
    "\x00",
    "x" * 10_000,
    "ｱｲｳ１２３",
    "\u202e\u0301",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x")',
    "2026-02-30",
    "99999999999999999999-1",
    "25:99-26:00",
    "",
]
QUERY_KEYS = [
    "page",
    "p",
    "q",
    "o",
    "month",
    "date",
    "slot",
    "status__exact",
    "all",
    "e",
    "next",
    "_changelist_filters",
]


@dataclass(frozen=True)
class Route:
    template: str  # "items/<int:pk>/book/"
    name: str | None


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                space = namespace
                if pattern.namespace:
                    space = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), space)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                found.append(Route(prefix + str(pattern.pattern), name))

    walk(get_resolver().url_patterns, "", None)
    return [
        route for route in found if not route.template.startswith(("static", "media", "^static", "^media"))
    ]


PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def concrete(template: str, values: dict[str, str]) -> str:
    """The route with its parameters filled in (regex routes are left out: the admin's app list is the only
    one, and it is reached through its links)."""
    return "/" + PARAM.sub(lambda match: values[match.group("name")], template).lstrip("^").rstrip("$")


def path_values(route: Route, real_ids: list[str], rng: random.Random) -> list[dict[str, str]]:
    """Each parameter once with a real id, then with a few hostile values (URL-quoted)."""
    names = [match.group("name") for match in PARAM.finditer(route.template)]
    if not names:
        return [{}]
    variants = []
    for real in real_ids:
        variants.append(dict.fromkeys(names, real))
    for hostile in rng.sample(HOSTILE, 3):
        variants.append(dict.fromkeys(names, quote(hostile, safe="") or "x"))
    return variants


FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', re.IGNORECASE)


def form_fields(html: str) -> list[str]:
    return sorted({name for name in FIELD.findall(html) if name not in {"csrfmiddlewaretoken"}})


def clients() -> dict[str, Client]:
    made = {"anonymous": Client(raise_request_exception=False)}
    member = Client(raise_request_exception=False)
    member.force_login(Member.objects.get(email=MEMBER_EMAIL))
    made["member"] = member
    staff = Member.objects.get(email=STAFF_EMAIL)
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    boss = Client(raise_request_exception=False)
    boss.force_login(staff)
    made["staff"] = boss
    return made


@contextmanager
def rolled_back():
    """A savepoint undone afterwards, so a staff POST that deletes or refunds leaves nothing behind for the
    rest of the walk. Marked as Django's TestCase marks its own blocks, so a durable block inside (the
    services tasks call) still runs as it does in the other tests."""
    block = transaction.atomic()
    block._from_testcase = True
    with block:
        yield
        transaction.set_rollback(True)


LINK_KEY = re.compile(r'href="[^"]*\?([^"#]+)"')


def query_keys(html: str) -> set[str]:
    """The query parameters the page's own links use (an admin list's filters, a calendar's months)."""
    keys = set()
    for query in LINK_KEY.findall(html):
        for pair in query.replace("&amp;", "&").split("&"):
            if pair:
                keys.add(pair.split("=", 1)[0])
    return keys


def test_no_url_answers_5xx_whatever_it_is_sent(settings):
    settings.DEBUG = False
    call_command("load_demo_data", stdout=StringIO())
    rng = random.Random(SEED)  # noqa: S311 - a reproducible sample of test values, not a secret
    real_ids = ["1"]
    failures: list[str] = []
    requests = 0

    def check(who: str, method: str, url: str, response) -> None:
        nonlocal requests
        requests += 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {who} {method} {url[:200]!r}")

    walked = routes()
    for who, client in clients().items():
        pages: list[tuple[str, str]] = []  # (url, html) of the pages that answered 200
        for route in walked:
            for values in path_values(route, real_ids, rng):
                url = concrete(route.template, values)
                response = client.get(url)
                check(who, "GET", url, response)
                if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
                    pages.append((url, response.content.decode(errors="replace")))
        seen = set()
        for route_url, html in pages:
            if route_url in seen or "logout" in route_url:
                continue
            seen.add(route_url)
            links = sorted(query_keys(html))
            # the usual query parameters at once, with a NUL and with hostile values; then each parameter
            # the page's own links use (an admin list's filters) alone, with a NUL and a hostile value (an
            # admin list redirects on an unknown parameter, which would hide the others)
            everything = dict.fromkeys(QUERY_KEYS, "\x00")
            check(who, "GET", f"{route_url}?{everything!r}", client.get(route_url, everything))
            usual = {key: rng.choice(HOSTILE) for key in QUERY_KEYS}
            check(who, "GET", f"{route_url}?{usual!r}", client.get(route_url, usual))
            for key in links:
                for value in ("\x00", rng.choice(HOSTILE[:-1])):
                    check(who, "GET", f"{route_url}?{key}={value!r}", client.get(route_url, {key: value}))
            # each form posted back with hostile values
            fields = form_fields(html)
            if fields:
                data = {name: rng.choice(HOSTILE) for name in fields}
                with rolled_back():
                    response = client.post(route_url, data)
                check(who, "POST", f"{route_url} {data!r}", response)

    assert requests > 1500  # the walk really walked
    assert failures == [], f"{len(failures)} of {requests} requests answered 5xx:\n" + "\n".join(failures)
