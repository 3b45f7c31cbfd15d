"""Fixtures of the e-mail tests: a real SMTP server, a migrated inbox database, settings.

Each test gets its own SQLite file (a copy of one migrated once per session): the processor
commits between its steps and the concurrency tests need several real connections, which a
rolled-back transaction could not give.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.migrate import upgrade
from bot.db.session import make_engine, session_factory
from tests.mail.helpers import SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server recording what it receives, stopped after the test."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def migrated_inbox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (copied by `inbox_url`)."""
    path = tmp_path_factory.mktemp("inbox-template") / "inbox.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def inbox_url(migrated_inbox_template: Path, tmp_path: Path) -> str:
    """A migrated database of this test's own."""
    path = tmp_path / "inbox.db"
    shutil.copy(migrated_inbox_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sessions(inbox_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test's database."""
    engine = make_engine(inbox_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(inbox_url: str, smtp_server: SmtpServer) -> MakeSettings:
    """Settings on the test's database and SMTP server; keywords override any field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": inbox_url,
            "smtp_url": smtp_server.url,
            "smtp_timeout_s": 5.0,
            "rasa_url": "http://127.0.0.1:9",  # unused: the unit tests script the bot
            "email_retry_delay_s": 0.0,
            "email_webhook_secret": None,
            "email_handoff_forward_to": None,
            "default_store": "om-system",
            **overrides,
        }
        if "email_processing_budget_s" not in overrides:
            # The budget must stay under the lease a test shortens.
            values["email_processing_budget_s"] = min(
                30.0, values.get("email_processing_lease_s", 600.0) / 2
            )
        return Settings(_env_file=None, **values)

    return make
