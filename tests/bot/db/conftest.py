"""Database fixtures: every test here runs on SQLite and, when configured, on PostgreSQL.

* ``migrated_engine`` (one per back-end and test session): a database migrated for real with
  ``bot.db.migrate.upgrade`` -- a SQLite file under the session's tmp dir, or a fresh schema
  in ``TEST_POSTGRES_URL`` (dropped at the end);
* ``db_session``: a session on it inside a transaction rolled back after the test; the code
  under test may commit or use savepoints (``join_transaction_mode="create_savepoint"``);
* ``demo_session``: a session on a database of its own with the demo data loaded (not
  committed) once per module for ``PINNED_TODAY``, for read-only tests;
* ``empty_database_url``: a new, never-migrated database per test (migrations, CLI).

Without ``TEST_POSTGRES_URL`` the PostgreSQL cases are skipped, saying so; under ``CI=true``
they fail instead (tests/services.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.config import get_settings
from bot.db.demo import load_demo_data
from bot.db.migrate import upgrade
from bot.db.session import dispose_engines, make_engine
from tests.services import required_env

POSTGRES_ENV = "TEST_POSTGRES_URL"
PINNED_TODAY = dt.date(2024, 3, 1)  # the day after a 29 February: date offsets cross it

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_base_url() -> str:
    """``TEST_POSTGRES_URL``, or skips the test with the reason."""
    return required_env(
        POSTGRES_ENV,
        "PostgreSQL not configured (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test) "
        "to run this on PostgreSQL",
    )


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """Creates a uniquely named schema; yields a URL whose ``search_path`` is that schema.

    The schema travels in the URL (``options=-csearch_path=...``), so everything that takes a
    URL -- the migrations, the demo CLI -- works in it unchanged; it is dropped afterwards.
    """
    schema = f"test_db_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def new_database(backend: str, folder: Path) -> Iterator[str]:
    """Yields the URL of a new, empty database of ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'orders.db'}"
    else:
        with postgres_schema(postgres_base_url()) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database that was never migrated, per test."""
    with new_database(request.param, tmp_path) as url:
        yield url


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[Engine]:
    """Yields an engine on a new database of ``backend`` migrated to head for real."""
    with new_database(backend, folder) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL schema (as a URL), for PostgreSQL-only tests."""
    with postgres_schema(postgres_base_url()) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on a database migrated to head, shared by the session's tests."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as engine:
        yield engine


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back at the end, whatever the
    session did (commits become savepoint releases)."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database; everything it wrote is rolled back after the test."""
    with rolled_back_session(migrated_engine) as session:
        yield session


@pytest.fixture(scope="module", params=BACKENDS)
def demo_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    """A session holding the demo data for :data:`PINNED_TODAY`, shared by a module's tests.

    Its own database: the loaded data stays uncommitted for the whole module, and on SQLite
    that transaction would lock out any other writer of the same file. Tests must not write.
    """
    with (
        migrated_database(request.param, tmp_path_factory.mktemp("demo")) as engine,
        rolled_back_session(engine) as session,
    ):
        load_demo_data(session, today=PINNED_TODAY)
        yield session


@pytest.fixture(scope="session")
def demo_today() -> dt.date:
    """The day ``demo_session`` dated its demo data from."""
    return PINNED_TODAY


@pytest.fixture
def database_url_env(monkeypatch: pytest.MonkeyPatch, empty_database_url: str) -> Iterator[str]:
    """Points ``DATABASE_URL`` (through a fresh settings object) at an empty database."""
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    get_settings.cache_clear()
    dispose_engines()
    yield empty_database_url
    dispose_engines()
    get_settings.cache_clear()
