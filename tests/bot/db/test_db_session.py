"""Engines and sessions: per-back-end settings, process-wide caching, caller-owned sessions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.config import get_settings
from bot.db.models import Store
from bot.db.session import (
    dispose_engines,
    get_engine,
    get_reading_sessionmaker,
    get_session,
    get_sessionmaker,
    make_engine,
    session_factory,
    sqlite_file,
)


def test_sqlite_engine_creates_the_folder_and_enforces_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "orders.db"
    engine = make_engine(f"sqlite:///{path}", statement_timeout_s=1)
    try:
        assert path.parent.is_dir()
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_savepoints_work(tmp_path: Path) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; the engine hands it to SQLAlchemy.
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", statement_timeout_s=1)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
            savepoint = connection.begin_nested()
            connection.execute(text("INSERT INTO t VALUES (2)"))
            savepoint.rollback()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT x FROM t")).scalars().all() == [1]
    finally:
        engine.dispose()


def test_sqlite_file_database_uses_a_write_ahead_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}", statement_timeout_s=1)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            # Durability is not traded for it: FULL (2) is SQLite's default.
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
    finally:
        engine.dispose()


def test_sqlite_read_then_write_transactions_queue_instead_of_failing(tmp_path: Path) -> None:
    # The mail intake pattern: read (is this Message-ID known?), then insert. With a deferred
    # BEGIN, SQLite refuses the second writer at once ("database is locked") instead of
    # letting it wait; seen as HTTP 500s under a burst of inbound mail.
    engine = make_engine(f"sqlite:///{tmp_path / 'burst.db'}", statement_timeout_s=10)
    errors: list[BaseException] = []
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        start = threading.Barrier(8)

        def writer(worker: int) -> None:
            start.wait()
            try:
                for i in range(15):
                    with engine.begin() as connection:
                        key = f"{worker}-{i}"
                        known = connection.execute(
                            text("SELECT count(*) FROM t WHERE k = :k"), {"k": key}
                        ).scalar()
                        if not known:
                            connection.execute(text("INSERT INTO t VALUES (:k)"), {"k": key})
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 8 * 15
    finally:
        engine.dispose()


def test_a_reading_session_reads_while_a_writer_holds_the_sqlite_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The action server reads (the remembered response, the rehearsed proof check, the order
    # of an answer) in reading sessions: a deferred BEGIN reads the last committed snapshot
    # and neither takes nor waits for the lock a writing session holds from its BEGIN.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'read.db'}")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT_S", "0.2")
    get_settings.cache_clear()
    dispose_engines()
    try:
        with get_sessionmaker()() as setup:
            setup.execute(text("CREATE TABLE t (k INTEGER)"))
            setup.execute(text("INSERT INTO t VALUES (1)"))
            setup.commit()
        with get_sessionmaker()() as writer:
            writer.execute(text("INSERT INTO t VALUES (2)"))  # BEGIN IMMEDIATE: the write lock
            with get_reading_sessionmaker()() as reader:
                assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
            with get_sessionmaker()() as other, pytest.raises(OperationalError, match="locked"):
                other.execute(text("SELECT count(*) FROM t"))  # waited for the lock, in vain
            writer.commit()
        with get_reading_sessionmaker()() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 2
            bind = reader.get_bind()  # the same pool, its own BEGIN
            assert isinstance(bind, Engine) and bind is not get_engine()
            assert bind.pool is get_engine().pool
    finally:
        dispose_engines()
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/orders.db", Path("var/orders.db")),
        ("sqlite:////abs/orders.db", Path("/abs/orders.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:orders?mode=memory&uri=true", None),
        ("postgresql+psycopg2://u@h/db", None),
    ],
)
def test_sqlite_file(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


@pytest.mark.postgres
def test_postgres_engine_has_a_statement_timeout_and_keeps_url_options(postgres_url: str) -> None:
    # The URL carries `options=-csearch_path=<schema>`; the timeout must not replace it.
    schema = make_url(postgres_url).query["options"]
    assert isinstance(schema, str)
    engine = make_engine(postgres_url, statement_timeout_s=0.25)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "250ms"
            current_schema = connection.execute(text("SELECT current_schema()")).scalar()
            assert schema.endswith(f"search_path={current_schema}")
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()


def test_session_factory_leaves_the_transaction_to_the_caller(migrated_engine: Engine) -> None:
    factory = session_factory(migrated_engine)
    with factory() as session:
        session.add(Store(id="test-store", name="Test"))
        session.flush()
        session.rollback()
    with factory() as session:
        assert session.get(Store, "test-store") is None
        # expire_on_commit is off: objects stay readable after the session is gone.
        assert factory.kw["expire_on_commit"] is False


def test_process_wide_engine_follows_the_settings(database_url_env: str) -> None:
    engine = get_engine()
    assert engine is get_engine()
    assert engine.url.render_as_string(hide_password=False) == database_url_env
    factory = get_sessionmaker()
    assert factory is get_sessionmaker()
    assert factory.kw["bind"] is engine

    sessions = get_session()
    session = next(sessions)
    assert isinstance(session, Session)
    assert session.get_bind() is engine
    session.execute(text("SELECT 1"))
    assert session.in_transaction()
    sessions.close()  # what FastAPI does after the response
    assert not session.in_transaction()

    dispose_engines()
    assert get_engine() is not engine
