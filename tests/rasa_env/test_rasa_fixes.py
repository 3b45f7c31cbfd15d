"""bot/rasa_ext's fixes to Rasa 3.6 (installed by `python -m bot.rasa_ext.cli`).

Each fix must change how fast Rasa does something, never what it does: the same answers
pass, the same errors are raised with the same message, the same data is stored.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.nlg.callback import CallbackNaturalLanguageGenerator
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.rasa_ext import action_validation, sqlite_wal

GOOD: dict[str, Any] = {
    "events": [{"event": "slot", "name": "language", "value": "fr", "timestamp": None}],
    "responses": [{"text": "Bonjour", "buttons": []}],
}
BAD: dict[str, Any] = {"events": [{"event": "slot", "name": "language"}], "responses": "Bonjour"}


@pytest.fixture
def rasa_validation(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Rasa's own method; the class gets it back after the test."""
    original = RemoteAction._validate_action_result
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    # The NLG answers' validation (a static method: put back as it is in the class).
    nlg = CallbackNaturalLanguageGenerator.__dict__["validate_response"]
    monkeypatch.setattr(CallbackNaturalLanguageGenerator, "validate_response", nlg)
    return original


def _error_of(validate: Any, result: dict[str, Any]) -> str:
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


NLG_GOOD: list[Any] = [
    {"text": "Bonjour", "buttons": [], "custom": {}},
    {"text": "Hi", "id": None, "image": None, "attachment": None, "elements": [], "extra": 1},
    None,
    "",
]
NLG_BAD: list[Any] = [
    {"text": 3},
    {"text": None},
    {"text": "ok", "buttons": "not a list"},
    {"text": "ok", "buttons": [1]},
    {"text": "ok", "custom": None},
    ["not", "an", "object"],
]


def _nlg_outcome(validate: Any, content: Any) -> str:
    try:
        return str(validate(content))
    except RasaException as error:
        return f"RasaException: {error}"


def test_nlg_answers_are_judged_as_rasa_judges_them(rasa_validation: Any) -> None:
    rasa_validate = CallbackNaturalLanguageGenerator.validate_response
    expected = [_nlg_outcome(rasa_validate, content) for content in NLG_GOOD + NLG_BAD]
    assert expected[: len(NLG_GOOD)] == ["True"] * len(NLG_GOOD)
    assert all(outcome.startswith("RasaException: ") for outcome in expected[len(NLG_GOOD) :])
    assert action_validation.install()
    assert CallbackNaturalLanguageGenerator.validate_response is (
        action_validation.validate_nlg_response
    )
    got = [
        _nlg_outcome(CallbackNaturalLanguageGenerator.validate_response, content)
        for content in NLG_GOOD + NLG_BAD
    ]
    assert got == expected  # same verdicts, same messages


def test_the_nlg_schema_is_checked_once(rasa_validation: Any) -> None:
    action_validation.install()
    CallbackNaturalLanguageGenerator.validate_response(NLG_GOOD[0])
    before = action_validation.nlg_response_validator.cache_info()
    CallbackNaturalLanguageGenerator.validate_response(NLG_GOOD[0])
    after = action_validation.nlg_response_validator.cache_info()
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


def test_the_sqlite_tracker_store_keeps_its_connection(
    wal_listener: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rasa.core.tracker_store

    rasa_kwargs = rasa.core.tracker_store.create_engine_kwargs
    monkeypatch.setattr(rasa.core.tracker_store, "create_engine_kwargs", rasa_kwargs)
    sqlite_wal.install()
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "pooled.db"))
    connects: list[Any] = []
    event.listen(store.engine, "connect", lambda *args: connects.append(args))
    for text in ("Bonjour", "Merci", "Au revoir"):
        tracker = asyncio.run(store.get_or_create_tracker("c"))
        tracker.update(UserUttered(text))
        asyncio.run(store.save(tracker))
    restored = asyncio.run(store.retrieve("c"))
    assert restored is not None
    assert [e.text for e in restored.events if isinstance(e, UserUttered)] == [
        "Bonjour",
        "Merci",
        "Au revoir",
    ]
    # Stock Rasa on SQLAlchemy 1.4 opens a connection for each of these sessions.
    assert len(connects) <= 1


def test_postgresql_engine_arguments_are_rasas_own() -> None:
    url = "postgresql://u@127.0.0.1/db"
    assert sqlite_wal.engine_kwargs(url) == sqlite_wal._rasa_engine_kwargs(url)
    assert "poolclass" not in sqlite_wal.engine_kwargs("sqlite://")


def test_event_types_are_resolved_as_rasa_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.events import ActionExecuted, Event, SessionStarted

    from bot.rasa_ext import event_types

    original = Event.resolve_by_type
    names = ["user", "slot", "action", "session_started", "bot", "active_loop", "followup"]
    expected = {name: original(name) for name in names}
    monkeypatch.setattr(Event, "resolve_by_type", Event.resolve_by_type)
    event_types.install()
    assert {name: Event.resolve_by_type(name) for name in names} == expected
    assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("session_started") is SessionStarted
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("nope", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'nope'"):
        Event.resolve_by_type("nope")
    # Whole events still deserialise through the new lookup.
    restored = Event.from_parameters({"event": "slot", "name": "language", "value": "en"})
    assert restored == SlotSet("language", "en")
