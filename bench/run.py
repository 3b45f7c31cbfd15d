"""Benchmarks of the assistant on this machine: a script, not a test (`make bench`).

Usage::

    python bench/run.py [--train] [--rasa-url URL --action-url URL] [--gateway-url URL]
                        [--parse-messages 1000] [--chat-turns 200] [--concurrency 1,8,32]
                        [--duration 20] [--mails 40] [--out-dir bench]

Without `--rasa-url` it starts its own action server, Rasa server and gateway, exactly as
`make run` does (bot/stack.py), on free ports, against a fresh copy of the demo orders and a
fresh SQLite tracker store (the `make run` configuration), so a developer's `var/` is never
touched. With `--rasa-url` it measures running processes instead; a gateway is still started
for the chat measurements unless `--gateway-url` is given, because the benchmark's own
gateway needs a high `CHAT_RATE_LIMIT_MESSAGES`: every request comes from 127.0.0.1, which
the default limit (30 messages a minute per client address) would throttle after a second.

It measures, after a warm-up, and writes `bench/results.json` and `bench/results.md`:

* NLU parse latency (`POST /model/parse`) over mixed French/English messages taken from the
  held-out test set (tests/nlu) and the training data, annotations stripped;
* a full chat turn through the gateway (`POST /api/chat`): an FAQ answer, and an order-status
  turn that goes to the action server and the orders database (order number and e-mail in
  one message, a new conversation each time);
* throughput and latency at several numbers of concurrent conversations (asyncio + httpx,
  bounded duration, loopback only); every error is counted and reported;
* the e-mail channel end to end: raw mails posted to `/email/inbound` of a gateway whose
  SMTP_URL is a local aiosmtpd server, until that server has received every reply;
* Rasa start-up to first answer, resident memory of each process with its children
  (/proc/<pid>/status VmRSS; psutil is not installed), model size, and, with `--train`,
  training time from scratch into a temporary directory (its own empty Rasa cache);
* the CPU time each process spends per turn (/proc/<pid>/stat), which says where the time
  goes without a profiler;
* A/B: the Rasa server is started as `make run` starts it, through `bot.rasa_ext.cli` (the
  project's fixes to Rasa 3.6); the same measurements are then repeated on a second Rasa
  server started the other way (stock `rasa run`, or with the fixes under `--no-rasa-fixes`);
* start-up and parse latency of the current model and of `models/variants/diet.tar.gz`, each on
  a Rasa server of its own, when that model exists (a DIET-based pipeline, for the
  accuracy/speed trade-off whose accuracy side is reports/evaluation.md).

The machine's cores, CPU model and load average are recorded with the numbers: the machine
may be shared, and the load changes what the numbers mean. The files are rewritten after each
measurement, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from bot.secret_rules import generate_secret  # noqa: E402 - needs the path above
from bot.stack import (  # noqa: E402 - needs the path above
    DEFAULT_MODEL,
    RASA_BIN,
    RASA_FIXES_MODULE,
    Service,
    Stack,
    StackError,
    action_secret,
    action_service,
    answer_service,
    free_port,
    gateway_service,
    rasa_service,
    write_endpoints,
)

BENCH_DIR = ROOT / "bench"
DIET_MODEL = ROOT / "models" / "variants" / "diet.tar.gz"
NLU_SOURCES = [ROOT / "tests" / "nlu" / "test_nlu.yml", ROOT / "data" / "nlu.yml"] + sorted(
    (ROOT / "data" / "nlu").glob("*.yml")
)
# `[text](entity)`, `[text](entity:value)`, `[text]{"entity": ...}` -> `text`.
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")

# FAQ questions (answered from the store's policy, no order lookup: utterances, and one
# custom action for the payment means), both languages, both shops: (store, ui language,
# message).
FAQ_TURNS = [
    ("om-system", "fr", "Quels moyens de paiement acceptez-vous ?"),
    ("om-system", "en", "What payment methods do you accept?"),
    ("om-system", "fr", "Quel est le délai de livraison ?"),
    ("btomic", "en", "How long is the warranty on your watches?"),
    ("btomic", "fr", "Comment retourner un article ?"),
    ("om-system", "en", "How much does shipping cost?"),
]
# Order-status turns: one message with the order number and its owner's e-mail (the demo
# orders of bot/db/demo_orders.yml), and a word the right answer must contain.
ORDER_TURNS = [
    (
        "om-system",
        "fr",
        "où en est ma commande OM-104233, marie.dupont@example.fr",
        "JD014600003828461025",
    ),
    ("btomic", "en", "Where is my order BT-200517? alex.martin@example.com", "1Z999AA10123456784"),
]
# One customer conversation of the concurrency test: greeting, two FAQ questions, an order
# lookup, thanks.
GREETINGS = [("fr", "Bonjour"), ("en", "Hello")]
THANKS = [("fr", "Merci, bonne journée"), ("en", "Thanks, bye")]

OM_SUPPORT = "eshop.support@om-digitalsolutions.com"
BTOMIC_SUPPORT = "service@btomic.com"
MAIL_QUESTIONS = [
    (OM_SUPPORT, "Bonjour,\n\nQuels moyens de paiement acceptez-vous ?\n\nCordialement,\nMarie"),
    (BTOMIC_SUPPORT, "Hello,\n\nHow long is the warranty on your watches?\n\nBest regards,\nJohn"),
    (OM_SUPPORT, "Bonjour,\n\nQuel est le délai de livraison ?\n\nPaul"),
    (BTOMIC_SUPPORT, "Hi,\n\nWhat payment methods do you accept?\n\nThanks,\nEmma"),
]
# Not a credential: the secret of the benchmark's own throwaway gateway.
WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105

TARGETS = {
    "faq_turn_p95_ms": 100.0,  # full FAQ turn, one conversation
    "throughput_at_8_tps": 50.0,  # turns per second at 8 concurrent conversations, no error
    "startup_first_answer_s": 30.0,  # Rasa server start to first answer
}


# --- numbers --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies_s: Sequence[float], errors: int = 0) -> dict[str, Any]:
    """Count, errors, mean, p50/p95/p99 and max of latencies, in milliseconds."""
    ms = [s * 1000.0 for s in latencies_s]
    return {
        "count": len(ms),
        "errors": errors,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else None,
        "p50_ms": round(percentile(ms, 50), 2) if ms else None,
        "p95_ms": round(percentile(ms, 95), 2) if ms else None,
        "p99_ms": round(percentile(ms, 99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
    }


# --- the machine ----------------------------------------------------------------------------


def cpu_model() -> str | None:
    """The first `model name` of /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def mem_total_mb() -> float | None:
    """Physical memory (MemTotal of /proc/meminfo), in MB."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_mb": mem_total_mb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# --- processes and memory -------------------------------------------------------------------


def _ppid_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text(encoding="utf-8")
            # The command name (field 2) may hold spaces and parentheses: split after it.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of `pid`, in MB; 0 when it is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree_rss(pid: int) -> dict[str, Any]:
    """Resident memory of a process and its children."""
    pids = process_tree(pid)
    return {"pid": pid, "processes": len(pids), "rss_mb": round(sum(rss_mb(p) for p in pids), 1)}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU time of `pid` and its live descendants (or `pid` alone), in seconds."""
    total = 0
    for member in process_tree(pid) if children else [pid]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{member}/stat").read_text(encoding="utf-8")
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each process tree, and by this script."""
    snapshot = {name: cpu_seconds(pid) for name, pid in pids.items()}
    # Alone: the servers this script started are its children.
    snapshot["load generator (this script)"] = cpu_seconds(os.getpid(), children=False)
    return snapshot


def pid_listening_on(port: int) -> int | None:
    """The process that listens on a local TCP port (through /proc/net/tcp and the fds)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="utf-8").splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                    inodes.add(inode)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    candidates = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        candidates.append(int(entry.name))
                        break
    # A pre-forked server shares the socket with its workers: the parent is the lowest pid.
    return min(candidates) if candidates else None


