"""Fixtures of the console tests: a migrated database with the demo orders, a tracker store,
the gateway app on them (next to the scripted Rasa of the gateway tests), and accounts."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from bot.api.main import create_app
from bot.console.reporting import import_events, tracker_engine
from bot.console.seeding import create_tracker_table
from bot.console.users import create_user
from bot.db.console import Role
from bot.db.session import make_engine, session_factory
from bot.stores import store_ids
from tests.api.conftest import fake_rasa, gateway_settings  # noqa: F401 (a fixture)
from tests.api.servers import FakeRasa
from tests.conftest import load_demo_database

PASSWORD = "correct horse battery"
SECRET = "test-console-secret-of-at-least-32-chars"


@dataclass
class ConsoleEnv:
    """A console's databases and files for one test."""

    database_url: str
    tracker_url: str
    tracker: Engine
    sessions: sessionmaker[Session]
    training_file: Path

    def settings(self, rasa_url: str, **overrides: Any) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "tracker_store_url": self.tracker_url,
            "console_training_file": self.training_file,
            "console_session_secret": SECRET,
            # The tests import explicitly (state.import_now) rather than wait for the loop.
            "console_import_interval_s": 3600.0,
            **overrides,
        }

    def add_user(self, email: str, role: Role, shops: list[str], name: str = "Test Agent") -> None:
        with self.sessions() as session:
            create_user(session, email=email, name=name, role=role, shops=shops, password=PASSWORD)
            session.commit()


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated, with the demo orders and three accounts, made once per session."""
    path = tmp_path_factory.mktemp("console-template") / "orders.db"
    load_demo_database(f"sqlite:///{path}")  # migrations + demo orders, through the real CLI
    engine = make_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    for email, role, shops, name in (
        ("admin@shops.example", Role.ADMIN, ["om-system", "btomic"], "Ada Admin"),
        ("bt.agent@btomic.example", Role.AGENT, ["btomic"], "Bea Agent"),
        ("om.editor@om.example", Role.EDITOR, ["om-system"], "Olivier Editor"),
    ):
        with sessions() as session:
            create_user(session, email=email, name=name, role=role, shops=shops, password=PASSWORD)
            session.commit()
    engine.dispose()
    return path


@pytest.fixture
def console_env(console_template: Path, tmp_path: Path) -> Iterator[ConsoleEnv]:
    shutil.copy(console_template, tmp_path / "orders.db")
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker = create_engine(tracker_url)
    create_tracker_table(tracker)
    engine = make_engine(url)
    env = ConsoleEnv(
        url, tracker_url, tracker, session_factory(engine), tmp_path / "data" / "reviewed.yml"
    )
    try:
        yield env
    finally:
        engine.dispose()
        tracker.dispose()


MakeConsole = Callable[..., TestClient]


@pytest.fixture
def make_console(console_env: ConsoleEnv, fake_rasa: FakeRasa) -> Iterator[MakeConsole]:  # noqa: F811
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        # The scripted Rasa unless the test gives a real one (rasa_url=...).
        rasa_url = overrides.pop("rasa_url", fake_rasa.url)
        settings = gateway_settings(rasa_url, **console_env.settings(rasa_url, **overrides))
        client = TestClient(
            create_app(settings), base_url="http://testserver", follow_redirects=False
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/console",
        },
    )


def import_now(env: ConsoleEnv) -> int:
    """One tracker import into the console's tables (what the gateway does every few seconds)."""
    reader = tracker_engine(env.tracker_url)
    try:
        report = import_events(env.sessions, reader, stores=store_ids(), default_store="om-system")
    finally:
        reader.dispose()
    return report.conversations
