"""The servers measured: started here exactly as `make run` starts them, or already running."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.machine import pid_listening_on, port_of, tree_rss
from bench.stats import log
from bench.workload import ROOT, new_sender
from devstack.stack import (
    RASA_FIXES_MODULE,
    Service,
    Stack,
    StackError,
    action_secret,
    action_service,
    answer_service,
    answer_token,
    free_port,
    gateway_service,
    rasa_service,
    write_endpoints,
)


@dataclass
class Target:
    """The servers being measured, and the ones this script started (to stop them)."""

    rasa_url: str
    gateway_url: str
    action_url: str | None
    database_url: str
    endpoints: Path
    model: Path
    work: Path
    stacks: list[Stack] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    startup: dict[str, Any] | None = None
    # The answer service (Rasa's NLG endpoint) the Rasa servers started here use.
    answer_port: int | None = None
    answer_token: str | None = None
    # The action server's shared secret (ACTION_SERVER_SECRET for one given by --action-url).
    action_secret: str = field(default_factory=action_secret)

    def start(self, name: str, service: Service) -> Service:
        """Starts one service in a stack of its own (logs under the work directory)."""
        stack = Stack([service], log_dir=self.work / "log")
        self.stacks.append(stack)
        stack.start()
        self.services[name] = service
        return service

    def stop(self) -> None:
        """Stops what this script started, last started first."""
        for stack in reversed(self.stacks):
            stack.stop()
        self.stacks.clear()


def load_demo_database(url: str) -> None:
    """Migrates `url` and loads the demo orders, through the project's CLI."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "bot.db.demo", "--if-empty"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def rasa_token() -> str:
    """Rasa's API token: every Rasa server started here needs it, every call sends it.

    RASA_TOKEN (that of the server given by --rasa-url), else one drawn for this run by
    :func:`bench.run.main`; the gateways started here inherit it from the environment.
    """
    return os.environ["RASA_TOKEN"]


def first_answer(rasa_url: str, *, probe: str = "rest", timeout_s: float = 120.0) -> float:
    """Sends one message until Rasa answers it; returns when it did.

    `probe` "rest": a greeting through the REST channel (NLU, dialogue, answer); "parse": one
    `/model/parse` (an NLU-only model has no dialogue to answer with).
    """
    deadline = time.monotonic() + timeout_s
    payload: dict[str, Any]
    if probe == "parse":
        path, payload = "/model/parse", {"text": "Bonjour"}
    else:
        path = "/webhooks/rest/webhook"
        payload = {"sender": new_sender(), "message": "Bonjour", "metadata": {"store": "om-system"}}
    with httpx.Client(timeout=60.0, params={"token": rasa_token()}) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = client.post(f"{rasa_url}{path}", json=payload)
                if response.status_code == 200 and response.json():
                    return time.perf_counter()
            time.sleep(0.1)
    raise StackError(f"{rasa_url} gave no answer in {timeout_s:.0f} s")


def uses_rasa_fixes(service: Service) -> bool:
    """Whether a Rasa service starts through bot.rasa_ext.cli (the project's Rasa fixes)."""
    return RASA_FIXES_MODULE in service.argv


def start_rasa_timed(
    *,
    model: Path,
    endpoints: Path,
    env: dict[str, str],
    log_dir: Path,
    name: str,
    fixes: bool = True,
    probe: str = "rest",
    answer_timeout_s: float = 120.0,
) -> tuple[Stack, Service, dict[str, Any]]:
    """Starts a Rasa server and times it from the spawn to its first answer.

    Returns the running stack (the caller stops it; stopped here when the server fails to
    start or to answer), its service and the timings: ready
    (`/status` names a model) and first answer (a greeting answered through the REST channel,
    which also pays for anything loaded lazily on the first message). `fixes` (as `make run`)
    starts it through bot.rasa_ext.cli, False with the stock `rasa run`.
    """
    service = rasa_service(
        port=free_port(),
        endpoints=endpoints,
        model=model,
        env=env,
        name=name,
        rasa_fixes=fixes,
        auth_token=rasa_token(),
    )
    stack = Stack([service], log_dir=log_dir)
    started = time.perf_counter()
    started_wall = time.time()
    try:
        stack.start()
        ready = time.perf_counter()
        answered = first_answer(service.base_url, probe=probe, timeout_s=answer_timeout_s)
    except BaseException:
        # Nobody else holds this stack yet: a server that started but never answered (or a
        # Ctrl-C while waiting) must not outlive the benchmark.
        stack.stop()
        raise
    timings = {
        "probe": probe,
        "model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        "rasa_fixes": uses_rasa_fixes(service),
        "rasa_url": service.base_url,
        "ready_s": round(ready - started, 2),
        "first_answer_s": round(answered - started, 2),
        **startup_phases(service.log_path, started_wall, ready - started),
    }
    return stack, service, timings


