"""Chooses the intent classifier's options and the fallback thresholds by seeded cross-validation
on the training data only (runs in the Rasa environment, in a minute or two):

    .venv-rasa/bin/python scripts/tune_classifier.py [--folds 3] [--seed 13] [--out reports]

`bot.nlu.intent_classifier.TfidfIntentClassifier` is a scikit-learn pipeline over the message
text, so its cross-validation needs no Rasa training: each fold fits `build_model(options)` on
the other folds of `data/` and ranks the held fold with the same `rankings()` the Rasa
component uses. The folds are those of `make evaluate` (`scripts/compare_with_peer.py`:
stratified by intent and language, fixed seed). The plain TF-IDF peer of issue 11 is scored on
the same folds.

1. Every variant of the grid below is scored (first-guess accuracy and macro-F1 per
   language); the one with the best mean of the French and English macro-F1 is chosen.
2. With the chosen variant's fold predictions, every (threshold, ambiguity_threshold) pair is
   scored by the expected cost of a turn (`scripts/tune_fallback.py`'s costs: a confident wrong
   answer 3, a clarification 1, or 0.5 when the right intent is one of its two buttons).

Neither test set is read. Results: reports/classifier_cross_validation.{json,md}; the chosen
options and thresholds go into config.yml by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from compare_with_peer import (  # noqa: E402
    LANGUAGES,
    peer_predictions,
    scores,
    stratified_folds,
    training_examples,
)
from tune_fallback import cost  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "words1-2+chars2-5 C=10": {},
    "words1-2+chars2-5 C=3": {"C": 3.0},
    "words1-2+chars2-5 C=30": {"C": 30.0},
    "words1-2+chars2-5 C=100": {"C": 100.0},
    "words1-2+chars2-5 C=300": {"C": 300.0},
    "words1-2+chars2-5 C=10 balanced": {"class_weight": "balanced"},
    "words1+chars2-5 C=10": {"word_ngrams": [1, 1]},
    "words1-2+chars1-4 C=10": {"char_ngrams": [1, 4]},
    "words1-2 only C=10": {"char_ngrams": None},
}
# The default run (each variant fits one model per fold; 2 loaded cores).
DEFAULT_VARIANTS = "words1-2+chars2-5 C=30,words1-2+chars2-5 C=100,words1-2+chars2-5 C=300"


def fold_rankings(
    examples: list[dict[str, Any]], folds: list[list[int]], options: dict[str, Any]
) -> list[list[dict[str, Any]]]:
    from bot.nlu.intent_classifier import build_model, rankings
    from bot.nlu.normalise import normalise

    out: list[Any] = [None] * len(examples)
    for held in folds:
        held_set = set(held)
        train = [e for i, e in enumerate(examples) if i not in held_set]
        model = build_model(options)
        model.fit([normalise(e["text"]) for e in train], [e["intent"] for e in train])
        for i, ranking in zip(
            held, rankings(model, [examples[i]["text"] for i in held]), strict=True
        ):
            out[i] = ranking
    return out


def as_parse(ranking: list[dict[str, Any]], threshold: float, ambiguity: float) -> dict[str, Any]:
    first, second = ranking[0], ranking[1] if len(ranking) > 1 else {"confidence": 0.0}
    fallback = (
        first["confidence"] < threshold or first["confidence"] - second["confidence"] < ambiguity
    )
    name = "nlu_fallback" if fallback else first["name"]
    return {"intent": {"name": name}, "intent_ranking": ranking}


def fallback_grid(examples: list[dict[str, Any]], ranked: list[Any]) -> dict[str, Any]:
    rows = [
        {
            "gold": e["intent"],
            "first": r[0]["name"],
            "c1": r[0]["confidence"],
            "second": r[1]["name"],
            "c2": r[1]["confidence"],
        }
        for e, r in zip(examples, ranked, strict=True)
    ]
    grid = []
    for t in [x / 100 for x in range(0, 71, 2)]:
        for a in [x / 100 for x in range(0, 31, 2)]:
            grid.append({"threshold": t, "ambiguity_threshold": a, **cost(rows, t, a)})
    cheapest = min(grid, key=lambda g: g["cost_per_turn"])
    return {"cheapest": cheapest, "no_fallback": grid[0], "grid": grid}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument(
        "--variants", default=DEFAULT_VARIANTS, help=f"among: {', '.join(VARIANTS)}"
    )
    args = parser.parse_args()
    examples = training_examples()
    folds = stratified_folds(examples, args.folds, args.seed)
    results: dict[str, Any] = {"folds": args.folds, "seed": args.seed, "examples": len(examples)}

    peer: list[Any] = [None] * len(examples)
    for held in folds:
        held_set = set(held)
        train = [e for i, e in enumerate(examples) if i not in held_set]
        for i, p in zip(held, peer_predictions(train, [examples[i] for i in held]), strict=True):
            peer[i] = p
    results["peer"] = scores(examples, peer)

    variants: dict[str, Any] = {}
    ranked_by: dict[str, Any] = {}
    for name in args.variants.split(","):
        started = time.monotonic()
        ranked = fold_rankings(examples, folds, VARIANTS[name])
        ranked_by[name] = ranked
        variants[name] = {
            "options": VARIANTS[name],
            **scores(examples, [as_parse(r, 0.0, 0.0) for r in ranked]),
            "seconds": round(time.monotonic() - started, 1),
        }
        v = variants[name]
        print(
            f"{name}: fr {v['fr']['macro_f1']:.4f} en {v['en']['macro_f1']:.4f} "
            f"acc {v['all']['answered_right']:.4f} ({v['seconds']} s)",
            flush=True,
        )
    chosen = max(
        variants, key=lambda n: variants[n]["fr"]["macro_f1"] + variants[n]["en"]["macro_f1"]
    )
    results["variants"] = variants
    results["chosen"] = chosen
    tuning = fallback_grid(examples, ranked_by[chosen])
    best = tuning["cheapest"]
    results["fallback"] = {k: v for k, v in tuning.items() if k != "grid"}
    results["with_fallback"] = scores(
        examples,
        [as_parse(r, best["threshold"], best["ambiguity_threshold"]) for r in ranked_by[chosen]],
    )

    lines = [
        "# Intent classifier chosen by cross-validation on the training data",
        "",
        f"`scripts/tune_classifier.py`: {args.folds} stratified folds (intent x language) of the "
        f"{len(examples)} examples of `data/`, seed {args.seed} (the folds of `make evaluate`). "
        "First guess, no fallback. Neither test set is read.",
        "",
        "| variant | macro-F1 fr | macro-F1 en | accuracy fr | accuracy en | accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [("peer (issue 11 baseline)", results["peer"])] + list(variants.items())
    for name, v in rows:
        mark = " (chosen)" if name == chosen else ""
        lines.append(
            f"| {name}{mark} | {v['fr']['macro_f1']:.4f} | {v['en']['macro_f1']:.4f} | "
            f"{v['fr']['answered_right']:.4f} | {v['en']['answered_right']:.4f} | "
            f"{v['all']['answered_right']:.4f} |"
        )
    wf = results["with_fallback"]
    lines += [
        "",
        f"Fallback thresholds (cheapest expected cost per turn on these folds: confident wrong 3, "
        f"clarification 1, or 0.5 when the right intent is one of the two buttons): threshold "
        f"{best['threshold']}, ambiguity_threshold {best['ambiguity_threshold']}: cost "
        f"{best['cost_per_turn']} per turn, {best['confident_wrong']:.1%} confident wrong, "
        f"{best['clarified']:.1%} clarified (no fallback: {tuning['no_fallback']['confident_wrong']:.1%} "
        f"wrong, cost {tuning['no_fallback']['cost_per_turn']}).",
        "",
        "With these thresholds: "
        + ", ".join(
            f"{lang} answered right {wf[lang]['answered_right']:.3f}, confident wrong "
            f"{wf[lang]['confident_wrong']:.1%}"
            for lang in LANGUAGES
        )
        + ".",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "classifier_cross_validation.json").write_text(
        json.dumps(results, indent=2) + "\n", encoding="utf-8"
    )
    (args.out / "classifier_cross_validation.md").write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