def port_of(url: str) -> int:
    """The port of an http URL."""
    return httpx.URL(url).port or 80


# --- workload -------------------------------------------------------------------------------


def nlu_messages(sources: Sequence[Path] = NLU_SOURCES) -> list[str]:
    """The plain texts of the NLU examples of `sources`, annotations stripped, deduplicated.

    Shuffled with a fixed seed, so French and English (the held-out set has both in equal
    parts) are mixed and every run parses the same sequence.
    """
    texts: list[str] = []
    for path in sources:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            if "intent" not in block:  # synonyms, regexes, lookup tables
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = ANNOTATION.sub(r"\1", line[2:]).strip()
                    if text:
                        texts.append(text)
    unique = list(dict.fromkeys(texts))
    random.Random(6).shuffle(unique)  # noqa: S311 - a reproducible order, not a secret
    return unique


def new_sender() -> str:
    """A fresh widget conversation id (the gateway wants 8-64 letters, digits, - or _)."""
    return f"bench-{uuid.uuid4().hex[:16]}"


def chat_payload(store: str, language: str, message: str, sender: str) -> dict[str, Any]:
    """The body the widget posts to /api/chat."""
    return {"sender_id": sender, "message": message, "store": store, "language": language}


def answer_text(body: Any) -> str:
    """The bot's text in a /api/chat answer."""
    if not isinstance(body, dict):
        return ""
    return "\n".join(m.get("text") or "" for m in body.get("messages") or [] if isinstance(m, dict))


# --- the processes under test ---------------------------------------------------------------


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
    # The action server's shared secret (ACTION_SERVER_SECRET for one given by --action-url).
    action_secret: str = field(default_factory=action_secret)

    def stop(self) -> None:
        """Stops what this script started, last started first."""
        for stack in reversed(self.stacks):
            stack.stop()
        self.stacks.clear()


