"""`make run`'s launcher end to end: it serves the member site and the admin, then Ctrl-C stops it all.

It runs scripts/stack.py with the suite's own PostgreSQL and Redis (DATABASE_URL / REDIS_URL are set by
`make test`, so nothing embedded is started twice) on a free port and a queue of its own.
"""

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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
        **{key: value for key, value in os.environ.items() if key != "BIND_ADDRESS"},
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
        # and the development server listens on this machine only (no BIND_ADDRESS given)
        listening = {
            connection.laddr.ip
            for child in children
            for connection in child.net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
        }
        assert listening == {"127.0.0.1"}

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


def test_run_listens_on_127_0_0_1_unless_bind_address_says_otherwise():
    stack = _stack_module()

    assert stack.runserver_address({}) == "127.0.0.1:8000"
    assert stack.runserver_address({"PORT": "9000", "BIND_ADDRESS": " "}) == "127.0.0.1:9000"
    assert stack.runserver_address({"BIND_ADDRESS": "0.0.0.0"}) == "0.0.0.0:8000"  # noqa: S104 - asked for
    assert stack.runserver_address({"BIND_ADDRESS": "::1", "PORT": "8001"}) == "[::1]:8001"


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


# --- every way of stopping the launcher stops what it started ---------------------------------------------

STACK = ROOT / "scripts" / "stack.py"
LAUNCHER_UP_TIMEOUT = 60
LAUNCHER_STOP_TIMEOUT = 30


@pytest.fixture(scope="module")
def services_dir():
    """One data folder for the four runs below, so PostgreSQL's initdb happens once; it is not .local/, which
    a developer's `make services` may be using. A folder of its own under the system's temporary folder, as
    `make test` makes: PostgreSQL runs as another user when we are root, and cannot enter pytest's folders."""
    folder = Path(tempfile.mkdtemp(prefix="shop-stack-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _processes_of(folder: Path) -> list[psutil.Process]:
    """The servers started for `folder`, and their children: postgres names it on its command line (-D …);
    redis-server renames itself to its address, but works in it (--dir …)."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline", "cwd"]):
        if str(folder) in " ".join(process.info["cmdline"] or ()) or (process.info["cwd"] or "").startswith(
            str(folder)
        ):
            found[process.pid] = process
            with contextlib.suppress(psutil.Error):
                found.update((child.pid, child) for child in process.children(recursive=True))
    return list(found.values())


def _read_lines(stream, lines: queue.Queue) -> None:
    # The stream is closed here, at its end, not by the test: closing it while this thread reads would block
    # until every process holding the pipe (an orphaned Redis too) has gone.
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _ignore_sigint() -> None:
    # What a shell does to a command it starts in the background (`make services &`).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "background"),
    [
        pytest.param(signal.SIGINT, False, id="SIGINT"),
        pytest.param(signal.SIGINT, True, id="SIGINT-to-a-background-launcher"),
        pytest.param(signal.SIGTERM, False, id="SIGTERM"),
        pytest.param(signal.SIGHUP, False, id="SIGHUP"),
    ],
)
def test_every_way_of_stopping_the_launcher_stops_postgres_and_redis(signum, background, services_dir):
    # given `stack.py services` with its own PostgreSQL and Redis (not the suite's), in a session of its own
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env["STACK_LOCAL_DIR"] = str(services_dir)
    launcher = subprocess.Popen(
        [sys.executable, str(STACK), "services"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_ignore_sigint if background else None,
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(launcher.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + LAUNCHER_UP_TIMEOUT
        while not any("Services are up" in line for line in output):
            assert time.monotonic() < deadline, "".join(output)
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=0.5)
                assert line is not None, "".join(output)  # the launcher ended before it was up
                output.append(line)
        started = _processes_of(services_dir)
        commands = " ".join(" ".join(process.cmdline()) for process in started)
        assert "postgres" in commands, commands
        assert "redis-server" in commands, commands

        # when the signal reaches the launcher
        launcher.send_signal(signum)
        launcher.wait(LAUNCHER_STOP_TIMEOUT)
    finally:
        # the test failed midway (or the launcher orphaned its servers): leave no process behind
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(10)
        orphans = _processes_of(services_dir)
        for orphan in orphans:
            with contextlib.suppress(psutil.Error):
                orphan.terminate()
        _, still = psutil.wait_procs(orphans, timeout=10)
        for orphan in still:
            with contextlib.suppress(psutil.Error):
                orphan.kill()
        reader.join(10)

    # then PostgreSQL and Redis are gone, and the launcher said so and ended without an error
    assert orphans == [], [" ".join(process.cmdline()) for process in orphans if process.is_running()]
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], [process.pid for process in alive]
    assert launcher.returncode == 0, "".join(output)
