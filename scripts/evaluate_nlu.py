"""Evaluates the trained NLU model on the held-out test set (runs in the Rasa environment).

Usage: .venv-rasa/bin/python scripts/evaluate_nlu.py [--model models/bot.tar.gz]
           [--test tests/nlu/test_nlu.yml | tests/nlu_realistic] [--out results] [--name evaluation]

Writes `<out>/<name>.json` and `<out>/<name>.md` and prints the summary: per-language
intent accuracy (answered right), confident wrong answers, first guess, macro-F1, the most frequent confusion pairs, out-of-scope precision and
recall, entity precision/recall by type, language-detection accuracy, and the share of
messages the fallback threshold sends to clarification. The per-example language comes from
the `metadata: {language: ...}` of each block of the test file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ANNOTATION = re.compile(
    r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[\w-]+)(?::(?P<value>[^)]+))?\)|(?P<json>\{[^}]*\}))"
)


def order_number_pattern() -> re.Pattern[str]:
    """An annotated order number: a shop's prefix (from the shop folders) or "#", 6 digits."""
    from bot.nlu.order_numbers import store_prefixes  # PYTHONPATH is the repository (Makefile)

    prefixes = "|".join(re.escape(prefix) for prefix in store_prefixes())
    return re.compile(rf"(?i)^\s*#?\s*(?:({prefixes})\s*-?\s*)?(\d{{6}})\s*$")


def gold_value(entity: str, value: str) -> str:
    """The value the extractor should give for an annotated span.

    Test annotations keep order numbers as typed ("om 104233", "#104233"); the extractor
    normalises them ("OM-104233", "104233"), as docs/contracts.md says.
    """
    if entity == "order_number":
        match = order_number_pattern().match(value)
        if match:
            prefix, digits = match.groups()
            return f"{prefix.upper()}-{digits}" if prefix else digits
    if entity == "email":
        return value.lower()
    if entity == "postcode":
        return " ".join(value.upper().split())
    return value


def parse_example(line: str) -> tuple[str, list[tuple[str, str]]]:
    """Plain text and the (entity, value) pairs of one annotated example."""
    entities: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        text = match.group("text")
        if match.group("json"):
            data = json.loads(match.group("json"))
            entities.append(
                (data["entity"], gold_value(data["entity"], str(data.get("value", text))))
            )
        else:
            name = match.group("entity")
            entities.append((name, gold_value(name, match.group("value") or text)))
        return text

    return ANNOTATION.sub(replace, line), entities


def load_test_set(path: Path) -> list[dict[str, Any]]:
    """Examples of a Rasa NLU YAML file (or of every file of a folder, in name order) with
    intent, language and expected entities."""
    if path.is_dir():
        return [e for file in sorted(path.glob("*.yml")) for e in load_test_set(file)]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        language = (block.get("metadata") or {}).get("language")
        for raw in str(block.get("examples", "")).splitlines():
            raw = raw.strip()
            if not raw.startswith("- "):
                continue
            text, entities = parse_example(raw[2:].strip())
            examples.append(
                {
                    "text": text,
                    "intent": block["intent"],
                    "language": language,
                    "entities": entities,
                }
            )
    return examples


def macro_f1(pairs: list[tuple[str, str]]) -> tuple[float, dict[str, dict[str, float]]]:
    """Macro-averaged F1 over the gold labels, and the per-label report."""
    labels = sorted({gold for gold, _ in pairs})
    report: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return (sum(r["f1"] for r in report.values()) / len(report) if report else 0.0), report


