"""The results: targets met or not, `bench/results.md` and `bench/results.json`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bench.machine import load_average
from bench.workload import DIET_MODEL

TARGETS = {
    "faq_turn_p95_ms": 100.0,  # full FAQ turn, one conversation
    "throughput_at_8_tps": 50.0,  # turns per second at 8 concurrent conversations, no error
    "startup_first_answer_s": 30.0,  # Rasa server start to first answer
}


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
            f"stripped); language the model detected: {mix or 'n/a'} (short messages get none); "
            f"Rasa server CPU per parse: {_fmt(parse.get('rasa_cpu_ms_per_parse'), ' ms')}. "
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
    settings = results.get("settings") or {}
    main_fixes = bool((results.get("startup") or {}).get("rasa_fixes", settings.get("rasa_fixes")))
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
            (_measured(fixed.get("startup")) or {}).get("first_answer_s"),
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
