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

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment
(SQLAlchemy 1.4).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)


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


def install() -> bool:
    """Registers the listener on every SQLAlchemy engine of the process (once)."""
    if not event.contains(Engine, "connect", use_wal):
        event.listen(Engine, "connect", use_wal)
    return True
