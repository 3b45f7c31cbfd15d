"""`POST /email/inbound` on the gateway app (TestClient), with its inbox worker.

The app is built by `create_app` with test settings (the `make_client` fixture of
tests/api/conftest.py, whose defaults turn the worker off), on a migrated SQLite database of
each test's own. These tests check
the webhook contract (status codes, JSON errors, storage, idempotency, authentication) and
that the lifespan's worker drains what the route stored; the answers themselves are checked
against the real Rasa in tests/mail/test_email_e2e.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.mailbox import InboxMessage, InboxState
from bot.db.migrate import upgrade
from bot.db.session import make_engine, session_factory
from devstack.stack import free_port
from tests.api.conftest import MakeClient
from tests.mail.helpers import BTOMIC_SUPPORT, SmtpServer, make_mail

SECRET = "s3cret-webhook-token"
RAW = {"Content-Type": "message/rfc822"}


@pytest.fixture
def inbox_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    upgrade(url)
    return url


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def rows(url: str) -> list[InboxMessage]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(InboxMessage).order_by(InboxMessage.id)))
    finally:
        engine.dispose()


@pytest.fixture
def client(make_client: MakeClient, inbox_url: str) -> TestClient:
    """The gateway with a webhook secret and no worker (storage only)."""
    return make_client(
        database_url=inbox_url, email_webhook_secret=SECRET, email_worker_enabled=False
    )


def test_raw_message_is_stored_and_accepted(client: TestClient, inbox_url: str) -> None:
    response = client.post(
        "/email/inbound",
        content=make_mail(to=BTOMIC_SUPPORT),
        headers={**RAW, "X-Webhook-Secret": SECRET},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and body["store"] == "btomic"
    assert body["message_id"] == "<q1@example.fr>"
    (row,) = rows(inbox_url)
    assert row.id == body["id"] and row.state is InboxState.RECEIVED


def test_second_delivery_is_a_duplicate(client: TestClient, inbox_url: str) -> None:
    headers = {**RAW, "X-Webhook-Secret": SECRET}
    first = client.post("/email/inbound", content=make_mail(), headers=headers)
    second = client.post("/email/inbound", content=make_mail(subject="changed"), headers=headers)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {
        "status": "duplicate",
        "id": first.json()["id"],
        "message_id": "<q1@example.fr>",
    }
    assert len(rows(inbox_url)) == 1


def test_json_form(client: TestClient, inbox_url: str) -> None:
    form = {
        "from": "John <john@example.com>",
        "to": BTOMIC_SUPPORT,
        "subject": "Warranty",
        "text": "How long is the warranty?",
        "headers": {"Message-ID": "<json@example.com>", "In-Reply-To": "<a@b>"},
    }
    response = client.post("/email/inbound", json=form, headers={"X-Webhook-Secret": SECRET})
    assert response.status_code == 202, response.text
    assert response.json()["store"] == "btomic"
    (row,) = rows(inbox_url)
    assert row.message_id == "<json@example.com>" and row.sender == "john@example.com"
    again = client.post("/email/inbound", json=form, headers={"X-Webhook-Secret": SECRET})
    assert again.json()["status"] == "duplicate"


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_secret_is_required_when_configured(
    client: TestClient, inbox_url: str, secret: str | None
) -> None:
    headers = {**RAW, **({"X-Webhook-Secret": secret} if secret is not None else {})}
    response = client.post("/email/inbound", content=make_mail(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert rows(inbox_url) == []


def test_no_secret_configured_accepts_any_caller(make_client: MakeClient, inbox_url: str) -> None:
    client = make_client(database_url=inbox_url, email_worker_enabled=False)
    response = client.post("/email/inbound", content=make_mail(), headers=RAW)
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"this is not an e-mail", "no header section"),
        (make_mail(sender=""), "no From header"),
        (make_mail(body="\n"), "no text body"),
    ],
)
def test_malformed_message_is_a_clear_400_and_is_kept(
    client: TestClient, inbox_url: str, raw: bytes, detail: str
) -> None:
    response = client.post(
        "/email/inbound", content=raw, headers={**RAW, "X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed_message"
    assert detail in body["detail"]
    (row,) = rows(inbox_url)
    assert row.id == body["id"]
    assert row.state is InboxState.FAILED and row.raw == raw and detail in (row.last_error or "")


def test_malformed_json_is_a_clear_400_and_is_kept(client: TestClient, inbox_url: str) -> None:
    response = client.post(
        "/email/inbound",
        content=b'{"text": "no sender"',
        headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    assert rows(inbox_url)[0].raw == b'{"text": "no sender"'


def test_empty_body(client: TestClient) -> None:
    response = client.post(
        "/email/inbound", content=b"", headers={**RAW, "X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "malformed_message", "detail": "The request body is empty."}


def test_other_body_types_are_refused(client: TestClient) -> None:
    response = client.post(
        "/email/inbound",
        content=b"<p>x</p>",
        headers={"Content-Type": "text/html", "X-Webhook-Secret": SECRET},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_too_large(make_client: MakeClient, inbox_url: str) -> None:
    client = make_client(database_url=inbox_url, email_worker_enabled=False, email_max_bytes=500)
    response = client.post("/email/inbound", content=make_mail(body="x" * 600), headers=RAW)
    assert response.status_code == 413
    assert rows(inbox_url) == []


def test_openapi_documents_both_body_types(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/email/inbound"]["post"]
    assert set(operation["requestBody"]["content"]) == {"message/rfc822", "application/json"}


def wait_for_state(
    url: str, predicate: Callable[[list[InboxMessage]], bool], timeout_s: float = 120.0
) -> list[InboxMessage]:
    """The rows once ``predicate`` holds (the worker's mail child may take a while to start
    on a busy machine: the timeout only bounds a failing test)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = rows(url)
        if predicate(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_lifespan_worker_drains_what_the_route_stored(
    make_client: MakeClient, inbox_url: str, smtp_server: SmtpServer
) -> None:
    client = make_client(
        database_url=inbox_url,
        email_worker_enabled=True,
        smtp_url=smtp_server.url,
        email_worker_poll_s=3600.0,  # only the route's wake-up can make it this fast
        email_retry_delay_s=3600.0,
        rasa_url=f"http://127.0.0.1:{free_port()}",  # down
    )
    robot = make_mail(message_id="<ooo@x>", headers={"Auto-Submitted": "auto-replied"})
    assert client.post("/email/inbound", content=robot, headers=RAW).status_code == 202
    found = wait_for_state(inbox_url, lambda r: bool(r) and r[0].state is InboxState.SKIPPED)
    assert found[0].state is InboxState.SKIPPED and found[0].reason == "auto_submitted"

    assert client.post("/email/inbound", content=make_mail(), headers=RAW).status_code == 202
    found = wait_for_state(
        inbox_url,
        lambda r: len(r) == 2 and r[1].state is InboxState.RECEIVED and r[1].last_error is not None,
    )
    # Rasa is down: the customer's mail waits for a retry, nothing was sent or lost.
    assert found[1].state is InboxState.RECEIVED and "Rasa" in (found[1].last_error or "")
    assert smtp_server.received == []


def test_worker_is_not_started_without_smtp_url(
    make_client: MakeClient, inbox_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(database_url=inbox_url, email_worker_enabled=True, smtp_url=None)
    assert client.post("/email/inbound", content=make_mail(), headers=RAW).status_code == 202
    assert "SMTP_URL is not set" in caplog.text
    time.sleep(0.3)
    assert rows(inbox_url)[0].state is InboxState.RECEIVED


def test_too_large_without_content_length(make_client: MakeClient, inbox_url: str) -> None:
    client = make_client(database_url=inbox_url, email_worker_enabled=False, email_max_bytes=500)

    def chunks() -> Iterator[bytes]:
        yield make_mail(body="x" * 600)

    response = client.post("/email/inbound", content=chunks(), headers=RAW)
    assert response.status_code == 413
    assert rows(inbox_url) == []


def test_a_locked_database_asks_the_provider_to_send_again(
    make_client: MakeClient, inbox_url: str
) -> None:
    # Found by the hostile corpus on a loaded machine: the worker held SQLite's write lock past
    # the timeout and the webhook answered 500. Nothing is stored: a 503 asks for a new try.
    client = make_client(
        database_url=inbox_url,
        email_webhook_secret=SECRET,
        email_worker_enabled=False,
        database_statement_timeout_s=0.2,
    )
    headers = {**RAW, "X-Webhook-Secret": SECRET}
    holder = sqlite3.connect(inbox_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        refused = client.post("/email/inbound", content=make_mail(), headers=headers)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status_code == 503
    assert refused.json()["error"] == "temporarily_unavailable"
    assert rows(inbox_url) == []
    again = client.post("/email/inbound", content=make_mail(), headers=headers)
    assert again.status_code == 202
    assert len(rows(inbox_url)) == 1
