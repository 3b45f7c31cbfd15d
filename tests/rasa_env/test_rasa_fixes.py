"""bot/rasa_ext's fixes to Rasa 3.6 (installed by `python -m bot.rasa_ext.cli`).

Each fix must change how fast Rasa does something, never what it does: the same answers
pass, the same errors are raised with the same message, the same data is stored.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.rasa_ext import action_validation, sqlite_wal

GOOD: Dict[str, Any] = {
    "events": [{"event": "slot", "name": "language", "value": "fr", "timestamp": None}],
    "responses": [{"text": "Bonjour", "buttons": []}],
}
BAD: Dict[str, Any] = {"events": [{"event": "slot", "name": "language"}], "responses": "Bonjour"}


@pytest.fixture
def rasa_validation(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Rasa's own method; the class gets it back after the test."""
    original = RemoteAction._validate_action_result
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    return original


def _error_of(validate: Any, result: Dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(RemoteAction("action_x", None), result)
    return str(caught.value.message)


def test_the_compiled_validator_accepts_what_rasa_accepts(rasa_validation: Any) -> None:
    assert rasa_validation(RemoteAction("action_x", None), GOOD) is True
    assert action_validation.install()
    assert RemoteAction("action_x", None)._validate_action_result(GOOD) is True


def test_the_compiled_validator_refuses_with_rasas_own_message(rasa_validation: Any) -> None:
    expected = _error_of(rasa_validation, BAD)
    assert action_validation.install()
    assert _error_of(RemoteAction._validate_action_result, BAD) == expected
    assert "Failed to validate Action server response" in expected


def test_the_schema_is_checked_once(rasa_validation: Any) -> None:
    action_validation.install()
    action = RemoteAction("action_x", None)
    action._validate_action_result(GOOD)
    before = action_validation.action_response_validator.cache_info()
    action._validate_action_result(GOOD)
    after = action_validation.action_response_validator.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


@pytest.fixture
def wal_listener() -> Iterator[None]:
    """The WAL listener, removed after the test (it applies to every engine of the process)."""
    sqlite_wal.install()
    sqlite_wal.install()  # idempotent: one listener
    try:
        yield
    finally:
        event.remove(Engine, "connect", sqlite_wal.use_wal)


def test_the_sqlite_tracker_store_commits_in_wal_mode_and_keeps_the_events(
    wal_listener: None, tmp_path: Path
) -> None:
    path = tmp_path / "tracker.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    tracker = DialogueStateTracker("conversation", [])
    tracker.update(UserUttered("Bonjour"))
    tracker.update(SlotSet("language", "fr"))
    asyncio.run(store.save(tracker))

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    restored = asyncio.run(store.retrieve("conversation"))
    assert restored is not None
    assert [e.as_dict()["event"] for e in restored.events] == ["user", "slot"]
