"""Counts and sanity checks for the realistic NLU test set (tests/nlu_realistic/*.yml).

Prints the Markdown tables of README.md (messages per intent and language, length mix) and,
with --check, exits 1 when the set breaks its own rules: fewer than 330 messages in a
language, an intent with fewer than 6 messages, an example on several lines, or two
near-identical messages. --overlap PATH (a Rasa NLU YAML file or a folder of them, e.g. the
training data) also lists every message of this set that is the same as, or a light rewording
of, an example there; with --check any such message fails. Needs only PyYAML (any of the
project's environments has it):

    python tests/nlu_realistic/summary.py [--check] [--overlap data]
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections import Counter
from itertools import combinations
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
LANGUAGES = ("fr", "en")
MIN_PER_LANGUAGE = 330
MIN_PER_INTENT = 6
SHORT_MAX_WORDS = 8
LONG_MIN_WORDS = 30
# Word-set overlap above which two messages count as the same message reworded.
NEAR_DUPLICATE_JACCARD = 0.8

# [text](entity) or [text]{"entity": ..., "value": ...}
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]+\})")
_WORD = re.compile(r"[a-z0-9]+")


def plain_text(example: str) -> str:
    return _ANNOTATION.sub(r"\1", example)


def load(language: str) -> list[tuple[str, str]]:
    """(intent, annotated example) pairs of one language file, in file order."""
    document = yaml.safe_load((HERE / f"{language}.yml").read_text(encoding="utf-8"))
    pairs: list[tuple[str, str]] = []
    for block in document["nlu"]:
        for line in block["examples"].splitlines():
            if line.strip():
                pairs.append((block["intent"], line.strip().removeprefix("- ")))
    return pairs


def continuation_lines(language: str) -> list[str]:
    """Lines of an examples block that do not start a new example (an example split in two)."""
    document = yaml.safe_load((HERE / f"{language}.yml").read_text(encoding="utf-8"))
    return [
        line
        for block in document["nlu"]
        for line in block["examples"].splitlines()
        if line.strip() and not line.startswith("- ")
    ]


def words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    return set(_WORD.findall(folded.encode("ascii", "ignore").decode()))


def length_class(text: str) -> str:
    count = len(text.split())
    if count <= SHORT_MAX_WORDS:
        return "short"
    return "long" if count >= LONG_MIN_WORDS else "medium"


def alike(bag_a: set[str], bag_b: set[str]) -> bool:
    union = bag_a | bag_b
    return bool(union) and len(bag_a & bag_b) / len(union) >= NEAR_DUPLICATE_JACCARD


def near_duplicates(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    bags = [(plain_text(example), words(plain_text(example))) for _, example in pairs]
    return [
        (text_a, text_b)
        for (text_a, bag_a), (text_b, bag_b) in combinations(bags, 2)
        if alike(bag_a, bag_b)
    ]


def examples_under(path: Path) -> list[str]:
    """Plain texts of every `examples` block in a Rasa NLU YAML file or folder of them."""
    files = sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    texts = []
    for file in files:
        document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        items = document.get("nlu") if isinstance(document, dict) else None
        for item in items or []:
            if isinstance(item, dict) and isinstance(item.get("examples"), str):
                for line in item["examples"].splitlines():
                    if line.strip().startswith("- "):
                        texts.append(plain_text(line.strip().removeprefix("- ")))
    return texts


def overlaps(sets: dict[str, list[tuple[str, str]]], path: Path) -> list[str]:
    """Messages of this set that an example under `path` repeats or lightly rewords."""
    others = [(text, words(text)) for text in examples_under(path)]
    found = []
    for lang, pairs in sets.items():
        for _, example in pairs:
            text = plain_text(example)
            bag = words(text)
            found += [
                f"{lang}: {text!r} ~ {path}: {other!r}" for other, o in others if alike(bag, o)
            ]
    return found


def tables(sets: dict[str, list[tuple[str, str]]]) -> str:
    intents = list(dict.fromkeys(intent for pairs in sets.values() for intent, _ in pairs))
    counts = {lang: Counter(intent for intent, _ in pairs) for lang, pairs in sets.items()}
    lines = ["| intent | " + " | ".join(sets) + " |", "|---|" + "---:|" * len(sets)]
    for intent in intents:
        cells = " | ".join(str(counts[lang][intent]) for lang in sets)
        lines.append(f"| {intent} | {cells} |")
    lines.append("| **total** | " + " | ".join(f"**{len(p)}**" for p in sets.values()) + " |")

    lines += ["", "| length | " + " | ".join(sets) + " |", "|---|" + "---:|" * len(sets)]
    mixes = {
        lang: Counter(length_class(plain_text(example)) for _, example in pairs)
        for lang, pairs in sets.items()
    }
    labels = {
        "short": f"short (<= {SHORT_MAX_WORDS} words)",
        "medium": "medium",
        "long": f"long (>= {LONG_MIN_WORDS} words, e-mail-like)",
    }
    for name, label in labels.items():
        cells = " | ".join(
            f"{mixes[lang][name]} ({mixes[lang][name] / len(sets[lang]):.0%})" for lang in sets
        )
        lines.append(f"| {label} | {cells} |")
    with_entity = " | ".join(
        str(sum(1 for _, example in pairs if _ANNOTATION.search(example)))
        for pairs in sets.values()
    )
    lines.append(f"| with at least one entity | {with_entity} |")
    return "\n".join(lines)


def problems(sets: dict[str, list[tuple[str, str]]]) -> list[str]:
    found = []
    for lang, pairs in sets.items():
        if len(pairs) < MIN_PER_LANGUAGE:
            found.append(f"{lang}: {len(pairs)} messages < {MIN_PER_LANGUAGE}")
        for intent, count in Counter(intent for intent, _ in pairs).items():
            if count < MIN_PER_INTENT:
                found.append(f"{lang}: {intent} has {count} messages < {MIN_PER_INTENT}")
        for line in continuation_lines(lang):
            found.append(f"{lang}: not one example per line: {line!r}")
        for text_a, text_b in near_duplicates(pairs):
            found.append(f"{lang}: near-duplicates: {text_a!r} ~ {text_b!r}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a rule is broken")
    parser.add_argument(
        "--overlap",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="NLU YAML file or folder to compare with (repeatable)",
    )
    args = parser.parse_args()
    sets = {lang: load(lang) for lang in LANGUAGES}
    print(tables(sets))
    found = [line for path in args.overlap for line in overlaps(sets, path)]
    if args.overlap:
        where = ", ".join(map(str, args.overlap))
        print(f"\n{len(found)} message(s) repeated or lightly reworded under {where}")
    if not args.check:
        for line in found:
            print(line)
        return 0
    found += problems(sets)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
