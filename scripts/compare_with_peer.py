"""The NLU model beside a plain TF-IDF peer, on both test sets and by seeded cross-validation.

Runs in the Rasa environment (`make evaluate` calls it after training the model):

    .venv-rasa/bin/python scripts/compare_with_peer.py [--model models/bot.tar.gz]
        [--folds 3] [--seed 13] [--out reports] [--skip-cv]

The peer is the baseline of issue 11: `TfidfVectorizer` over words (1-2 grams) and over
characters within word bounds (`char_wb`, 2-5 grams), both with sublinear term frequency,
then `LogisticRegression(C=10)`, no fallback. It is trained on exactly the same examples as
the model (every NLU example under `data/`, annotations removed).

It writes:

* `reports/evaluation.{json,md}`: the model on the clean held-out set `tests/nlu/`
  (what the support console shows);
* `reports/evaluation_realistic.{json,md}`: the model on the realistic set
  `tests/nlu_realistic/` (French and English customer messages, measurement only);
* `reports/cross_validation.{json,md}`: stratified K-fold cross-validation on the training
  data, folds drawn with a fixed seed (the same folds on every run and for both models):
  each fold trains `config.yml` (fallback included) and the peer on the other folds;
* `reports/nlu_comparison.{json,md}`: everything side by side, per language, and prints it.

"answered right" counts a message sent to clarification (`nlu_fallback`) as not answered;
"confident wrong" is a message answered with another intent; "first guess" is the
classifier's best intent before the fallback. The peer has no fallback: its first guess is
its answer. Neither test set is ever trained on or used to choose anything here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from evaluate_nlu import evaluate, load_test_set, macro_f1, markdown, ranked_top  # noqa: E402

CLEAN_SET = ROOT / "tests" / "nlu" / "test_nlu.yml"
REALISTIC_SET = ROOT / "tests" / "nlu_realistic"
LANGUAGES = ("fr", "en")
FALLBACK = "nlu_fallback"


# --- data ------------------------------------------------------------------------------------
def training_examples(data_dir: Path = ROOT / "data") -> list[dict[str, Any]]:
    """Every NLU example under `data/`: plain text, intent and language.

    The language is the block's `metadata.language` when it says fr or en, else what
    `bot.nlu.langid` reads in the text (None when it cannot tell). Sorted by intent, language
    and text, so the seeded folds do not move when examples move between files.
    """
    from bot.nlu import langid

    examples = []
    for path in sorted(data_dir.rglob("*.yml")):
        if "stores" in path.relative_to(data_dir).parts:
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict) or not document.get("nlu"):
            continue
        for example in load_test_set(path):
            if example["language"] not in LANGUAGES:
                example["language"] = langid.language_of(example["text"])[0]
            examples.append(example)
    return sorted(examples, key=lambda e: (e["intent"], e["language"] or "", e["text"]))


# --- the peer --------------------------------------------------------------------------------
def peer_pipeline() -> Any:
    """The issue's baseline: word 1-2 + char_wb 2-5 TF-IDF (sublinear), LogisticRegression(C=10)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(C=10, max_iter=3000),
    )


def fit_peer(train: list[dict[str, Any]]) -> Any:
    peer = peer_pipeline()
    peer.fit([e["text"] for e in train], [e["intent"] for e in train])
    return peer


