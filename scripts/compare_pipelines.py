"""Measures the production NLU pipeline against alternatives, accuracy and speed side by side.

Runs in the Rasa environment:
    .venv-rasa/bin/python scripts/compare_pipelines.py [--variants production,whitespace,diet]

Variants are derived from config.yml so they differ in one choice only:

* ``production``: config.yml as it is;
* ``whitespace``: Rasa's WhitespaceTokenizer instead of bot.nlu.tokenizer.SpacyLookupTokenizer
  (the spaCy ablation: does the spaCy tokenisation with lemmas help?);
* ``legacy``: the pipeline before issue 11: RegexFeaturizer, LexicalSyntacticFeaturizer, word
  and char_wb (2-5) CountVectorsFeaturizers and Rasa's LogisticRegressionClassifier instead of
  bot.nlu.intent_classifier.TfidfIntentClassifier;
* ``legacy-english-lemmas``, ``legacy-surface-chars``, ``legacy-word-bigrams``: that pipeline
  with lookup lemmas in both languages, char n-grams over the words as typed, word bigrams;
* ``diet``: the legacy featurizers and DIETClassifier (TensorFlow, 100 epochs, intent only:
  the entities stay with the deterministic extractor) instead of the TF-IDF classifier.

With ``--cross-validation K`` the variants are compared on the *training data* only (K folds,
per-language macro-F1 of the first guess, language from bot.nlu.langid): that is how a
variant is chosen, so the held-out set stays a measure and never a tuning set. Results go to
reports/pipeline_cross_validation.{json,md}.

Otherwise each variant's NLU model is trained into models/variants/<name>.tar.gz (training time
measured), evaluated on the held-out set tests/nlu/test_nlu.yml (never trained on), loaded
again to time the load, and timed on parsing every held-out message (p50/p95). Results go to
reports/pipeline_comparison.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

sys.path.insert(0, str(ROOT))

from evaluate_nlu import evaluate, load_test_set, macro_f1  # noqa: E402

VARIANT_DIR = ROOT / "models" / "variants"


def _is_tokenizer(component: dict[str, Any]) -> bool:
    return str(component["name"]).endswith("SpacyLookupTokenizer")


def _is_char_featurizer(component: dict[str, Any]) -> bool:
    return component.get("analyzer") == "char_wb"


def _is_word_featurizer(component: dict[str, Any]) -> bool:
    return component["name"] == "CountVectorsFeaturizer" and "analyzer" not in component


def _with(
    pipeline: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool], **options: Any
) -> list[dict[str, Any]]:
    """The pipeline with `options` set on the components `match` picks."""
    return [{**c, **options} if match(c) else c for c in pipeline]


# The featurizers + classifier of the pipeline before issue 11 (word and char_wb counts, Rasa's
# logistic regression): what the `legacy*` and `diet` variants put in place of
# bot.nlu.intent_classifier.TfidfIntentClassifier.
LEGACY_FEATURIZERS: list[dict[str, Any]] = [
    {"name": "RegexFeaturizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 5},
]


def _replace_classifier(
    pipeline: list[dict[str, Any]], replacement: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in pipeline:
        out += copy.deepcopy(replacement) if c["name"].endswith("TfidfIntentClassifier") else [c]
    return out


def variant_config(name: str) -> dict[str, Any]:
    config = copy.deepcopy(yaml.safe_load((ROOT / "config.yml").read_text("utf-8")))
    pipeline = config["pipeline"]
    legacy = [*LEGACY_FEATURIZERS, {"name": "LogisticRegressionClassifier", "max_iter": 500}]
    if name == "whitespace":
        pipeline = [
            {"name": "WhitespaceTokenizer"} if c["name"].endswith("SpacyLookupTokenizer") else c
            for c in pipeline
        ]
    elif name == "diet":
        diet = {
            "name": "DIETClassifier",
            "epochs": 100,
            "entity_recognition": False,
            "random_seed": 42,
        }
        pipeline = _replace_classifier(pipeline, [*LEGACY_FEATURIZERS, diet])
    elif name == "legacy":
        pipeline = _replace_classifier(pipeline, legacy)
    elif name == "legacy-english-lemmas":
        pipeline = _replace_classifier(pipeline, legacy)
        pipeline = _with(pipeline, _is_tokenizer, lemma_languages=["fr", "en"])
    elif name == "legacy-surface-chars":
        pipeline = _replace_classifier(pipeline, legacy)
        pipeline = _with(pipeline, _is_char_featurizer, use_lemma=False)
    elif name == "legacy-word-bigrams":
        pipeline = _replace_classifier(pipeline, legacy)
        pipeline = _with(pipeline, _is_word_featurizer, max_ngram=2)
    elif name != "production":
        raise SystemExit(f"unknown variant {name}")
    config["pipeline"] = pipeline
    return config


def train(name: str) -> tuple[Path, float]:
    VARIANT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(variant_config(name), handle)
        config_path = handle.name
    started = time.monotonic()
    subprocess.run(
        [
            str(ROOT / ".venv-rasa" / "bin" / "rasa"),
            "train",
            "nlu",
            "--config",
            config_path,
            "--nlu",
            str(ROOT / "data"),
            "--out",
            str(VARIANT_DIR),
            "--fixed-model-name",
            name,
            "--quiet",
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return VARIANT_DIR / f"{name}.tar.gz", time.monotonic() - started


async def measure(model: Path, examples: list[dict[str, Any]]) -> dict[str, Any]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    started = time.monotonic()
    agent = Agent.load(str(model))
    await agent.parse_message("bonjour")  # the first parse pays for lazy initialisation
    load_s = time.monotonic() - started
    parsed, latencies = [], []
    for example in examples:
        t = time.perf_counter()
        parsed.append(await agent.parse_message(example["text"]))
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    result = evaluate(examples, parsed)
    return {
        "load_and_first_parse_s": round(load_s, 1),
        "parse_ms_p50": round(statistics.median(latencies), 2),
        "parse_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "macro_f1_fr": result["by_language"]["fr"]["macro_f1"],
        "macro_f1_en": result["by_language"]["en"]["macro_f1"],
        "accuracy": result["by_language"]["all"]["accuracy"],
        "out_of_scope_recall": result["out_of_scope"]["recall"],
        "out_of_scope_precision": result["out_of_scope"]["precision"],
    }


def cross_validate(name: str, folds: int) -> dict[str, Any]:
    """K-fold macro-F1 per language of a variant on the training data (no fallback), on the
    seeded stratified folds of `make evaluate` (scripts/compare_with_peer.py)."""
    from compare_with_peer import stratified_folds, training_examples
    from tune_fallback import fold_predictions

    config = variant_config(name)
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != "FallbackClassifier"]
    examples = training_examples()
    rows: list[dict[str, Any]] = []
    for held in stratified_folds(examples, folds, seed=13):
        held_set = set(held)
        test = [(examples[i]["text"], examples[i]["intent"]) for i in held]
        train_part = [(e["text"], e["intent"]) for i, e in enumerate(examples) if i not in held_set]
        with tempfile.TemporaryDirectory() as tmp:
            fold_rows = asyncio.run(fold_predictions(train_part, test, config, Path(tmp)))
        for row, i in zip(fold_rows, held, strict=True):
            row["language"] = examples[i]["language"]
        rows += fold_rows
    out: dict[str, Any] = {"folds": folds, "seed": 13, "examples": len(rows)}
    for language in ("fr", "en", None):
        part = [r for r in rows if language is None or r["language"] == language]
        pairs = [(r["gold"], r["first"] or "none") for r in part]
        f1, report = macro_f1(pairs)
        key = language or "all"
        out[f"macro_f1_{key}"] = round(f1, 4)
        out[f"f1_by_intent_{key}"] = {k: round(v["f1"], 3) for k, v in report.items()}
        confusions = collections.Counter((g, p) for g, p in pairs if g != p)
        out[f"confusions_{key}"] = [f"{g} -> {p} ({n})" for (g, p), n in confusions.most_common(25)]
        out[f"accuracy_{key}"] = round(sum(g == p for g, p in pairs) / max(1, len(pairs)), 4)
        out[f"examples_{key}"] = len(part)
    return out


def main_cross_validation(variants: list[str], folds: int, out_dir: Path) -> int:
    results = {}
    for name in variants:
        started = time.monotonic()
        results[name] = cross_validate(name, folds)
        results[name]["seconds"] = round(time.monotonic() - started)
        print(name, results[name], flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pipeline_cross_validation.json").write_text(json.dumps(results, indent=2), "utf-8")
    lines = [
        f"{folds}-fold cross-validation on the training data (data/), first guess without the "
        "fallback; the seeded stratified folds of `make evaluate`; language of each example from its "
        "block's metadata, else bot.nlu.langid.",
        "",
        "| variant | macro-F1 fr | macro-F1 en | accuracy fr | accuracy en | accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['macro_f1_fr']:.3f} | {r['macro_f1_en']:.3f} | {r['accuracy_fr']:.3f} "
            f"| {r['accuracy_en']:.3f} | {r['accuracy_all']:.3f} |"
        )
    (out_dir / "pipeline_cross_validation.md").write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="production,legacy,whitespace")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--cross-validation", type=int, default=0, metavar="K")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.cross_validation:
        return main_cross_validation(args.variants.split(","), args.cross_validation, args.out)
    examples = load_test_set(ROOT / "tests" / "nlu" / "test_nlu.yml")
    results: dict[str, Any] = {}
    for name in args.variants.split(","):
        model, train_s = train(name)
        results[name] = {
            "train_s": round(train_s, 1),
            **asyncio.run(measure(model, examples)),
            "model_mb": round(model.stat().st_size / 1e6, 1),
        }
        print(name, results[name], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline_comparison.json").write_text(json.dumps(results, indent=2), "utf-8")
    lines = [
        "| variant | macro-F1 fr | macro-F1 en | accuracy | out-of-scope recall | train (s) | load + first parse (s) | parse p50 (ms) | parse p95 (ms) | model (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['macro_f1_fr']:.3f} | {r['macro_f1_en']:.3f} | {r['accuracy']:.3f} | "
            f"{r['out_of_scope_recall']:.3f} | {r['train_s']} | {r['load_and_first_parse_s']} | "
            f"{r['parse_ms_p50']} | {r['parse_ms_p95']} | {r['model_mb']} |"
        )
    (args.out / "pipeline_comparison.md").write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
