"""Training time, start-up and parse latency of model variants, and the A/B of the project's
Rasa fixes."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.chat_load import bench_chat, bench_concurrency, bench_parse
from bench.machine import load_average, pid_listening_on, port_of, tree_rss
from bench.targets import Target, start_rasa_timed
from bench.workload import FAQ_TURNS, ORDER_TURNS, ROOT
from devstack.stack import (
    RASA_BIN,
    Stack,
    free_port,
    gateway_service,
    write_endpoints,
)


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
        # The answer service refuses Rasa's NLG calls without its token (401): every text
        # of the second server would be lost and its first answer never come.
        answer_token=target.answer_token,
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
                rasa.base_url,
                messages,
                args.parse_messages,
                args.warmup,
                rasa_pid=pids.get("Rasa server"),
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
