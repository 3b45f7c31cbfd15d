"""Starts, watches and stops the three processes of the assistant.

`make run` uses :func:`main`; the end-to-end tests use :class:`Stack` directly to start the
same real processes on free ports. The module only needs the standard library and httpx,
so it runs in the app environment and starts the Rasa server from the Rasa environment's
own interpreter, exactly as two containers would run side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import enum
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

import httpx

from bot.action_server import SECRET_ENV_VAR as ACTION_SECRET_ENV_VAR
from bot.action_server import SECRET_HEADER as ACTION_SECRET_HEADER
from bot.config import PROJECT_ROOT, VAR_DIR, Settings, env_file_values, get_settings
from bot.mail.worker import LOCAL_SMTP_PORT, local_smtp_url
from bot.secret_rules import generate_secret, redact
from bot.shops import resolve_store, shop_ids

logger = logging.getLogger(__name__)

RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
#: `python -m` this module is `rasa` with the project's fixes to Rasa 3.6 (bot/rasa_ext/cli.py).
RASA_FIXES_MODULE = "bot.rasa_ext.cli"
APP_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
#: `python -m` this module: rasa-sdk's action server behind a shared secret (bot/action_server.py).
ACTION_SERVER_MODULE = "bot.action_server"
DEFAULT_MODEL = PROJECT_ROOT / "models" / "bot.tar.gz"
LOG_DIR = VAR_DIR / "log"


class StackError(RuntimeError):
    """A process of the stack could not be started or did not become healthy."""


class PortInUseError(StackError):
    """A port the stack needs is already taken by another program."""


class ServiceState(enum.Enum):
    """Where a supervised service is."""

    STOPPED = "stopped"
    STARTING = "starting"  # spawned, not answering its health check yet
    RUNNING = "running"
    BACKOFF = "backoff"  # crashed, waiting to be restarted


@dataclass
class Service:
    """One process of the stack: how to start it and how to know it is ready."""

    name: str
    argv: Sequence[str]
    port: int
    health_path: str
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 180.0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log_file: IO[bytes] | None = None
    # Supervision (Stack.watch): the process group, the state, recent crash times.
    pgid: int | None = None
    state: ServiceState = field(default_factory=lambda: ServiceState.STOPPED)
    crashes: list[float] = field(default_factory=list)
    next_start: float = 0.0
    start_deadline: float = 0.0
    # time.monotonic() when it was last spawned.
    spawned_at: float = 0.0
    unanswered_since: float | None = None
    # The CPU seconds its process group had used when it stopped answering.
    unanswered_cpu_s: float = 0.0
    next_check: float = 0.0
    # time.monotonic() when it last became ready (after a start or a restart).
    ready_at: float = 0.0
    # Whether the processes it forked before becoming ready are workers it cannot do without
    # (Sanic's manager and its worker): one of them dying is a crash of the whole service.
    # False for a service whose children come and go (the gateway's e-mail child per mail).
    watch_workers: bool = False
    # The worker processes seen when it last became ready (watch_workers).
    workers: frozenset[int] = field(default_factory=frozenset)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tells whether nothing listens on `host:port` (a bind attempt, not a connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


#: Where :func:`free_port` draws ports: below the kernel's ephemeral range (from 10000 up).
FREE_PORTS_FROM = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()
_ports_lock = threading.Lock()
_port_random = random.SystemRandom()


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free right now, for a server a test or benchmark starts on the loopback.

    Drawn at random below the kernel's ephemeral range (10000 to 32767 on Linux's default):
    the source port of any outgoing connection on this machine comes from that range, and one
    could take a port handed out here before the server binds it (Rasa binds only once its
    model is loaded, a minute or more on a busy machine); the OS's own pick (bind to port 0)
    comes from the same range. Never the same port twice in one process, and checked free.
    Falls back to the OS's pick when the ephemeral range leaves no room below it.
    """
    start = _ephemeral_start()
    with _ports_lock:
        if start - FREE_PORTS_FROM >= 1000:
            for _ in range(200):
                port = _port_random.randrange(FREE_PORTS_FROM, start)
                if port not in _handed_out and port_is_free(port):
                    _handed_out.add(port)
                    return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port


