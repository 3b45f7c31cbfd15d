"""Summarises `rasa test nlu --cross-validation` output into reports/cross_validation.{json,md}.

Usage: .venv-rasa/bin/python scripts/summarise_cross_validation.py <rasa-out-dir> <reports-dir>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    report = json.loads((source / "intent_report.json").read_text("utf-8"))
    summary = {
        "folds": 3,
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro avg"]["f1-score"], 4),
        "weighted_f1": round(report["weighted avg"]["f1-score"], 4),
        "worst_intents": sorted(
            (
                {"intent": name, "f1": round(r["f1-score"], 4), "support": r["support"]}
                for name, r in report.items()
                if isinstance(r, dict)
                and "f1-score" in r
                and name not in ("macro avg", "weighted avg", "micro avg")
            ),
            key=lambda r: r["f1"],
        )[:8],
    }
    target.mkdir(parents=True, exist_ok=True)
    (target / "cross_validation.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    lines = [
        f"Cross-validation on the training data (3 folds): accuracy {summary['accuracy']:.3f}, "
        f"macro-F1 {summary['macro_f1']:.3f}.",
        "Weakest intents: "
        + ", ".join(f"{w['intent']} ({w['f1']:.3f})" for w in summary["worst_intents"]),
    ]
    (target / "cross_validation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
