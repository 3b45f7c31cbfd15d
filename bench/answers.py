"""What the answer service adds to a turn: latency of Rasa's NLG call, measured on this machine.

Starts the answer service exactly as `make run` does (`devstack.stack.answer_service`, with a
token), posts the requests Rasa posts (`{"response", "arguments", "tracker", "channel"}`, with a
tracker of a 20-turn conversation), for every FAQ response x shop x language, one at a time,
and writes bench/answers_results.json and bench/answers_results.md. A script, not a test: it
prints numbers, it asserts none.

    .venv/bin/python bench/answers.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.answers.library import response_names  # noqa: E402
from bot.shops import shop_ids  # noqa: E402
from devstack.stack import Stack, answer_service, answer_token, free_port  # noqa: E402

BENCH_DIR = ROOT / "bench"


def tracker(store: str, lang: str, turns: int = 20) -> dict[str, Any]:
    """A tracker as Rasa serialises it (EventVerbosity.ALL) after `turns` turns."""
    events: list[dict[str, Any]] = []
    for turn in range(turns):
        events += [
            {"event": "action", "name": "action_listen", "timestamp": 1.0 + turn},
            {
                "event": "user",
                "text": "Quels moyens de paiement acceptez-vous ?",
                "parse_data": {"intent": {"name": "payment_methods", "confidence": 0.9}},
                "metadata": {"store": store, "channel": "web"},
                "timestamp": 1.1 + turn,
            },
            {"event": "slot", "name": "language", "value": lang, "timestamp": 1.2 + turn},
            {"event": "action", "name": "utter_payment_methods", "timestamp": 1.3 + turn},
            {"event": "bot", "text": "x" * 300, "timestamp": 1.4 + turn},
        ]
    return {
        "sender_id": "bench",
        "slots": {"store": store, "language": lang},
        "latest_message": {"intent": {"name": "payment_methods"}, "metadata": {"store": store}},
        "events": events,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/answers.py")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    responses = [name for name in response_names() if not name.startswith("utter_topic_")]
    bodies = [
        {
            "response": name,
            "arguments": {"handoff_email": "client@example.com"},
            "tracker": tracker(store, lang),
            "channel": {"name": "rest"},
        }
        for store in shop_ids()
        for lang in ("fr", "en")
        for name in responses
    ]
    token = answer_token()
    with tempfile.TemporaryDirectory() as work:
        service = answer_service(port=free_port(), env={"ANSWER_SERVICE_TOKEN": token})
        with Stack([service], log_dir=Path(work)).running():
            url = f"{service.base_url}/nlg?token={token}"
            assert service.process is not None
            with httpx.Client(timeout=30) as client:
                for body in bodies[:50]:  # warm-up
                    client.post(url, json=body).raise_for_status()
                cpu_before = cpu_seconds(service.process.pid)
                latencies = []
                started = time.perf_counter()
                for index in range(args.requests):
                    body = bodies[index % len(bodies)]
                    begin = time.perf_counter()
                    answer = client.post(url, json=body)
                    latencies.append((time.perf_counter() - begin) * 1000)
                    answer.raise_for_status()
                    assert answer.json()["text"], body["response"]
                elapsed = time.perf_counter() - started
                cpu = cpu_seconds(service.process.pid) - cpu_before
    results = {
        "requests": args.requests,
        "distinct_bodies": len(bodies),
        "tracker_events": len(bodies[0]["tracker"]["events"]),
        "body_bytes": len(json.dumps(bodies[0])),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "requests_per_s": round(args.requests / elapsed, 1),
        "service_cpu_ms_per_request": round(cpu * 1000 / args.requests, 2),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    (BENCH_DIR / "answers_results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH_DIR / "answers_results.md").write_text(
        "# Answer service (Rasa's NLG endpoint): one call per answer text\n\n"
        f"`bench/answers.py`, {results['measured_at']}: {args.requests} requests one at a time "
        f"over loopback, each with a {results['tracker_events']}-event tracker "
        f"({results['body_bytes']} bytes, as Rasa sends it), every response x shop x "
        f"language ({len(bodies)} bodies).\n\n"
        "| p50 | p95 | p99 | requests/s | service CPU per request |\n|---:|---:|---:|---:|---:|\n"
        f"| {results['p50_ms']} ms | {results['p95_ms']} ms | {results['p99_ms']} ms | "
        f"{results['requests_per_s']} | {results['service_cpu_ms_per_request']} ms |\n\n"
        f"{results['cores']} cores, load average {results['load_average']} during the run "
        "(the machine was shared with other work).\n",
        encoding="utf-8",
    )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
