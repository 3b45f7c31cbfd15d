"""Benchmarks of the assistant on this machine: a script, not a test (`make bench`).

Usage::

    python bench/run.py [--train] [--rasa-url URL --action-url URL] [--gateway-url URL]
                        [--parse-messages 1000] [--chat-turns 200] [--concurrency 1,8,32]
                        [--duration 20] [--mails 40] [--out-dir bench]

Without `--rasa-url` it starts its own action server, Rasa server and gateway, exactly as
`make run` does (devstack/stack.py), on free ports, against a fresh copy of the demo orders and a
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

This file is the command line; the measurements live beside it: `workload.py` (what is sent),
`targets.py` (the servers measured), `chat_load.py` (parse, chat turn, concurrency),
`mail_load.py` (e-mail), `servers.py` (training, model variants, the Rasa fixes' A/B),
`machine.py` and `stats.py` (the machine, processes, percentiles), `report.py` (the files).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from bench.chat_load import bench_chat, bench_concurrency, bench_parse  # noqa: E402
from bench.machine import load_average, machine_info  # noqa: E402
from bench.mail_load import bench_mail  # noqa: E402
from bench.report import write_results  # noqa: E402
from bench.servers import bench_rasa_fixes, bench_training, bench_variants  # noqa: E402
from bench.stats import log  # noqa: E402
from bench.targets import memory_report, start_rasa_timed, start_target, target_pids  # noqa: E402
from bench.workload import BENCH_DIR, DIET_MODEL, FAQ_TURNS, ORDER_TURNS, nlu_messages  # noqa: E402
from bot.secret_rules import generate_secret  # noqa: E402 - needs the path above
from devstack.stack import (  # noqa: E402 - needs the path above
    DEFAULT_MODEL,
    StackError,
)


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
        "as make run does; --no-rasa-fixes starts the stock `rasa run` (with --rasa-url: how "
        "that server was started, so that the A/B starts the other kind)",
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
    # Rasa's API needs its token in every profile (see bench.targets.rasa_token()).
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
                        target.rasa_url,
                        messages,
                        args.parse_messages,
                        args.warmup,
                        rasa_pid=target_pids(target).get("Rasa server"),
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
            # A server given by --rasa-url whose start-up was not timed here: as --rasa-fixes says.
            main_has_fixes = bool((results.get("startup") or {}).get("rasa_fixes", args.rasa_fixes))
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
