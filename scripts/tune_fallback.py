"""The expected cost of a conversation turn under fallback thresholds, and the fold parses of
a full Rasa pipeline (used by `scripts/tune_classifier.py` and `scripts/compare_pipelines.py`).

The cost of a turn:

* a confident wrong answer costs 3 (the customer reads a wrong policy, and may act on it),
* a clarification when the first guess was right costs 1 (one extra click and turn),
* a clarification when the first guess was wrong costs 0.5 if the right intent is one of the
  two buttons (it is rescued), 1 otherwise,
* a confident right answer costs 0.

The thresholds themselves are chosen by `scripts/tune_classifier.py` on the seeded folds of
`make evaluate` (`reports/classifier_cross_validation.md`); this module's own cross-validation
run, which trained the whole pipeline per fold, is retired with its report.
"""

from __future__ import annotations

import copy
import sys
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


def cost(
    rows: list[dict[str, Any]],
    threshold: float,
    ambiguity: float,
    wrong_cost: float = WRONG,
    rescued_cost: float = CLARIFY_RESCUED,
    lost_cost: float = CLARIFY_LOST,
    rule: str = "either",
) -> dict[str, float]:
    """Cost per turn of a fallback rule: "either" (FallbackClassifier's: a first score under
    `threshold` or a second intent within `ambiguity`) or "both" (only when both hold)."""
    total, wrong, clarified = 0.0, 0, 0
    for r in rows:
        low, close = r["c1"] < threshold, (r["c1"] - r["c2"]) < ambiguity
        fallback = (low and close) if rule == "both" else (low or close)
        if not fallback:
            if r["first"] != r["gold"]:
                total += wrong_cost
                wrong += 1
        else:
            clarified += 1
            if r["first"] == r["gold"]:
                total += CLARIFY_RIGHT
            elif r["second"] == r["gold"]:
                total += rescued_cost
            else:
                total += lost_cost
    n = len(rows)
    return {
        "cost_per_turn": round(total / n, 4),
        "confident_wrong": round(wrong / n, 4),
        "clarified": round(clarified / n, 4),
    }
