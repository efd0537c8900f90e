"""`make run`'s launcher end to end: it serves the member site and the admin, then Ctrl-C stops it all.

It runs scripts/stack.py with the suite's own PostgreSQL and Redis (DATABASE_URL / REDIS_URL are set by
`make test`, so nothing embedded is started twice) on a free port and a queue of its own.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_run_serves_the_site_and_admin_then_ctrl_c_stops_every_process():
    # given the launcher started the way `make run` starts it
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "CELERY_QUEUE": f"stack-test-{port}",
    }
    launcher = subprocess.Popen(
        [sys.executable, "scripts/stack.py", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # when the pages come up
        deadline = time.monotonic() + 120
        while not (_status(f"{base}/") == 200 and _status(f"{base}/admin/login/") == 200):
            assert launcher.poll() is None, launcher.stdout.read()
            assert time.monotonic() < deadline, "the site did not answer within 120 s"
            time.sleep(0.5)
        # then health is reported, and web, worker and beat are all running under the launcher
        assert _status(f"{base}/healthz") == 200
        children = psutil.Process(launcher.pid).children(recursive=True)
        commands = " ".join(" ".join(child.cmdline()) for child in children)
        assert "runserver" in commands
        assert "worker" in commands
        assert "beat" in commands

        # when Ctrl-C reaches the launcher
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:  # the test failed midway: leave no process behind
            for child in psutil.Process(launcher.pid).children(recursive=True):
                child.kill()
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(30)
        launcher.stdout.close()

    # then it exits cleanly, every child is gone, and it had printed the staff login
    assert launcher.returncode == 0, output
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], [child.pid for child in alive]
    assert "staff@example.com" in output
    assert "demo-staff-pass" in output


def _stack_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_browser_tests_chromium_is_the_one_chromium_path_names_or_found_on_the_path(
    monkeypatch, tmp_path
):
    stack = _stack_module()
    binary = tmp_path / "my-chromium"
    binary.write_text("")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "chromium").write_text("#!/bin/sh\n")
    (fake_bin / "chromium").chmod(0o755)

    monkeypatch.setenv("CHROMIUM_PATH", str(binary))
    assert stack.find_chromium() == str(binary)
    assert stack.ensure_chromium() == str(binary)

    monkeypatch.setenv("CHROMIUM_PATH", str(tmp_path / "missing"))
    assert stack.find_chromium() is None
    with pytest.raises(SystemExit, match="not a file"):
        stack.ensure_chromium()  # a wrong path is said, not papered over by an install

    monkeypatch.delenv("CHROMIUM_PATH")
    monkeypatch.setenv("PATH", str(fake_bin))
    assert stack.find_chromium() == str(fake_bin / "chromium")
