"""SQLite databases of the Rasa server in write-ahead-log mode (the local tracker store).

`make run` keeps the conversations in a SQLite tracker store (`var/rasa-tracker.db`). Rasa's
SQL tracker store commits twice per message (the new events; the session start) through
synchronous SQLAlchemy calls on the server's only event loop. In SQLite's default rollback-
journal mode each commit creates, fsyncs and deletes a journal file: about 12 ms on this
project's machine, during which no other conversation moves. In WAL mode a commit appends to
the log and fsyncs once: about 0.5 ms, with the same durability (`synchronous` stays FULL,
SQLite's default: a committed turn survives a power cut). Readers and the writer also stop
blocking each other.

:func:`install` sets `PRAGMA journal_mode=WAL` on every SQLite connection the Rasa process
opens (an SQLAlchemy `connect` listener on all engines; in the Rasa server only the tracker
store uses SQLite). The mode is stored in the database file, so a tool opening
`var/rasa-tracker.db` later sees a WAL database (`-wal` and `-shm` files next to it while in
use). PostgreSQL, the production tracker store, is not concerned.

:func:`install` also gives the SQLite tracker store a connection pool. SQLAlchemy 1.4 uses no
pool for a SQLite file (`NullPool`), so each of the three database sessions of a turn opened a
new connection (and set the journal mode again) and closed it: about 10% of the Rasa server's
CPU per turn under load (py-spy, `make bench`). `SingletonThreadPool` keeps one connection
per thread, as SQLite's own thread check requires.

Written for Rasa 3.6 (its `create_engine_kwargs(url)` of `rasa/core/tracker_store.py`, which
:func:`engine_kwargs` wraps, and its SQL tracker store as the only SQLite user of the process):
on another version :func:`install` changes nothing, neither the pool nor the journal mode, and
warns. Nothing is lost by refusing: the tracker store keeps Rasa's own settings (rollback
journal, a connection per session), as durable, only slower.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment
(SQLAlchemy 1.4).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import rasa.core.tracker_store
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import SingletonThreadPool

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose tracker store's engine arguments this wraps (read before widening).
KNOWN_RASA_PREFIX = "3.6."


def use_wal(dbapi_connection: Any, _connection_record: Any) -> None:
    """`connect` listener: switches a new SQLite connection's database to WAL mode."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
    finally:
        cursor.close()
    if not mode or str(mode[0]).lower() != "wal":
        # An in-memory database answers "memory": nothing to gain there, nothing to do.
        logger.debug("SQLite journal mode stays %s", mode[0] if mode else None)


_rasa_engine_kwargs: Callable[[str | URL], dict[str, Any]] = (
    rasa.core.tracker_store.create_engine_kwargs
)


def engine_kwargs(url: str | URL) -> dict[str, Any]:
    """Rasa's `create_engine` arguments of the SQL tracker store, plus a pool for SQLite files."""
    kwargs = dict(_rasa_engine_kwargs(url))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        kwargs.setdefault("poolclass", SingletonThreadPool)
    return kwargs


def install() -> bool:
    """Registers the listener on every SQLAlchemy engine of the process (once), and the pool.

    Returns False, having done neither, on an unknown Rasa version.
    """
    if not patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "the SQLite tracker store keeps Rasa's rollback journal and a connection per session.",
        [(rasa.core.tracker_store, "create_engine_kwargs", engine_kwargs)],
    ):
        return False
    if not event.contains(Engine, "connect", use_wal):
        event.listen(Engine, "connect", use_wal)
    return True