def log(message: str) -> None:
    """Progress on stderr (stdout is kept for the summary)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
    :func:`main`; the gateways started here inherit it from the environment.
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
) -> tuple[Stack, Service, dict[str, Any]]:
    """Starts a Rasa server and times it from the spawn to its first answer.

    Returns the running stack (the caller stops it), its service and the timings: ready
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
    stack.start()
    ready = time.perf_counter()
    answered = first_answer(service.base_url, probe=probe)
    timings = {
        "probe": probe,
        "model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        "rasa_fixes": uses_rasa_fixes(service),
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
        answers = answer_service(port=free_port(), env=env)
        answers_stack = Stack([answers], log_dir=work / "log")
        target.stacks.append(answers_stack)
        answers_stack.start()
        target.services["answer service"] = answers
        target.answer_port = answers.port
        if not args.rasa_url:
            action = action_service(port=free_port(), secret=target.action_secret, env=env)
            stack = Stack([action], log_dir=work / "log")
            target.stacks.append(stack)
            stack.start()
            target.services["action server"] = action
            target.action_url = action.base_url
            write_endpoints(
                target.endpoints,
                action_port=action.port,
                tracker_db=work / "tracker.db",
                action_secret=target.action_secret,
                answer_port=target.answer_port,
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
            stack = Stack([gateway], log_dir=work / "log")
            target.stacks.append(stack)
            stack.start()
            target.services["gateway"] = gateway
            target.gateway_url = gateway.base_url
    except BaseException:
        target.stop()
        raise
    return target


# --- measurements ---------------------------------------------------------------------------


def bench_parse(rasa_url: str, messages: Sequence[str], count: int, warmup: int) -> dict[str, Any]:
    """Sequential `POST /model/parse` latencies over `count` messages (cycled if fewer)."""
    cycle = itertools.cycle(messages)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    with httpx.Client(base_url=rasa_url, timeout=60.0, params={"token": rasa_token()}) as client:
        for _ in range(warmup):
            client.post("/model/parse", json={"text": next(cycle)})
        for _ in range(count):
            text = next(cycle)
            started = time.perf_counter()
            try:
                response = client.post("/model/parse", json={"text": text})
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(elapsed)
            for entity in body.get("entities") or []:
                if entity.get("entity") == "language":
                    languages[str(entity.get("value"))] += 1
    result = latency_summary(latencies, sum(errors.values()))
    result["error_kinds"] = dict(errors)
    result["distinct_messages"] = len(messages)
    result["detected_language"] = dict(languages)
    return result


def bench_chat(
    gateway_url: str, turns: Sequence[tuple[str, ...]], count: int, warmup: int
) -> dict[str, Any]:
    """Sequential full turns through `POST /api/chat`, each in a new conversation.

    A turn is `(store, language, message)` or `(store, language, message, expected)`: the
    answer must then contain `expected` (the order's tracking number), else it counts as an
    error: a fast wrong answer is not a result.
    """
    cycle = itertools.cycle(turns)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    with httpx.Client(base_url=gateway_url, timeout=60.0) as client:
        for index in range(warmup + count):
            store, language, message, *expected = next(cycle)
            payload = chat_payload(store, language, message, new_sender())
            started = time.perf_counter()
            try:
                response = client.post("/api/chat", json=payload)
                elapsed = time.perf_counter() - started
            except httpx.HTTPError as exc:
                if index >= warmup:
                    errors[type(exc).__name__] += 1
                continue
            if index < warmup:
                continue
            problem = check_answer(response, expected[0] if expected else None)
            if problem:
                errors[problem] += 1
            else:
                latencies.append(elapsed)
    result = latency_summary(latencies, sum(errors.values()))
    result["error_kinds"] = dict(errors)
    return result


def check_answer(response: httpx.Response, expected: str | None) -> str | None:
    """Why a /api/chat answer is not a good one, None when it is."""
    if response.status_code != 200:
        return f"http_{response.status_code}"
    try:
        text = answer_text(response.json())
    except ValueError:
        return "not_json"
    if not text.strip():
        return "empty_answer"
    if expected is not None and expected not in text:
        return "wrong_answer"
    return None


def conversation_script(rng: random.Random) -> list[tuple[str, str, str, str | None]]:
    """One customer's conversation: greeting, two FAQ questions, an order lookup, thanks."""
    store, language, message, expected = rng.choice(ORDER_TURNS)
    faq = [t for t in FAQ_TURNS if t[0] == store] or FAQ_TURNS
    first, second = rng.sample(faq, 2) if len(faq) >= 2 else (faq[0], faq[0])
    greeting = dict(GREETINGS)[language]
    thanks = dict(THANKS)[language]
    return [
        (store, language, greeting, None),
        (store, first[1], first[2], None),
        (store, second[1], second[2], None),
        (store, language, message, expected),
        (store, language, thanks, None),
    ]


async def bench_concurrency_level(
    gateway_url: str, conversations: int, duration_s: float, max_turns: int
) -> dict[str, Any]:
    """`conversations` customers chatting at once through the gateway for `duration_s`.

    Each simulated customer runs conversation after conversation (5 turns each, a new
    conversation id each time), sending its next message as soon as the previous answer
    arrived: the closed-loop load of `conversations` simultaneous chats. Stops after
    `duration_s` or `max_turns` turns in all, whichever first; the turns under way finish.
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    rng = random.Random(conversations)  # noqa: S311 - reproducible scripts, not secrets
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(
        max_connections=conversations + 4, max_keepalive_connections=conversations + 4
    )

    async def customer(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline and len(latencies) + sum(errors.values()) < max_turns:
            sender = new_sender()
            for store, language, message, expected in conversation_script(rng):
                if time.perf_counter() >= deadline:
                    return
                payload = chat_payload(store, language, message, sender)
                started = time.perf_counter()
                try:
                    response = await client.post("/api/chat", json=payload)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                elapsed = time.perf_counter() - started
                problem = check_answer(response, expected)
                if problem:
                    errors[problem] += 1
                else:
                    latencies.append(elapsed)

    async with httpx.AsyncClient(base_url=gateway_url, timeout=60.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(customer(client) for _ in range(conversations)))
        elapsed = time.perf_counter() - started
    result = latency_summary(latencies, sum(errors.values()))
    result.update(
        conversations=conversations,
        duration_s=round(elapsed, 2),
        turns_per_s=round(len(latencies) / elapsed, 2) if elapsed > 0 else None,
        error_kinds=dict(errors),
        load_average=load_average(),
    )
    return result


def bench_concurrency(
    gateway_url: str,
    levels: Sequence[int],
    duration_s: float,
    max_turns: int,
    pids: dict[str, int],
) -> list[dict[str, Any]]:
    """`bench_concurrency_level` at each level, one after the other.

    Also reports the CPU milliseconds each process spent per turn (from /proc/<pid>/stat,
    children included): on a machine this small, where the CPU goes is what limits the
    throughput, and this needs no profiler.
    """
    results = []
    for level in levels:
        log(f"concurrency: {level} conversation(s) for {duration_s:.0f} s...")
        before = cpu_snapshot(pids)
        result = asyncio.run(bench_concurrency_level(gateway_url, level, duration_s, max_turns))
        after = cpu_snapshot(pids)
        turns = max(1, result["count"] + result["errors"])
        result["cpu_ms_per_turn"] = {
            name: round((after[name] - before[name]) * 1000.0 / turns, 2) for name in after
        }
        result["cpu_utilisation_pct"] = round(
            sum(after[n] - before[n] for n in after) * 100.0 / result["duration_s"], 1
        )
        log(
            f"  {result['turns_per_s']} turns/s, p95 {result['p95_ms']} ms, "
            f"{result['errors']} error(s)"
        )
        results.append(result)
    return results


class _CountingSmtpHandler:
    """aiosmtpd handler: records when each message arrived (its own thread calls it)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.in_reply_to: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = bytes(envelope.original_content or envelope.content)
        header = re.search(rb"^In-Reply-To:\s*(\S+)", content, re.MULTILINE | re.IGNORECASE)
        with self._lock:
            self.arrivals.append(time.perf_counter())
            self.in_reply_to.append(header.group(1).decode() if header else "")
        return "250 2.0.0 OK"

    def replies_to(self, message_ids: set[str]) -> list[float]:
        """Arrival times of the replies to `message_ids`."""
        with self._lock:
            return [
                t
                for t, ref in zip(self.arrivals, self.in_reply_to, strict=True)
                if ref in message_ids
            ]


def bench_mail_message(index: int, run_id: str) -> tuple[str, bytes]:
    """One inbound support mail from a sender of its own (the daily reply limit is per sender)."""
    to, body = MAIL_QUESTIONS[index % len(MAIL_QUESTIONS)]
    message = EmailMessage()
    message["From"] = f"Customer {index} <customer.{run_id}.{index}@example.com>"
    message["To"] = to
    message["Subject"] = "Question"
    message["Date"] = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message_id = make_msgid(idstring=f"bench{index}", domain="example.com")
    message["Message-ID"] = message_id
    message.set_content(body)
    return message_id, message.as_bytes()


def inbox_states(database_url: str, message_ids: set[str]) -> Counter[str]:
    """The inbox state of each benchmark mail."""
    from sqlalchemy import select

    from bot.db.mailbox import InboxMessage
    from bot.db.session import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(InboxMessage.message_id, InboxMessage.state).where(
                    InboxMessage.message_id.in_(message_ids)
                )
            ).all()
    finally:
        engine.dispose()
    return Counter(str(getattr(state, "value", state)) for _, state in rows)


def bench_mail(target: Target, count: int, timeout_s: float) -> dict[str, Any]:
    """Mails per second from the webhook to the SMTP server, end to end.

    A gateway of its own is started with SMTP_URL pointing at an aiosmtpd server run here
    (the chat gateway has no SMTP server, and a running one's settings are not ours to
    change), on the same Rasa server, with the inbox in the benchmark's database. One mail is
    answered first as a warm-up; then `count` mails are posted as fast as the webhook takes
    them, and the clock stops when the SMTP server has received the last reply.
    """
    from aiosmtpd.controller import Controller

    handler = _CountingSmtpHandler()
    smtp_port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    gateway = gateway_service(
        port=free_port(),
        name="mail gateway",
        env={
            "DATABASE_URL": target.database_url,
            "RASA_URL": target.rasa_url,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "EMAIL_WORKER_ENABLED": "true",
            "EMAIL_WORKER_POLL_S": "0.5",
            "DEFAULT_STORE": "om-system",
        },
    )
    stack = Stack([gateway], log_dir=target.work / "log")
    run_id = uuid.uuid4().hex[:8]
    webhook_errors: Counter[int] = Counter()
    try:
        stack.start()
        with httpx.Client(base_url=gateway.base_url, timeout=30.0) as client:

            def post(raw: bytes) -> int:
                # A mail provider retries a webhook that answered 5xx; so does the benchmark,
                # and it counts the retries (each one is a failure of the gateway to report).
                for attempt in range(4):
                    response = client.post(
                        "/email/inbound",
                        content=raw,
                        headers={
                            "Content-Type": "message/rfc822",
                            "X-Webhook-Secret": WEBHOOK_SECRET,
                        },
                    )
                    if response.status_code < 500 or attempt == 3:
                        break
                    webhook_errors[response.status_code] += 1
                    log(f"  webhook answered {response.status_code}: {response.text[:120]}; retry")
                    time.sleep(0.5 * (attempt + 1))
                return response.status_code

            def wait_for(ids: set[str], deadline: float) -> list[float]:
                while time.perf_counter() < deadline:
                    replies = handler.replies_to(ids)
                    if len(replies) >= len(ids):
                        return replies
                    time.sleep(0.05)
                return handler.replies_to(ids)

            warm_id, warm_raw = bench_mail_message(0, f"{run_id}w")
            post(warm_raw)
            wait_for({warm_id}, time.perf_counter() + timeout_s)

            mails = [bench_mail_message(i, run_id) for i in range(count)]
            ids = {message_id for message_id, _ in mails}
            started = time.perf_counter()
            accepted = {message_id for message_id, raw in mails if post(raw) == 202}
            posted = time.perf_counter()
            # A mail the webhook refused will never be answered: wait for the others only.
            replies = wait_for(accepted, started + timeout_s)
        states = inbox_states(target.database_url, ids)
        memory = tree_rss(gateway.process.pid) if gateway.process else None
    finally:
        stack.stop()
        controller.stop()
    last = max(replies) if replies else None
    elapsed = (last - started) if last is not None else None
    return {
        "mails": count,
        "replies_received": len(replies),
        "webhook_accepted": len(accepted),
        "webhook_5xx_retried": {str(k): v for k, v in webhook_errors.items()},
        "post_all_s": round(posted - started, 3),
        "inbox_to_last_reply_s": round(elapsed, 3) if elapsed is not None else None,
        "mails_per_s": round(len(replies) / elapsed, 2) if elapsed else None,
        "inbox_states": dict(states),
        "errors": count - len(replies),
        "mail_gateway_memory": memory,
    }


def bench_training(timeout_s: float, log_dir: Path) -> dict[str, Any]:
    """`rasa train` from scratch: a temporary output and an empty training cache.

    Rasa caches the output of each pipeline step under .rasa/cache; a run that reused it
    would time a partial retraining, not a training from scratch.
    """
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_CACHE_DIRECTORY": str(Path(tmp) / "cache"),
        }
        argv = [
            str(RASA_BIN),
            "train",
            "--quiet",
            "--config",
            "config.yml",
            "--domain",
            "domain.yml",
            "--data",
            "data",
            "--out",
            tmp,
            "--fixed-model-name",
            "bench",
        ]
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "bench-train.log"
        started = time.perf_counter()
        with log_path.open("wb") as log_file:
            completed = subprocess.run(  # noqa: S603 - fixed argv
                argv,
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
            )
        elapsed = time.perf_counter() - started
        produced = Path(tmp) / "bench.tar.gz"
        return {
            "seconds": round(elapsed, 1),
            "exit_code": completed.returncode,
            "model_size_mb": round(produced.stat().st_size / 1e6, 2) if produced.exists() else None,
            "log": str(log_path),
            "load_average_after": load_average(),
        }


