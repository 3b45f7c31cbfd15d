"""The handoff inbox: an e-mail handoff answered through a real SMTP server, a web
conversation taken over live (Rasa's pause / resume events, the widget's poll), and the reply by
e-mail to a customer who left the chat."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser

from sqlalchemy import select

from bot.db.console import HandoffMessage
from bot.db.mailbox import Handoff, HandoffChannel, InboxMessage, InboxState
from bot.handoffs import record_handoff
from tests.api.servers import FakeRasa
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of, login
from tests.mail.conftest import smtp_server  # noqa: F401 (fixture)
from tests.mail.helpers import SmtpServer

CUSTOMER_MAIL = (
    b"From: Marie Dupont <marie.dupont@example.fr>\r\n"
    b"To: eshop.support@om-digitalsolutions.com\r\n"
    b"Subject: Objectif raye\r\n"
    b"Message-ID: <question-1@example.fr>\r\n"
    b"Date: Mon, 02 Nov 2026 09:00:00 +0100\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Bonjour, mon objectif est arrive raye, je suis tres decue. Que pouvez-vous faire ?\r\n"
)


def email_handoff(env: ConsoleEnv) -> int:
    with env.sessions() as session:
        row = InboxMessage(
            message_id="<question-1@example.fr>",
            raw=CUSTOMER_MAIL,
            store_id="om-system",
            sender="marie.dupont@example.fr",
            state=InboxState.HANDOFF,
            reason="complaint",
        )
        session.add(row)
        session.flush()
        handoff = record_handoff(
            session=session,
            channel=HandoffChannel.EMAIL,
            conversation_id="email-abc",
            store_id="om-system",
            reason="complaint",
            customer_address="marie.dupont@example.fr",
            excerpt="mon objectif est arrive raye",
            inbox_message_id=row.id,
        )
        session.commit()
        return handoff.id


def test_an_email_handoff_is_answered_from_the_console_threaded_in_french(
    make_console: MakeConsole,
    console_env: ConsoleEnv,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    handoff_id = email_handoff(console_env)
    client = make_console(smtp_url=smtp_server.url)
    login(client, "admin@shops.example")
    listing = client.get("/console/handoffs").text
    assert "m•••@example.fr" in listing and "marie.dupont@example.fr" not in listing
    page = client.get(f"/console/handoffs/{handoff_id}")
    assert "mon objectif est arrive raye" in page.text
    sent = client.post(
        f"/console/handoffs/{handoff_id}/email",
        data={
            "csrf_token": csrf_of(page.text),
            "text": "Nous vous envoyons un objectif neuf dès demain.",
        },
    )
    assert sent.status_code == 303, sent.text
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["marie.dupont@example.fr"]
    message = BytesParser(policy=policy.default).parsebytes(mail.content)
    assert message["In-Reply-To"] == "<question-1@example.fr>"
    assert "<question-1@example.fr>" in message["References"]
    assert message["Subject"] == "Re: Objectif raye"
    assert message["Content-Language"] == "fr"
    assert message["Auto-Submitted"] is None  # a person's reply, not a robot's
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("Bonjour,\n\nNous vous envoyons un objectif neuf dès demain.")
    assert "Cordialement,\nAda Admin\n" in body
    with console_env.sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.status == "assigned"
        (reply,) = session.scalars(
            select(HandoffMessage).where(HandoffMessage.handoff_id == handoff_id)
        )
        assert reply.via == "email" and reply.email_message_id == message["Message-ID"]


def test_the_reply_language_follows_the_customer(
    make_console: MakeConsole,
    console_env: ConsoleEnv,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    handoff_id = email_handoff(console_env)
    client = make_console(smtp_url=smtp_server.url)
    login(client, "admin@shops.example")
    page = client.get(f"/console/handoffs/{handoff_id}")
    client.post(
        f"/console/handoffs/{handoff_id}/email",
        data={
            "csrf_token": csrf_of(page.text),
            "text": "A new lens is on its way.",
            "language": "en",
        },
    )
    (mail,) = smtp_server.wait_for(1)
    body = (
        BytesParser(policy=policy.default)
        .parsebytes(mail.content)
        .get_content()
        .replace("\r\n", "\n")
    )
    assert body.startswith("Hello,\n\nA new lens is on its way.") and "Kind regards," in body


def web_handoff(env: ConsoleEnv, *, address: str | None = None) -> tuple[int, str, str]:
    widget_id = "w0123456789abcdef"
    sender = f"web-btomic-{widget_id}"
    with env.sessions() as session:
        handoff = record_handoff(
            session=session,
            channel=HandoffChannel.WEB,
            conversation_id=sender,
            store_id="btomic",
            reason="human_handoff",
            excerpt="je veux parler à quelqu'un",
            customer_address=address,
        )
        session.commit()
        return handoff.id, sender, widget_id


def test_live_takeover_pauses_the_bot_relays_both_ways_and_hands_back(
    make_console: MakeConsole, console_env: ConsoleEnv, fake_rasa: FakeRasa
) -> None:
    handoff_id, sender, widget_id = web_handoff(console_env)
    fake_rasa.slots = {"language": "fr"}
    client = make_console()
    live = f"/api/chat/live?sender_id={widget_id}&store=btomic"
    assert client.get(live).json() == {"mode": "waiting", "messages": []}

    # The customer writes while waiting: the agent sees it with the handoff.
    chat = client.post(
        "/api/chat", json={"sender_id": widget_id, "message": "vous êtes là ?", "store": "btomic"}
    )
    assert chat.status_code == 200 and chat.json()["handoff"] == "waiting"

    login(client, "bt.agent@btomic.example")
    page = client.get(f"/console/handoffs/{handoff_id}")
    assert "vous êtes là ?" in page.text
    token = csrf_of(page.text)
    assert (
        client.post(f"/console/handoffs/{handoff_id}/live", data={"csrf_token": token}).status_code
        == 303
    )
    assert fake_rasa.events_for(sender) == [{"event": "pause"}]

    polled = client.get(live).json()
    assert polled["mode"] == "live"
    assert polled["messages"][0]["text"] == "Bea, du service client, a rejoint la conversation."

    said = client.post(
        f"/console/handoffs/{handoff_id}/messages",
        data={"text": "Bonjour, je regarde votre commande."},
        headers={"X-CSRF-Token": token, "X-Requested-With": "fetch"},
    )
    assert said.status_code == 200
    assert fake_rasa.events_for(sender)[-1] == {
        "event": "bot",
        "text": "Bonjour, je regarde votre commande.",
        "metadata": {"agent": "Bea Agent"},
    }
    after = polled["messages"][-1]["id"]
    agent_message = client.get(f"{live}&after={after}").json()["messages"]
    assert [(m["author"], m["text"], m["name"]) for m in agent_message] == [
        ("agent", "Bonjour, je regarde votre commande.", "Bea")
    ]

    answer = client.post(
        "/api/chat", json={"sender_id": widget_id, "message": "merci !", "store": "btomic"}
    )
    assert answer.json()["handoff"] == "live"
    feed = client.get(f"/console/handoffs/{handoff_id}/feed").json()
    assert [m["text"] for m in feed["messages"] if m["author"] == "customer"] == [
        "vous êtes là ?",
        "merci !",
    ]
    assert feed["present"] is True

    assert (
        client.post(
            f"/console/handoffs/{handoff_id}/hand-back", data={"csrf_token": token}
        ).status_code
        == 303
    )
    assert fake_rasa.events_for(sender)[-1] == {"event": "resume"}
    final = client.get(live).json()
    assert final["mode"] == "bot"
    assert final["messages"][-1]["text"].startswith("Bea a terminé. L'assistant virtuel reprend")
    after_back = client.post(
        "/api/chat", json={"sender_id": widget_id, "message": "autre chose", "store": "btomic"}
    )
    assert after_back.json()["handoff"] is None
    with console_env.sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.status == "resolved" and handoff.live_since is None


def test_a_customer_who_left_gets_the_reply_by_email(
    make_console: MakeConsole,
    console_env: ConsoleEnv,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    handoff_id, _sender, _ = web_handoff(console_env, address="alex.martin@example.com")
    with console_env.sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        handoff.customer_seen_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        handoff.language = "en"
        session.commit()
    client = make_console(smtp_url=smtp_server.url)
    login(client, "bt.agent@btomic.example")
    page = client.get(f"/console/handoffs/{handoff_id}")
    assert "customer not on the page" in page.text and "the customer left the chat" in page.text
    client.post(
        f"/console/handoffs/{handoff_id}/email",
        data={"csrf_token": csrf_of(page.text), "text": "Your watch was shipped today."},
    )
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["alex.martin@example.com"]
    message = BytesParser(policy=policy.default).parsebytes(mail.content)
    assert message["Subject"] == "Your question on the BTOMIC chat"
    assert "Your watch was shipped today." in message.get_content()
