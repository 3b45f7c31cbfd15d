"""Action tests: real actions, a rasa-sdk Tracker and CollectingDispatcher, a real demo database.

The orders database is a SQLite file created once per session by the real CLI
(``python -m bot.db.demo --if-empty``, today's date, as ``make run`` does); each test points
``DATABASE_URL`` at it and clears the settings and engine caches, so the actions open their
sessions exactly as in the action server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.config import PROJECT_ROOT, get_settings
from bot.db.session import dispose_engines
from tests.bot.db.conftest import BACKENDS, postgres_base_url, postgres_schema
from tests.conftest import clear_verification_attempts, load_demo_database

DOMAIN: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
DEAD_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:1/none"


@pytest.fixture(scope="session")
def orders_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite orders database with the demo data as of today."""
    path: Path = tmp_path_factory.mktemp("action-orders") / "orders.db"
    url = f"sqlite:///{path}"
    load_demo_database(url)
    return url


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Points the process's settings and engines at ``url``."""
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    dispose_engines()


@pytest.fixture(autouse=True)
def demo_database(monkeypatch: pytest.MonkeyPatch, orders_db_url: str) -> Iterator[str]:
    """Every action test runs against the demo database (a test may switch it)."""
    use_database(monkeypatch, orders_db_url)
    clear_verification_attempts(orders_db_url)  # no test's failed proofs lock another's order
    yield orders_db_url
    monkeypatch.delenv("DATABASE_URL")
    get_settings.cache_clear()
    dispose_engines()


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, demo_database: str
) -> Iterator[str]:
    """The actions' database: the demo SQLite file, or a PostgreSQL schema with the demo data."""
    if request.param == "sqlite":
        yield demo_database
        return
    with postgres_schema(postgres_base_url()) as url:
        load_demo_database(url)
        use_database(monkeypatch, url)
        clear_verification_attempts(url)
        yield url


@pytest.fixture
def domain() -> dict[str, Any]:
    """The domain dict, as rasa-sdk receives it from the Rasa server."""
    return DOMAIN


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def entity(name: str, value: str) -> dict[str, Any]:
    return {"entity": name, "value": value, "start": 0, "end": len(value), "extractor": "test"}


def make_tracker(
    slots: Mapping[str, Any] | None = None,
    *,
    text: str = "",
    intent: str = "inform",
    entities: Sequence[Mapping[str, Any]] = (),
    metadata: Mapping[str, Any] | None = None,
    ranking: Sequence[Mapping[str, Any]] = (),
    candidates: Mapping[str, Any] | None = None,
    input_channel: str = "rest",
    sender_id: str = "test-sender",
    active_loop: str | None = None,
) -> Tracker:
    """A tracker as Rasa sends it, after one user message.

    ``candidates`` are the slot values Rasa passes to a form validation action: appended as
    trailing ``slot`` events after the form's ``action`` event (what ``slots_to_validate``
    reads), and set in the slots.
    """
    all_slots: dict[str, Any] = {"store": "om-system", "language": "en"}
    all_slots.update(slots or {})
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [dict(e) for e in entities],
        "intent_ranking": [dict(r) for r in ranking],
        "metadata": dict(metadata or {}),
    }
    events: list[dict[str, Any]] = [
        {"event": "user", "text": text, "parse_data": latest, "input_channel": input_channel},
        {"event": "action", "name": active_loop or "action_listen"},
    ]
    for name, value in (candidates or {}).items():
        events.append({"event": "slot", "name": name, "value": value})
        all_slots[name] = value
    return Tracker(
        sender_id=sender_id,
        slots=all_slots,
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def texts(dispatcher: CollectingDispatcher) -> str:
    """Everything the action said, joined."""
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """The domain responses the action asked Rasa to say, in order."""
    return [m["response"] for m in dispatcher.messages if m.get("response")]


def slot_events(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The final value of each slot the events set."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
