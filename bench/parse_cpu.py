"""CPU time of one NLU parse inside the Rasa process: a figure the machine's load barely moves.

Usage (Rasa environment)::

    .venv-rasa/bin/python bench/parse_cpu.py [--model models/bot.tar.gz] [--messages 1000]
                                             [--profile 30] [--out FILE.json]

It loads the model's NLU pipeline in this process (Rasa's Agent, as the server does, with the
project's Rasa fixes installed by the launcher's bot.rasa_ext.cli.install_fixes), parses the
benchmark's messages (bench/workload.py: tests/nlu and data/, annotations stripped, the same
order as `make bench`) and times each parse with `time.process_time()` (CPU of this process
only: the time other programs take on a shared machine is not counted, unlike `make bench`'s
latencies).
It prints the CPU milliseconds per parse (p50 / p95 / mean), and the CPU spent in each
component of the pipeline (each graph node's `run` timed the same way). `--profile N` prints
cProfile's N most expensive functions (cumulative) of a second pass. A script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def install_fixes() -> None:
    """The fixes the Rasa launcher installs before Rasa runs: its own function, not a copy."""
    from bot.rasa_ext.cli import install_fixes as launcher_fixes

    launcher_fixes()


def time_components(per_node: dict[str, list[float]]) -> None:
    """Wraps GraphNode.__call__ so that each node's CPU time is recorded under its name."""
    from rasa.engine.graph import GraphNode

    original = GraphNode.__call__

    def timed(self: Any, *inputs: Any) -> Any:
        started = time.process_time()
        try:
            return original(self, *inputs)
        finally:
            per_node[self._node_name].append(time.process_time() - started)

    GraphNode.__call__ = timed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from rasa.core.agent import Agent

    from bench.workload import nlu_messages

    per_node: dict[str, list[float]] = defaultdict(list)
    loaded = time.process_time()
    agent = Agent.load(str(args.model))
    loaded = time.process_time() - loaded
    messages = nlu_messages()
    for text in messages[: args.warmup]:
        await agent.parse_message(text)
    time_components(per_node)
    cpu: list[float] = []
    wall: list[float] = []
    for index in range(args.messages):
        text = messages[index % len(messages)]
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        await agent.parse_message(text)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    result: dict[str, Any] = {
        "model": str(args.model),
        "messages": args.messages,
        "model_load_cpu_s": round(loaded, 2),
        "cpu_ms": {
            "p50": round(percentile(cpu, 50) * 1000, 2),
            "p95": round(percentile(cpu, 95) * 1000, 2),
            "mean": round(sum(cpu) / len(cpu) * 1000, 2),
        },
        "wall_ms": {
            "p50": round(percentile(wall, 50) * 1000, 2),
            "p95": round(percentile(wall, 95) * 1000, 2),
        },
        "cpu_ms_per_component": {
            name: round(sum(times) / len(cpu) * 1000, 3)
            for name, times in sorted(per_node.items(), key=lambda item: -sum(item[1]))
        },
    }
    if args.profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for index in range(min(args.messages, 500)):
            await agent.parse_message(messages[index % len(messages)])
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        result["profile"] = out.getvalue()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "bot.tar.gz")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N")
    parser.add_argument("--no-fixes", action="store_true", help="stock Rasa (no bot.rasa_ext)")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not args.no_fixes:
        install_fixes()
    result = asyncio.run(run(args))
    profile = result.pop("profile", None)
    result["load_average"] = [round(x, 2) for x in __import__("os").getloadavg()]
    print(json.dumps(result, indent=2))
    if profile:
        print(profile)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
