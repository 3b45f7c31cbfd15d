"""Is a batch of new training examples worth keeping? Seeded cross-validation on the examples
of a base revision, the new examples added to every fold's training part only.

    .venv-rasa/bin/python scripts/cv_training_batch.py [--base main] [--folds 3] [--seed 13]
        [--json var/batch.json]

The base examples are those of `data/` at the git revision `--base`; the batch is every
example of the working tree's `data/` that the base does not have (text and intent). The
folds are drawn on the base examples exactly as `make evaluate` and `scripts/tune_classifier.py`
draw them (stratified by intent and language, 3 folds, seed 13), so the batch and the base are
scored on the same held-out messages: a new example is never held out (it would change the
folds and be scored against its own siblings). Each fold fits config.yml's intent classifier
and the plain TF-IDF peer of issue 11 on the fold's training part, with and without the
batch (the peer is trained on the same data as the model, as in `make evaluate`).

For each (model, data) the fallback pair is re-chosen by `tune_fallback.peer_bounded_choice`
against the peer trained on the same data; printed: answered right, first guess, confident
wrong, clarified and out-of-scope recall per language, and the batch's intents. Neither test
set is read.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
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
from tune_classifier import cache_key, configured_options, configured_thresholds  # noqa: E402
from tune_fallback import peer_bounded_choice, rates  # noqa: E402


def base_examples(revision: str) -> list[dict[str, Any]]:
    """The training examples of `data/` at a git revision."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            [shutil.which("git") or "git", "-C", str(ROOT), "archive", revision, "data"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        return training_examples(Path(tmp) / "data")