def bench_model(
    target: Target, model: Path, messages: Sequence[str], count: int, name: str
) -> dict[str, Any]:
    """Start-up to first parse and parse latency of one model, on a Rasa server of its own."""
    stack, service, timings = start_rasa_timed(
        model=model,
        endpoints=target.endpoints,
        env={"DEFAULT_STORE": "om-system"},
        log_dir=target.work / "log",
        name=name,
        probe="parse",  # a variant may be NLU-only: no dialogue to answer a greeting with
    )
    try:
        parse = bench_parse(service.base_url, messages, count, warmup=20)
        memory = tree_rss(service.process.pid) if service.process else None
    finally:
        stack.stop()
    return {
        "model": timings["model"],
        "startup": timings,
        "parse": parse,
        "memory": memory,
        "model_size_mb": round(model.stat().st_size / 1e6, 2),
    }


def bench_variants(
    target: Target, variants: dict[str, Path], messages: Sequence[str], count: int
) -> dict[str, Any]:
    """The current model and each variant, measured the same way one after the other.

    The current model is measured again here rather than taken from the sections above, so
    that both rows come from the same probe (first `/model/parse`), the same number of
    messages and nearly the same machine load.
    """
    results: dict[str, Any] = {
        "measured_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average": load_average(),
        "current": bench_model(target, target.model, messages, count, "current-model Rasa server"),
    }
    for key, model in variants.items():
        results[key] = bench_model(target, model, messages, count, f"{key} Rasa server")
    return results