def write_endpoints(
    path: Path,
    *,
    action_port: int,
    tracker_db: Path | None,
    action_secret: str,
    answer_port: int | None = None,
    answer_token: str | None = None,
) -> Path:
    """Writes a Rasa endpoints file pointing at the given action server and tracker store.

    Tests and `make run` with non-default ports need one; the committed `endpoints.yml`
    holds the defaults for a plain `rasa run` or `rasa shell`. `action_secret` is the shared
    secret Rasa sends the action server in every call (header `X-Action-Secret`, see
    bot/action_server.py). `answer_port` is the answer service (Rasa's NLG endpoint,
    bot/answers/service.py), which renders every text: without it Rasa has no text to send.
    The file holds secrets: only its owner may read it.
    """
    lines = [
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f'  headers:\n    {ACTION_SECRET_HEADER}: "{action_secret}"\n'
    ]
    if answer_port is not None:
        token = f'\n  token: "{answer_token}"' if answer_token else ""
        lines.append(f'nlg:\n  url: "http://127.0.0.1:{answer_port}/nlg"{token}\n')
    if tracker_db is not None:
        lines.append(f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tracker_db}"\n')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def rasa_service(
    *,
    port: int,
    endpoints: Path,
    model: Path = DEFAULT_MODEL,
    env: Mapping[str, str] | None = None,
    auth_token: str | None = None,
    name: str = "Rasa server",
    rasa_fixes: bool = True,
) -> Service:
    """The Rasa server (NLU + dialogue) with its HTTP API enabled.

    `auth_token` protects the HTTP API (`--auth-token`, the production profile); the health
    check then sends it, since Rasa's /status is part of that API. `name` tells several Rasa
    servers of one stack apart in messages (`make scale-demo`). `rasa_fixes` (the default)
    starts it as `python -m bot.rasa_ext.cli run ...`: Rasa's own command line with the
    project's fixes to Rasa 3.6 installed first (bot/rasa_ext: the action answers' schema
    compiled once, a write-ahead log for the SQLite tracker store); `make bench` measures
    both ways. False starts the stock `rasa run`.
    """
    command = [str(RASA_PYTHON), "-m", RASA_FIXES_MODULE] if rasa_fixes else [str(RASA_BIN)]
    argv = [
        *command,
        "run",
        "--enable-api",
        "--model",
        str(model),
        "--port",
        str(port),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(PROJECT_ROOT / "credentials.yml"),
        "--interface",
        "127.0.0.1",
    ]
    health_path = "/status"
    service_env = dict(env or {})
    if auth_token:
        if rasa_fixes:
            # Through the environment: bot.rasa_ext.cli hands it to Rasa inside the process, so
            # the token is not on the command line other local users can read (`ps`).
            service_env["RASA_TOKEN"] = auth_token
        else:
            # One argument (the token may start with "-"); stock `rasa run` (make bench's A/B).
            argv.append(f"--auth-token={auth_token}")
        health_path += "?" + urlencode({"token": auth_token})
    return Service(name, argv, port, health_path, env=service_env, ready_timeout_s=240)


def action_secret() -> str:
    """The shared secret of one run's action server (ACTION_SERVER_SECRET when set)."""
    return os.environ.get(ACTION_SECRET_ENV_VAR) or generate_secret()


