"""The SQL tracker store's two per-turn queries, built once instead of through the ORM each time.

Rasa 3.6's `SQLTrackerStore` loads a conversation (`_retrieve`, at each turn) and counts its
stored events before each save (`_additional_events`: the events beyond that count are the
new ones) with ORM queries built at every call: the count wraps the whole event query
(`Query.count()`) and the load builds one `SQLEvent` object per stored event, of which only
`data` is read. About 0.8 ms of CPU for the count and 1 ms for the load, per call, on the Rasa
server's only event loop.

Here both are SQLAlchemy Core statements built once per store, with the same tables, the same
conditions (the sender's events since its latest `session_started`, or all of them when it has
none, by `timestamp >=` as Rasa compares) and the same order (`id`): the same rows, so the same
count and the same events, on SQLite and PostgreSQL alike. Only `count(*)` and the `data`
column come back. Each query still runs at each call (no cache): several Rasa processes may
share the database (`make scale-demo`), and each sees what the others stored.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment
(SQLAlchemy 1.4).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `SQLTrackerStore` queries this module reproduces.
KNOWN_RASA_PREFIX = "3.6."
_STATEMENTS_ATTRIBUTE = "_bot_event_statements"


def _session_events_condition(table: sa.Table, all_sessions: bool) -> tuple[Any, list[Any]]:
    """Rasa's `_event_query` conditions, as a FROM list and a WHERE clause on `:sender_id`."""
    sender = table.c.sender_id == sa.bindparam("sender_id")
    if all_sessions:
        return sender, [table]
    session_start = (
        sa.select(sa.func.max(table.c.timestamp).label("session_start"))
        .where(
            table.c.sender_id == sa.bindparam("sender_id"),
            table.c.type_name == SessionStarted.type_name,
        )
        .subquery()
    )
    condition = sa.and_(
        sender,
        sa.or_(
            table.c.timestamp >= session_start.c.session_start,
            session_start.c.session_start.is_(None),
        ),
    )
    return condition, [table, session_start]


def statements(store: SQLTrackerStore) -> dict[str, Any]:
    """The store's count and load statements (built at the first call, then kept)."""
    built: dict[str, Any] | None = store.__dict__.get(_STATEMENTS_ATTRIBUTE)
    if built is None:
        table = store.SQLEvent.__table__
        built = {}
        for all_sessions in (False, True):
            condition, froms = _session_events_condition(table, all_sessions)
            built[_load_key(all_sessions)] = (
                sa.select(table.c.data).select_from(*froms).where(condition).order_by(table.c.id)
            )
        condition, froms = _session_events_condition(table, all_sessions=False)
        built["count"] = sa.select(sa.func.count()).select_from(*froms).where(condition)
        setattr(store, _STATEMENTS_ATTRIBUTE, built)
    return built


def _load_key(all_sessions: bool) -> str:
    return "load all sessions" if all_sessions else "load latest session"


def stored_event_count(store: SQLTrackerStore, session: Any, sender_id: str) -> int:
    """How many events of the sender's latest session are stored (Rasa's count, in one query)."""
    return int(session.execute(statements(store)["count"], {"sender_id": sender_id}).scalar())


def _additional_events(
    self: SQLTrackerStore, session: Any, tracker: DialogueStateTracker
) -> Iterator[Event]:
    """Rasa 3.6's `SQLTrackerStore._additional_events`: the tracker's events not yet stored."""
    number_of_events_since_last_session = stored_event_count(self, session, tracker.sender_id)
    return itertools.islice(
        tracker.events, number_of_events_since_last_session, len(tracker.events)
    )


async def _retrieve(
    self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
) -> DialogueStateTracker | None:
    """Rasa 3.6's `SQLTrackerStore._retrieve`, reading only the `data` column."""
    with self.session_scope() as session:
        statement = statements(self)[_load_key(fetch_events_from_all_sessions)]
        rows = session.execute(statement, {"sender_id": sender_id}).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and len(events) > 0:
            logger.debug("Recreating tracker from sender id '%s'", sender_id)
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        logger.debug(
            "Can't retrieve tracker matching sender id '%s' from SQL storage. "
            "Returning `None` instead.",
            sender_id,
        )
        return None


#: Rasa's own methods (for the tests' comparison, and to see whether the fix is installed).
RASA_ADDITIONAL_EVENTS = SQLTrackerStore._additional_events
RASA_RETRIEVE = SQLTrackerStore._retrieve


def install() -> bool:
    """Replaces Rasa's two methods; returns False (and changes nothing) on an unknown Rasa."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "the SQL tracker store's queries stay Rasa's own.",
        [
            (SQLTrackerStore, "_additional_events", _additional_events),
            (SQLTrackerStore, "_retrieve", _retrieve),
        ],
    )
