"""The SQL tracker store's queries built once (bot/rasa_ext/tracker_queries.py): same rows stored,
same trackers loaded as Rasa's ORM queries, on SQLite and on PostgreSQL.

PostgreSQL: ``TEST_POSTGRES_URL`` (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test), a
schema of its own per test, dropped afterwards; without it the PostgreSQL cases are skipped
(failed under ``CI=true``, tests/services.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext import tracker_queries
from tests.services import required_env

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(ROOT / "domain.yml")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database (a SQLite file, or a PostgreSQL schema of its own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    base = required_env(
        "TEST_POSTGRES_URL",
        "PostgreSQL not configured (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test)",
    )
    schema = f"test_tracker_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.engine.make_url(base)
        yield str(url.update_query_dict({"options": f"-csearch_path={schema}"}))
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def rasa_methods() -> Iterator[None]:
    """Rasa's own methods during the test, whatever was installed before; restored after."""
    installed = (SQLTrackerStore._additional_events, SQLTrackerStore._retrieve)
    SQLTrackerStore._additional_events = tracker_queries.RASA_ADDITIONAL_EVENTS
    SQLTrackerStore._retrieve = tracker_queries.RASA_RETRIEVE
    try:
        yield
    finally:
        SQLTrackerStore._additional_events, SQLTrackerStore._retrieve = installed


def use(patched: bool) -> None:
    if patched:
        assert tracker_queries.install()
    else:
        SQLTrackerStore._additional_events = tracker_queries.RASA_ADDITIONAL_EVENTS
        SQLTrackerStore._retrieve = tracker_queries.RASA_RETRIEVE


def new_store(url: str) -> SQLTrackerStore:
    return SQLTrackerStore(DOMAIN, host=url)


def user(text: str, intent: str, at: float) -> UserUttered:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    return UserUttered(text, parse["intent"], [], parse_data=parse, timestamp=at)


def turns() -> list[tuple[str, list[Event]]]:
    """Saves of two interleaved conversations: (sender, events added before the save).

    The second session of "a" starts with an `action_session_start` stamped *after* the
    `session_started` and an event stamped exactly at it: Rasa's `timestamp >=` rule decides
    which stored events belong to the latest session, and both implementations must agree.
    """
    return [
        (
            "a",
            [
                ActionExecuted("action_session_start", timestamp=100.0),
                SessionStarted(timestamp=100.0),
                ActionExecuted("action_listen", timestamp=100.1),
            ],
        ),
        (
            "b",
            [user("Where is my order?", "order_status", 101.0), SlotSet("language", "en", 101.0)],
        ),
        (
            "a",
            [
                user("Bonjour", "greet", 102.0),
                SlotSet("language", "fr", timestamp=102.0),
                ActionExecuted("utter_greet", timestamp=102.1),
                BotUttered("Bonjour !", {"elements": None}, {}, timestamp=102.2),
                ActionExecuted("action_listen", timestamp=102.3),
            ],
        ),
        ("a", []),  # a save with nothing new stores nothing
        ("b", [ActionExecuted("action_listen", timestamp=103.0)]),
        (
            "a",
            [
                SessionStarted(timestamp=200.0),
                ActionExecuted("action_session_start", timestamp=200.5),
                SlotSet("language", "fr", timestamp=200.0),
                ActionExecuted("action_listen", timestamp=200.6),
            ],
        ),
        ("a", [user("Merci", "thanks", 201.0), ActionExecuted("action_listen", timestamp=201.1)]),
    ]


def play(url: str, patched: bool) -> tuple[list[Any], list[Any]]:
    """Plays the turns as Rasa does (load, add, save): what each step loaded, and the rows."""
    use(patched)
    store = new_store(url)
    seen: list[Any] = []
    for sender, events in turns():
        # Rasa's `get_or_create_tracker`, without the first `action_listen` stamped "now".
        tracker = asyncio.run(store.retrieve(sender)) or DialogueStateTracker(sender, DOMAIN.slots)
        for event in events:
            tracker.update(event)
        with store.session_scope() as session:
            seen.append([e.as_dict() for e in store._additional_events(session, tracker)])
        asyncio.run(store.save(tracker))
        for loaded in (
            asyncio.run(store.retrieve(sender)),
            asyncio.run(store.retrieve_full_tracker(sender)),
        ):
            assert loaded is not None
            seen.append((loaded.current_state(), [e.as_dict() for e in loaded.events]))
    assert asyncio.run(store.retrieve("nobody")) is None
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
                "FROM events ORDER BY id"
            )
        ).all()
    store.engine.dispose()
    return seen, [tuple(row) for row in rows]


def test_same_events_stored_and_same_trackers_loaded_as_rasa(
    database_url: str, rasa_methods: None, tmp_path: Path
) -> None:
    rasa_seen, rasa_rows = play(database_url, patched=False)
    # The same turns again, on a second, empty database of the same kind.
    if database_url.startswith("sqlite"):
        second = f"sqlite:///{tmp_path / 'second.db'}"
    else:
        engine = sa.create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE events"))
        engine.dispose()
        second = database_url
    ours_seen, ours_rows = play(second, patched=True)

    assert ours_rows == rasa_rows
    assert ours_seen == rasa_seen
    # The scenario is not trivial: 17 events stored, the new session of "a" loaded alone.
    assert len(rasa_rows) == 17
    latest_a = rasa_seen[-2]
    assert [e["event"] for e in latest_a[1]][:2] == ["session_started", "action"]


def test_one_light_query_per_count_and_per_load(database_url: str, rasa_methods: None) -> None:
    """The count is a bare `count(*)` and the load reads only `data` (not Rasa's ORM queries)."""
    use(patched=True)
    store = new_store(database_url)
    tracker = DialogueStateTracker("c", DOMAIN.slots)
    tracker.update(user("Bonjour", "greet", 1.0))
    asyncio.run(store.save(tracker))
    statements: list[str] = []
    sa.event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(" ".join(statement.split())),
    )
    tracker.update(ActionExecuted("action_listen", timestamp=2.0))
    asyncio.run(store.save(tracker))
    loaded = asyncio.run(store.retrieve("c"))
    store.engine.dispose()

    assert loaded is not None and len(loaded.events) == 2
    selects = [s for s in statements if s.upper().startswith("SELECT")]
    counts = [s for s in selects if "count(" in s.lower()]
    loads = [s for s in selects if "count(" not in s.lower() and "events.data" in s]
    assert len(counts) == 1 and len(loads) == 1, selects
    # Rasa's Query.count() wraps every column of the event query in a subquery.
    assert counts[0].startswith("SELECT count(*) AS count_1 FROM events,"), counts[0]
    assert loads[0].startswith("SELECT events.data FROM events,"), loads[0]


def test_an_unknown_rasa_keeps_rasas_queries(
    rasa_methods: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    assert not tracker_queries.install()
    assert SQLTrackerStore._additional_events is tracker_queries.RASA_ADDITIONAL_EVENTS
    assert SQLTrackerStore._retrieve is tracker_queries.RASA_RETRIEVE
