"""config.settings.production, loaded the way the containers load it: in a fresh process.

Settings are read once per process, so each case runs Python in a subprocess with an environment built
from scratch for the variables that matter (the test run's own DJANGO_SETTINGS_MODULE never leaks in).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The Stripe keys are required too: without them the test gateway would take card payments.
REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
SETUP = "import django; django.setup()"


def _production_env(**overrides: str | None) -> dict[str, str]:
    """A complete production environment; an override of None removes that variable."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG", *REQUIRED} and not key.startswith("SECURE_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@localhost:5432/shop"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        STRIPE_SECRET_KEY="sk_test_" + "x" * 24,
        STRIPE_WEBHOOK_SECRET="whsec_" + "x" * 24,
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def _setting(expression: str, env: dict[str, str]) -> str:
    result = _run("-c", f"{SETUP}; from django.conf import settings; print({expression})", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("missing", REQUIRED)
def test_production_refuses_to_start_without_a_required_variable(missing):
    # given
    env = _production_env(**{missing: None})

    # when
    result = _run("-c", SETUP, env=env)

    # then
    last_line = result.stderr.splitlines()[-1]
    assert result.returncode != 0
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured")
    assert missing in last_line
    named = {name.strip() for name in last_line.rsplit(":", 1)[1].split(",")}
    assert named == {missing}, last_line


def test_production_treats_a_blank_variable_as_missing():
    # given
    env = _production_env(SECRET_KEY="   ")

    # when
    result = _run("-c", SETUP, env=env)

    # then
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_production_names_every_missing_variable_at_once():
    # given
    env = _production_env(**dict.fromkeys(REQUIRED))

    # when
    result = _run("-c", SETUP, env=env)

    # then
    assert result.returncode != 0
    last_line = result.stderr.splitlines()[-1]
    assert all(name in last_line for name in REQUIRED), last_line


def test_production_passes_the_deployment_checklist():
    # given
    env = _production_env()

    # when
    result = _run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_debug_is_off_even_when_the_environment_turns_it_on():
    # given
    env = _production_env(DEBUG="True")

    # when
    debug = _setting("settings.DEBUG", env)

    # then
    assert debug == "False"


def test_production_sends_the_content_security_policy():
    # given
    env = _production_env()
    request = (
        "from django.test import Client; "
        "response = Client().get('/healthz', secure=True, HTTP_HOST='shop.example.com'); "
        "print(response['Content-Security-Policy'])"
    )

    # when
    result = _run("-c", f"{SETUP}; {request}", env=env)

    # then
    assert result.returncode == 0, result.stderr
    header = result.stdout.strip()
    assert "default-src 'self'" in header
    assert "script-src 'self'" in header
    assert "frame-ancestors 'none'" in header
    assert "form-action 'self' https://checkout.stripe.com" in header
    assert "unsafe-inline" not in header


def test_production_keeps_database_connections_open_by_default():
    # given
    default_env = _production_env(CONN_MAX_AGE=None)
    tuned_env = _production_env(CONN_MAX_AGE="5")

    # when
    default = _setting("settings.DATABASES['default']['CONN_MAX_AGE']", default_env)
    tuned = _setting("settings.DATABASES['default']['CONN_MAX_AGE']", tuned_env)

    # then
    assert default == "60"
    assert tuned == "5"


def test_env_example_documents_every_variable_the_settings_read():
    # given
    read = set()
    for name in ("base.py", "production.py"):
        source = (ROOT / "config" / "settings" / name).read_text()
        read |= set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", source))

    # when
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))

    # then
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= read
    assert read - documented == set()
    assert {"STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"} <= documented
