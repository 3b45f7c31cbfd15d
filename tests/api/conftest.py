"""Fixtures of the gateway tests: the app on test settings, next to a real fake Rasa."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.config import Settings
from devstack.stack import free_port
from tests.api.servers import FakeRasa


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    """A scripted Rasa server, real HTTP on a free port, stopped after the test."""
    server = FakeRasa().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dead_rasa_url() -> str:
    """A Rasa URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def gateway_settings(rasa_url: str, **overrides: Any) -> Settings:
    """Test settings: the given Rasa, no `.env` file, anything else overridden by keyword.

    The app also runs the e-mail channel's lifespan: it gets an in-memory database and no
    worker, so these tests never touch the developer's `var/` files or send mail.
    """
    values: dict[str, Any] = {
        "rasa_url": rasa_url,
        "rasa_timeout_s": 5.0,
        # A Rasa that cannot be reached fails at once unless a test waits for its restart.
        "rasa_restart_wait_s": 0.0,
        "database_url": "sqlite://",
        "smtp_url": None,
        "email_worker_enabled": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(fake_rasa: FakeRasa) -> Iterator[MakeClient]:
    """Builds a started TestClient on the gateway app; `rasa_url` defaults to the fake Rasa."""
    clients: list[TestClient] = []

    def make(
        *,
        rasa_url: str | None = None,
        client: tuple[str, int] = ("203.0.113.7", 50000),
        **overrides: Any,
    ) -> TestClient:
        app: FastAPI = create_app(gateway_settings(rasa_url or fake_rasa.url, **overrides))
        test_client = TestClient(app, client=client, raise_server_exceptions=False)
        test_client.__enter__()  # runs the lifespan: the shared Rasa client is opened
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)
