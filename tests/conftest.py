"""Session fixtures shared by the whole suite: the trained model and the real servers.

The end-to-end fixture starts the same three processes as `make run` (devstack/stack.py), on
free ports, against a fresh SQLite orders database filled with the demo data and a fresh
SQLite tracker store, so tests never touch the developer's `var/` files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from bot.config import PROJECT_ROOT
from bot.db.session import make_engine
from bot.db.verification import VerificationAttempt
from bot.secret_rules import generate_secret
from bot.shops import DEFAULT_STORES_DIR
from devstack.stack import (
    DEFAULT_MODEL,
    Stack,
    action_secret,
    action_service,
    answer_service,
    answer_token,
    free_port,
    gateway_service,
    rasa_service,
    write_endpoints,
)
from tests.api.servers import CuttingActionProxy
from tests.services import TEST_FIGURES


def clear_verification_attempts(database_url: str) -> None:
    """Empties the verification log, so one test's failed proofs never lock the next test's order.

    The brute-force limits (bot/verification.py) count failures per order across every
    conversation of the database: a session of tests sharing the demo orders would otherwise
    lock an order after its fifth wrong proof, in whichever test came next.
    """
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(delete(VerificationAttempt))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_verification_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """Around each test of the live stack: no failed proofs left by earlier tests, and none
    left by this one for what comes next.

    The clean-up after the test matters for module fixtures: pytest sets them up before this
    per-test fixture, so a module's first conversations (tests/console/test_console_review_e2e's
    ``talked``, the bench's) would otherwise run against an order that the previous test locked
    on purpose (tests/e2e/test_shared_state.py).
    """
    if "live_stack" not in request.fixturenames:
        yield
        return
    database_url = request.getfixturevalue("demo_database_url")
    clear_verification_attempts(database_url)
    yield
    clear_verification_attempts(database_url)


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model `make test` trained (once per run, reused by every test)."""
    if not DEFAULT_MODEL.exists():
        pytest.fail("No trained model at models/bot.tar.gz: run the suite with `make test`.")
    return DEFAULT_MODEL


def load_demo_database(url: str, *, today: dt.date | None = None) -> None:
    """Migrates `url` to head and loads the demo orders, through the real CLI.

    ``today`` is the demo data's day (default: today): an earlier day makes every order
    that much older.
    """
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(PROJECT_ROOT)}
    day = ["--today", today.isoformat()] if today is not None else []
    subprocess.run(
        [sys.executable, "-m", "bot.db.demo", "--if-empty", *day],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def demo_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite orders database holding the demo data, created for this test run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('orders') / 'orders.db'}"
    load_demo_database(url)
    return url


