"""Throughput with one Rasa server versus two, behind nginx, on this machine.

    .venv/bin/python scripts/bench_scale.py            # writes bench/scale_results.{json,md}

Two stacks run side by side, each the `make scale-demo` stack (nginx, 2 action servers, a
PostgreSQL tracker store of its own, the Redis lock store), one with 1 Rasa server and one
with 2. After a warm-up they take turns (ROUNDS rounds, the order swapped every round, so
both see the same background load) at the same bounded workload through nginx:
CONVERSATIONS order-status lookups (the question, then the e-mail address: two turns, an
action call and database reads), CONCURRENCY at a time. Each round measures answered turns
per second, the latency of each turn and the CPU each role used, and checks every answer
(the order's tracking number). Only 127.0.0.1 is used; every loop is bounded.

PostgreSQL and Redis: SCALE_POSTGRES_URL / SCALE_REDIS_URL (defaults 127.0.0.1). The run's
databases are created for it and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.config import PROJECT_ROOT
from bot.db.models import Order, OrderStatus, Shipment
from devstack.scale import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    ScaleConfig,
    ScaleStack,
    check_postgres,
    check_redis,
    drop_database,
    nginx_binary,
    prepare_demo_databases,
)

OUT_DIR = PROJECT_ROOT / "bench"


@dataclass
class Result:
    """One round of one configuration."""

    round: int
    rasa_servers: int
    action_servers: int
    conversations: int
    concurrency: int
    turns: int
    errors: int
    wrong_answers: int
    seconds: float
    turns_per_second: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    start_seconds: float
    turns_per_server: dict[str, int]
    # Cores used on average during the measured workload (CPU seconds / wall seconds), by
    # role; `machine` is every process of the machine, other sessions' included.
    cores_used: dict[str, float]


def _group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds so far of every process in a process group (Linux /proc).

    Each service of the stack runs in its own process group (devstack/stack.py), and some fork
    workers (the action server's Sanic runs its app in a child process): count them all.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text(encoding="utf-8").split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(stack: ScaleStack) -> dict[str, float]:
    """CPU seconds so far per role of the stack, of this load generator and of the machine."""
    roles = {
        "rasa_servers": stack.rasa_services,
        "action_servers": stack.action_services,
        "nginx": [stack.nginx],
    }
    snapshot = {
        role: sum(_group_cpu_s(s.process.pid) for s in services if s.process is not None)
        for role, services in roles.items()
    }
    snapshot["load_generator"] = _process_cpu_s(os.getpid())
    snapshot["machine"] = _machine_busy_s()
    return snapshot


def lookups(orders_url: str) -> list[tuple[str, str, str, str]]:
    """(number, store, email, tracking) of every shipped or delivered demo order."""
    engine = create_engine(orders_url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(Order.number, Order.store_id, Order.customer_email, Shipment.tracking_number)
                .join(Shipment, Shipment.order_id == Order.id)
                .where(Order.status.in_([OrderStatus.SHIPPED, OrderStatus.DELIVERED]))
                .order_by(Order.number)
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def workload(
    url: str,
    token: str,
    orders: list[tuple[str, str, str, str]],
    conversations: int,
    concurrency: int,
) -> tuple[list[float], int, int, dict[str, int], float]:
    """Runs the lookups; returns (latencies s, errors, wrong answers, turns per server, s)."""
    latencies: list[float] = []
    errors = wrong = 0
    per_server: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def conversation(index: int, client: httpx.AsyncClient) -> None:
        nonlocal errors, wrong
        number, store, email, tracking = orders[index % len(orders)]
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        question = (
            f"Bonjour, où en est ma commande {number} ?"
            if index % 2
            else f"Hello, where is my order {number}?"
        )
        async with gate:
            for message in (question, email):
                started = time.monotonic()
                try:
                    response = await client.post(
                        f"{url}/webhooks/rest/webhook",
                        params={"token": token},  # the REST channel needs Rasa's token
                        json={"sender": sender, "message": message, "metadata": {"store": store}},
                    )
                except httpx.HTTPError:
                    errors += 1
                    return
                latencies.append(time.monotonic() - started)
                upstream = response.headers.get("X-Upstream", "?")
                per_server[upstream] = per_server.get(upstream, 0) + 1
                if response.status_code != 200:
                    errors += 1
                    return
            text = " ".join(m.get("text", "") for m in response.json())
            if tracking not in text:
                wrong += 1

    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency + 5)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.wait_for(
            asyncio.gather(*(conversation(i, client) for i in range(conversations))),
            timeout=900,
        )
    return latencies, errors, wrong, per_server, time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def start_stack(
    rasa: int, *, orders_url: str, tracker_url: str, redis_url: str, work_dir: Path
) -> tuple[ScaleStack, float]:
    """Starts the scaled stack with `rasa` Rasa servers; returns it and its start-up seconds."""
    config = ScaleConfig.on_free_ports(
        orders_url=orders_url,
        tracker_url=tracker_url,
        rasa=rasa,
        actions=2,
        gateways=0,
        redis_url=redis_url,
        redis_key_prefix=f"bench{uuid.uuid4().hex[:8]}",
        work_dir=work_dir / f"rasa{rasa}",
    )
    stack = ScaleStack(config)
    started = time.monotonic()
    stack.start()
    return stack, time.monotonic() - started


def run_round(
    stack: ScaleStack,
    orders: list[tuple[str, str, str, str]],
    *,
    round_number: int,
    conversations: int,
    concurrency: int,
    start_seconds: float,
) -> Result:
    """One measured workload on a running stack."""
    before = cpu_snapshot(stack)
    latencies, errors, wrong, per_server, seconds = asyncio.run(
        workload(stack.rasa_url, stack.config.token, orders, conversations, concurrency)
    )
    after = cpu_snapshot(stack)
    turns = len(latencies)
    return Result(
        round=round_number,
        rasa_servers=len(stack.rasa_services),
        action_servers=len(stack.action_services),
        conversations=conversations,
        concurrency=concurrency,
        turns=turns,
        errors=errors,
        wrong_answers=wrong,
        seconds=round(seconds, 2),
        turns_per_second=round(turns / seconds, 2),
        latency_p50_ms=round(statistics.median(latencies) * 1000, 1),
        latency_p95_ms=round(percentile(latencies, 0.95) * 1000, 1),
        latency_max_ms=round(max(latencies) * 1000, 1),
        start_seconds=round(start_seconds, 1),
        turns_per_server=dict(sorted(per_server.items())),
        cores_used={role: round((after[role] - before[role]) / seconds, 2) for role in before},
    )


def median_of(results: list[Result], rasa: int, field: str) -> float:
    values = [float(getattr(r, field)) for r in results if r.rasa_servers == rasa]
    return round(statistics.median(values), 2)


def median_cores(results: list[Result], rasa: int, role: str) -> float:
    return round(
        statistics.median(r.cores_used[role] for r in results if r.rasa_servers == rasa), 2
    )


def efficiency(results: list[Result], rasa: int) -> float:
    """Median turns per CPU-second of the Rasa servers."""
    return round(
        statistics.median(
            r.turns_per_second / r.cores_used["rasa_servers"]
            for r in results
            if r.rasa_servers == rasa and r.cores_used["rasa_servers"] > 0
        ),
        1,
    )


def write_report(
    results: list[Result], out_dir: Path, load_before: list[float], date: str | None = None
) -> tuple[Path, Path, float]:
    """bench/scale_results.json and .md; returns their paths and the throughput ratio."""
    one_tps, two_tps = (
        median_of(results, 1, "turns_per_second"),
        median_of(results, 2, "turns_per_second"),
    )
    ratio = two_tps / one_tps
    rounds = max(r.round for r in results)
    paired = [
        round(b.turns_per_second / a.turns_per_second, 2)
        for a in results
        for b in results
        if a.round == b.round and a.rasa_servers == 1 and b.rasa_servers == 2
    ]
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        "date": date or time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    data: dict[str, Any] = {
        "machine": machine,
        "rounds": [asdict(r) for r in results],
        "median_turns_per_second": {"1": one_tps, "2": two_tps},
        "throughput_ratio_2_vs_1": round(ratio, 2),
        "ratio_per_round": paired,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "scale_results.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    roles = list(results[0].cores_used)
    rows = "\n".join(
        f"| {r.round} | {r.rasa_servers} | {r.turns} | {r.errors} | {r.wrong_answers} | "
        f"{r.seconds} | **{r.turns_per_second}** | {r.latency_p50_ms} | {r.latency_p95_ms} | "
        f"{r.latency_max_ms} | " + " | ".join(str(r.cores_used[role]) for role in roles) + " |"
        for r in results
    )
    first = results[0]
    starts = {r.rasa_servers: r.start_seconds for r in results}
    md = f"""# Scale-out benchmark: one Rasa server versus two