def action_service(
    *,
    port: int,
    secret: str,
    env: Mapping[str, str] | None = None,
    name: str = "action server",
) -> Service:
    """The action server serving `actions/` on the loopback (bot/action_server.py: rasa-sdk
    behind the shared `secret` Rasa sends, and a body cap)."""
    argv = [str(APP_PYTHON), "-m", ACTION_SERVER_MODULE, "--actions", "actions"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    env = {**(env or {}), ACTION_SECRET_ENV_VAR: secret}
    # Sanic serves in a worker process its main process forks: a dead worker leaves the port
    # bound by the main process and nobody answering, so the supervisor watches the worker.
    return Service(name, argv, port, "/health", env=env, ready_timeout_s=60, watch_workers=True)


def answer_service(
    *, port: int, env: Mapping[str, str] | None = None, name: str = "answer service"
) -> Service:
    """The answer service: Rasa's NLG endpoint, every text from data/stores (bot/answers)."""
    argv = [str(APP_PYTHON), "-m", "bot.answers.service", "--port", str(port)]
    return Service(name, argv, port, "/health", env=dict(env or {}), ready_timeout_s=60)


def rasa_token(var_dir: Path = VAR_DIR, preset: str | None = None) -> str:
    """The Rasa API token of one `make run` (RASA_TOKEN of the settings, `.env` included,
    when set; else a new one).

    Written to `var/rasa-token` (its owner only), for whoever calls Rasa's HTTP API by hand:
    ``curl "http://localhost:5005/status?token=$(cat var/rasa-token)"``.
    """
    token = preset or generate_secret()
    path = var_dir / "rasa-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return token


def answer_token() -> str:
    """A token for one run's answer service (ANSWER_SERVICE_TOKEN when set)."""
    # generate_secret: what the production profile accepts (a bare token_urlsafe may, rarely,
    # spell a placeholder word the answer service refuses there).
    return os.environ.get("ANSWER_SERVICE_TOKEN") or generate_secret()


def gateway_service(
    *, port: int, env: Mapping[str, str] | None = None, name: str = "gateway"
) -> Service:
    """The FastAPI gateway (widget, chat proxy, e-mail webhook)."""
    argv = [
        str(APP_PYTHON),
        "-m",
        "uvicorn",
        "bot.api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        # uvicorn would believe X-Forwarded-For from 127.0.0.1: the app decides alone, from
        # TRUSTED_PROXIES (bot/api/middleware.py).
        "--no-proxy-headers",
    ]
    return Service(name, argv, port, "/health", env=dict(env or {}), ready_timeout_s=60)


class Stack:
    """Runs a set of services and supervises them; stops them all on exit, whatever happened.

    * Each service runs in its own process group (``start_new_session``), so stopping it
      reaches everything it forked: Sanic's and multiprocessing's workers included.
    * :meth:`watch` supervises: a service that exits (or whose process group is killed) is
      restarted with a back-off (1, 2, 4... seconds, at most ``backoff_max_s``), and the
      console says so; what is left of its old process group (a Sanic worker still holding
      the port) is stopped first. A service that crashes more than ``max_restarts`` times in
      ``restart_window_s`` seconds stops the whole stack, with the end of its log.
    * A service that loses one of its workers (``watch_workers``: the action server's Sanic
      worker, whose death leaves the port bound by the main process and unanswered) is
      restarted the same way, at once.
    * A service that stops answering its health check (frozen: SIGSTOP, a dead lock) for
      ``hang_after_s`` seconds in a row (one look every ``check_every_s`` seconds, each
      given ``hang_after_s / 3`` seconds at most) is killed and restarted the same way.
      `make scale-demo` uses half the Rasa lock lifetime (devstack/scale.py): a frozen Rasa
      server is killed before the tickets it holds expire, so that its turns, retried by
      nginx on another server, wait no longer than they would for a dead one.
    * :meth:`stop` signals every process group, waits for every process of it (not only the
      one it started), and kills what lingers; it is idempotent, and the console's signals
      (Ctrl-C, SIGTERM: ``make`` forwards its own, so two arrive) are held back while it runs,
      so a second signal never interrupts it half-way and never orphans anything.
    """

    def __init__(
        self,
        services: Sequence[Service],
        log_dir: Path = LOG_DIR,
        *,
        max_restarts: int = 5,
        restart_window_s: float = 300.0,
        backoff_max_s: float = 30.0,
        hang_after_s: float = 20.0,
        check_every_s: float = 2.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.services = list(services)
        self.log_dir = log_dir
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.backoff_max_s = backoff_max_s
        self.hang_after_s = hang_after_s
        self.check_every_s = check_every_s
        self._say = say or _say_on_stderr
        self._stopping = False
        self._lock = threading.RLock()

    def check_ports(self) -> None:
        """Fails with one clear sentence when a port is taken."""
        for service in self.services:
            if not port_is_free(service.port):
                raise PortInUseError(
                    f"Port {service.port} for the {service.name} is already in use: stop the "
                    f"program using it (`ss -ltnp | grep :{service.port}`) or choose another port."
                )

    def start(self) -> None:
        """Starts every service, then waits until each answers its health check."""
        self.check_ports()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        for service in self.services:
            self._spawn(service)
        started = time.monotonic()
        for service in self.services:
            self._wait_ready(service, started)
            self._now_running(service)

    def start_service(self, service: Service) -> None:
        """(Re)starts one service of this stack, stopped or dead, and waits until it is ready."""
        with self._lock:
            if service.process is not None and service.process.poll() is None:
                return
            self._end_group(service)
            self._spawn(service)
        self._wait_ready(service, time.monotonic())
        self._now_running(service)

    @staticmethod
    def _now_running(service: Service) -> None:
        """Marks a service ready, noting its workers (watch_workers) to watch them."""
        service.state = ServiceState.RUNNING
        service.ready_at = time.monotonic()
        service.unanswered_since = None
        leader = service.process.pid if service.process is not None else None
        if service.watch_workers and service.pgid is not None:
            service.workers = frozenset(p for p in group_members(service.pgid) if p != leader)
        else:
            service.workers = frozenset()

    @staticmethod
    def lost_workers(service: Service) -> list[int]:
        """The workers noted when the service became ready that have died since."""
        return sorted(pid for pid in service.workers if not _alive(pid))

    def _spawn(self, service: Service) -> None:
        slug = service.name.replace(" ", "-")
        service.log_path = self.log_dir / f"{slug}-{service.port}.log"
        if service._log_file is not None:
            service._log_file.close()
        service._log_file = service.log_path.open("ab")
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **service.env}
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # (Signals are not held back here: a child inherits the signal mask, and a service
        # must get the SIGTERM that stops it. A signal between the fork and the bookkeeping
        # is covered by serve(), which stops any process group it started.)
        service.process = subprocess.Popen(  # noqa: S603 - fixed argv built above
            list(service.argv),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=service._log_file,
            stderr=subprocess.STDOUT,
            # Own process group: Ctrl-C in the terminal reaches us once, and we stop each
            # service (and anything it forked) ourselves.
            start_new_session=True,
        )
        service.pgid = service.process.pid
        service.spawned_at = time.monotonic()
        service.state = ServiceState.STARTING
        service.unanswered_since = None
        logger.info(
            "started %s (pid %s), log %s", service.name, service.process.pid, service.log_path
        )

    def _wait_ready(self, service: Service, started: float) -> None:
        """Waits until ``service`` (spawned at ``started``) answers its health check.

        It may take ``ready_timeout_s`` on a quiet machine, and as many times longer as the
        machine is busier than its cores (:func:`load_factor`, the highest seen while waiting):
        under a load average of 14 on 2 cores, a process gets a seventh of the CPU it would
        get, and a fixed timeout failed there while the process was still loading.
        """
        assert service.process is not None
        url = service.base_url + service.health_path
        factor = load_factor()
        with httpx.Client(timeout=2.0) as client:
            # At least one check: the services are waited for in turn, so a fast one's
            # deadline may pass while a slow one (Rasa loading its model) is still starting.
            first = True
            while first or time.monotonic() < started + service.ready_timeout_s * factor:
                first = False
                factor = max(factor, load_factor())
                code = service.process.poll()
                if code is not None:
                    raise StackError(
                        f"The {service.name} exited with code {code} while starting; "
                        f"see {service.log_path}:\n{tail(service.log_path)}"
                    )
                if self._answers(client, service):
                    return
                time.sleep(0.5)
        raise StackError(
            f"The {service.name} did not answer {redact(url)} in time: "
            f"{startup_diagnostics(service, started, factor)}; see {service.log_path}:\n"
            f"{tail(service.log_path)}"
        )

    def _answers(self, client: httpx.Client, service: Service) -> bool:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = client.get(service.base_url + service.health_path)
            return response.status_code == 200 and self._is_ready(service, response)
        return False

    @staticmethod
    def _is_ready(service: Service, response: httpx.Response) -> bool:
        if service.health_path.partition("?")[0] == "/status":
            # Rasa answers /status before the model is loaded; ready means a model is there.
            return bool(response.json().get("model_file"))
        return True

    # --- stopping ----------------------------------------------------------------------------

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stops every service: SIGTERM to each process group, SIGKILL to what lingers.

        Waits until no process of any group is left (the services' own children included),
        reaping the orphans this process adopted (see :func:`become_subreaper`). Safe to
        call again, and from a `finally` after a signal: the console's signals wait until it
        is done.
        """
        with _signals_held(), self._lock:
            self._stopping = True
            groups = [s.pgid for s in self.services if s.pgid is not None]
            for pgid in groups:
                _signal_group(pgid, signal.SIGTERM)
            self._wait_groups_gone(groups, time.monotonic() + timeout_s)
            leftover = [pgid for pgid in groups if group_members(pgid)]
            for pgid in leftover:
                _signal_group(pgid, signal.SIGKILL)
            self._wait_groups_gone(leftover, time.monotonic() + 10.0)
            for service in self.services:
                if service.process is not None and service.process.poll() is None:
                    service.process.kill()  # outside its group? (never: belt and braces)
                    service.process.wait(timeout=5)
                if service._log_file is not None:
                    service._log_file.close()
                    service._log_file = None
                service.process = None
                service.pgid = None
                service.state = ServiceState.STOPPED

    def _wait_groups_gone(self, groups: Sequence[int], deadline: float) -> None:
        while True:
            for service in self.services:
                if service.process is not None:
                    service.process.poll()  # reaps our own child when it exited
            reap_adopted(self._own_pids())
            if not any(group_members(pgid) for pgid in groups):
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def _own_pids(self) -> set[int]:
        return {s.process.pid for s in self.services if s.process is not None}

    def _end_group(self, service: Service, grace_s: float = 5.0) -> None:
        """Stops what is left of a service's process group (its workers, after a crash):
        SIGTERM, then SIGKILL after `grace_s` seconds (at once when 0: a hung service, which
        would not act on SIGTERM)."""
        pgid = service.pgid
        if pgid is None:
            return
        if service.process is not None:
            service.process.poll()
        if group_members(pgid) and grace_s > 0:
            _signal_group(pgid, signal.SIGTERM)
            self._wait_groups_gone([pgid], time.monotonic() + grace_s)
        if group_members(pgid):
            _signal_group(pgid, signal.SIGKILL)
            self._wait_groups_gone([pgid], time.monotonic() + 10.0)
        if service.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=5)
        service.pgid = None

    # --- supervising ------------------------------------------------------------------------

    def dead_services(self) -> list[Service]:
        """The services whose process has exited."""
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def watch(self, poll_s: float = 0.5, *, until: threading.Event | None = None) -> int:
        """Supervises the services until `until` is set (returns 0) or one keeps crashing
        (prints why with its log's end and returns 1; the caller stops the stack).

        KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it) goes through to the caller.
        """
        with httpx.Client(timeout=min(10.0, self.hang_after_s / 3)) as client:
            while until is None or not until.is_set():
                for service in self.services:
                    if self._stopping:
                        return 0
                    failed = self.supervise(service, client)
                    if failed is not None:
                        self._say(failed)
                        return 1
                reap_adopted(self._own_pids())
                if until is not None:
                    until.wait(poll_s)
                else:
                    time.sleep(poll_s)
        return 0

    def supervise(self, service: Service, client: httpx.Client) -> str | None:
        """One look at one service; returns the reason to give up on the stack, if any."""
        with self._lock:
            if self._stopping or service.process is None:
                return None
            now = time.monotonic()
            state = service.state
            if state is ServiceState.BACKOFF:
                if now >= service.next_start:
                    self._end_group(service)
                    self._spawn(service)
                    service.start_deadline = now + service.ready_timeout_s * load_factor()
                return None
            code = service.process.poll()
            if code is not None:
                return self._crashed(service, f"exited with code {code}")
            lost = self.lost_workers(service) if state is ServiceState.RUNNING else []
            if lost:
                # Its main process lives on, holding the port, and nobody answers there: ended
                # at once (SIGKILL), like a hung one, so that the port refuses connections
                # (Rasa's calls then wait for the restart) instead of queueing them unanswered.
                return self._crashed(
                    service,
                    f"lost its worker process (pid {', '.join(map(str, lost))})",
                    hung=True,
                )
            if state is ServiceState.STARTING:
                if self._answers(client, service):
                    self._now_running(service)
                    self._say(
                        f"The {service.name} is back (pid {service.process.pid}, "
                        f"restart {len(service.crashes)})."
                    )
                elif now > service.start_deadline:
                    # The load may have risen since the restart: the deadline moves with it.
                    factor = load_factor()
                    late = service.spawned_at + service.ready_timeout_s * factor
                    if now <= late:
                        service.start_deadline = late
                        return None
                    return self._crashed(
                        service,
                        "did not become ready in time "
                        f"({startup_diagnostics(service, service.spawned_at, factor, now)})",
                    )
                return None
        # Running: is it still answering? (outside the lock: the check may take seconds)
        if now < service.next_check:
            return None
        service.next_check = now + self.check_every_s
        if self._answers(client, service):
            service.unanswered_since = None
            return None
        with self._lock:
            if self._stopping or service.state is not ServiceState.RUNNING:
                return None
            if service.process is not None and service.process.poll() is not None:
                return self._crashed(service, f"exited with code {service.process.returncode}")
            if service.unanswered_since is None:
                service.unanswered_since = now
                service.unanswered_cpu_s = cpu_seconds(service.pgid or 0)
                return None
            working = cpu_seconds(service.pgid or 0) - service.unanswered_cpu_s
            why = hang_verdict(
                now - service.unanswered_since, working, self.hang_after_s, load_factor()
            )
            if why is None:
                return None
            return self._crashed(service, why, hung=True)
        return None

    def _crashed(self, service: Service, why: str, *, hung: bool = False) -> str | None:
        now = time.monotonic()
        service.crashes = [t for t in service.crashes if now - t < self.restart_window_s]
        service.crashes.append(now)
        count = len(service.crashes)
        # Stop the rest of it now: the workers still holding its port; a hung service at
        # once (SIGKILL), so that its connections close and a balancer retries them.
        self._end_group(service, grace_s=0 if hung else 5.0)
        if count > self.max_restarts:
            return (
                f"The {service.name} {why} and keeps crashing ({count} times in "
                f"{self.restart_window_s:.0f} s): stopping everything. The end of its log "
                f"({service.log_path}):\n{tail(service.log_path)}"
            )
        delay = min(self.backoff_max_s, 2.0 ** (count - 1))
        service.state = ServiceState.BACKOFF
        service.next_start = now + delay
        self._say(
            f"The {service.name} {why}; restarting it in {delay:g} s (restart {count}, at "
            f"most {self.max_restarts} in {self.restart_window_s:.0f} s). Log: {service.log_path}"
        )
        return None

    def supervise_in_background(self, poll_s: float = 0.5) -> Supervisor:
        """Runs :meth:`watch` in a thread (tests; the scale benchmark); stop it with
        ``.stop()``."""
        return Supervisor(self, poll_s)

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        """Context manager: started on entry, stopped on exit."""
        try:
            self.start()
            yield self
        finally:
            self.stop()


class Supervisor:
    """:meth:`Stack.watch` in a background thread."""

    def __init__(self, stack: Stack, poll_s: float) -> None:
        self.stack = stack
        self._until = threading.Event()
        self.result: int | None = None
        self._thread = threading.Thread(
            target=self._run, args=(poll_s,), name="stack-supervisor", daemon=True
        )
        self._thread.start()

    def _run(self, poll_s: float) -> None:
        self.result = self.stack.watch(poll_s, until=self._until)

    def stop(self) -> int | None:
        """Stops supervising (the services keep running); returns watch()'s result."""
        self._until.set()
        self._thread.join(timeout=60)
        return self.result


def _say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- process groups, orphans, signals ---------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Makes this process adopt its descendants' orphans (Linux ``PR_SET_CHILD_SUBREAPER``).

    A service's worker whose parent died (Sanic's manager killed) is then reparented to the
    stack, not to init: :func:`reap_adopted` collects it once it exits, and :meth:`Stack.stop`
    finds it by its process group whatever happened to its parent.

    Returns:
        Whether the kernel accepted it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process from /proc, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


#: A service may take at most this many times its quiet-machine readiness time.
MAX_LOAD_FACTOR = 10.0
#: A service that stopped answering but used at least this share of one core meanwhile is
#: working (slow under load), not hung: a frozen or dead-locked process uses none.
BUSY_CPU_SHARE = 0.05


def hang_verdict(silent_s: float, cpu_s: float, hang_after_s: float, factor: float) -> str | None:
    """Why a running service counts as hung (what the console says), or None: not hung yet.

    `silent_s`: how long its health check has gone unanswered; `cpu_s`: the CPU seconds its
    process group used meanwhile; `factor`: :func:`load_factor` now.

    A frozen (SIGSTOP) or dead-locked process uses no CPU: it is hung after `hang_after_s`.
    One that keeps working (at least :data:`BUSY_CPU_SHARE` of a core) is slow on a busy
    machine (50 turns at once under a load of 14): it gets the same allowance as a start-up
    (`hang_after_s` x the load factor) before it counts as hung, instead of being killed with
    the turns it is working on.
    """
    if silent_s < hang_after_s:
        return None
    if cpu_s < BUSY_CPU_SHARE * silent_s:
        return f"did not answer its health check for {hang_after_s:.0f} s"
    if silent_s < hang_after_s * factor:
        return None
    return (
        f"did not answer its health check for {silent_s:.0f} s while working "
        f"({cpu_s:.1f} s of CPU, load average {os.getloadavg()[0]:.1f})"
    )


def load_factor() -> float:
    """How many times busier than its cores the machine is (the 1-minute load average per
    core), at least 1 and at most :data:`MAX_LOAD_FACTOR`: how much longer a start-up takes."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1.0
    return min(MAX_LOAD_FACTOR, max(1.0, load / (os.cpu_count() or 1)))


def cpu_seconds(pgid: int) -> float:
    """The CPU time (user + system) the live processes of a process group have used."""
    ticks = os.sysconf("SC_CLK_TCK") or 100
    total = 0
    for pid in group_members(pgid):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(") ", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


def startup_diagnostics(
    service: Service, started: float, factor: float, now: float | None = None
) -> str:
    """What a start-up that timed out tells: how long it waited and why that long, the
    machine's load, and the CPU the process got meanwhile (little CPU: a starved process,
    not a stuck one)."""
    now = time.monotonic() if now is None else now
    try:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        load = "unknown"
    cpu = cpu_seconds(service.pgid) if service.pgid is not None else 0.0
    return (
        f"waited {now - started:.0f} s ({service.ready_timeout_s:.0f} s on a quiet machine, "
        f"x{factor:.1f} for the load), load average {load} on {os.cpu_count()} cores, "
        f"the process used {cpu:.1f} s of CPU"
    )


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _alive(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    members = []
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[2] == pgid and stat[0] != "Z":
            members.append(pid)
    return members


def reap_adopted(own: set[int]) -> list[int]:
    """Collects the exited orphans this process adopted (not the children it started, whose
    exit codes their Popen objects read)."""
    me = os.getpid()
    reaped = []
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is None or stat[1] != me or stat[0] != "Z" or pid in own:
            continue
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
            reaped.append(pid)
    return reaped


def stop_own_groups(grace_s: float = 5.0) -> None:
    """Stops every process group this process started as a child (`make run`'s last word).

    Only for a process whose children are all its stack's services: it catches a service
    spawned in the instant a signal arrived, before the stack recorded it.
    """
    me = os.getpid()
    groups = []
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[1] == me and stat[2] == pid and stat[0] != "Z":
            groups.append(pid)
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(group_members(pgid) for pgid in groups) and time.monotonic() < deadline:
        reap_adopted(set())
        time.sleep(0.05)
    for pgid in groups:
        if group_members(pgid):
            _signal_group(pgid, signal.SIGKILL)
    reap_adopted(set())


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Holds the console's signals back for the block (main thread only); they are delivered
    when it ends, to handlers that then know the stack is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ShutdownSignals:
    """The console's SIGINT/SIGTERM/SIGHUP for a foreground stack (``make run``...).

    The first signal raises KeyboardInterrupt (the caller's ``finally`` stops the stack); any
    later one only says it is stopping already: ``make`` forwards the SIGTERM it gets, so the
    stack gets two, and the second must not interrupt :meth:`Stack.stop`.
    """

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> ShutdownSignals:
        for signum in _HELD_SIGNALS:
            signal.signal(signum, self._handle)
        return self

    def stopping(self) -> None:
        """From now on signals are only acknowledged (the stack is being stopped)."""
        self.requested = True

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested:
            return
        self.requested = True
        raise KeyboardInterrupt


def tail(path: Path | None, lines: int = 25) -> str:
    """The last lines of a log file, for error messages."""
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("    " + line for line in text[-lines:])


def local_mail(settings: Settings) -> dict[str, str]:
    """Without SMTP_URL (local profile), the gateway runs an SMTP catcher and sends through it.

    The mail then stays on this machine, in the demo mailbox (/mailbox): see
    bot/console/mailcatcher.py.
    """
    url = local_smtp_url(settings)
    if url is None:
        return {}
    return {"SMTP_URL": url, "LOCAL_SMTP_PORT": str(settings.local_smtp_port or LOCAL_SMTP_PORT)}


def default_stack(*, store: str | None = None, var_dir: Path = VAR_DIR) -> Stack:
    """The stack `make run` starts, on the configured ports.

    `var_dir` holds the endpoints file, the tracker store and the logs (`var/`; the tests
    give each run its own).
    """
    settings = get_settings()
    # Every process gets the settings of `.env` in its environment: Rasa's NLU reads
    # DEFAULT_STORE and STORES_DIR from there only (it has no settings class).
    extra = {**env_file_values(), "DEFAULT_STORE": resolve_store(store, settings.default_store)}
    if var_dir != VAR_DIR:
        extra["TRACKER_STORE_URL"] = f"sqlite:///{var_dir / 'rasa-tracker.db'}"
    mail = local_mail(settings)
    token = answer_token()
    # The action server's secret and Rasa's API token, new each run (or from the environment).
    secret, api_token = action_secret(), rasa_token(var_dir, settings.rasa_token)
    endpoints = write_endpoints(
        var_dir / "endpoints.yml",
        action_port=settings.action_server_port,
        tracker_db=var_dir / "rasa-tracker.db",
        action_secret=secret,
        answer_port=settings.answer_service_port,
        answer_token=token,
    )
    return Stack(
        [
            action_service(port=settings.action_server_port, secret=secret, env=extra),
            answer_service(
                port=settings.answer_service_port,
                env={**extra, "ANSWER_SERVICE_TOKEN": token},
            ),
            # Rasa's HTTP API needs this run's token; the gateway (and its mail worker) send it.
            rasa_service(
                port=settings.rasa_port, endpoints=endpoints, env=extra, auth_token=api_token
            ),
            # The gateway talks to the Rasa server this stack starts, whatever RASA_URL says.
            gateway_service(
                port=settings.gateway_port,
                env={
                    **extra,
                    **mail,
                    "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}",
                    "RASA_TOKEN": api_token,
                },
            ),
        ],
        log_dir=var_dir / "log",
    )


def banner(settings: Settings, var_dir: Path = VAR_DIR) -> str:
    """What `make run` prints once the stack is ready: where everything is."""
    gateway = f"http://localhost:{settings.gateway_port}"
    mail = local_mail(settings)
    mail_line = (
        f"  Demo mailbox:         {gateway}/mailbox  (mail stays here: local SMTP catcher on "
        f"127.0.0.1:{mail['LOCAL_SMTP_PORT']})\n"
        if mail
        else "  E-mail replies:       through SMTP_URL\n"
    )
    return (
        f"  Chat in the browser:  {gateway}/\n"
        f"  Support console:      {gateway}/console\n"
        "                        first account: `make user` in another terminal (an admin of\n"
        "                        `all` shops), then sign in there; more accounts on its\n"
        "                        Accounts page\n"
        f"{mail_line}"
        f"  Rasa REST channel:    http://localhost:{settings.rasa_port}/webhooks/rest/webhook\n"
        f"  Rasa HTTP API:        http://localhost:{settings.rasa_port}/status?token=... "
        f"(this run's token: {var_dir / 'rasa-token'})\n"
        f"  Action server:        http://localhost:{settings.action_server_port}/health "
        "(internal: answers Rasa's calls only)\n"
        f"  Answer service:       http://localhost:{settings.answer_service_port}/nlg "
        "(texts: data/stores/<shop>/texts.yml, live on the next turn)\n"
        f"  Logs:                 {var_dir / 'log'}/\n"
        "A process that crashes or hangs is restarted; press Ctrl-C to stop."
    )


def run(store: str | None, var_dir: Path = VAR_DIR) -> int:
    """Runs and supervises the stack in the foreground until a signal; returns the exit code.

    A crashed process is restarted (see :class:`Stack`); one that keeps crashing stops
    everything with exit code 1. Ctrl-C, SIGTERM or SIGHUP stop everything (exit code 0),
    however many arrive.
    """
    if not DEFAULT_MODEL.exists():
        print(
            "No trained model at models/bot.tar.gz: run `make run` (it trains one).",
            file=sys.stderr,
        )
        return 1
    stack = default_stack(store=store, var_dir=var_dir)
    settings = get_settings()
    mail = local_mail(settings)
    if mail and not port_is_free(int(mail["LOCAL_SMTP_PORT"])):
        print(
            f"error: port {mail['LOCAL_SMTP_PORT']} for the local SMTP catcher is already in use: "
            "stop the program using it or set LOCAL_SMTP_PORT (or SMTP_URL) to another.",
            file=sys.stderr,
        )
        return 1

    def ready(seconds: float) -> str:
        return f"\nReady in {seconds:.0f} s.\n{banner(settings, var_dir)}"

    return serve(
        stack,
        starting=(
            "Starting the action server, the answer service, the Rasa server and the gateway..."
        ),
        ready=ready,
    )


def serve(
    stack: Stack,
    *,
    starting: str,
    ready: Callable[[float], str],
    start: Callable[[], None] | None = None,
) -> int:
    """Starts `stack` and supervises it in the foreground (`make run`, `make scale-demo`).

    This process adopts the services' orphans (:func:`become_subreaper`); the first Ctrl-C,
    SIGTERM or SIGHUP stops everything, and later ones cannot interrupt the stopping
    (:class:`ShutdownSignals`).

    Args:
        stack: the services.
        starting: printed before starting them.
        ready: the message once they all answer, given the seconds it took.
        start: what starts them (default `stack.start`).

    Returns:
        0 after a signal, 1 when a service could not start or kept crashing.
    """
    become_subreaper()
    signals = ShutdownSignals().install()
    try:
        print(starting, flush=True)
        started = time.monotonic()
        (start or stack.start)()
        print(ready(time.monotonic() - started), flush=True)
        return stack.watch()
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signals.stopping()
        stack.stop()
        stop_own_groups()
        print("Stopped.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m devstack.stack run [--store btomic]`."""
    parser = argparse.ArgumentParser(prog="python -m devstack.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the three processes in the foreground")
    run_parser.add_argument("--store", choices=shop_ids(), default=None)
    run_parser.add_argument(
        "--var-dir",
        type=Path,
        default=VAR_DIR,
        help="folder of the endpoints file, the tracker store and the logs (default: var/)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        return run(args.store, args.var_dir)
    return 2


if __name__ == "__main__":
    sys.exit(main())