def bench_rasa_fixes(
    target: Target, args: argparse.Namespace, messages: Sequence[str], *, fixes: bool
) -> dict[str, Any]:
    """The same measurements on a second Rasa server, started the other way.

    A/B comparison for a change outside this script: the Rasa server with or without the
    project's fixes to Rasa 3.6 (bot/rasa_ext, `fixes`), on the same model, action server and
    orders, with a tracker store and a gateway of its own. Measured one after the other,
    never at once.
    """
    if target.action_url is None:
        return {"note": "skipped: no action server known (pass --action-url)"}
    work = target.work / ("fixes" if fixes else "stock")
    endpoints = write_endpoints(
        work / "endpoints.yml",
        action_port=port_of(target.action_url),
        tracker_db=work / "tracker.db",
        action_secret=target.action_secret,
        answer_port=target.answer_port,
    )
    env = {"DATABASE_URL": target.database_url, "DEFAULT_STORE": "om-system"}
    rasa_stack, rasa, timings = start_rasa_timed(
        model=target.model,
        endpoints=endpoints,
        env=env,
        log_dir=target.work / "log",
        name="fixed Rasa server" if fixes else "stock Rasa server",
        fixes=fixes,
    )
    stacks = [rasa_stack]
    try:
        gateway = gateway_service(
            port=free_port(),
            name="fixed gateway" if fixes else "stock gateway",
            env={
                **env,
                "RASA_URL": rasa.base_url,
                "CHAT_RATE_LIMIT_MESSAGES": "100000000",
                "EMAIL_WORKER_ENABLED": "false",
            },
        )
        gateway_stack = Stack([gateway], log_dir=target.work / "log")
        stacks.append(gateway_stack)
        gateway_stack.start()
        pids = {"Rasa server": rasa.process.pid if rasa.process else 0}
        if target.action_url:
            action_pid = pid_listening_on(port_of(target.action_url))
            if action_pid:
                pids["action server"] = action_pid
        pids["gateway"] = gateway.process.pid if gateway.process else 0
        pids = {k: v for k, v in pids.items() if v}
        result: dict[str, Any] = {"startup": timings}
        if args.parse_messages > 0:
            result["nlu_parse"] = bench_parse(
                rasa.base_url, messages, args.parse_messages, args.warmup
            )
        if args.chat_turns > 0:
            result["chat_turn"] = {
                "faq": bench_chat(gateway.base_url, FAQ_TURNS, args.chat_turns, args.warmup),
                "order_status": bench_chat(
                    gateway.base_url, ORDER_TURNS, args.chat_turns, args.warmup // 3
                ),
            }
        if args.levels:
            result["concurrency"] = bench_concurrency(
                gateway.base_url, args.levels, args.duration, args.max_turns, pids
            )
        result["memory"] = {name: tree_rss(pid) for name, pid in pids.items()}
        return result
    finally:
        for stack in reversed(stacks):
            stack.stop()


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
    return pids


def memory_report(target: Target) -> dict[str, Any]:
    """Resident memory of each process measured, children included."""
    return {name: tree_rss(pid) for name, pid in target_pids(target).items()}