def peer_parses(peer: Any, test: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parse-like results of a fitted peer for each example of `test`."""
    probabilities = peer.predict_proba([e["text"] for e in test])
    classes = list(peer.classes_)
    parsed = []
    for row in probabilities:
        ranking = sorted(zip(classes, row, strict=True), key=lambda c: -c[1])
        parsed.append(
            {
                "intent": {"name": ranking[0][0], "confidence": float(ranking[0][1])},
                "intent_ranking": [{"name": n, "confidence": float(c)} for n, c in ranking[:10]],
                "entities": [],
            }
        )
    return parsed


def peer_predictions(
    train: list[dict[str, Any]], test: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Parse-like results of the peer trained on `train`, for each example of `test`."""
    return peer_parses(fit_peer(train), test)


# --- the model -------------------------------------------------------------------------------
async def model_predictions(model: Path, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from bot.rasa_ext.preload import preload

    preload()  # skops before Rasa and TensorFlow: 9 s of CPU less (bot/rasa_ext/preload.py)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))
    return [await agent.parse_message(e["text"]) for e in examples]


def train_fold_model(train: list[dict[str, Any]], work: Path) -> Path:
    """Trains config.yml's NLU pipeline (fallback included) on `train` (plain texts)."""
    from rasa.model_training import train_nlu

    by_intent: dict[str, list[str]] = {}
    for example in train:
        by_intent.setdefault(example["intent"], []).append(example["text"])
    document = {
        "version": "3.1",
        "nlu": [
            {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
            for intent, texts in by_intent.items()
        ],
    }
    nlu_file = work / "nlu.yml"
    nlu_file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    model = train_nlu(
        str(ROOT / "config.yml"), str(nlu_file), str(work / "models"), fixed_model_name="fold"
    )
    if not model:
        raise RuntimeError("fold training produced no model")
    return Path(model)


# --- scores ----------------------------------------------------------------------------------
def scores(examples: list[dict[str, Any]], parsed: list[dict[str, Any]]) -> dict[str, Any]:
    """Per language (and all): answered right, confident wrong, first guess, macro-F1."""
    out: dict[str, Any] = {}
    for language in (*LANGUAGES, None):
        rows = [
            (e["intent"], p["intent"]["name"], ranked_top(p))
            for e, p in zip(examples, parsed, strict=True)
            if language is None or e["language"] == language
        ]
        if not rows:
            continue
        n = len(rows)
        f1, _ = macro_f1([(g, a) for g, a, _ in rows])
        first_f1, report = macro_f1([(g, f) for g, _, f in rows])
        oos = [(g, a) for g, a, _ in rows if g == "out_of_scope"]
        out[language or "all"] = {
            "examples": n,
            "answered_right": round(sum(g == a for g, a, _ in rows) / n, 4),
            "confident_wrong": round(sum(a not in (g, FALLBACK) for g, a, _ in rows) / n, 4),
            "clarified": round(sum(a == FALLBACK for _, a, _ in rows) / n, 4),
            "first_guess": round(sum(g == f for g, _, f in rows) / n, 4),
            "macro_f1": round(f1, 4),
            "macro_f1_first_guess": round(first_f1, 4),
            "out_of_scope_recall": round(sum(g == a for g, a in oos) / len(oos), 4)
            if oos
            else None,
            "weakest": sorted(
                ((k, round(v["f1"], 3)) for k, v in report.items()), key=lambda kv: kv[1]
            )[:8],
        }
    return out


def stratified_folds(examples: list[dict[str, Any]], folds: int, seed: int) -> list[list[int]]:
    """Indices of each held-out fold: stratified by intent and language, fixed seed."""
    from sklearn.model_selection import StratifiedKFold

    strata = [f"{e['intent']}/{e['language']}" for e in examples]
    counts = Counter(strata)
    # A stratum smaller than the number of folds is merged into its intent.
    strata = [s if counts[s] >= folds else s.split("/")[0] for s in strata]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [list(test) for _, test in splitter.split(strata, strata)]


def classifier_fold_parses(
    examples: list[dict[str, Any]], fold_indices: list[list[int]]
) -> list[dict[str, Any]]:
    """The model's fold parses from its intent classifier and config.yml's fallback thresholds.

    The classifier is config.yml's `TfidfIntentClassifier` (its options), fitted on each
    fold's training part as `rasa train` fits it; its fold rankings are those of
    `scripts/tune_classifier.py`, kept in var/cv-rankings between runs. The FallbackClassifier's
    rule is applied to each ranking. Not run: the other-language classifier (it takes none of
    the French/English training messages for another language: reports/other_languages.md).
    """
    from tune_classifier import (
        as_parse,
        cached_fold_rankings,
        configured_options,
        configured_thresholds,
    )

    ranked = cached_fold_rankings(
        examples, fold_indices, configured_options(), ROOT / "var" / "cv-rankings"
    )
    threshold, ambiguity = configured_thresholds()
    return [as_parse(r, threshold, ambiguity) for r in ranked]


def cross_validate(
    examples: list[dict[str, Any]],
    folds: int,
    seed: int,
    with_model: bool = True,
    rasa_folds: bool = False,
) -> dict[str, Any]:
    model_parsed: list[Any] = [None] * len(examples)
    peer_parsed: list[Any] = [None] * len(examples)
    started = time.monotonic()
    fold_indices = stratified_folds(examples, folds, seed)
    if with_model and not rasa_folds:
        model_parsed = classifier_fold_parses(examples, fold_indices)
    for k, held in enumerate(fold_indices):
        held_set = set(held)
        train = [e for i, e in enumerate(examples) if i not in held_set]
        test = [examples[i] for i in held]
        for i, p in zip(held, peer_predictions(train, test), strict=True):
            peer_parsed[i] = p
        if with_model and rasa_folds:
            with tempfile.TemporaryDirectory() as tmp:
                model = train_fold_model(train, Path(tmp))
                parsed = asyncio.run(model_predictions(model, test))
            for i, p in zip(held, parsed, strict=True):
                model_parsed[i] = p
        print(f"fold {k + 1}/{folds} done ({time.monotonic() - started:.0f} s)", flush=True)
    result: dict[str, Any] = {
        "folds": folds,
        "seed": seed,
        "examples": len(examples),
        "model_folds": "rasa train of config.yml per fold"
        if rasa_folds
        else "config.yml's intent classifier per fold + its fallback thresholds",
        "peer": scores(examples, peer_parsed),
        "seconds": round(time.monotonic() - started),
    }
    if with_model:
        result["model"] = scores(examples, model_parsed)
        confusions = Counter(
            (e["intent"], ranked_top(p))
            for e, p in zip(examples, model_parsed, strict=True)
            if e["intent"] != ranked_top(p)
        )
        result["model_confusions"] = [
            f"{g} -> {p} ({n})" for (g, p), n in confusions.most_common(15)
        ]
    return result


# --- report ----------------------------------------------------------------------------------
def side_by_side(result: dict[str, Any]) -> str:
    lines = [
        "# The NLU model beside the plain TF-IDF peer",
        "",
        "Written by `make evaluate` (`scripts/compare_with_peer.py`). Model: `config.yml` trained on "
        "`data/`. Peer: TF-IDF words 1-2 + char_wb 2-5 (sublinear), LogisticRegression(C=10), "
        "trained on the same examples, no fallback. *Answered right*: the model's answer is the "
        "gold intent (clarification counts as not answered); *confident wrong*: answered with "
        "another intent; *first guess*: the model's best intent before the fallback.",
        "",
        "| set | lang | n | model answered right | model confident wrong | model clarified "
        "| model first guess | peer | model macro-F1 | peer macro-F1 | out-of-scope recall model / peer |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "realistic": "realistic (`tests/nlu_realistic`)",
        "clean": "clean (`tests/nlu`)",
        "cross_validation": "cross-validation on `data/`",
    }
    for key, label in names.items():
        part = result.get(key)
        if not part or "model" not in part:
            continue
        for lang in (*LANGUAGES, "all"):
            m, p = part["model"].get(lang), part["peer"].get(lang)
            if not m or not p:
                continue
            oos_m = "-" if m["out_of_scope_recall"] is None else f"{m['out_of_scope_recall']:.3f}"
            oos_p = "-" if p["out_of_scope_recall"] is None else f"{p['out_of_scope_recall']:.3f}"
            lines.append(
                f"| {label} | {lang} | {m['examples']} | **{m['answered_right']:.3f}** | "
                f"{m['confident_wrong']:.1%} | {m['clarified']:.1%} | {m['first_guess']:.3f} | "
                f"{p['answered_right']:.3f} | {m['macro_f1']:.3f} | {p['macro_f1']:.3f} | "
                f"{oos_m} / {oos_p} |"
            )
    cv = result.get("cross_validation")
    if cv:
        lines += [
            "",
            f"Cross-validation: {cv['folds']} stratified folds (intent x language) of the "
            f"{cv['examples']} training examples, seed {cv['seed']} (the same folds on every run "
            "and for both models).",
        ]
        if "model" in cv:
            weakest = ", ".join(f"{k} ({v:.3f})" for k, v in cv["model"]["all"]["weakest"])
            lines += [
                f"Weakest intents (model, first guess F1): {weakest}.",
                "Most frequent confusions (model, first guess): "
                + ", ".join(cv.get("model_confusions", [])[:10])
                + ".",
            ]
    return "\n".join(lines) + "\n"


def cv_markdown(cv: dict[str, Any]) -> str:
    lines = [
        f"Seeded cross-validation on the training data: {cv['folds']} stratified folds, seed "
        f"{cv['seed']}, {cv['examples']} examples (`scripts/compare_with_peer.py`). Model on "
        f"each fold: {cv.get('model_folds', 'rasa train of config.yml per fold')}.",
        "",
        "| lang | model answered right | model confident wrong | model first guess | model macro-F1 (first guess) | peer accuracy | peer macro-F1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for lang in (*LANGUAGES, "all"):
        m, p = cv.get("model", {}).get(lang), cv["peer"].get(lang)
        if not p:
            continue
        if m:
            lines.append(
                f"| {lang} | {m['answered_right']:.3f} | {m['confident_wrong']:.1%} | "
                f"{m['first_guess']:.3f} | {m['macro_f1_first_guess']:.3f} | "
                f"{p['answered_right']:.3f} | {p['macro_f1']:.3f} |"
            )
        else:
            lines.append(
                f"| {lang} | - | - | - | - | {p['answered_right']:.3f} | {p['macro_f1']:.3f} |"
            )
    if "model" in cv:
        lines += [
            "",
            "Weakest intents (model, first guess): "
            + ", ".join(f"{k} ({v:.3f})" for k, v in cv["model"]["all"]["weakest"]),
        ]
    return "\n".join(lines) + "\n"


def write(out: Path, name: str, document: dict[str, Any], text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / f"{name}.md").write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "bot.tar.gz")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--skip-cv", action="store_true", help="test sets only (faster)")
    parser.add_argument(
        "--cv-rasa",
        action="store_true",
        help="cross-validate the model by training the whole Rasa pipeline per fold "
        "(half an hour on a loaded machine) instead of its intent classifier + fallback",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    train = training_examples()
    result: dict[str, Any] = {"model": str(args.model), "training_examples": len(train)}
    peer = fit_peer(train)
    for key, path, name in (
        ("clean", CLEAN_SET, "evaluation"),
        ("realistic", REALISTIC_SET, "evaluation_realistic"),
    ):
        examples = load_test_set(path)
        started = time.monotonic()
        parsed = asyncio.run(model_predictions(args.model, examples))
        detail = evaluate(examples, parsed)
        detail["model"] = str(args.model)
        detail["test_set"] = str(path.relative_to(ROOT))
        detail["seconds"] = round(time.monotonic() - started, 1)
        write(args.out, name, detail, markdown(detail))
        result[key] = {
            "test_set": str(path.relative_to(ROOT)),
            "model": scores(examples, parsed),
            "peer": scores(examples, peer_parses(peer, examples)),
        }
        print(f"{key} set scored ({len(examples)} messages)", flush=True)
    if not args.skip_cv:
        cv = cross_validate(train, args.folds, args.seed, rasa_folds=args.cv_rasa)
        write(args.out, "cross_validation", cv, cv_markdown(cv))
        result["cross_validation"] = cv
    text = side_by_side(result)
    write(args.out, "nlu_comparison", result, text)
    print(text)
    print(
        f"Written: {args.out}/nlu_comparison.{{json,md}}, evaluation*.{{json,md}}"
        + ("" if args.skip_cv else ", cross_validation.{json,md}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