Written by `scripts/bench_scale.py` on {machine["date"]} ({machine["cpus"]} CPUs; load average
before the run {machine["load_average_before"]}: other work was running on the machine).

Two stacks run side by side, each `make scale-demo`'s (nginx round-robin, 2 action servers,
a PostgreSQL tracker store of its own, the Redis lock store), one with **1 Rasa server** and
one with **2**. They take turns ({rounds} rounds, the order swapped every round, so that both
see the same background load) at the same workload: {first.conversations} order-status
lookups through nginx, {first.concurrency} at a time, 2 turns each (the question, then the
e-mail address; the last answer must hold the order's tracking number). Start-up to ready:
{starts.get(1)} s with one Rasa server, {starts.get(2)} s with two (each stack started alone).

| round | Rasa servers | turns | errors | wrong | seconds | turns/s | p50 ms | p95 ms | max ms | {" | ".join("cores: " + role for role in roles)} |
|---|---|---|---|---|---|---|---|---|---|{"---|" * len(roles)}
{rows}

Cores = CPU seconds / wall seconds during the round, per role (each service's whole process
group); `machine` counts every process, PostgreSQL, Redis and other sessions' work included.

**Median throughput: {one_tps} turns/s with one Rasa server, {two_tps} with two: {ratio:.2f} x**
(per round: {", ".join(str(p) for p in paired)}).

Measured: one Rasa server used a median {median_cores(results, 1, "rasa_servers")} of a core
(one Python event loop cannot use more than one), two used
{median_cores(results, 2, "rasa_servers")} cores together, while the machine was busy on
{median_cores(results, 1, "machine")} and {median_cores(results, 2, "machine")} of its
{machine["cpus"]} cores.

Per core Rasa actually got, the throughput is the same with one server and with two:
{efficiency(results, 1)} and {efficiency(results, 2)} turns per Rasa CPU-second. Adding a
server adds capacity in proportion to the CPU it is given, which is what scaling out needs.

Why not 2x here: the machine has {machine["cpus"]} cores and everything shares them: the Rasa
servers, but also the action servers, nginx, PostgreSQL, Redis, this load generator and
whatever else runs at the time. A Rasa server is a single Python process (one event loop),
so it can use at most one core; a second server can only use what the other processes leave
of the second core, and each turn also waits on the action server and on PostgreSQL (tracker
read and write), which do not get faster with more Rasa servers. On separate machines (or
pods with a core each) the Rasa part scales close to linearly, since the servers share
nothing but the tracker store and the lock store; the database is then the part to watch.
"""
    md_path = out_dir / "scale_results.md"
    md_path.write_text(md, encoding="utf-8")
    return json_path, md_path, ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("SCALE_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("SCALE_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the .md (and .json) from the rounds saved in OUT/scale_results.json",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        saved = json.loads((args.out / "scale_results.json").read_text(encoding="utf-8"))
        rounds = [Result(**r) for r in saved["rounds"]]
        machine = saved["machine"]
        write_report(rounds, args.out, machine["load_average_before"], machine["date"])
        return 0

    nginx_binary()
    check_postgres(args.postgres_url)
    check_redis(args.redis_url)
    run_id = uuid.uuid4().hex[:8]
    orders_db = f"bench_orders_{run_id}"
    tracker_dbs = {rasa: f"bench_tracker_{run_id}_{rasa}" for rasa in (1, 2)}
    load_before = [round(x, 2) for x in os.getloadavg()]
    work_dir = PROJECT_ROOT / "var" / "bench-scale"
    results: list[Result] = []
    stacks: dict[int, tuple[ScaleStack, float]] = {}
    try:
        orders_url, _ = prepare_demo_databases(args.postgres_url, orders_db, "unused")
        orders = lookups(orders_url)
        for rasa, tracker_db in tracker_dbs.items():
            print(f"Starting the stack with {rasa} Rasa server(s)...", flush=True)
            stacks[rasa] = start_stack(
                rasa,
                orders_url=orders_url,
                tracker_url=make_url(args.postgres_url)
                .set(database=tracker_db)
                .render_as_string(hide_password=False),
                redis_url=args.redis_url,
                work_dir=work_dir,
            )
            # Warm-up: a server's first turns load lazy parts (lookup tables, the SQL pool).
            stack = stacks[rasa][0]
            asyncio.run(workload(stack.rasa_url, stack.config.token, orders, 4 * rasa, 4 * rasa))
        for round_number in range(1, args.rounds + 1):
            order = (1, 2) if round_number % 2 else (2, 1)
            for rasa in order:
                stack, start_seconds = stacks[rasa]
                result = run_round(
                    stack,
                    orders,
                    round_number=round_number,
                    conversations=args.conversations,
                    concurrency=args.concurrency,
                    start_seconds=start_seconds,
                )
                print(f"  {json.dumps(asdict(result))}", flush=True)
                results.append(result)
    finally:
        for stack, _ in stacks.values():
            stack.stop()
        for name in [orders_db, *tracker_dbs.values()]:
            drop_database(args.postgres_url, name)
    results.sort(key=lambda r: (r.round, r.rasa_servers))
    json_path, md_path, ratio = write_report(results, args.out, load_before)
    print(f"Two Rasa servers: {ratio:.2f} x the throughput of one. Wrote {json_path}, {md_path}.")
    return 0 if all(r.errors == 0 and r.wrong_answers == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
