"""Teaching: a reviewed customer message becomes a training example for the next training.

An editor picks the right intent for a misunderstood message (or "new topic": no intent covers
it yet, so it is listed for the team and not trained on). The example is kept in the database
(:class:`~bot.db.console.TeachingExample`, one per wording) and the training-data file
``CONSOLE_TRAINING_FILE`` (``data/nlu/reviewed.yml``) is rewritten from it, so ``make model``
(or the console's retrain button) trains on it.

Refused, with the reason: an empty or over-long text, an unknown intent, a wording already in
the training data (``data/``) or saved before, and above all a wording that is in a test set
(``tests/nlu*/``): training on test data would make the measured accuracy a lie.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import PROJECT_ROOT
from bot.console.auth import Agent
from bot.db.console import TeachingExample

logger = logging.getLogger(__name__)

MAX_EXAMPLE_CHARS = 400
DATA_DIR = PROJECT_ROOT / "data"
TESTS_DIR = PROJECT_ROOT / "tests"
DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
_ANNOTATION = re.compile(r"\[([^\]\n]{1,200})\](?:\([^)\n]{1,200}\)|\{[^}\n]{1,500}\})")
_FILE_LOCK = threading.Lock()
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TeachingRefused(ValueError):
    """The example cannot be saved; the message says why, for the editor."""


def example_key(text: str) -> str:
    """The wording of an example for duplicate checks: no annotation, case or spacing."""
    plain = _ANNOTATION.sub(r"\1", text)
    return " ".join(plain.casefold().split()).strip(" .!?;:…")[:500]


def _examples_in(path: Path) -> Iterable[str]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        logger.warning("Cannot read %s for the duplicate check: %s", path, exc)
        return
    if not isinstance(document, dict):
        return
    for block in document.get("nlu") or []:
        examples = block.get("examples") if isinstance(block, dict) else None
        if not isinstance(examples, str):
            continue
        for line in examples.splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield line[2:]


@cache
def _keys_of(path: Path, _mtime_ns: int) -> frozenset[str]:
    return frozenset(example_key(text) for text in _examples_in(path))


def keys_in(paths: Iterable[Path]) -> frozenset[str]:
    """The example keys of every file (cached per file version)."""
    keys: set[str] = set()
    for path in paths:
        try:
            keys |= _keys_of(path, path.stat().st_mtime_ns)
        except FileNotFoundError:
            continue
    return frozenset(keys)


def held_out_test_sets(tests_dir: Path = TESTS_DIR) -> list[Path]:
    """The held-out NLU test sets: every YAML file under ``tests/nlu*/``."""
    return sorted(
        p for folder in tests_dir.glob("nlu*") if folder.is_dir() for p in folder.rglob("*.yml")
    )


def training_files(data_dir: Path, skip: Path | None) -> list[Path]:
    """The training data files (``data/**/*.yml``) but the console's own file."""
    return sorted(p for p in data_dir.rglob("*.yml") if p != skip and "stores" not in p.parts)


@cache
def known_intents(domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """The intents of the domain."""
    domain = yaml.load(domain_file.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506
    return tuple(str(name) for name in domain.get("intents") or [])


@dataclass(frozen=True)
class Teacher:
    """Where teaching reads and writes."""

    training_file: Path
    data_dir: Path = DATA_DIR
    tests_dir: Path = TESTS_DIR

    def check(self, session: Session, text: str, intent: str | None) -> str:
        """The cleaned text, or :class:`TeachingRefused` with the reason."""
        clean = " ".join(text.replace("[", "(").replace("]", ")").split())
        if not clean:
            raise TeachingRefused("The message is empty.")
        if len(clean) > MAX_EXAMPLE_CHARS:
            raise TeachingRefused(f"Examples are at most {MAX_EXAMPLE_CHARS} characters long.")
        if clean.startswith("/"):
            raise TeachingRefused("A button payload is not something a customer wrote.")
        if intent is not None and intent not in known_intents():
            raise TeachingRefused(f"Unknown intent {intent!r}.")
        key = example_key(clean)
        if key in keys_in(held_out_test_sets(self.tests_dir)):
            raise TeachingRefused(
                "This wording is in a test set (tests/nlu*): it must never be trained on."
            )
        if key in keys_in(training_files(self.data_dir, self.training_file)):
            raise TeachingRefused("This wording is already in the training data.")
        if session.scalar(select(TeachingExample.id).where(TeachingExample.key == key)):
            raise TeachingRefused("This wording has already been reviewed.")
        return clean

    def save(
        self,
        session: Session,
        agent: Agent,
        *,
        text: str,
        intent: str | None,
        store_id: str,
        language: str | None,
        source_sender_id: str | None,
        note: str | None = None,
    ) -> TeachingExample:
        """Checks and saves an example, then rewrites the training file (the caller commits).

        Raises:
            TeachingRefused: see :meth:`check`.
        """
        clean = self.check(session, text, intent)
        example = TeachingExample(
            user_id=agent.id,
            store_id=store_id,
            language=language if language in ("fr", "en") else None,
            text=clean,
            key=example_key(clean),
            intent=intent,
            note=note,
            source_sender_id=source_sender_id,
        )
        session.add(example)
        session.flush()
        self.write_file(session)
        return example

    def write_file(self, session: Session) -> int:
        """Rewrites the training file from every reviewed example with an intent."""
        rows = session.execute(
            select(TeachingExample.intent, TeachingExample.text)
            .where(TeachingExample.intent.is_not(None))
            .order_by(TeachingExample.intent, TeachingExample.id)
        ).all()
        by_intent: dict[str, list[str]] = {}
        for intent, text in rows:
            by_intent.setdefault(str(intent), []).append(str(text))
        lines = [
            "# Reviewed training examples, saved from the support console",
            "# (bot/console/teaching.py).",
            "# Rewritten from the console's database at each save: teach through the console.",
            'version: "3.1"',
            "nlu:" if by_intent else "nlu: []",
        ]
        for intent, texts in by_intent.items():
            lines += [f"- intent: {intent}", "  examples: |"]
            lines += [f"    - {text}" for text in texts]
        with _FILE_LOCK:
            self.training_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.training_file.with_suffix(".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            tmp.replace(self.training_file)
        return len(rows)
