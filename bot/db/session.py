"""Engines and sessions for the orders database.

The caller owns the session: it opens one, calls the data functions with it, and commits or
rolls back itself; nothing in ``bot.db`` commits behind its back. Typical uses::

    with get_sessionmaker()() as session:          # an action, a script
        order = session.scalars(select(Order).where(Order.number == number)).one_or_none()

    SessionDep = Annotated[Session, Depends(get_session)]   # a FastAPI route

    with get_reading_sessionmaker()() as session:  # reads only (SQLite: no write lock)
        ...

Both back-ends are tuned here, once: SQLite (the embedded default) gets foreign keys, a lock
wait, a write-ahead log for database files and SQLAlchemy-driven ``BEGIN IMMEDIATE``
transactions (a burst of writers queues instead of failing); PostgreSQL gets a statement
timeout and a connection check before each use of a pooled connection.

On SQLite one transaction at a time holds the write lock, from its ``BEGIN IMMEDIATE`` to its
end: a session of :func:`get_sessionmaker` must be opened, written and committed by one
synchronous piece of code, never kept open across an ``await`` or a call to another service
(every other writer of every process waits meanwhile, holding a worker thread). A session of
:func:`get_reading_sessionmaker` starts a deferred transaction instead: it reads a snapshot
(write-ahead log) and never waits for the writer; it must not write.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Generator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from bot.config import get_settings

logger = logging.getLogger(__name__)

_LIBPQ_DRIVERS = frozenset({"psycopg2", "psycopg"})

#: Execution option of :func:`get_reading_sessionmaker`'s connections: on SQLite their
#: transactions begin deferred (a snapshot read, no write lock).
READ_ONLY_OPTION = "project_read_only"

_engines: dict[tuple[str, float], Engine] = {}
_sessionmakers: dict[tuple[str, float], sessionmaker[Session]] = {}
_reading_sessionmakers: dict[tuple[str, float], sessionmaker[Session]] = {}
# The gateway runs synchronous routes in a thread pool: two first requests must not build two
# engines (and two connection pools) for the same URL.
_cache_lock = threading.Lock()


def make_engine(url: str | URL, *, statement_timeout_s: float | None = None) -> Engine:
    """Creates an engine for ``url`` with this project's per-back-end settings.

    SQLite: the parent folder of the database file is created, foreign keys are enforced (the
    ``ON DELETE CASCADE`` of the schema depends on it), a writer waits up to the timeout for a
    lock, and SQLAlchemy emits ``BEGIN`` itself so that transactions and savepoints behave as on
    PostgreSQL. PostgreSQL (libpq drivers): ``pool_pre_ping`` and a server-side
    ``statement_timeout``, merged with any ``options`` already in the URL (e.g. a
    ``search_path``).

    Args:
        url: any SQLAlchemy database URL.
        statement_timeout_s: seconds a statement (PostgreSQL) or a lock wait (SQLite) may take;
            defaults to ``settings.database_statement_timeout_s``.

    Returns:
        A new engine; the caller disposes of it.
    """
    parsed = make_url(url)
    if statement_timeout_s is None:
        statement_timeout_s = get_settings().database_statement_timeout_s
    backend = parsed.get_backend_name()
    logger.debug("Creating an engine for %s", parsed.render_as_string(hide_password=True))
    if backend == "sqlite":
        return _make_sqlite_engine(parsed, statement_timeout_s)
    if backend == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS:
        return _make_libpq_engine(parsed, statement_timeout_s)
    return create_engine(parsed, pool_pre_ping=True)


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory, URI-style or other URLs."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database)


def _make_sqlite_engine(url: URL, timeout_s: float) -> Engine:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": timeout_s})

    @event.listens_for(engine, "connect")
    def _configure_connection(
        dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry
    ) -> None:
        # pysqlite starts transactions lazily on its own and breaks SAVEPOINT; handing
        # transaction control to SQLAlchemy (the documented recipe) fixes both.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # Off by default in SQLite, per connection: without it the FKs are decoration.
            cursor.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                # Write-ahead log: readers (the action server looking up an order) and the
                # writer (the gateway storing a mail) stop blocking each other, and a commit
                # is one append + fsync instead of a journal file created, synced and
                # deleted. `synchronous` stays FULL: a committed row survives a power cut.
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            # A reading session: a deferred transaction reads a snapshot (WAL) and never
            # waits for the write lock.
            connection.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock at BEGIN, waiting up to the timeout for it. A
        # deferred BEGIN that reads first and writes later (store a mail unless its
        # Message-ID is known) cannot wait: SQLite answers "database is locked" at once
        # when another connection wrote in between, and the request failed. Transactions
        # here must stay a few milliseconds long (one synchronous block: no await, no
        # call to another service inside); with WAL, readers never wait for this lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _make_libpq_engine(url: URL, timeout_s: float) -> Engine:
    timeout_ms = max(1, round(timeout_s * 1000))
    existing = url.query.get("options")
    existing_options = " ".join(existing) if isinstance(existing, tuple) else existing or ""
    options = f"{existing_options} -c statement_timeout={timeout_ms}".strip()
    connect_args = {
        "options": options,
        # libpq rounds below 2 s up to 2 s; a dead server should fail about as fast as a
        # slow statement does.
        "connect_timeout": max(2, math.ceil(timeout_s)),
    }
    # connect_args take precedence over the URL's query for the same key, so the URL can stay
    # as given (engine.url still shows the caller's options).
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``.

    ``expire_on_commit`` is off: callers commit and then build a reply from the objects they
    hold, often after the session is closed, where an expired attribute could not be reloaded.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def _settings_key() -> tuple[str, float]:
    settings = get_settings()
    return settings.database_url, settings.database_statement_timeout_s


def get_engine() -> Engine:
    """The process-wide engine for ``settings.database_url`` (created on first use)."""
    key = _settings_key()
    with _cache_lock:
        return _engine_for(key)


def get_sessionmaker() -> sessionmaker[Session]:
    """The process-wide session factory bound to :func:`get_engine`."""
    key = _settings_key()
    with _cache_lock:
        factory = _sessionmakers.get(key)
        if factory is None:
            factory = _sessionmakers[key] = session_factory(_engine_for(key))
        return factory


def get_reading_sessionmaker() -> sessionmaker[Session]:
    """The process-wide factory of reading sessions (same engine and pool, reads only).

    On SQLite their transactions begin deferred: a snapshot read that never waits for (nor
    takes) the write lock; a write in one could fail at once with "database is locked", so
    none may write. On PostgreSQL they are ordinary sessions. Autoflush is off.
    """
    key = _settings_key()
    with _cache_lock:
        factory = _reading_sessionmakers.get(key)
        if factory is None:
            engine = _engine_for(key).execution_options(**{READ_ONLY_OPTION: True})
            factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
            _reading_sessionmakers[key] = factory
        return factory


def _engine_for(key: tuple[str, float]) -> Engine:
    # Called with _cache_lock held.
    engine = _engines.get(key)
    if engine is None:
        url, timeout_s = key
        engine = _engines[key] = make_engine(url, statement_timeout_s=timeout_s)
    return engine


def get_session() -> Generator[Session, None, None]:
    """Yields a session of the process-wide factory and closes it afterwards.

    Meant as a FastAPI dependency (``Depends(get_session)``); the route commits if it writes.
    """
    with get_sessionmaker()() as session:
        yield session


def dispose_engines() -> None:
    """Closes the pooled connections of the process-wide engines and forgets them.

    For tests and for a process that changes ``DATABASE_URL`` (after clearing the settings
    cache); the next :func:`get_engine` builds a new engine.
    """
    with _cache_lock:
        engines = list(_engines.values())
        _engines.clear()
        _sessionmakers.clear()
        _reading_sessionmakers.clear()
    for engine in engines:
        engine.dispose()