# Rasa's log lines start with a local timestamp to the second.
_RASA_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) INFO\s+(\S+)\s+- (.*)$")


def startup_phases(log_path: Path | None, started_wall: float, ready_s: float) -> dict[str, Any]:
    """Where a Rasa server's start-up went, from its log (to the second).

    `imports_s`: from the spawn to "Starting Rasa server" (Python imports: Rasa, TensorFlow,
    spaCy, sanic...); `model_load_s`: from "Loading model" to ready (the model's graph and
    its components, here mostly the two spaCy pipelines with their lookup tables).
    """
    if log_path is None or not log_path.exists():
        return {}
    starting = loading = None
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _RASA_LOG_LINE.match(line)
        if not match:
            continue
        stamp = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
        if starting is None and match.group(3).startswith("Starting Rasa server"):
            starting = stamp
        if loading is None and match.group(3).startswith("Loading model"):
            loading = stamp
    if starting is None or loading is None:
        return {}
    return {
        "imports_s": round(max(0.0, starting - started_wall), 1),
        "model_load_s": round(max(0.0, started_wall + ready_s - loading), 1),
    }


def start_target(args: argparse.Namespace, work: Path) -> Target:
    """The processes to measure: the ones given by URL, the others started here."""
    model: Path = args.model
    database_url = f"sqlite:///{work / 'orders.db'}"
    load_demo_database(database_url)  # the orders (own action server) and the gateways' inbox
    env = {"DATABASE_URL": database_url, "DEFAULT_STORE": "om-system"}
    target = Target(
        rasa_url=args.rasa_url or "",
        gateway_url=args.gateway_url or "",
        action_url=args.action_url,
        database_url=database_url,
        endpoints=work / "endpoints.yml",
        model=model,
        work=work,
    )
    try:
        # Every Rasa server started here gets its texts from this answer service.
        # With a token of this run, like every answer service (it refuses to start without).
        target.answer_token = answer_token()
        answers = target.start(
            "answer service",
            answer_service(
                port=free_port(), env={**env, "ANSWER_SERVICE_TOKEN": target.answer_token}
            ),
        )
        target.answer_port = answers.port
        if not args.rasa_url:
            action = target.start(
                "action server",
                action_service(port=free_port(), secret=target.action_secret, env=env),
            )
            target.action_url = action.base_url
            write_endpoints(
                target.endpoints,
                action_port=action.port,
                tracker_db=work / "tracker.db",
                action_secret=target.action_secret,
                answer_port=target.answer_port,
                answer_token=target.answer_token,
            )
            log("starting the Rasa server (timed: start-up to first answer)...")
            rasa_stack, rasa, timings = start_rasa_timed(
                model=model,
                endpoints=target.endpoints,
                env=env,
                log_dir=work / "log",
                name="Rasa server",
                fixes=args.rasa_fixes,
            )
            target.stacks.append(rasa_stack)
            target.services["Rasa server"] = rasa
            target.rasa_url = rasa.base_url
            target.startup = timings
            log(f"Rasa answered {timings['first_answer_s']} s after its start")
        elif target.action_url:
            write_endpoints(
                target.endpoints,
                action_port=port_of(target.action_url),
                tracker_db=work / "tracker.db",
                action_secret=target.action_secret,
                answer_port=target.answer_port,
                answer_token=target.answer_token,
            )
        if not args.gateway_url:
            gateway = gateway_service(
                port=free_port(),
                env={
                    **env,
                    "RASA_URL": target.rasa_url,
                    # Every benchmark request comes from 127.0.0.1: one client for the limiter.
                    "CHAT_RATE_LIMIT_MESSAGES": "100000000",
                    "EMAIL_WORKER_ENABLED": "false",
                },
            )
            target.start("gateway", gateway)
            target.gateway_url = gateway.base_url
    except BaseException:
        target.stop()
        raise
    return target


def target_pids(target: Target) -> dict[str, int]:
    """The pid of each process measured: started here, or found by the port it listens on."""
    pids: dict[str, int] = {}
    urls = {
        "Rasa server": target.rasa_url,
        "action server": target.action_url,
        "gateway": target.gateway_url,
    }
    for name, url in urls.items():
        service = target.services.get(name)
        pid = service.process.pid if service and service.process else None
        if pid is None and url:
            pid = pid_listening_on(port_of(url))
        if pid is not None:
            pids[name] = pid
    # The answer service (Rasa's NLG endpoint: one call per text sent) of a Rasa server started
    # here (a server given by --rasa-url has its own, unknown here).
    answers = target.services.get("answer service")
    if "Rasa server" in target.services and answers is not None and answers.process is not None:
        pids["answer service"] = answers.process.pid
    return pids


def memory_report(target: Target) -> dict[str, Any]:
    """Resident memory of each process measured, children included."""
    return {name: tree_rss(pid) for name, pid in target_pids(target).items()}
