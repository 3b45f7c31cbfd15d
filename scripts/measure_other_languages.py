"""How often the other-language detector fires on the project's French/English messages.

`bot.nlu.other_languages.other_language_of` must (almost) never say "German" or "Spanish" of
a French or English customer message. This script runs it, and `bot.nlu.langid.language_of`
beside it, on every French/English customer message the project holds:

* the training data (`data/**/*.yml`), which the word lists were checked against;
* the clean held-out set (`tests/nlu/test_nlu.yml`) and the realistic set
  (`tests/nlu_realistic/*.yml`), measured only (never used to choose a word or a threshold);

and on the hand-written messages in the other languages (`tests/other_languages/`), and
writes `reports/other_languages.{json,md}`. Run it in the Rasa environment or the app one:

    PYTHONPATH=. .venv/bin/python scripts/measure_other_languages.py
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlu import langid  # noqa: E402
from bot.nlu.other_languages import OTHER_LANGUAGES, other_language_of  # noqa: E402

REPORT_JSON = ROOT / "reports" / "other_languages.json"
REPORT_MD = ROOT / "reports" / "other_languages.md"
FOREIGN = ROOT / "tests" / "other_languages" / "messages.yml"
# "[OM-104233](order_number)" / "[Allemagne]{"entity": "country", ...}" -> the words.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def nlu_messages(path: Path) -> list[str]:
    """The example texts of a Rasa NLU YAML file, annotations removed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts: list[str] = []
    for block in data.get("nlu") or []:
        # Intent examples only: synonyms, regexes and lookup tables are no customer messages.
        if not isinstance(block, dict) or "intent" not in block:
            continue
        examples = block.get("examples")
        if not isinstance(examples, str):
            continue
        for line in examples.splitlines():
            line = line.strip()
            if line.startswith("- "):
                texts.append(_ANNOTATION.sub(r"\1", line[2:]).strip())
    return [text for text in texts if text]


def french_english_sets() -> dict[str, list[str]]:
    training = [
        text
        for path in sorted((ROOT / "data").rglob("*.yml"))
        if "stores" not in path.parts
        for text in nlu_messages(path)
    ]
    sets = {"training data (data/)": training}
    clean = ROOT / "tests" / "nlu" / "test_nlu.yml"
    if clean.exists():
        sets["held-out set (tests/nlu)"] = nlu_messages(clean)
    realistic = sorted((ROOT / "tests" / "nlu_realistic").glob("*.yml"))
    if realistic:
        sets["realistic set (tests/nlu_realistic)"] = [
            text for path in realistic for text in nlu_messages(path)
        ]
    return sets


def main() -> int:
    results: dict[str, Any] = {"french_english": {}, "other_languages": {}}
    lines = [
        "# Other-language detection (`bot.nlu.other_languages`)",
        "",
        "Written by `scripts/measure_other_languages.py`. A French or English message taken "
        'for another language is answered in English with "I speak French and English": '
        "the rate below must stay about 0.",
        "",
        "| French/English messages | messages | taken for another language | rate |",
        "|---|---|---|---|",
    ]
    false_examples: list[str] = []
    for name, texts in french_english_sets().items():
        flagged = [(text, other_language_of(text)) for text in texts]
        wrong = [(text, lang) for text, lang in flagged if lang is not None]
        rate = len(wrong) / len(texts) if texts else 0.0
        results["french_english"][name] = {
            "messages": len(texts),
            "taken_for_other": len(wrong),
            "rate": round(rate, 5),
            "examples": [{"text": t, "language": lang} for t, lang in wrong[:20]],
        }
        lines.append(f"| {name} | {len(texts)} | {len(wrong)} | {rate:.2%} |")
        false_examples += [f"- `{t}` -> {lang}" for t, lang in wrong[:20]]
    lines += ["", *(false_examples or ["No French or English message was taken for another."])]

    foreign = yaml.safe_load(FOREIGN.read_text(encoding="utf-8"))
    lines += [
        "",
        "| messages in | messages | detected as that language | as another | missed (treated as "
        "French/English) | missed, and langid says fr/en |",
        "|---|---|---|---|---|---|",
    ]
    total = Counter()
    for lang in OTHER_LANGUAGES:
        texts = foreign.get(lang) or []
        found = [other_language_of(text) for text in texts]
        right = sum(1 for f in found if f == lang)
        other = sum(1 for f in found if f is not None and f != lang)
        missed = [t for t, f in zip(texts, found, strict=True) if f is None]
        missed_decided = sum(1 for t in missed if langid.language_of(t)[0] is not None)
        results["other_languages"][lang] = {
            "messages": len(texts),
            "right": right,
            "other_language": other,
            "missed": missed,
            "missed_decided_fr_en": missed_decided,
        }
        total.update(messages=len(texts), right=right, other=other, missed=len(missed))
        lines.append(
            f"| {lang} | {len(texts)} | {right} | {other} | {len(missed)} | {missed_decided} |"
        )
    detected = total["right"] + total["other"]
    lines += [
        "",
        f"Detected as some other language: {detected}/{total['messages']} "
        f"({detected / max(total['messages'], 1):.1%}); right language "
        f"{total['right']}/{total['messages']}.",
    ]
    REPORT_JSON.parent.mkdir(exist_ok=True)
    REPORT_JSON.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", "utf-8")
    REPORT_MD.write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
