"""Tunes the FallbackClassifier thresholds on the training data by cross-validation.

Runs in the Rasa environment:
    .venv-rasa/bin/python scripts/tune_fallback.py [--folds 3] [--out reports]

For each fold it trains the NLU part of `config.yml` (without its FallbackClassifier) on the
other folds and parses the held fold, keeping the two best intents and their confidences.
It then scores every (threshold, ambiguity_threshold) pair of a grid by the expected cost
of a conversation turn:

* a confident wrong answer costs 3 (the customer reads a wrong policy, and may act on it),
* a clarification when the first guess was right costs 1 (one extra click),
* a clarification when the first guess was wrong costs 0.5 if the right intent is one of the
  two buttons (it is rescued), 1 otherwise,
* a confident right answer costs 0.

The held-out test set is never used here, so it stays an honest measure of the result.
Writes reports/fallback_tuning.{json,md}; the chosen values go into config.yml by hand,
with the date of the run, so a change of data that moves them shows up in review.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRONG, CLARIFY_RIGHT, CLARIFY_RESCUED, CLARIFY_LOST = 3.0, 1.0, 0.5, 1.0


def training_examples() -> list[tuple[str, str]]:
    """(text with annotations, intent) of every NLU example under data/."""
    from rasa.shared.data import get_data_files, is_nlu_file
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    files = sorted(get_data_files([str(ROOT / "data")], is_nlu_file))
    data = TrainingData().merge(*[load_data(f) for f in files])
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def nlu_config_without_fallback() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "config.yml").read_text("utf-8"))
    config = copy.deepcopy(config)
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != "FallbackClassifier"]
    return config


async def fold_predictions(
    train: list[tuple[str, str]], test: list[tuple[str, str]], config: dict[str, Any], work: Path
) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    nlu_file = work / "nlu.yml"
    lines = ['version: "3.1"', "nlu:"]
    by_intent: dict[str, list[str]] = {}
    for text, intent in train:
        by_intent.setdefault(intent, []).append(text)
    for intent, texts in by_intent.items():
        lines.append(f"- intent: {intent}\n  examples: |")
        lines.extend(f"    - {t}" for t in texts)
    nlu_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config_file = work / "config.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    model = train_nlu(
        str(config_file), str(nlu_file), str(work / "models"), fixed_model_name="fold"
    )
    agent = Agent.load(model)
    rows = []
    for text, gold in test:
        parsed = await agent.parse_message(text)
        ranking = [r for r in parsed.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        first = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        second = ranking[1] if len(ranking) > 1 else {"name": None, "confidence": 0.0}
        rows.append(
            {
                "gold": gold,
                "first": first["name"],
                "c1": float(first["confidence"]),
                "second": second["name"],
                "c2": float(second["confidence"]),
            }
        )
    return rows


def cost(rows: list[dict[str, Any]], threshold: float, ambiguity: float) -> dict[str, float]:
    total, wrong, clarified = 0.0, 0, 0
    for r in rows:
        fallback = r["c1"] < threshold or (r["c1"] - r["c2"]) < ambiguity
        if not fallback:
            if r["first"] != r["gold"]:
                total += WRONG
                wrong += 1
        else:
            clarified += 1
            if r["first"] == r["gold"]:
                total += CLARIFY_RIGHT
            elif r["second"] == r["gold"]:
                total += CLARIFY_RESCUED
            else:
                total += CLARIFY_LOST
    n = len(rows)
    return {
        "cost_per_turn": round(total / n, 4),
        "confident_wrong": round(wrong / n, 4),
        "clarified": round(clarified / n, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    examples = training_examples()
    random.Random(13).shuffle(examples)
    config = nlu_config_without_fallback()
    rows: list[dict[str, Any]] = []
    for k in range(args.folds):
        test = examples[k :: args.folds]
        train = [e for i, e in enumerate(examples) if i % args.folds != k]
        with tempfile.TemporaryDirectory() as tmp:
            rows += asyncio.run(fold_predictions(train, test, config, Path(tmp)))
        print(f"fold {k + 1}/{args.folds} done", flush=True)
    grid = []
    for t in [x / 100 for x in range(0, 71, 2)]:
        for a in [x / 100 for x in range(0, 31, 2)]:
            grid.append({"threshold": t, "ambiguity_threshold": a, **cost(rows, t, a)})
    cheapest = min(grid, key=lambda g: g["cost_per_turn"])
    # The fold models learn from two thirds of the data, so they are less confident than the
    # model trained on all of it: their optimum overstates the threshold. The cost curve is
    # flat near its minimum, so take the lowest thresholds whose cost is within 3% of it.
    near = [g for g in grid if g["cost_per_turn"] <= cheapest["cost_per_turn"] * 1.03]
    best = min(near, key=lambda g: (g["threshold"], g["ambiguity_threshold"]))
    baseline = next(g for g in grid if g["threshold"] == 0 and g["ambiguity_threshold"] == 0)
    result = {
        "folds": args.folds,
        "examples": len(rows),
        "costs": {
            "confident_wrong": WRONG,
            "clarify_right": CLARIFY_RIGHT,
            "clarify_rescued": CLARIFY_RESCUED,
            "clarify_lost": CLARIFY_LOST,
        },
        "accuracy_first_guess": round(sum(r["first"] == r["gold"] for r in rows) / len(rows), 4),
        "right_in_top_two": round(
            sum(r["gold"] in (r["first"], r["second"]) for r in rows) / len(rows), 4
        ),
        "best": best,
        "no_fallback": baseline,
        "grid": grid,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fallback_tuning.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    md = (
        f"Fallback thresholds tuned by {args.folds}-fold cross-validation on the training data "
        f"({len(rows)} examples): first guess right {result['accuracy_first_guess']:.1%}, right intent "
        f"in the top two {result['right_in_top_two']:.1%}.\n\n"
        f"Lowest cost: threshold {cheapest['threshold']}, ambiguity_threshold "
        f"{cheapest['ambiguity_threshold']} (cost {cheapest['cost_per_turn']}). "
        f"Chosen (lowest thresholds within 3% of it): threshold {best['threshold']}, ambiguity_threshold {best['ambiguity_threshold']} -> "
        f"{best['confident_wrong']:.1%} confident wrong answers, {best['clarified']:.1%} clarified, "
        f"cost {best['cost_per_turn']} per turn (no fallback: {baseline['confident_wrong']:.1%} wrong, "
        f"cost {baseline['cost_per_turn']}).\n"
    )
    (args.out / "fallback_tuning.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
