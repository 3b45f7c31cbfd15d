"""The scaled deployment under test: 2 Rasa servers, 2 action servers, 2 gateways, nginx.

It is the stack of `make scale-demo` (devstack/scale.py), started once per module on free loopback
ports, in the production profile, supervised as `make scale-demo` supervises it (a killed or
frozen server is restarted), against:

* PostgreSQL (``TEST_POSTGRES_URL``): a new orders database (migrated, demo orders) and a new
  tracker database name, which the Rasa servers create themselves; both dropped afterwards;
* Redis (``TEST_REDIS_URL``): the lock store, under a key prefix of this run only;
* a real SMTP server (aiosmtpd) for the gateways' e-mail workers.

Without those variables (or without nginx) every test here is skipped with the reason; under
``CI=true`` they fail instead (tests/services.py).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.secret_rules import generate_secret
from devstack.scale import (
    ScaleConfig,
    ScaleError,
    ScaleStack,
    create_database,
    drop_database,
    nginx_binary,
)
from tests.conftest import load_demo_database
from tests.mail.helpers import SmtpServer
from tests.services import TEST_FIGURES, missing

POSTGRES_ENV = "TEST_POSTGRES_URL"
REDIS_ENV = "TEST_REDIS_URL"
# The production profile refuses short or placeholder secrets (bot/secret_rules.py).
WEBHOOK_SECRET = generate_secret()
# Figures the failure tests measured (lost turns, worst turn time): printed at the end of the
# run by tests/conftest.py and written to var/test-figures.txt.
FIGURES = TEST_FIGURES
# One HTTP call may wait for a dead server's lock ticket to expire (lock_lifetime_s) on top of
# a turn that is slow because 50 others run at the same time.
CALL_TIMEOUT_S = 120.0


def required_backends() -> tuple[str, str]:
    """``TEST_POSTGRES_URL`` and ``TEST_REDIS_URL``, or skips naming what is missing."""
    absent = [name for name in (POSTGRES_ENV, REDIS_ENV) if not os.environ.get(name)]
    if absent:
        missing(
            f"scale-out tests not run: {' and '.join(absent)} not set (they need a real "
            "PostgreSQL for the shared tracker store and a real Redis for the lock store; "
            ".ci/run sets both when 127.0.0.1:5432 and 127.0.0.1:6379 answer)"
        )
    try:
        nginx_binary()
    except ScaleError as exc:
        missing(f"scale-out tests not run: {exc}")
    return os.environ[POSTGRES_ENV], os.environ[REDIS_ENV]


@dataclass
class Turn:
    """One message of a conversation and what came back."""

    text: str
    status: int = 0
    answer: str = ""
    upstream: str = ""
    error: str = ""
    # time.monotonic() when the answer (or the error) came back, and when it was sent.
    finished_at: float = 0.0
    started_at: float = 0.0


@dataclass
class Scaled:
    """The running scaled stack of this module and helpers to talk to it and inspect it."""

    stack: ScaleStack
    orders_url: str
    tracker_url: str
    smtp: SmtpServer

    @property
    def rasa_url(self) -> str:
        """nginx, in front of the Rasa servers."""
        return self.stack.rasa_url

    @property
    def token(self) -> str:
        return self.stack.config.token

    def _request(
        self, sender: str, message: str, metadata: Mapping[str, Any] | None, base_url: str | None
    ) -> tuple[str, dict[str, Any]]:
        # A unique id per message, as the gateway sends: nginx's retry of a request whose Rasa
        # server died after saving the turn is answered, not processed, a second time.
        payload = {
            "sender": sender,
            "message": message,
            "metadata": {"message_id": uuid.uuid4().hex, **dict(metadata or {})},
        }
        # The REST channel needs Rasa's token (bot/rasa_ext/rest_channel.py).
        url = (
            f"{base_url or self.rasa_url}/webhooks/rest/webhook?{urlencode({'token': self.token})}"
        )
        return url, payload

    def say(
        self,
        sender: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
    ) -> Turn:
        """One message through nginx (REST channel); records which Rasa server answered."""
        url, payload = self._request(sender, message, metadata, base_url)
        started = time.monotonic()
        try:
            response = httpx.post(url, json=payload, timeout=CALL_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return Turn(
                text=message, error=repr(exc), finished_at=time.monotonic(), started_at=started
            )
        return _turn(message, response, started)

    async def say_async(
        self,
        client: httpx.AsyncClient,
        sender: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
    ) -> Turn:
        """The same from asyncio code sharing one client (the concurrency tests)."""
        url, payload = self._request(sender, message, metadata, base_url)
        started = time.monotonic()
        try:
            response = await client.post(url, json=payload, timeout=CALL_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return Turn(
                text=message, error=repr(exc), finished_at=time.monotonic(), started_at=started
            )
        return _turn(message, response, started)

    def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation's tracker from Rasa's HTTP API (with the token).

        Asked of the first Rasa server directly, not through nginx, so that it does not move
        nginx's round-robin between the turns of a test.
        """
        response = httpx.get(
            f"{self.stack.rasa_services[0].base_url}/conversations/{sender}/tracker",
            params={"token": self.token},
            timeout=30,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stored_events(self, senders: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each conversation's events as the Rasa servers stored them in PostgreSQL."""
        engine = create_engine(self.tracker_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT sender_id, type_name, intent_name, action_name, data "
                        "FROM events WHERE sender_id = ANY(:senders) ORDER BY id"
                    ),
                    {"senders": list(senders)},
                ).all()
        finally:
            engine.dispose()
        events: dict[str, list[dict[str, Any]]] = {sender: [] for sender in senders}
        for sender_id, type_name, intent, action, data in rows:
            events[sender_id].append(
                {"event": type_name, "intent": intent, "action": action, **json.loads(data)}
            )
        return events


def _turn(message: str, response: httpx.Response, started: float) -> Turn:
    turn = Turn(
        text=message,
        status=response.status_code,
        finished_at=time.monotonic(),
        started_at=started,
    )
    turn.upstream = response.headers.get("X-Upstream", "")
    if response.status_code == 200:
        texts = [m.get("text", "") for m in response.json() if m.get("text")]
        turn.answer = " ".join(" ".join(texts).split())
    else:
        turn.error = response.text[:300]
    return turn


def new_sender(tag: str = "scale") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def check_turns_stored_once_in_order(
    events: list[dict[str, Any]], said: Sequence[str]
) -> list[str]:
    """What is wrong with one conversation's stored events (empty list: nothing).

    Every message the customer sent must be stored exactly once, in the order sent, and each
    turn must be complete before the next begins: the user event, then the bot's answer,
    then `action_listen`. Two servers processing the same conversation at once (no lock)
    would interleave two turns or lose one's events when saving.
    """
    problems = []
    user_texts = [e.get("text") for e in events if e["event"] == "user"]
    if user_texts != list(said):
        problems.append(f"user messages stored {user_texts!r}, sent {list(said)!r}")
    turns: list[list[dict[str, Any]]] = []
    for event in events:
        if event["event"] == "user":
            turns.append([])
        if turns:
            turns[-1].append(event)
    for number, turn in enumerate(turns, start=1):
        kinds = [e["event"] for e in turn]
        if "bot" not in kinds:
            problems.append(f"turn {number} has no answer: {kinds}")
        actions = [e["action"] for e in turn if e["event"] == "action"]
        if not actions or actions[-1] != "action_listen":
            problems.append(f"turn {number} does not end listening: {actions}")
    return problems


@pytest.fixture(scope="package")
def scaled(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    """The scaled stack, started once for the package's tests: test_console_scale.py, then
    test_scale_out.py (whose last tests kill and freeze servers); each runs in file order."""
    postgres_url, redis_url = required_backends()
    run_id = uuid.uuid4().hex[:10]
    orders_db, tracker_db = f"scale_orders_{run_id}", f"scale_tracker_{run_id}"
    orders_url = create_database(postgres_url, orders_db)
    smtp = SmtpServer().start()
    work = tmp_path_factory.mktemp("scale")
    try:
        load_demo_database(orders_url)
        config = ScaleConfig.on_free_ports(
            orders_url=orders_url,
            tracker_url=make_url(postgres_url)
            .set(database=tracker_db)
            .render_as_string(hide_password=False),
            # Rasa creates the tracker database after logging in to this existing one.
            login_database=make_url(postgres_url).database or "postgres",
            redis_url=redis_url,
            redis_key_prefix=f"scaletest{run_id}",
            gateways=2,
            work_dir=work,
            model=trained_model,
            gateway_env={
                "SMTP_URL": smtp.url,
                "EMAIL_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "EMAIL_WORKER_ENABLED": "true",
                "EMAIL_WORKER_POLL_S": "0.5",
                "EMAIL_RETRY_DELAY_S": "2",
            },
        )
        stack = ScaleStack(config)
        with stack.running():
            # The supervisor of `make scale-demo`: it restarts what the tests kill or freeze.
            supervisor = stack.stack.supervise_in_background()
            try:
                yield Scaled(
                    stack=stack, orders_url=orders_url, tracker_url=config.tracker_url, smtp=smtp
                )
            finally:
                supervisor.stop()
    finally:
        smtp.stop()
        drop_database(postgres_url, orders_db)
        drop_database(postgres_url, tracker_db)
        _delete_redis_keys(redis_url, f"scaletest{run_id}:*")


def _delete_redis_keys(url: str, pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