def new_examples(base: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Examples of `current` that `base` does not have (as a multiset of text and intent)."""
    left = Counter((e["text"], e["intent"]) for e in base)
    out = []
    for e in current:
        key = (e["text"], e["intent"])
        if left[key]:
            left[key] -= 1
        else:
            out.append(e)
    return out


def fold_runs(
    base: list[dict[str, Any]], extra: list[dict[str, Any]], folds: list[list[int]]
) -> tuple[list[Any], list[Any]]:
    """Model rankings and peer parses of every base example, each fold trained on the other
    folds plus `extra`."""
    from bot.nlu.intent_classifier import build_model, rankings
    from bot.nlu.normalise import normalise

    options = configured_options()
    ranked: list[Any] = [None] * len(base)
    peer: list[Any] = [None] * len(base)
    for held in folds:
        held_set = set(held)
        train = [e for i, e in enumerate(base) if i not in held_set] + extra
        test = [base[i] for i in held]
        model = build_model(options)
        model.fit([normalise(e["text"]) for e in train], [e["intent"] for e in train])
        for i, r in zip(held, rankings(model, [e["text"] for e in test]), strict=True):
            ranked[i] = r
        for i, p in zip(held, peer_predictions(train, test), strict=True):
            peer[i] = p
    return ranked, peer


def summary(base: list[dict[str, Any]], ranked: list[Any], peer: list[Any]) -> dict[str, Any]:
    rows = [
        {
            "gold": e["intent"],
            "first": r[0]["name"],
            "c1": r[0]["confidence"],
            "second": r[1]["name"],
            "c2": r[1]["confidence"],
            "language": e["language"],
        }
        for e, r in zip(base, ranked, strict=True)
    ]
    peer_scores = scores(base, peer)
    choice = peer_bounded_choice(rows, peer_scores)
    pair = (choice["chosen"]["threshold"], choice["chosen"]["ambiguity_threshold"])
    configured = configured_thresholds()
    out: dict[str, Any] = {
        "pair": pair,
        "admissible": choice["admissible"],
        "chosen": rates(rows, *pair),
        "configured_pair": configured,
        "configured": rates(rows, *configured),
        "peer": {
            lang: {
                k: peer_scores[lang][k]
                for k in ("answered_right", "confident_wrong", "out_of_scope_recall")
            }
            for lang in LANGUAGES
        },
    }
    for lang in LANGUAGES:
        mine = [r for r in rows if r["language"] == lang]
        oos = [r for r in mine if r["gold"] == "out_of_scope"]
        out["chosen"][lang]["first_guess"] = round(
            sum(r["first"] == r["gold"] for r in mine) / len(mine), 4
        )
        for key, (t, a) in (("chosen", pair), ("configured", configured)):
            out[key][lang]["out_of_scope_recall"] = round(
                sum(
                    r["first"] == "out_of_scope" and r["c1"] >= t and r["c1"] - r["c2"] >= a
                    for r in oos
                )
                / len(oos),
                4,
            )
    return out


def line(name: str, s: dict[str, Any]) -> str:
    c = s["chosen"]
    return (
        f"| {name} | {s['pair'][0]:.2f} / {s['pair'][1]:.2f} | "
        + " | ".join(f"{c[lang]['answered_right']:.4f}" for lang in LANGUAGES)
        + " | "
        + " | ".join(f"{c[lang]['first_guess']:.4f}" for lang in LANGUAGES)
        + " | "
        + " | ".join(f"{c[lang]['confident_wrong']:.1%}" for lang in LANGUAGES)
        + " | "
        + " | ".join(f"{c[lang]['out_of_scope_recall']:.3f}" for lang in LANGUAGES)
        + " | "
        + " | ".join(
            f"{s['peer'][lang]['answered_right']:.4f} / {s['peer'][lang]['confident_wrong']:.1%}"
            for lang in LANGUAGES
        )
        + " |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision of the base data/")
    parser.add_argument(
        "--kept",
        help="git revision whose examples beyond the base are batches already kept: added to "
        "the training part of both arms (default: none)",
    )
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument(
        "--data", type=Path, default=ROOT / "data", help="the candidate data/ (default: data/)"
    )
    args = parser.parse_args()
    base = base_examples(args.base)
    kept = new_examples(base, base_examples(args.kept)) if args.kept else []
    extra = new_examples(base + kept, training_examples(args.data))
    folds = stratified_folds(base, args.folds, args.seed)
    by_intent = Counter(f"{e['intent']}/{e['language']}" for e in extra)
    print(
        f"base {args.base}: {len(base)} examples; kept batches ({args.kept}): {len(kept)}; "
        f"batch: {len(extra)} new examples"
    )
    print("batch:", ", ".join(f"{k} {v}" for k, v in sorted(by_intent.items())))
    results = {
        "base": args.base,
        "kept": args.kept,
        "examples": len(base),
        "kept_examples": len(kept),
        "batch": len(extra),
    }
    results["batch_intents"] = dict(by_intent)
    # The base's fold runs depend only on the base, the folds, the options and the code.
    key = cache_key(base + kept, folds, configured_options())
    cache = ROOT / "var" / "batch-cv" / f"{key}-{len(kept)}.json"
    if cache.exists():
        without = json.loads(cache.read_text(encoding="utf-8"))
    else:
        without = fold_runs(base, kept, folds)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(without), encoding="utf-8")
    results["without"] = summary(base, *without)
    results["with"] = summary(base, *fold_runs(base, kept + extra, folds))
    print(
        "\n| data | pair | AR fr | AR en | FG fr | FG en | CW fr | CW en | OOS rec fr | "
        "OOS rec en | peer AR/CW fr | peer AR/CW en |"
    )
    print("|---|---|" + "---:|" * 10)
    print(line("base" + (" + kept" if kept else ""), results["without"]))
    print(line("base" + (" + kept" if kept else "") + " + batch", results["with"]))
    for key in ("without", "with"):
        c = results[key]["configured"]
        print(
            f"{key} batch, config.yml's pair {results[key]['configured_pair']}: "
            + ", ".join(
                f"{lang} AR {c[lang]['answered_right']:.4f} CW {c[lang]['confident_wrong']:.1%} "
                f"OOS {c[lang]['out_of_scope_recall']:.3f}"
                for lang in LANGUAGES
            )
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
