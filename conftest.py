"""Fixtures shared by every app's tests: a real Celery worker, the mailbox it writes to, members."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import time
from email.message import Message
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


class Mailbox:
    """E-mails that the worker process delivered through Django's file backend.

    One worker serves the whole run, so its folder also holds earlier tests' e-mails (in random order, an
    e-mail to the same address may come from any test before): a test's mailbox (`from_now`) reads only
    what was written after it started."""

    separator = "-" * 79

    def __init__(self, directory: Path, offsets: dict[Path, int] | None = None):
        self.directory = directory
        self.offsets = offsets or {}

    def from_now(self) -> Mailbox:
        return Mailbox(self.directory, {path: path.stat().st_size for path in self.directory.glob("*.log")})

    def messages(self) -> list[Message]:
        found = []
        for path in sorted(self.directory.glob("*.log")):
            for chunk in path.read_bytes()[self.offsets.get(path, 0) :].split(self.separator.encode()):
                if chunk.strip():
                    found.append(email.message_from_bytes(chunk.lstrip()))
        return found

    def wait_for(
        self, to: str, *, subject_contains: str = "", body_contains: str = "", timeout: float = 30
    ) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages():
                subject = str(
                    email.header.make_header(email.header.decode_header(message.get("Subject", "")))
                )
                if (
                    to in message.get("To", "")
                    and subject_contains in subject
                    and body_contains in self.body(message)
                ):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no e-mail to {to!r} arrived within {timeout}s")

    @staticmethod
    def body(message: Message) -> str:
        part = message.get_payload(0) if message.is_multipart() else message
        return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _test_database_url() -> str:
    """DATABASE_URL pointing at the test database pytest-django created (test_<name>)."""
    parsed = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(parsed._replace(path="/" + settings.DATABASES["default"]["NAME"]))


@pytest.fixture(autouse=True)
def _shop_language():
    """Every test starts in the shop's language (LANGUAGE_CODE) whatever ran before it in this thread: a
    test-client request leaves the visitor's language active (as Django's LocaleMiddleware does), and the
    tests run in random order (pytest-randomly), so no test may inherit another's."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_storage(tmp_path_factory):
    """Hypothesis keeps what it stores (its cache of the code's constants; the example database is off in
    every test's settings) in a folder of this pytest run, not in a .hypothesis/ folder in the repository."""
    from hypothesis import configuration

    configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    configuration.set_hypothesis_home_dir(None)


@pytest.fixture(scope="session", autouse=True)
def media_root(tmp_path_factory):
    """Stored files (job inputs and results, item images) go to a folder of this pytest run, which pytest
    removes with its old runs; the Celery worker is given the same folder."""
    from django.test import override_settings

    path = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=str(path)):
        yield path


@pytest.fixture(scope="session", autouse=True)
def private_root(tmp_path_factory):
    """Job files (private storage, outside MEDIA_ROOT) go to another folder of this pytest run; the Celery
    worker is given the same folder."""
    from django.test import override_settings

    path = tmp_path_factory.mktemp("private")
    with override_settings(PRIVATE_ROOT=str(path)):
        yield path


@pytest.fixture
def celery_worker(_celery_worker_process) -> Mailbox:
    """The real worker (started once per run) and the e-mails it delivers from this test on."""
    return _celery_worker_process.from_now()


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, tmp_path_factory, media_root, private_root):
    """A real `celery worker` process on the test Redis and the test database.

    Yields the Mailbox the worker's e-mails land in. Tests that use it must be
    `django_db(transaction=True)`, so what they write is committed and visible to the worker.
    """
    from config.celery import app

    mail_dir = tmp_path_factory.mktemp("mail")
    app.control.purge()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _test_database_url(),
        "EMAIL_FILE_PATH": str(mail_dir),
        "MEDIA_ROOT": str(media_root),
        "PRIVATE_ROOT": str(private_root),
    }
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", "pytest@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not app.control.ping(timeout=0.5):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()}")
            yield Mailbox(mail_dir)
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def member_factory(db):
    from members.tests.factories import MemberFactory

    return MemberFactory


@pytest.fixture
def stripe_api(settings):
    """Stripe keys set and the official client pointed at a local HTTP double of Stripe's API (every app's
    tests that reach Stripe: payments, tickets)."""
    from payments.tests.stripe_double import StripeDouble

    with StripeDouble() as double:
        settings.STRIPE_SECRET_KEY = "sk_test_" + "k" * 24
        settings.STRIPE_API_BASE = double.url
        yield double


def pytest_terminal_summary(terminalreporter, config):
    """The seed of the random order (pytest-randomly) at the end of the run too, where a failure is read,
    also under -q, which hides pytest-randomly's own header line."""
    if config.pluginmanager.hasplugin("randomly") and config.getoption("randomly_reorganize"):
        seed = config.getoption("randomly_seed")
        terminalreporter.write_line(
            f"Tests ran in random order, --randomly-seed={seed}; the same order again: "
            f'make test ARGS="--randomly-seed={seed}"'
        )
