"""Starts, watches and stops the three processes of the assistant.

`make run` uses :func:`main`; the end-to-end tests use :class:`Stack` directly to start the
same real processes on free ports. The module only needs the standard library and httpx,
so it runs in the app environment and starts the Rasa server from the Rasa environment's
own interpreter, exactly as two containers would run side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

import httpx

from bot.config import PROJECT_ROOT, VAR_DIR, Settings, get_settings
from bot.mail.worker import LOCAL_SMTP_PORT, local_smtp_url

logger = logging.getLogger(__name__)

RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
#: `python -m` this module is `rasa` with the project's fixes to Rasa 3.6 (bot/rasa_ext/cli.py).
RASA_FIXES_MODULE = "bot.rasa_ext.cli"
APP_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
DEFAULT_MODEL = PROJECT_ROOT / "models" / "bot.tar.gz"
LOG_DIR = VAR_DIR / "log"


class StackError(RuntimeError):
    """A process of the stack could not be started or did not become healthy."""


class PortInUseError(StackError):
    """A port the stack needs is already taken by another program."""


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


def free_port() -> int:
    """Returns a port that is free right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_endpoints(path: Path, *, action_port: int, tracker_db: Path | None) -> Path:
    """Writes a Rasa endpoints file pointing at the given action server and tracker store.

    Tests and `make run` with non-default ports need one; the committed `endpoints.yml`
    holds the defaults for a plain `rasa run` or `rasa shell`.
    """
    lines = [f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n']
    if tracker_db is not None:
        lines.append(f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tracker_db}"\n')
    path.parent.mkdir(parents=True, exist_ok=True)
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
    if auth_token:
        argv += ["--auth-token", auth_token]
        health_path += "?" + urlencode({"token": auth_token})
    return Service(name, argv, port, health_path, env=dict(env or {}), ready_timeout_s=240)


def action_service(
    *, port: int, env: Mapping[str, str] | None = None, name: str = "action server"
) -> Service:
    """The rasa-sdk action server serving `actions/`."""
    argv = [str(APP_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
    return Service(name, argv, port, "/health", env=dict(env or {}), ready_timeout_s=60)


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
    ]
    return Service(name, argv, port, "/health", env=dict(env or {}), ready_timeout_s=60)


class Stack:
    """Runs a set of services; stops them all on exit, whatever happened."""

    def __init__(self, services: Sequence[Service], log_dir: Path = LOG_DIR) -> None:
        self.services = list(services)
        self.log_dir = log_dir

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
        for service in self.services:
            self._spawn(service)
        deadline_base = time.monotonic()
        for service in self.services:
            self._wait_ready(service, deadline_base + service.ready_timeout_s)

    def start_service(self, service: Service) -> None:
        """(Re)starts one service of this stack, stopped or dead, and waits until it is ready.

        The scale-out tests use it to bring back a server they killed.
        """
        if service.process is not None and service.process.poll() is None:
            return
        if service._log_file is not None:
            service._log_file.close()
        self._spawn(service)
        self._wait_ready(service, time.monotonic() + service.ready_timeout_s)

    def _spawn(self, service: Service) -> None:
        slug = service.name.replace(" ", "-")
        service.log_path = self.log_dir / f"{slug}-{service.port}.log"
        service._log_file = service.log_path.open("ab")
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **service.env}
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        service.process = subprocess.Popen(  # noqa: S603 - fixed argv built above
            list(service.argv),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=service._log_file,
            stderr=subprocess.STDOUT,
            # Own process group: Ctrl-C in the terminal reaches us once, and we stop each
            # service (and anything it forked) in order.
            start_new_session=True,
        )
        logger.info(
            "started %s (pid %s), log %s", service.name, service.process.pid, service.log_path
        )

    def _wait_ready(self, service: Service, deadline: float) -> None:
        assert service.process is not None
        url = service.base_url + service.health_path
        with httpx.Client(timeout=2.0) as client:
            # At least one check: the services are waited for in turn, so a fast one's
            # deadline may pass while a slow one (Rasa loading its model) is still starting.
            first = True
            while first or time.monotonic() < deadline:
                first = False
                code = service.process.poll()
                if code is not None:
                    raise StackError(
                        f"The {service.name} exited with code {code} while starting; "
                        f"see {service.log_path}:\n{tail(service.log_path)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = client.get(url)
                    if response.status_code == 200 and self._is_ready(service, response):
                        return
                time.sleep(0.5)
        raise StackError(
            f"The {service.name} did not answer {url} in time; see {service.log_path}:\n"
            f"{tail(service.log_path)}"
        )

    @staticmethod
    def _is_ready(service: Service, response: httpx.Response) -> bool:
        if service.health_path.partition("?")[0] == "/status":
            # Rasa answers /status before the model is loaded; ready means a model is there.
            return bool(response.json().get("model_file"))
        return True

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stops every service: SIGTERM to its process group, SIGKILL if it lingers."""
        for service in reversed(self.services):
            proc = service.process
            if proc is None:
                continue
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if service._log_file is not None:
                service._log_file.close()
            service.process = None

    def dead_services(self) -> list[Service]:
        """The services whose process has exited."""
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def watch(self, poll_s: float = 1.0) -> int:
        """Blocks until a service exits on its own; prints why and returns 1.

        Ctrl-C (KeyboardInterrupt) goes through to the caller, which stops the stack.
        """
        while True:
            dead = self.dead_services()
            if dead:
                for service in dead:
                    print(
                        f"The {service.name} stopped unexpectedly; see {service.log_path}:\n"
                        f"{tail(service.log_path)}",
                        file=sys.stderr,
                    )
                return 1
            time.sleep(poll_s)

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        """Context manager: started on entry, stopped on exit."""
        try:
            self.start()
            yield self
        finally:
            self.stop()


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


def default_stack(*, store: str | None = None) -> Stack:
    """The stack `make run` starts, on the configured ports."""
    settings = get_settings()
    extra = {"DEFAULT_STORE": store} if store else {}
    mail = local_mail(settings)
    endpoints = write_endpoints(
        VAR_DIR / "endpoints.yml",
        action_port=settings.action_server_port,
        tracker_db=VAR_DIR / "rasa-tracker.db",
    )
    return Stack(
        [
            action_service(port=settings.action_server_port, env=extra),
            rasa_service(port=settings.rasa_port, endpoints=endpoints, env=extra),
            # The gateway talks to the Rasa server this stack starts, whatever RASA_URL says.
            gateway_service(
                port=settings.gateway_port,
                env={**extra, **mail, "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}"},
            ),
        ]
    )


def banner(settings: Settings) -> str:
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
        f"  Action server:        http://localhost:{settings.action_server_port}/health\n"
        f"  Logs:                 {LOG_DIR}/\n"
        "Press Ctrl-C to stop."
    )


def run(store: str | None) -> int:
    """Runs the stack in the foreground until Ctrl-C; returns the exit code."""
    if not DEFAULT_MODEL.exists():
        print(
            "No trained model at models/bot.tar.gz: run `make run` (it trains one).",
            file=sys.stderr,
        )
        return 1
    stack = default_stack(store=store)
    settings = get_settings()
    mail = local_mail(settings)
    if mail and not port_is_free(int(mail["LOCAL_SMTP_PORT"])):
        print(
            f"error: port {mail['LOCAL_SMTP_PORT']} for the local SMTP catcher is already in use: "
            "stop the program using it or set LOCAL_SMTP_PORT (or SMTP_URL) to another.",
            file=sys.stderr,
        )
        return 1

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        print("Starting the action server, the Rasa server and the gateway...", flush=True)
        started = time.monotonic()
        stack.start()
        print(f"\nReady in {time.monotonic() - started:.0f} s.\n{banner(settings)}", flush=True)
        return stack.watch()
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m bot.stack run [--store btomic]`."""
    parser = argparse.ArgumentParser(prog="python -m bot.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the three processes in the foreground")
    run_parser.add_argument("--store", choices=["om-system", "btomic"], default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        return run(args.store)
    return 2


if __name__ == "__main__":
    sys.exit(main())
