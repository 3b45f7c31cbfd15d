"""Privacy: a customer's export and erasure (console and command), and the retention purge."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import yaml
from sqlalchemy import func, select

from bot.config import PROJECT_ROOT
from bot.console.reporting import TRACKER_EVENTS
from bot.console.seeding import Conversation, Turn, write_conversations
from bot.db.console import AuditEntry, ReportConversation
from bot.db.mailbox import Handoff, HandoffChannel, InboxMessage, InboxState
from bot.db.models import Order
from bot.handoffs import record_handoff
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of, import_now, login

NOW = dt.datetime.now(dt.UTC)
MARIE = Conversation(
    "om-system",
    "web",
    "fr",
    NOW - dt.timedelta(days=1),
    [
        Turn("Où en est ma commande OM-104233 ?", "order_status"),
        Turn("marie.dupont@example.fr", "inform"),
    ],
)
OTHER = Conversation(
    "om-system",
    "web",
    "fr",
    NOW - dt.timedelta(days=1),
    [Turn("Livrez-vous en Suisse ?", "delivery_countries")],
)
OLD = Conversation(
    "btomic",
    "web",
    "en",
    NOW - dt.timedelta(days=400),
    [Turn("Do you ship to Japan?", "delivery_countries")],
)


def seed(env: ConsoleEnv) -> None:
    write_conversations(env.tracker, [MARIE, OTHER, OLD])
    import_now(env)
    with env.sessions() as session:
        mail = InboxMessage(
            message_id="<m1@example.fr>",
            raw=b"From: marie.dupont@example.fr\r\n\r\nBonjour",
            store_id="om-system",
            sender="marie.dupont@example.fr",
            state=InboxState.REPLIED,
            conversation_id="email-marie",
        )
        session.add(mail)
        old_mail = InboxMessage(
            message_id="<old@example.com>",
            raw=b"From: x@example.com\r\n\r\nHi",
            store_id="btomic",
            sender="x@example.com",
            state=InboxState.REPLIED,
            received_at=NOW - dt.timedelta(days=400),
        )
        session.add(old_mail)
        record_handoff(
            session=session,
            channel=HandoffChannel.WEB,
            conversation_id=MARIE.rasa_sender,
            store_id="om-system",
            reason="human_handoff",
            excerpt="OM-104233",
        )
        session.commit()


def tracker_senders(env: ConsoleEnv) -> set[str]:
    with env.tracker.connect() as connection:
        return {row[0] for row in connection.execute(select(TRACKER_EVENTS.c.sender_id).distinct())}


def test_export_then_erase_a_customer_from_the_console(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    seed(console_env)
    client = make_console()
    login(client, "admin@shops.example")
    page = client.get("/console/privacy")
    exported = client.post(
        "/console/privacy/export", data={"csrf_token": csrf_of(page.text), "order": "om-104233"}
    )
    assert exported.status_code == 200
    document = json.loads(exported.text)
    assert document["subject"] == {
        "emails": ["marie.dupont@example.fr"],
        "order_numbers": ["OM-104233"],
    }
    assert [o["number"] for o in document["orders"]] == ["OM-104233"]
    assert [c["id"] for c in document["conversations"]] == [MARIE.rasa_sender]
    assert document["conversations"][0]["messages"][1]["text"] == "marie.dupont@example.fr"
    assert len(document["mails"]) == 1 and len(document["handoffs"]) == 1

    refused = client.post(
        "/console/privacy/erase",
        data={"csrf_token": csrf_of(page.text), "email": "marie.dupont@example.fr"},
    )
    assert "confirmation" in refused.headers["location"]
    assert MARIE.rasa_sender in tracker_senders(console_env)
    erased = client.post(
        "/console/privacy/erase",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "marie.dupont@example.fr",
            "confirm": "erase",
        },
    )
    assert erased.status_code == 303
    assert MARIE.rasa_sender not in tracker_senders(console_env)
    assert OTHER.rasa_sender in tracker_senders(console_env)  # nobody else's conversation goes
    with console_env.sessions() as session:
        senders = set(session.scalars(select(ReportConversation.sender_id)))
        assert MARIE.rasa_sender not in senders and OTHER.rasa_sender in senders
        assert (
            session.scalar(
                select(func.count())
                .select_from(InboxMessage)
                .where(InboxMessage.sender == "marie.dupont@example.fr")
            )
            == 0
        )
        assert session.scalar(select(func.count()).select_from(Handoff)) == 0
        # The order is the shop's record: kept, and the admin is told so.
        assert session.scalar(select(Order).where(Order.number == "OM-104233")) is not None
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "privacy.export" in actions and "privacy.erase" in actions
    assert "Kept" in erased.headers["location"]


def test_agents_cannot_use_privacy_requests(make_console: MakeConsole) -> None:
    client = make_console()
    login(client, "bt.agent@btomic.example")
    page = client.get("/console/handoffs")
    assert (
        client.post(
            "/console/privacy/export", data={"csrf_token": csrf_of(page.text), "email": "a@b.c"}
        ).status_code
        == 403
    )


def test_the_retention_purge_command_deletes_what_is_older(console_env: ConsoleEnv) -> None:
    seed(console_env)
    env = {
        **os.environ,
        "DATABASE_URL": console_env.database_url,
        "TRACKER_STORE_URL": console_env.tracker_url,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    run = subprocess.run(
        [sys.executable, "-m", "bot.console.privacy", "purge", "--days", "365"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "1 conversation(s)" in run.stdout and "1 mail(s)" in run.stdout
    assert tracker_senders(console_env) == {MARIE.rasa_sender, OTHER.rasa_sender}
    with console_env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 1
    missing = subprocess.run(
        [sys.executable, "-m", "bot.console.privacy", "purge"],
        cwd=PROJECT_ROOT,
        env={k: v for k, v in env.items() if k != "RETENTION_DAYS"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2 and "RETENTION_DAYS" in missing.stderr


def test_the_deployments_schedule_that_purge_command() -> None:
    """Kubernetes runs it nightly (a CronJob), Docker Compose daily (a loop), with a retention."""
    purge = ["python", "-m", "bot.console.privacy", "purge"]
    deploy = PROJECT_ROOT / "deploy"
    cronjob = yaml.safe_load((deploy / "k8s" / "privacy-purge-cronjob.yaml").read_text())
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == purge
    assert cronjob["spec"]["schedule"] == "30 3 * * *"
    config = yaml.safe_load((deploy / "k8s" / "configmap.yaml").read_text())["data"]
    assert int(config["RETENTION_DAYS"]) >= 1
    assert {"configMapRef": {"name": "shop-support-config"}} in container["envFrom"]
    service = yaml.safe_load((deploy / "compose.yaml").read_text())["services"]["privacy-purge"]
    assert " ".join(purge) in service["command"][-1] and "sleep 86400" in service["command"][-1]
    assert service["environment"]["RETENTION_DAYS"] == "${RETENTION_DAYS:-365}"
    assert service["environment"]["TRACKER_STORE_URL"]  # the tracker store is purged too
