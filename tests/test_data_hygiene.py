"""The test sets (held-out `tests/nlu`, realistic `tests/nlu_realistic`) and the test stories
are never training data: not copied, and not lightly reworded either."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
WORD = re.compile(r"[a-z0-9]+")
# Two messages whose sets of (accent-folded, lower-cased) words overlap this much are the same
# message reworded (tests/nlu_realistic/summary.py uses the same measure).
NEAR_DUPLICATE_JACCARD = 0.8
# Messages of one or two words are the intents' own vocabulary ("oui", "bonjour", "Germany",
# "OM-104233"): they cannot be written apart, so they may appear in both.
MIN_WORDS = 3
TEST_SETS = {
    "tests/nlu": PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml",
    "tests/nlu_realistic/fr": PROJECT_ROOT / "tests" / "nlu_realistic" / "fr.yml",
    "tests/nlu_realistic/en": PROJECT_ROOT / "tests" / "nlu_realistic" / "en.yml",
}


def normalise(text: str) -> str:
    text = ANNOTATION.sub(r"\1", text)
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w@#-]+", " ", text).split())


def words(text: str) -> frozenset[str]:
    return frozenset(WORD.findall(normalise(text)))


def alike(a: frozenset[str], b: frozenset[str]) -> bool:
    union = a | b
    return bool(union) and len(a & b) / len(union) >= NEAR_DUPLICATE_JACCARD


def nlu_lines(path: Path) -> list[str]:
    """The example texts (annotations removed) of a Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    found = []
    for block in (data.get("nlu") or []) if isinstance(data, dict) else []:
        if isinstance(block, dict) and "intent" in block:
            for line in str(block.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    found.append(ANNOTATION.sub(r"\1", line.strip()[2:]))
    return found


def training_lines() -> list[str]:
    return [
        text for path in sorted((PROJECT_ROOT / "data").rglob("*.yml")) for text in nlu_lines(path)
    ]


def training_examples() -> set[str]:
    return {normalise(text) for text in training_lines()}


class NearDuplicateIndex:
    """Word sets of many texts, bucketed by size: Jaccard >= 0.8 needs sizes within 0.8."""

    def __init__(self, texts: list[str]) -> None:
        self.by_size: dict[int, list[tuple[frozenset[str], str]]] = defaultdict(list)
        for text in texts:
            bag = words(text)
            self.by_size[len(bag)].append((bag, text))

    def matches(self, text: str) -> list[str]:
        bag = words(text)
        size = len(bag)
        low, high = int(size * NEAR_DUPLICATE_JACCARD), int(size / NEAR_DUPLICATE_JACCARD) + 1
        return [
            other
            for n in range(low, high + 1)
            for other_bag, other in self.by_size.get(n, [])
            if alike(bag, other_bag)
        ]


def leaks(test_messages: list[str], training: list[str]) -> list[str]:
    """Test messages of MIN_WORDS+ words that a training example repeats or rewords."""
    index = NearDuplicateIndex(training)
    exact = {normalise(t) for t in training}
    found = []
    for message in test_messages:
        if len(normalise(message).split()) < MIN_WORDS:
            continue
        if normalise(message) in exact or index.matches(message):
            found.append(f"{message!r} ~ {(index.matches(message) or [message])[0]!r}")
    return found


def test_the_check_catches_copies_and_light_rewordings() -> None:
    training = [
        "Où est ma commande OM-104233 ?",
        'do you deliver to [Germany]{"entity": "country", "value": "DE"}?',
        "combien coûte la livraison en Belgique pour une montre",
    ]
    training = [ANNOTATION.sub(r"\1", t) for t in training]
    caught = leaks(
        [
            "ou est ma commande om-104233",  # accents, case, punctuation
            "Do you deliver to Germany ??",  # annotation and punctuation
            "combien coûte la livraison en Belgique pour ma montre",  # one word changed
            "quel est le délai de livraison en Belgique",  # a different message
            "oui",  # too short to be written apart
        ],
        training,
    )
    assert len(caught) == 3, caught
    assert not any("délai" in c for c in caught)


def test_no_test_set_message_is_in_the_training_data() -> None:
    training = training_lines()
    assert len(training) > 3000
    found = []
    for name, path in TEST_SETS.items():
        messages = nlu_lines(path)
        assert len(messages) > 300, name
        found += [f"{name}: {leak}" for leak in leaks(messages, training)]
    assert not found, f"{len(found)} test messages repeated or reworded in data/: {found[:20]}"


def test_no_test_story_message_is_in_the_training_data() -> None:
    training = training_lines()
    exact = {normalise(t) for t in training}
    leaked = []
    for path in (PROJECT_ROOT / "tests" / "stories").glob("*.yml"):
        for story in yaml.safe_load(path.read_text("utf-8")).get("stories", []):
            for step in story["steps"]:
                if "user" in step:
                    # Even a short story message must be new to the model.
                    if normalise(step["user"]) in exact:
                        leaked.append(step["user"])
                    leaked += leaks([step["user"]], training)
    assert not leaked, leaked


def test_no_nlu_test_file_is_under_data() -> None:
    names = [p.name for p in (PROJECT_ROOT / "data").rglob("*") if "test" in p.name.lower()]
    assert not names, names


def test_the_training_data_is_one_file_per_topic() -> None:
    # data/nlu/<topic>.yml: each intent's examples, in both languages, are in one file, so
    # a reader finds every example of an intent in one place (the console's reviewed examples
    # and `make interactive`'s saves go to files of their own, named in README.md).
    tool_files = {"reviewed.yml", "interactive.yml"}
    files_of: dict[str, set[str]] = defaultdict(set)
    for path in sorted((PROJECT_ROOT / "data").rglob("*.yml")):
        if "stores" in path.relative_to(PROJECT_ROOT / "data").parts or path.name in tool_files:
            continue
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        for block in data.get("nlu") or []:
            if isinstance(block, dict) and "intent" in block:
                assert path.parent == PROJECT_ROOT / "data" / "nlu", path
                files_of[block["intent"]].add(path.name)
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text("utf-8"))
    assert set(files_of) == set(domain["intents"]) - {"nlu_fallback", "other_language"}
    assert {i: f for i, f in files_of.items() if len(f) > 1} == {}