# --- reporting ------------------------------------------------------------------------------


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured value and whether it is met."""
    faq = (results.get("chat_turn") or {}).get("faq") or {}
    levels = results.get("concurrency")
    level8: dict[str, Any] = (
        next((r for r in levels if r["conversations"] == 8), {}) if isinstance(levels, list) else {}
    )
    startup = (results.get("startup") or {}).get("first_answer_s")
    return [
        {
            "target": "full FAQ turn p95, one conversation",
            "limit": f"< {TARGETS['faq_turn_p95_ms']:.0f} ms",
            "measured": faq.get("p95_ms"),
            "met": faq.get("p95_ms") is not None and faq["p95_ms"] < TARGETS["faq_turn_p95_ms"],
        },
        {
            "target": "throughput at 8 concurrent conversations, no error",
            "limit": f">= {TARGETS['throughput_at_8_tps']:.0f} turns/s",
            "measured": level8.get("turns_per_s"),
            "met": level8.get("turns_per_s") is not None
            and level8["turns_per_s"] >= TARGETS["throughput_at_8_tps"]
            and level8["errors"] == 0,
        },
        {
            "target": "Rasa start-up to first answer",
            "limit": f"< {TARGETS['startup_first_answer_s']:.0f} s",
            "measured": startup,
            "met": startup is not None and startup < TARGETS["startup_first_answer_s"],
        },
    ]


def _measured(value: Any) -> Any:
    """`value` when it is a measurement, None when missing, skipped or failed."""
    if isinstance(value, dict) and ("error" in value or "note" in value):
        return None
    return value or None


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}" if abs(value) >= 10 else f"{value:.2f}{unit}"
    return f"{value}{unit}"


def render_markdown(results: dict[str, Any]) -> str:
    """bench/results.md: the tables the README's Performance section shows."""
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results['finished_at']} by bench/run.py (`make bench`) on "
        f"{machine['cpu_count']} core(s) ({machine['cpu_model'] or 'unknown CPU'}), "
        f"{_fmt(machine['memory_mb'])} MB RAM; load average (1/5/15 min) "
        f"{results['load_average']['start']} at the start, {results['load_average']['end']} "
        "at the end (the machine is shared with other work: higher load, slower numbers). "
        "The load generator runs on the same cores as the servers.",
        "",
        "## Latency",
        "",
        "| measurement | count | errors | p50 | p95 | p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [("NLU parse (`POST /model/parse`)", _measured(results.get("nlu_parse")))]
    chat = _measured(results.get("chat_turn")) or {}
    rows.append(("chat turn, FAQ answer (`POST /api/chat`)", chat.get("faq")))
    rows.append(("chat turn, order status (action server + database)", chat.get("order_status")))
    for label, stats in rows:
        if stats:
            lines.append(
                f"| {label} | {stats['count']} | {stats['errors']} | {_fmt(stats['p50_ms'], ' ms')}"
                f" | {_fmt(stats['p95_ms'], ' ms')} | {_fmt(stats['p99_ms'], ' ms')} |"
            )
    parse = _measured(results.get("nlu_parse"))
    if parse:
        mix = ", ".join(f"{k} {v}" for k, v in sorted(parse.get("detected_language", {}).items()))
        lines += [
            "",
            f"NLU messages: {parse['count']} parsed in a row, cycling through "
            f"{parse['distinct_messages']} distinct examples of tests/nlu and data/ (annotations "
            f"stripped); language the model detected: {mix or 'n/a'} (short messages get none). "
            "Chat turns: one new conversation per turn, FAQ questions in both languages and "
            "both shops; order status = order number and e-mail in one message "
            "(the answer must contain the tracking number).",
        ]
    lines += [
        "",
        "## Concurrent conversations (chat turns through the gateway)",
        "",
        "Each simulated customer sends its next message as soon as the previous answer "
        "arrives: greeting, two FAQ questions, an order lookup, thanks, then a new "
        "conversation.",
        "",
        "| conversations | turns | turns/s | p50 | p95 | p99 | errors | load avg (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    levels = results.get("concurrency")
    for level in levels if isinstance(levels, list) else []:
        errors = level["errors"]
        kinds = ", ".join(f"{k}: {v}" for k, v in level["error_kinds"].items())
        lines.append(
            f"| {level['conversations']} | {level['count']} | {_fmt(level['turns_per_s'])} | "
            f"{_fmt(level['p50_ms'], ' ms')} | {_fmt(level['p95_ms'], ' ms')} | "
            f"{_fmt(level['p99_ms'], ' ms')} | {errors}{f' ({kinds})' if kinds else ''} | "
            f"{level['load_average'][0]} |"
        )
    cpu_levels = (
        [lv for lv in levels if "cpu_ms_per_turn" in lv] if isinstance(levels, list) else []
    )
    if cpu_levels:
        names = list(cpu_levels[0]["cpu_ms_per_turn"])
        lines += [
            "",
            "Where the CPU goes: CPU milliseconds per turn of each process (children included), "
            "and our processes' CPU use over the run (200 % = both cores busy).",
            "",
            "| conversations | " + " | ".join(names) + " | cores busy |",
            "|---:|" + "---:|" * (len(names) + 1),
        ]
        for level in cpu_levels:
            cells = " | ".join(_fmt(level["cpu_ms_per_turn"][n], " ms") for n in names)
            busy = level["cpu_utilisation_pct"]
            lines.append(f"| {level['conversations']} | {cells} | {busy} % |")
    mail = _measured(results.get("email"))
    lines += ["", "## E-mail channel", ""]
    if mail:
        lines.append(
            f"{mail['mails']} mails posted to `/email/inbound`; {mail['replies_received']} "
            f"replies received by the SMTP server {_fmt(mail['inbox_to_last_reply_s'], ' s')} "
            f"after the first post: **{_fmt(mail['mails_per_s'])} mails/s** end to end "
            f"(inbox states: {mail['inbox_states']})."
        )
        retried = mail.get("webhook_5xx_retried") or {}
        if retried:
            lines.append(
                f"\nThe webhook answered {sum(retried.values())} post(s) with an HTTP 5xx "
                f"({retried}); each was posted again, as a mail provider does, and counted in "
                "the time. See the mail gateway's log in the logs folder."
            )
    else:
        lines.append("Not measured (`--mails 0`).")
    lines += [
        "",
        "## Start-up, memory, model, training",
        "",
        "| measurement | value |",
        "|---|---:|",
    ]
    startup = _measured(results.get("startup"))
    if startup:
        lines.append(
            f"| Rasa server: start to `/status` ready | {_fmt(startup['ready_s'], ' s')} |"
        )
        lines.append(
            f"| Rasa server: start to first answer | {_fmt(startup['first_answer_s'], ' s')} |"
        )
        if "imports_s" in startup:
            lines.append(
                f"| of which Python imports (Rasa, TensorFlow, spaCy...) | "
                f"{_fmt(startup['imports_s'], ' s')} |"
            )
            lines.append(
                f"| of which loading the model (spaCy fr + en pipelines, graph) | "
                f"{_fmt(startup['model_load_s'], ' s')} |"
            )
    for name, memory in (_measured(results.get("memory")) or {}).items():
        if memory:
            lines.append(
                f"| resident memory, {name} ({memory['processes']} process(es)) | "
                f"{_fmt(memory['rss_mb'], ' MB')} |"
            )
    model = results.get("model") or {}
    lines.append(f"| model size ({model.get('path')}) | {_fmt(model.get('size_mb'), ' MB')} |")
    training = results.get("training")
    if training and "seconds" in training:
        lines.append(
            f"| training from scratch (`rasa train`, empty cache) | "
            f"{_fmt(training['seconds'], ' s')} (exit {training['exit_code']}) |"
        )
    else:
        lines.append("| training from scratch | not measured (run with `--train`) |")
    lines += render_fixes_comparison(results)
    lines += ["", "## Pipeline variants", ""]
    variants = _measured(results.get("variants")) or {}
    variant = variants.get("diet")
    if variant and "parse" in variant and "current" in variants:
        is_diet = Path(variant["model"]).name == DIET_MODEL.name
        labels = {
            "current": "current (config.yml)",
            "diet": "DIET-based variant" if is_diet else "variant",
        }
        lines += [
            "Each model on a Rasa server of its own, one after the other: start to the first "
            "`/model/parse` answer, then parse latency over the same messages "
            f"({variant['parse']['count']} messages; measured {variants.get('measured_at')}, "
            f"load average {variants.get('load_average')}).",
            "",
            "| pipeline | model | start to first parse | parse p50 | parse p95 | parse p99 | "
            "Rasa memory | model size |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key in ("current", "diet"):
            row = variants[key]
            lines.append(
                f"| {labels[key]} | {row['model']} | "
                f"{_fmt(row['startup']['first_answer_s'], ' s')} | "
                f"{_fmt(row['parse']['p50_ms'], ' ms')} | {_fmt(row['parse']['p95_ms'], ' ms')} | "
                f"{_fmt(row['parse']['p99_ms'], ' ms')} | "
                f"{_fmt((row.get('memory') or {}).get('rss_mb'), ' MB')} | "
                f"{_fmt(row['model_size_mb'], ' MB')} |"
            )
        lines += ["", "Accuracy of both on the held-out set: reports/pipeline_comparison.md."]
    else:
        note = (variant or {}).get("note", "not measured")
        lines.append(f"DIET-based variant: {note}")
    main_fixes = bool((results.get("startup") or {}).get("rasa_fixes"))
    main_label = "Rasa with fixes, as `make run`" if main_fixes else "stock `rasa run`"
    other_label = "stock `rasa run`" if main_fixes else "Rasa with fixes"
    lines += [
        "",
        "## Targets",
        "",
        f"| target | limit | measured ({main_label}) | met | {other_label} | met |",
        "|---|---|---:|---|---:|---|",
    ]
    for row in results.get("targets") or []:
        other_met = row.get("met_other")
        lines.append(
            f"| {row['target']} | {row['limit']} | {_fmt(row['measured'])} | "
            f"{'yes' if row['met'] else '**no**'} | {_fmt(row.get('measured_other'))} | "
            f"{'n/a' if other_met is None else 'yes' if other_met else '**no**'} |"
        )
    lines.append("")
    return "\n".join(lines)


def ab_pair(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(stock, with fixes) results of the A/B comparison, whichever server was measured first."""
    other = _measured(results.get("rasa_fixes"))
    if not other or "startup" not in other:
        return None
    if other["startup"].get("rasa_fixes"):
        return results, other
    return other, results


def render_fixes_comparison(results: dict[str, Any]) -> list[str]:
    """The A/B table: the stock Rasa server against the one with bot/rasa_ext's fixes."""
    lines = ["", "## Rasa 3.6 with the project's fixes (bot/rasa_ext/cli.py), A/B", ""]
    pair = ab_pair(results)
    if pair is None:
        note = (results.get("rasa_fixes") or {}).get("note") or (
            (results.get("rasa_fixes") or {}).get("error") or "not measured"
        )
        return [*lines, f"Not compared: {note}."]
    stock_results, fixed = pair

    def row(label: str, stock: Any, with_fixes: Any, unit: str) -> str:
        return f"| {label} | {_fmt(stock, unit)} | {_fmt(with_fixes, unit)} |"

    lines += [
        "`make run` starts Rasa with the fixes; the stock server is measured for comparison.",
        "",
        "| measurement | stock (`rasa run`) | with fixes (as `make run`) |",
        "|---|---:|---:|",
    ]
    startup = _measured(stock_results.get("startup")) or {}
    lines.append(
        row(
            "start to first answer",
            startup.get("first_answer_s"),
            fixed["startup"]["first_answer_s"],
            " s",
        )
    )
    chat = _measured(stock_results.get("chat_turn")) or {}
    for kind, label in (("faq", "FAQ turn"), ("order_status", "order-status turn")):
        for q in ("p50_ms", "p95_ms"):
            lines.append(
                row(
                    f"{label} {q[:3]}",
                    (chat.get(kind) or {}).get(q),
                    ((fixed.get("chat_turn") or {}).get(kind) or {}).get(q),
                    " ms",
                )
            )
    stock_levels = stock_results.get("concurrency")
    stock_by_level = (
        {lv["conversations"]: lv for lv in stock_levels} if isinstance(stock_levels, list) else {}
    )
    for level in fixed.get("concurrency") or []:
        n = level["conversations"]
        stock = stock_by_level.get(n, {})
        lines.append(
            row(f"{n} conversation(s): turns/s", stock.get("turns_per_s"), level["turns_per_s"], "")
        )
        lines.append(row(f"{n} conversation(s): p95", stock.get("p95_ms"), level["p95_ms"], " ms"))
        lines.append(
            row(
                f"{n} conversation(s): Rasa CPU per turn",
                (stock.get("cpu_ms_per_turn") or {}).get("Rasa server"),
                (level.get("cpu_ms_per_turn") or {}).get("Rasa server"),
                " ms",
            )
        )
        lines.append(row(f"{n} conversation(s): errors", stock.get("errors"), level["errors"], ""))
    return lines


def write_results(results: dict[str, Any], out_dir: Path) -> None:
    """Writes results.json and results.md (after each section: a crash keeps what was done)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results["finished_at"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    results["load_average"]["end"] = load_average()
    targets = evaluate_targets(results)
    other = _measured(results.get("rasa_fixes"))
    if other and "startup" in other:
        # The main columns are the server as `make run` starts it; this is the other one.
        for row, other_row in zip(targets, evaluate_targets(other), strict=True):
            row["measured_other"] = other_row["measured"]
            row["met_other"] = other_row["met"]
            row["other"] = "with fixes" if other["startup"].get("rasa_fixes") else "stock"
    results["targets"] = targets
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out_dir / "results.md").write_text(render_markdown(results), encoding="utf-8")


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rasa-url",
        help="measure this running Rasa server (started with --enable-api; its --auth-token in "
        "RASA_TOKEN) instead of starting one",
    )
    parser.add_argument(
        "--action-url",
        help="its action server (for the memory figure and the start-up measurement's endpoints; "
        "its shared secret in ACTION_SERVER_SECRET)",
    )
    parser.add_argument(
        "--gateway-url",
        help="measure this running gateway (mind its chat rate limit) instead of starting one",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--parse-messages", type=int, default=1000)
    parser.add_argument("--chat-turns", type=int, default=200, help="per kind (FAQ, order)")
    parser.add_argument(
        "--concurrency",
        default="1,8,32",
        help="comma-separated numbers of concurrent conversations",
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per concurrency level"
    )
    parser.add_argument("--max-turns", type=int, default=20000, help="turns per level at most")
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--mail-timeout", type=float, default=600.0)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--train",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also time `rasa train` from scratch (minutes)",
    )
    parser.add_argument(
        "--startup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --rasa-url: start one more Rasa server to time its start-up",
    )
    parser.add_argument(
        "--variants",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure models/variants/diet.tar.gz when it exists",
    )
    parser.add_argument(
        "--variant-model",
        type=Path,
        default=DIET_MODEL,
        help="the DIET-based variant to compare with (measured only when the file exists)",
    )
    parser.add_argument(
        "--rasa-fixes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the Rasa server through bot.rasa_ext.cli (the project's Rasa 3.6 fixes), "
        "as make run does; --no-rasa-fixes starts the stock `rasa run`",
    )
    parser.add_argument(
        "--compare-fixes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure a second Rasa server started the other way, for an A/B table",
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR)
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=ROOT / "var" / "log" / "bench",
        help="where the logs of the processes started here are kept (replaced at each run)",
    )
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in str(args.concurrency).split(",") if x.strip()]
    if not args.model.exists():
        parser.error(f"no model at {args.model}: run `make model` (or `make bench`) first")
    return args


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    """A temporary directory for the databases, endpoints and logs of this run."""
    path = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def section(results: dict[str, Any], out_dir: Path, name: str, run: Callable[[], Any]) -> None:
    """Runs one measurement, stores it under `name` and writes the files so far."""
    try:
        results[name] = run()
    except (StackError, httpx.HTTPError, OSError, subprocess.SubprocessError) as exc:
        log(f"{name} failed: {exc}")
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    write_results(results, out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs every measurement and writes the results."""
    args = parse_args(argv)
    # Rasa's API needs its token in every profile (see rasa_token()).
    os.environ.setdefault("RASA_TOKEN", generate_secret())
    results: dict[str, Any] = {
        "machine": machine_info(),
        "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average": {"start": load_average(), "end": None},
        "settings": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        },
    }
    log(
        f"{results['machine']['cpu_count']} core(s), {results['machine']['cpu_model']}, "
        f"load {results['load_average']['start']}"
    )
    messages = nlu_messages()
    with work_directory() as work:
        target = start_target(args, work)
        try:
            results["servers"] = {
                "rasa_url": target.rasa_url,
                "gateway_url": target.gateway_url,
                "action_url": target.action_url,
                "started_here": sorted(target.services),
            }
            if target.startup is not None:
                results["startup"] = target.startup
            elif not args.startup:
                results["startup"] = {"note": "skipped (--no-startup)"}
            elif not target.endpoints.exists():
                results["startup"] = {"note": "skipped: pass --action-url with --rasa-url"}
            else:

                def external_startup() -> dict[str, Any]:
                    stack, _service, timings = start_rasa_timed(
                        model=args.model,
                        endpoints=target.endpoints,
                        env={"DEFAULT_STORE": "om-system"},
                        log_dir=work / "log",
                        name="start-up Rasa server",
                    )
                    stack.stop()
                    return timings

                log("timing the start-up of one more Rasa server...")
                section(results, args.out_dir, "startup", external_startup)

            if args.parse_messages > 0:
                log(f"NLU parse: {args.parse_messages} messages ({len(messages)} distinct)...")
                section(
                    results,
                    args.out_dir,
                    "nlu_parse",
                    lambda: bench_parse(
                        target.rasa_url, messages, args.parse_messages, args.warmup
                    ),
                )
            if args.chat_turns > 0:
                log(f"chat turns: {args.chat_turns} FAQ + {args.chat_turns} order status...")
                section(
                    results,
                    args.out_dir,
                    "chat_turn",
                    lambda: {
                        "faq": bench_chat(
                            target.gateway_url, FAQ_TURNS, args.chat_turns, args.warmup
                        ),
                        "order_status": bench_chat(
                            target.gateway_url, ORDER_TURNS, args.chat_turns, args.warmup // 3
                        ),
                    },
                )
            if args.levels:
                pids = target_pids(target)
                section(
                    results,
                    args.out_dir,
                    "concurrency",
                    lambda: bench_concurrency(
                        target.gateway_url, args.levels, args.duration, args.max_turns, pids
                    ),
                )
            # After the load: the memory a process keeps once it has served real traffic.
            section(results, args.out_dir, "memory", lambda: memory_report(target))
            if args.mails > 0:
                log(f"e-mail: {args.mails} mails through the webhook to SMTP...")
                section(
                    results,
                    args.out_dir,
                    "email",
                    lambda: bench_mail(target, args.mails, args.mail_timeout),
                )
            main_has_fixes = bool((results.get("startup") or {}).get("rasa_fixes"))
            if args.compare_fixes:
                other = "without" if main_has_fixes else "with"
                log(f"A/B: the same measurements on a Rasa server {other} bot/rasa_ext's fixes...")
                section(
                    results,
                    args.out_dir,
                    "rasa_fixes",
                    lambda: bench_rasa_fixes(target, args, messages, fixes=not main_has_fixes),
                )
            else:
                results["rasa_fixes"] = {"note": "skipped (--no-compare-fixes)"}
            model_file = args.model
            results["model"] = {
                "path": str(
                    model_file.relative_to(ROOT) if model_file.is_relative_to(ROOT) else model_file
                ),
                "size_mb": round(model_file.stat().st_size / 1e6, 2),
            }
            if args.variants and args.variant_model.exists():
                log("DIET variant: start-up and parse latency...")
                section(
                    results,
                    args.out_dir,
                    "variants",
                    lambda: bench_variants(
                        target,
                        {"diet": args.variant_model},
                        messages,
                        min(args.parse_messages or 500, 500),
                    ),
                )
            else:
                results["variants"] = {
                    "diet": {
                        "note": (
                            f"skipped: no model at {args.variant_model}"
                            if args.variants
                            else "skipped (--no-variants)"
                        )
                    }
                }
        finally:
            target.stop()
            # The processes' logs outlive the temporary directory, for a look after the run.
            log_dir: Path = args.log_dir
            log_dir.mkdir(parents=True, exist_ok=True)
            for old_log in log_dir.glob("*.log"):  # the previous run's, not anything else
                old_log.unlink()
            if (work / "log").exists():
                shutil.copytree(work / "log", log_dir, dirs_exist_ok=True)
            results["logs"] = str(log_dir)
        if args.train:
            log("training from scratch (a few minutes)...")
            section(
                results,
                args.out_dir,
                "training",
                lambda: bench_training(3600.0, args.log_dir),
            )
        else:
            results["training"] = {"note": "skipped (run with --train)"}
    write_results(results, args.out_dir)
    print((args.out_dir / "results.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