async def predict(model: Path, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parses every example with the trained model."""
    from bot.rasa_ext.preload import preload

    preload()  # skops before Rasa and TensorFlow: 9 s of CPU less (bot/rasa_ext/preload.py)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Rasa logs every parse at debug level through structlog unless told otherwise.
    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))
    results = []
    for example in examples:
        parsed = await agent.parse_message(example["text"])
        results.append(parsed)
    return results


def evaluate(examples: list[dict[str, Any]], parsed: list[dict[str, Any]]) -> dict[str, Any]:
    """All the numbers of the report."""
    out: dict[str, Any] = {"examples": len(examples), "by_language": {}}
    for language in ("fr", "en", None):
        subset = [
            (e, p)
            for e, p in zip(examples, parsed, strict=False)
            if language is None or e["language"] == language
        ]
        if not subset:
            continue
        # A message the fallback sends to clarification counts as wrong for accuracy:
        # the customer did not get the right answer straight away.
        pairs = [(e["intent"], p["intent"]["name"]) for e, p in subset]
        accuracy = sum(1 for g, p in pairs if g == p) / len(pairs)
        f1, report = macro_f1(pairs)
        fallback = sum(1 for _, p in pairs if p == "nlu_fallback") / len(pairs)
        # A confident wrong answer: not sent to clarification, and not the gold intent.
        wrong = sum(1 for g, p in pairs if p not in (g, "nlu_fallback")) / len(pairs)
        # Intent as ranked first by the classifier, before the fallback threshold.
        raw_pairs = [(e["intent"], ranked_top(p)) for e, p in subset]
        raw_f1, _ = macro_f1(raw_pairs)
        first = sum(1 for g, p in raw_pairs if g == p) / len(raw_pairs)
        key = language or "all"
        out["by_language"][key] = {
            "examples": len(pairs),
            "accuracy": round(accuracy, 4),
            "macro_f1": round(f1, 4),
            "macro_f1_without_fallback": round(raw_f1, 4),
            "first_guess_accuracy": round(first, 4),
            "confident_wrong": round(wrong, 4),
            "fallback_rate": round(fallback, 4),
            "per_intent": {k: {m: round(v, 4) for m, v in r.items()} for k, r in report.items()},
        }
    confusions = Counter(
        (e["intent"], p["intent"]["name"])
        for e, p in zip(examples, parsed, strict=False)
        if e["intent"] != p["intent"]["name"]
    )
    out["confusions"] = [
        {"gold": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(25)
    ]
    gold_oos = [e["intent"] == "out_of_scope" for e in examples]
    pred_oos = [p["intent"]["name"] == "out_of_scope" for p in parsed]
    tp = sum(1 for g, p in zip(gold_oos, pred_oos, strict=False) if g and p)
    out["out_of_scope"] = {
        "precision": round(tp / sum(pred_oos), 4) if sum(pred_oos) else 0.0,
        "recall": round(tp / sum(gold_oos), 4) if sum(gold_oos) else 0.0,
        "support": sum(gold_oos),
    }
    entity_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for example, parse in zip(examples, parsed, strict=False):
        gold = Counter(example["entities"])
        predicted = Counter(
            (ent["entity"], str(ent["value"]))
            for ent in parse.get("entities", [])
            if ent["entity"] not in ("language", "store")
        )
        for (entity, _value), n in (gold & predicted).items():
            entity_counts[entity]["tp"] += n
        for (entity, _value), n in (predicted - gold).items():
            entity_counts[entity]["fp"] += n
        for (entity, _value), n in (gold - predicted).items():
            entity_counts[entity]["fn"] += n
    out["entities"] = {}
    for entity, c in sorted(entity_counts.items()):
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        out["entities"][entity] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "support": c["tp"] + c["fn"],
        }
    detected = [
        (
            e["language"],
            next((x["value"] for x in p.get("entities", []) if x["entity"] == "language"), None),
        )
        for e, p in zip(examples, parsed, strict=False)
        if e["language"]
    ]
    out["language_detection"] = {
        "correct": round(sum(1 for g, d in detected if g == d) / len(detected), 4)
        if detected
        else 0.0,
        "wrong": round(sum(1 for g, d in detected if d is not None and g != d) / len(detected), 4)
        if detected
        else 0.0,
        "undecided": round(sum(1 for _, d in detected if d is None) / len(detected), 4)
        if detected
        else 0.0,
    }
    out["errors"] = [
        {
            "text": e["text"],
            "gold": e["intent"],
            "predicted": p["intent"]["name"],
            "confidence": round(p["intent"].get("confidence") or 0.0, 3),
            "language": e["language"],
        }
        for e, p in zip(examples, parsed, strict=False)
        if e["intent"] != p["intent"]["name"]
    ]
    return out


def ranked_top(parse: dict[str, Any]) -> str:
    """The classifier's first intent, ignoring the fallback."""
    for item in parse.get("intent_ranking", []):
        if item["name"] != "nlu_fallback":
            return str(item["name"])
    return str(parse["intent"]["name"])


def markdown(result: dict[str, Any]) -> str:
    """A short summary table for the README."""
    lines = [
        f"`{result.get('test_set', '?')}`: accuracy = answered right (a message sent to "
        "clarification is not); confident wrong = answered with another intent.",
        "",
        "| language | examples | accuracy | confident wrong | first guess | macro-F1 | macro-F1 before fallback | sent to clarification |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in result["by_language"].items():
        lines.append(
            f"| {key} | {r['examples']} | {r['accuracy']:.3f} | {r['confident_wrong']:.1%} | "
            f"{r['first_guess_accuracy']:.3f} | {r['macro_f1']:.3f} | "
            f"{r['macro_f1_without_fallback']:.3f} | {r['fallback_rate']:.1%} |"
        )
    oos = result["out_of_scope"]
    lines += [
        "",
        f"Out of scope: precision {oos['precision']:.3f}, recall {oos['recall']:.3f} ({oos['support']} examples).",
        "",
        "| entity | precision | recall | support |",
        "|---|---|---|---|",
    ]
    for entity, r in result["entities"].items():
        lines.append(f"| {entity} | {r['precision']:.3f} | {r['recall']:.3f} | {r['support']} |")
    ld = result["language_detection"]
    lines += [
        "",
        f"Language detection on the test set: {ld['correct']:.1%} right, {ld['wrong']:.1%} wrong, "
        f"{ld['undecided']:.1%} left undecided (the conversation keeps its language).",
        "",
        "Most frequent confusions (gold → predicted): "
        + ", ".join(
            f"{c['gold']} → {c['predicted']} ({c['count']})" for c in result["confusions"][:8]
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "bot.tar.gz")
    parser.add_argument(
        "--test",
        type=Path,
        default=ROOT / "tests" / "nlu" / "test_nlu.yml",
        help="a test file or a folder of them (tests/nlu_realistic)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--name", default="evaluation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    examples = load_test_set(args.test)
    started = time.monotonic()
    parsed = asyncio.run(predict(args.model, examples))
    result = evaluate(examples, parsed)
    result["model"] = str(args.model)
    result["test_set"] = (
        str(args.test.relative_to(ROOT)) if args.test.is_relative_to(ROOT) else str(args.test)
    )
    result["seconds"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    summary = markdown(result)
    (args.out / f"{args.name}.md").write_text(summary, encoding="utf-8")
    print(summary)
    print(f"Written: {args.out / (args.name + '.json')} and {args.out / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
