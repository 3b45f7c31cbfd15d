"""Fixtures of the Rasa-environment tests (NLU components of bot/nlu)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.rasa_ext.preload import preload

# skops before Rasa and TensorFlow (the model loads of test_hostile_nlu and
# test_pipeline_integration): 2 s of CPU instead of 11 (bot/rasa_ext/preload.py).
preload()

from bot.nlu.tokenizer import SpacyLookupTokenizer  # noqa: E402

#: The project's trained model, which `make test` builds before running these tests.
MODEL = Path(__file__).resolve().parents[2] / "models" / "bot.tar.gz"


@pytest.fixture(scope="session")
def tokenizer() -> SpacyLookupTokenizer:
    """One tokenizer for the session: loading both spaCy pipelines takes seconds."""
    return SpacyLookupTokenizer(SpacyLookupTokenizer.get_default_config())


@pytest.fixture(scope="session")
def agent() -> Any:
    """Rasa's Agent with the trained model (models/bot.tar.gz), loaded once for the session.

    Loading it takes seconds of CPU; the tests that use it parse messages and predict actions
    (each conversation under its own sender) and patch Rasa's classes, not this object.
    """
    assert MODEL.exists(), f"{MODEL}: `make model` first (make test builds it)"
    from rasa.core.agent import Agent

    return Agent.load(str(MODEL))


@pytest.fixture(autouse=True)
def _no_default_store_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests start without DEFAULT_STORE so the developer's shell cannot change them."""
    monkeypatch.delenv("DEFAULT_STORE", raising=False)
    yield


@pytest.fixture(scope="session", autouse=True)
def _rasa_quiet() -> None:
    """No telemetry prompt or call from rasa during tests."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


@pytest.fixture
def add_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """Adds a made-up shop (a copy of btomic's folder) with its own ``brand_words`` to a copy of
    the shops, and points the registry there (``STORES_DIR``); returns the shops' folder."""
    from bot.shops import DEFAULT_STORES_DIR

    stores = tmp_path / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, stores)

    def add(store_id: str, brand_words: str) -> Path:
        shutil.copytree(stores / "btomic", stores / store_id)
        facts = stores / store_id / "facts.yml"
        text = facts.read_text(encoding="utf-8")
        assert "brand_words: [BTOMIC]" in text
        facts.write_text(
            text.replace("brand_words: [BTOMIC]", f"brand_words: {brand_words}"), encoding="utf-8"
        )
        monkeypatch.setenv("STORES_DIR", str(stores))
        return stores

    return add
