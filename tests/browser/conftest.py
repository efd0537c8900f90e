"""Browser tests: Playwright driving Debian's chromium (scripts/stack.py installs it, or CHROMIUM_PATH names
one) against pytest-django's live server, with a real Celery worker where a journey runs a job.

Playwright's sync API runs an asyncio loop in the test's thread, which would make Django refuse the ORM
calls the tests make to set up data and check results; they are ordinary synchronous calls on their own
connection, so that check is switched off for these tests only."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connections

CHROMIUM_FLAGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # nothing beyond localhost is reachable here
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(live_server, monkeypatch):
    """A browser on the live server, started for this test and stopped after it (Playwright's loop must not
    outlive the test: the other tests' ORM calls would be refused), with no cookies and English pages (the
    source strings, so the journeys read the same whatever the translations say).

    Every page runs under the site's Content-Security-Policy; a violation Chromium reports on any page of
    the journey (a refused inline script, style or handler, a form posted elsewhere) fails the test."""
    from playwright.sync_api import sync_playwright

    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("No Chromium for the browser tests: run them with `make test`, or set CHROMIUM_PATH.")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(base_url=live_server.url)
        context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        context.set_default_timeout(20_000)
        violations: list[str] = []

        def watch(page) -> None:
            page.on(
                "console",
                lambda message: (
                    violations.append(f"{page.url}: {message.text}")
                    if "Content Security Policy" in message.text
                    else None
                ),
            )

        context.on("page", watch)
        try:
            yield context.new_page()
            assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)
        finally:
            context.close()
            browser.close()
            # The ORM calls made while Playwright's loop ran had connections of their own (Django keys them
            # by context, not thread, under a running loop): close them, or the test database cannot be
            # dropped at the end.
            connections.close_all()


def log_in(page, *, url: str, email: str, password: str) -> None:
    page.goto(url)
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state()
