"""The held-out NLU set and the test stories are never training data."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def normalise(text: str) -> str:
    text = ANNOTATION.sub(r"\1", text)
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w@#-]+", " ", text).split())


def nlu_examples(path: Path) -> set[str]:
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    found = set()
    for block in data.get("nlu", []) or []:
        if "intent" in block:
            for line in str(block.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    found.add(normalise(line.strip()[2:]))
    return found


def training_examples() -> set[str]:
    found: set[str] = set()
    for path in (PROJECT_ROOT / "data").rglob("*.yml"):
        found |= nlu_examples(path)
    return found


def test_no_held_out_example_is_in_the_training_data() -> None:
    held_out = nlu_examples(PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml")
    assert len(held_out) > 500
    leaked = sorted(held_out & training_examples())
    # Bare values ("OM-104233", "oui") are legitimately in both; sentences must not be.
    leaked = [text for text in leaked if len(text.split()) > 2]
    assert not leaked, f"held-out examples found in data/: {leaked[:20]}"


def test_no_test_story_message_is_in_the_training_data() -> None:
    training = training_examples()
    leaked = []
    for path in (PROJECT_ROOT / "tests" / "stories").glob("*.yml"):
        for story in yaml.safe_load(path.read_text("utf-8")).get("stories", []):
            for step in story["steps"]:
                if "user" in step and normalise(step["user"]) in training:
                    leaked.append(step["user"])
    assert not leaked, leaked


def test_no_nlu_test_file_is_under_data() -> None:
    names = [p.name for p in (PROJECT_ROOT / "data").rglob("*") if "test" in p.name.lower()]
    assert not names, names
