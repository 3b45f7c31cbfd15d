"""Fixtures of the Rasa-environment tests (NLU components of bot/nlu)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.nlu.tokenizer import SpacyLookupTokenizer


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