@dataclass
class LiveStack:
    """The running servers of one test session and small helpers to talk to them."""

    rasa_url: str
    action_url: str
    gateway_url: str
    database_url: str
    stack: Stack
    # The shared secret Rasa sends the action server (X-Action-Secret).
    action_secret: str = ""
    # Rasa's HTTP API token (`rasa run --auth-token`): every call of its API sends it.
    rasa_token: str = ""
    # Rasa's tracker store (the support console reads it).
    tracker_url: str = ""
    # The shops' folders (a copy of data/stores: STORES_DIR of every process of the stack), so
    # a test may edit an answer of the running stack (the console's answer editor) safely.
    stores_dir: Path | None = None

    @property
    def token_param(self) -> dict[str, str]:
        """The query parameter of Rasa's HTTP API token."""
        return {"token": self.rasa_token}

    @property
    def gateway_env(self) -> dict[str, str]:
        """What a gateway needs to talk to this stack's Rasa server."""
        return {"RASA_URL": self.rasa_url, "RASA_TOKEN": self.rasa_token}

    def say(
        self, text: str, *, sender: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Sends one message through Rasa's REST channel and returns the bot's messages."""
        payload: dict[str, Any] = {"sender": sender or new_sender(), "message": text}
        if metadata is not None:
            payload["metadata"] = dict(metadata)
        response = httpx.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json=payload,
            params=self.token_param,
            timeout=60,
        )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def chat(self, text: str, *, sender: str, store: str) -> str:
        """One message through the gateway's web chat, as the widget sends it; the bot's
        texts, joined, spaces collapsed."""
        response = httpx.post(
            f"{self.gateway_url}/api/chat",
            json={"sender_id": sender, "message": text, "store": store},
            timeout=60,
        )
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return " ".join(" ".join(str(m.get("text") or "").split()) for m in messages)

    def tracker(self, sender: str, *, include_events: str = "AFTER_RESTART") -> dict[str, Any]:
        """The conversation's tracker from Rasa's HTTP API (``include_events="ALL"``: the
        events before a restart too; Rasa's default shows only those after the last one)."""
        response = httpx.get(
            f"{self.rasa_url}/conversations/{sender}/tracker",
            params={**self.token_param, "include_events": include_events},
            timeout=30,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def new_sender() -> str:
    """A fresh conversation id."""
    return f"test-{uuid.uuid4().hex[:12]}"


def texts(messages: list[dict[str, Any]]) -> str:
    """All the text the bot answered, joined (for assertions)."""
    return "\n".join(m.get("text", "") for m in messages if m.get("text"))


@contextlib.contextmanager
def running_stack(
    work: Path,
    *,
    model: Path,
    database_url: str,
    stores: Path | None = None,
    gateway_env: Mapping[str, str] | None = None,
    action_port: int | None = None,
    rasa_action_port: int | None = None,
) -> Iterator[LiveStack]:
    """The real action server, answer service, Rasa server and gateway, on free ports.

    Each stack draws its secrets as `make run` does (the answer service's token, the action
    server's shared secret, Rasa's API token) and keeps its endpoints file, tracker store and
    logs in ``work``.

    Args:
        work: this stack's folder.
        model: the Rasa model to serve.
        database_url: the orders database (with its demo data).
        stores: the shops' folders every process reads (``STORES_DIR``); None: a copy of
            ``data/stores`` in ``work``, so a test may edit a shop of the running stack.
        gateway_env: more settings of the gateway (SMTP, webhook secret, rate limit...).
        action_port: the action server's port (None: a free one).
        rasa_action_port: where Rasa calls the action server (None: ``action_port``): a test's
            proxy in front of it, that may cut a call.
    """
    rasa_port, gateway_port = free_port(), free_port()
    action_port = action_port or free_port()
    answer_port, token, secret = free_port(), answer_token(), action_secret()
    # Rasa's HTTP API needs its token here as in every profile.
    api_token = generate_secret()
    endpoints = write_endpoints(
        work / "endpoints.yml",
        action_port=rasa_action_port or action_port,
        tracker_db=work / "tracker.db",
        action_secret=secret,
        answer_port=answer_port,
        answer_token=token,
    )
    if stores is None:
        stores = work / "stores"
        shutil.copytree(DEFAULT_STORES_DIR, stores)
    env = {
        "STORES_DIR": str(stores),
        "DATABASE_URL": database_url,
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "RASA_TOKEN": api_token,
        "DEFAULT_STORE": "om-system",
        # The support console of this gateway reads this stack's tracker store.
        "TRACKER_STORE_URL": f"sqlite:///{work / 'tracker.db'}",
    }
    stack = Stack(
        [
            action_service(port=action_port, secret=secret, env=env),
            answer_service(port=answer_port, env={**env, "ANSWER_SERVICE_TOKEN": token}),
            rasa_service(
                port=rasa_port,
                endpoints=endpoints,
                model=model,
                env=env,
                auth_token=api_token,
            ),
            gateway_service(port=gateway_port, env={**env, **(gateway_env or {})}),
        ],
        log_dir=work / "log",
    )
    with stack.running():
        yield LiveStack(
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            action_url=f"http://127.0.0.1:{action_port}",
            gateway_url=f"http://127.0.0.1:{gateway_port}",
            database_url=database_url,
            stack=stack,
            action_secret=secret,
            rasa_token=api_token,
            tracker_url=f"sqlite:///{work / 'tracker.db'}",
            stores_dir=stores,
        )


@contextlib.contextmanager
def running_stack_behind_cutting_proxy(
    work: Path, *, model: Path, database_url: str
) -> Iterator[tuple[LiveStack, CuttingActionProxy]]:
    """:func:`running_stack` whose Rasa calls the action server through a proxy that can cut a
    call (before or after the action ran: tests/api/servers.py); for a test's own stack (the
    shared one must not lose a call of another test)."""
    action_port = free_port()
    proxy = CuttingActionProxy(action_port).start()
    try:
        with running_stack(
            work,
            model=model,
            database_url=database_url,
            action_port=action_port,
            rasa_action_port=proxy.port,
        ) as stack:
            yield stack, proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def live_stack(
    trained_model: Path, demo_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """The real action server, answer service, Rasa server and gateway, started once per
    test session."""
    work = tmp_path_factory.mktemp("stack")
    with running_stack(work, model=trained_model, database_url=demo_database_url) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one per test module (tests/browser.py)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    """The browser profiles a test opened (tests.browser.new_page), closed afterwards."""
    opened: list[Any] = []
    yield opened
    for context in opened:
        context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Prints the figures tests measured (tests/services.py) and writes them to a file."""
    if not TEST_FIGURES:
        return
    terminalreporter.section("measured figures")
    for line in TEST_FIGURES:
        terminalreporter.write_line(line)
    out = PROJECT_ROOT / "var" / "test-figures.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(TEST_FIGURES) + "\n", encoding="utf-8")
    terminalreporter.write_line(f"(written to {out})")
