"""A shop is a folder: a made-up third shop added to a running stack, and a live answer edit.

The stack of this module (action server, answer service, Rasa on the trained model, a gateway
with an SMTP server for the e-mail channel) reads the shops from a copy of ``data/stores``
(``STORES_DIR``). Once it runs, the test drops ``tests/fixtures/shops/lumen/`` into that copy
(facts, FAQ page, texts, demo orders: nothing else changes anywhere) and loads the demo orders
with the real CLI. With no retraining and no restart, LUMEN then answers in the chat in French
and in English, by e-mail at its own address, and looks up its own orders.

The last test edits a text of the running stack and waits until a conversation gets it: the
delay (registry and file caches of a few seconds) is printed and recorded, not asserted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.config import PROJECT_ROOT
from bot.db.mailbox import InboxMessage, InboxState
from bot.db.session import make_engine, session_factory
from bot.secret_rules import generate_secret
from bot.shops import DEFAULT_STORES_DIR
from devstack.stack import (
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
from tests.conftest import load_demo_database
from tests.mail.helpers import SmtpServer, make_mail

pytestmark = pytest.mark.e2e

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "shops" / "lumen"
SECRET = "new-shop-webhook-secret"
LUMEN_SUPPORT = "service@lumen-cafe.example"


@dataclass
class ShopStack:
    gateway_url: str
    stores: Path
    database_url: str
    smtp: SmtpServer

    def chat(self, text: str, *, sender: str, store: str = "lumen") -> str:
        """One message through the gateway's web chat; the bot's texts, joined."""
        response = httpx.post(
            f"{self.gateway_url}/api/chat",
            json={"sender_id": sender, "message": text, "store": store},
            timeout=60,
        )
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return " ".join(" ".join(str(m.get("text") or "").split()) for m in messages)

    def inbox_row(self, message_id: str) -> InboxMessage | None:
        engine = make_engine(self.database_url)
        try:
            with session_factory(engine)() as session:
                return session.scalars(
                    select(InboxMessage).where(InboxMessage.message_id == message_id)
                ).one_or_none()
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def shop_stack(
    trained_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShopStack]:
    work = tmp_path_factory.mktemp("new-shop")
    stores = work / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, stores)
    database_url = f"sqlite:///{work / 'orders.db'}"
    load_demo_database(database_url)
    smtp = SmtpServer().start()
    rasa_port, action_port, answer_port, gateway_port = (free_port() for _ in range(4))
    token, secret, api_token = answer_token(), action_secret(), generate_secret()
    endpoints = write_endpoints(
        work / "endpoints.yml",
        action_port=action_port,
        tracker_db=work / "tracker.db",
        action_secret=secret,
        answer_port=answer_port,
        answer_token=token,
    )
    env = {
        "STORES_DIR": str(stores),
        "DATABASE_URL": database_url,
        "DEFAULT_STORE": "om-system",
        "TRACKER_STORE_URL": f"sqlite:///{work / 'tracker.db'}",
    }
    gateway_env = {
        **env,
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "RASA_TOKEN": api_token,
        "SMTP_URL": smtp.url,
        "EMAIL_WEBHOOK_SECRET": SECRET,
        "EMAIL_WORKER_POLL_S": "0.5",
        "CHAT_RATE_LIMIT_MESSAGES": "1000",
    }
    stack = Stack(
        [
            action_service(port=action_port, secret=secret, env=env),
            answer_service(port=answer_port, env={**env, "ANSWER_SERVICE_TOKEN": token}),
            rasa_service(
                port=rasa_port,
                endpoints=endpoints,
                model=trained_model,
                env=env,
                auth_token=api_token,
            ),
            gateway_service(port=gateway_port, env=gateway_env),
        ],
        log_dir=work / "log",
    )
    try:
        with stack.running():
            yield ShopStack(
                gateway_url=f"http://127.0.0.1:{gateway_port}",
                stores=stores,
                database_url=database_url,
                smtp=smtp,
            )
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def lumen(shop_stack: ShopStack) -> ShopStack:
    """LUMEN's folder dropped into the running stack's shops, and its demo orders loaded."""
    model_before = (PROJECT_ROOT / "models" / "bot.tar.gz").stat().st_mtime
    shutil.copytree(FIXTURE, shop_stack.stores / "lumen")
    subprocess.run(
        [sys.executable, "-m", "bot.db.demo", "--replace"],
        cwd=PROJECT_ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATABASE_URL": shop_stack.database_url,
            "STORES_DIR": str(shop_stack.stores),
        },
        check=True,
        capture_output=True,
    )
    # Nothing was retrained: the model is the one the stack started with.
    assert (PROJECT_ROOT / "models" / "bot.tar.gz").stat().st_mtime == model_before
    # The registry looks at the folder again every few seconds: wait for the first answer.
    deadline = time.monotonic() + 60
    while "LUMEN" not in shop_stack.chat("Bonjour", sender=f"warm-{uuid.uuid4().hex[:6]}"):
        assert time.monotonic() < deadline, "LUMEN never answered"
        time.sleep(1)
    return shop_stack


def test_the_new_shop_answers_in_french_and_english(lumen: ShopStack) -> None:
    sender = f"lumen-{uuid.uuid4().hex[:8]}"
    greeting = lumen.chat("Bonjour !", sender=sender)
    assert greeting.startswith("Bonjour, je suis l'assistant virtuel de la boutique LUMEN.")
    answer = lumen.chat("Quels sont vos horaires pour vous joindre par téléphone ?", sender=sender)
    assert "+1 (555) 010-2030" in answer and "service@lumen-cafe.example" in answer
    assert "BTOMIC" not in answer and "459-1491" not in answer

    english = f"lumen-en-{uuid.uuid4().hex[:8]}"
    answer = lumen.chat("How long is the warranty?", sender=english)
    assert "24 months" in answer and "LUMEN" in answer
    assert lumen.chat("Hello", sender=english).startswith("Hello, I'm the virtual assistant")


def test_the_other_shops_are_unchanged(lumen: ShopStack) -> None:
    answer = lumen.chat("Bonjour", sender=f"bt-{uuid.uuid4().hex[:8]}", store="btomic")
    assert "BTOMIC" in answer and "LUMEN" not in answer


def test_an_order_of_the_new_shop_is_looked_up(lumen: ShopStack) -> None:
    sender = f"lumen-order-{uuid.uuid4().hex[:8]}"
    answer = lumen.chat(
        "Où en est ma commande LU-300101 ? Mon e-mail est claire.moreau@example.fr", sender=sender
    )
    assert "LU-300101" in answer and "1Z999AA10123456799" in answer
    assert "UPS" in answer


def test_an_email_to_the_new_shop_is_answered_from_its_address(lumen: ShopStack) -> None:
    message_id = f"<lumen-{uuid.uuid4().hex[:8]}@example.fr>"
    raw = make_mail(
        sender="Claire Moreau <claire.moreau@example.fr>",
        to=LUMEN_SUPPORT,
        message_id=message_id,
        subject="Garantie",
        body="Bonjour,\n\nQuelle est la durée de la garantie ?\n\nMerci,\nClaire",
    )
    response = httpx.post(
        f"{lumen.gateway_url}/email/inbound",
        content=raw,
        headers={"Content-Type": "message/rfc822", "X-Webhook-Secret": SECRET},
        timeout=30,
    )
    assert response.status_code == 202 and response.json()["store"] == "lumen"
    deadline = time.monotonic() + 180
    while not [m for m in lumen.smtp.received if m.message["In-Reply-To"] == message_id]:
        row = lumen.inbox_row(message_id)
        assert row is None or row.state not in (InboxState.FAILED, InboxState.HANDOFF), row
        assert time.monotonic() < deadline, f"no reply: {row}"
        time.sleep(0.5)
    [reply] = [m for m in lumen.smtp.received if m.message["In-Reply-To"] == message_id]
    assert LUMEN_SUPPORT in reply.message["From"]
    assert "24 mois" in reply.text and "L'équipe du service client LUMEN" in reply.text


def test_an_edited_text_is_live_on_the_next_turns(
    lumen: ShopStack, record_property: pytest.RecordProperty
) -> None:
    texts = lumen.stores / "lumen" / "texts.yml"
    before = texts.read_text(encoding="utf-8")
    edited = before.replace(
        "Hello, I'm the virtual assistant of the LUMEN shop.",
        "Hello, I'm LUMEN's coffee assistant.",
    )
    assert edited != before
    texts.write_text(edited, encoding="utf-8")
    edited_at = time.monotonic()
    deadline = edited_at + 60
    while True:
        answer = lumen.chat("Hello", sender=f"edit-{uuid.uuid4().hex[:8]}")
        if answer.startswith("Hello, I'm LUMEN's coffee assistant."):
            break
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)
    delay = time.monotonic() - edited_at
    record_property("answer_edit_live_s", round(delay, 2))
    print(f"\nan edited answer was live after {delay:.2f} s")
    texts.write_text(before, encoding="utf-8")
