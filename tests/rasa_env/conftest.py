"""Fixtures of the Rasa-environment tests (NLU components of bot/nlu)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.rasa_ext.preload import preload

# skops before Rasa and TensorFlow (the model loads of test_hostile_nlu and
# test_pipeline_integration): 2 s of CPU instead of 11 (bot/rasa_ext/preload.py).
preload()

from bot.nlu.tokenizer import SpacyLookupTokenizer  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer() -> SpacyLookupTokenizer:
    """One tokenizer for the session: loading both spaCy pipelines takes seconds."""
    return SpacyLookupTokenizer(SpacyLookupTokenizer.get_default_config())


@pytest.fixture(autouse=True)
def _no_default_store_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests start without DEFAULT_STORE so the developer's shell cannot change them."""
    monkeypatch.delenv("DEFAULT_STORE", raising=False)
    yield


@pytest.fixture(scope="session", autouse=True)
def _rasa_quiet() -> None:
    """No telemetry prompt or call from rasa during tests."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
