"""The benchmark script runs end to end on a tiny workload and writes well-formed results.

Not a timed test: nothing here compares a number with a target (that is `make bench`'s job,
on a quiet machine). It checks that bench/run.py drives every kind of measurement against the
session's real servers (`live_stack`), that each one succeeded without an error, and that
results.json and results.md have the shape the README and the lead rely on.

The script starts what it needs besides: its own gateway (a high chat rate limit: the live
stack's gateway allows 30 messages a minute per address, shared with the other tests) and,
for the e-mail measurement, a gateway with SMTP_URL on a local aiosmtpd server. The Rasa
start-up, the A/B comparison and the training are skipped: each costs a Rasa server or a
training, and they have their own switches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.machine import port_of
from bot.config import PROJECT_ROOT
from devstack.stack import port_is_free
from tests.conftest import LiveStack, clear_verification_attempts

pytestmark = pytest.mark.e2e

LATENCY_KEYS = {"count", "errors", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


def run_bench(
    live_stack: LiveStack, demo_database_url: str, out: Path, options: list[str], timeout: float
) -> None:
    """Runs bench/run.py against the live stack with these options, writing to `out`.

    Always without the Rasa start-up, the variants and the training (a Rasa server or a
    training each); the run must succeed.
    """
    # A module fixture (bench_output) is set up before the autouse per-test clean-up of the
    # verification log (tests/conftest.py): an earlier test that locked OM-104233 on purpose
    # (five wrong proofs) would make the bench's order turns get no order data. Clear it here.
    clear_verification_attempts(demo_database_url)
    command = [
        sys.executable, "bench/run.py",
        "--rasa-url", live_stack.rasa_url,
        "--action-url", live_stack.action_url,
        "--no-startup", "--no-variants", "--no-train",
        *options,
        "--out-dir", str(out),
        "--log-dir", str(out / "log"),
    ]  # fmt: skip
    # The live stack's action server answers its own secret only (bot/action_server.py), its
    # Rasa API its own token.
    env = {
        **os.environ,
        "ACTION_SERVER_SECRET": live_stack.action_secret,
        "RASA_TOKEN": live_stack.rasa_token,
    }
    completed = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


@pytest.fixture(scope="module")
def bench_output(
    live_stack: LiveStack, demo_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Runs the benchmark once for the module; returns its output folder."""
    out = tmp_path_factory.mktemp("bench")
    options = [
        "--no-compare-fixes",
        "--parse-messages", "20",
        "--chat-turns", "3",
        "--warmup", "2",
        "--concurrency", "1,2",
        "--duration", "2",
        "--mails", "2",
        "--mail-timeout", "120",
    ]  # fmt: skip
    run_bench(live_stack, demo_database_url, out, options, timeout=600)
    return out


@pytest.fixture(scope="module")
def results(bench_output: Path) -> dict:
    return json.loads((bench_output / "results.json").read_text(encoding="utf-8"))


def test_the_machine_and_its_load_are_recorded(results: dict) -> None:
    assert results["machine"]["cpu_count"] >= 1
    assert "cpu_model" in results["machine"]
    assert len(results["load_average"]["start"]) == 3
    assert len(results["load_average"]["end"]) == 3


def test_nlu_parse_latencies_over_every_message(results: dict) -> None:
    parse = results["nlu_parse"]
    assert parse.keys() >= LATENCY_KEYS
    assert (parse["count"], parse["errors"]) == (20, 0)
    assert 0 < parse["p50_ms"] <= parse["p95_ms"] <= parse["p99_ms"] <= parse["max_ms"]
    assert parse["distinct_messages"] > 1000  # test set + training data, both languages
    assert parse["rasa_cpu_ms_per_parse"] > 0  # the Rasa server's own CPU, found by its port


def test_full_chat_turns_answer_faq_and_order_status(results: dict) -> None:
    for kind in ("faq", "order_status"):
        turn = results["chat_turn"][kind]
        assert turn.keys() >= LATENCY_KEYS
        # An order-status answer without the order's tracking number counts as an error.
        assert (turn["count"], turn["errors"]) == (3, 0), turn


def test_each_concurrency_level_reports_throughput_without_errors(results: dict) -> None:
    levels = results["concurrency"]
    assert [level["conversations"] for level in levels] == [1, 2]
    for level in levels:
        assert level["count"] > 0 and level["errors"] == 0, level
        assert level["turns_per_s"] > 0
        assert level.keys() >= LATENCY_KEYS
        assert {"Rasa server", "action server", "gateway"} <= level["cpu_ms_per_turn"].keys()


def test_the_mails_go_from_the_webhook_to_the_smtp_server(results: dict) -> None:
    mail = results["email"]
    assert mail["replies_received"] == 2 and mail["errors"] == 0, mail
    assert mail["mails_per_s"] > 0
    assert mail["inbox_states"] == {"replied": 2}


def test_memory_and_model_size(results: dict) -> None:
    for name in ("Rasa server", "action server", "gateway"):
        assert results["memory"][name]["rss_mb"] > 10, results["memory"]
    assert results["model"]["size_mb"] > 0


def test_skipped_measurements_say_so_and_targets_are_evaluated(results: dict) -> None:
    for name in ("startup", "rasa_fixes", "training"):
        assert "skipped" in results[name]["note"]
    assert "skipped" in results["variants"]["diet"]["note"]
    assert [row["target"] for row in results["targets"]] == [
        "full FAQ turn p95, one conversation",
        "throughput at 8 concurrent conversations, no error",
        "Rasa start-up to first answer",
    ]


def test_the_markdown_table_is_written(bench_output: Path) -> None:
    markdown = (bench_output / "results.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Benchmark results")
    assert "| NLU parse (`POST /model/parse`) | 20 | 0 |" in markdown
    assert "## Targets" in markdown


def test_the_ab_comparison_measures_a_stock_rasa_server_and_stops_it(
    live_stack: LiveStack, demo_database_url: str, tmp_path: Path
) -> None:
    """`--compare-fixes` starts a stock `rasa run` beside the live (fixed) Rasa, measures it
    like the main one, and stops it.

    The A/B once gave "no answer in 120 s": its endpoints file lacked the answer service's
    token, so every text of the stock server got a 401 from the answer service.
    """
    out = tmp_path / "ab"
    options = [
        "--compare-fixes",
        "--parse-messages", "5",
        "--chat-turns", "2",
        "--warmup", "1",
        "--concurrency", "",
        "--mails", "0",
    ]  # fmt: skip
    run_bench(live_stack, demo_database_url, out, options, timeout=900)
    ab = json.loads((out / "results.json").read_text(encoding="utf-8"))["rasa_fixes"]
    assert "error" not in ab, ab
    assert ab["startup"]["rasa_fixes"] is False  # the live stack's Rasa has the fixes
    assert ab["startup"]["first_answer_s"] > 0
    assert (ab["nlu_parse"]["count"], ab["nlu_parse"]["errors"]) == (5, 0)
    for kind in ("faq", "order_status"):
        assert (ab["chat_turn"][kind]["count"], ab["chat_turn"][kind]["errors"]) == (2, 0), ab
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "| measurement | stock (`rasa run`) | with fixes (as `make run`) |" in markdown
    # Nothing the comparison started is left: its Rasa server's port is free again.
    assert port_is_free(port_of(ab["startup"]["rasa_url"]))
