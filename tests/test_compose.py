"""The production path: docker-compose.yml and the Dockerfile hold together.

There is no Docker engine where the suite runs, so these tests read the files, and check-jsonschema
validates docker-compose.yml against the official Compose Specification schema.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES = {"postgres", "redis", "web", "worker", "beat"}
APP_SERVICES = ("web", "worker", "beat")
BEAT_SCHEDULE = "/tmp/celerybeat-schedule"  # noqa: S108 - inside the container, beat's own


def _services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def _healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def _dockerfile_instructions(name: str) -> list[str]:
    """Arguments of every NAME instruction, with line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.upper().startswith(name + " ")]


def test_compose_defines_exactly_the_five_services():
    # given / when
    services = _services()

    # then
    assert set(services) == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck_command(name):
    # given
    service = _services()[name]

    # when
    test = service.get("healthcheck", {}).get("test")

    # then
    assert test, f"{name} has no healthcheck test"
    assert isinstance(test, str) or (test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_build_the_local_dockerfile_and_wait_for_healthy_backends(name):
    # given
    service = _services()[name]

    # when
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")

    # then
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_production_settings_with_secrets_from_the_environment(name):
    # given
    environment = _services()[name]["environment"]

    # when
    env_file = _services()[name]["env_file"]

    # then
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "@postgres:5432/shop" in environment["DATABASE_URL"]
    assert "redis://redis:6379/0" in environment["REDIS_URL"]
    assert {"path": ".env", "required": False} in env_file


def test_web_migrates_then_serves_and_its_healthcheck_requests_healthz():
    # given
    web = _services()["web"]

    # when
    command = " ".join(web["command"]) if isinstance(web["command"], list) else web["command"]
    healthcheck = _healthcheck_text(web)

    # then
    assert command.index("manage.py migrate --noinput") < command.index("gunicorn config.wsgi:application")
    assert "http://localhost:8000/healthz" in healthcheck
    assert "urllib" in healthcheck  # the slim image has no curl


def test_worker_and_beat_run_celery():
    # given
    services = _services()

    # when
    worker = " ".join(services["worker"]["command"])
    beat = " ".join(services["beat"]["command"])

    # then
    assert worker.startswith("celery -A config worker")
    assert "inspect ping" in _healthcheck_text(services["worker"])
    assert beat.startswith("celery -A config beat")
    assert BEAT_SCHEDULE in beat
    assert BEAT_SCHEDULE in _healthcheck_text(services["beat"])


def test_dockerfile_runs_gunicorn_with_production_settings_as_a_non_root_user():
    # given
    assert DOCKERFILE.is_file()

    # when
    cmd = " ".join(_dockerfile_instructions("CMD") + _dockerfile_instructions("ENTRYPOINT"))
    env = " ".join(_dockerfile_instructions("ENV"))
    users = _dockerfile_instructions("USER")
    runs = " ".join(_dockerfile_instructions("RUN"))

    # then
    assert "gunicorn" in cmd
    assert "config.wsgi:application" in cmd
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env
    assert "SECRET_KEY" not in env  # build-time dummies stay inside their RUN step
    assert users
    assert users[-1].strip() not in {"root", "0"}
    assert "pip install --require-hashes -r requirements/base.lock" in runs
    assert "collectstatic --noinput" in runs


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    # given
    patterns = (ROOT / ".dockerignore").read_text().split()

    # when / then
    assert {".venv", ".local", ".git", ".env"} <= set(patterns)
    assert any("__pycache__" in pattern for pattern in patterns)


def _check_compose_schema(path: Path) -> subprocess.CompletedProcess:
    """Validate with check-jsonschema's vendored copy of the official Compose Specification schema."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip


def test_compose_file_is_valid_against_the_compose_specification():
    # when
    result = _check_compose_schema(COMPOSE_FILE)
    # then
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_compose_file(tmp_path):
    # given the same file with a misspelt key and a wrongly typed value (so the check is known to bite)
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    data["services"]["web"]["healthcheck"]["intervall"] = "5s"
    data["services"]["worker"]["depends_on"] = 42
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data))
    # when
    result = _check_compose_schema(broken)
    # then
    assert result.returncode != 0
    assert "intervall" in result.stdout + result.stderr
