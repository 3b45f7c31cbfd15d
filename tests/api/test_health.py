"""Liveness and readiness of the gateway, with the e-mail inbox's figures."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.db.mailbox import InboxMessage, InboxState
from bot.db.migrate import upgrade
from bot.db.session import make_engine, session_factory
from bot.mail import inbox
from bot.mail.intake import accept_raw
from tests.api.conftest import MakeClient, gateway_settings
from tests.api.servers import FakeRasa
from tests.mail.helpers import make_mail

EMPTY_INBOX = {
    "backlog": 0,
    "processing": 0,
    "oldest_waiting_s": None,
    "failed_24h": 0,
    "failed_not_handed_over": 0,
}


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("health-db") / "orders.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(migrated_template: Path, tmp_path: Path) -> str:
    """A migrated inbox database of this test's own."""
    shutil.copy(migrated_template, tmp_path / "orders.db")
    return f"sqlite:///{tmp_path / 'orders.db'}"


def test_health_answers_ok_even_without_rasa(make_client: MakeClient, dead_rasa_url: str) -> None:
    response = make_client(rasa_url=dead_rasa_url).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_rasa_has_a_model(
    make_client: MakeClient, fake_rasa: FakeRasa, database_url: str
) -> None:
    response = make_client(database_url=database_url).get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "rasa": "ready",
        "model_file": "models/test-model.tar.gz",
        "mail": EMPTY_INBOX,
    }
    assert [r.path for r in fake_rasa.received] == ["/status"]


def test_ready_reports_the_mail_backlog_its_oldest_mail_and_failures(
    make_client: MakeClient, database_url: str
) -> None:
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    settings = gateway_settings("http://127.0.0.1:9", database_url=database_url)
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        ids = [
            accept_raw(
                session=session, raw=make_mail(message_id=f"<h{i}@x>"), settings=settings
            ).inbox_id
            for i in range(4)
        ]
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == ids[0])
            .values(received_at=now - dt.timedelta(minutes=10))
        )
        assert inbox.claim(session=session, inbox_id=ids[1], now=now)
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id.in_(ids[2:]))
            .values(state=InboxState.FAILED, processed_at=now)
        )
        session.execute(
            update(InboxMessage).where(InboxMessage.id == ids[3]).values(dead_lettered_at=now)
        )
        session.commit()
    engine.dispose()

    response = make_client(database_url=database_url).get("/health/ready")

    assert response.status_code == 200  # a backlog is reported, it does not stop the gateway
    mail = response.json()["mail"]
    assert (mail["backlog"], mail["processing"]) == (2, 1)
    assert 600 <= mail["oldest_waiting_s"] < 900
    assert (mail["failed_24h"], mail["failed_not_handed_over"]) == (2, 1)


def test_not_ready_without_the_inbox_database(make_client: MakeClient) -> None:
    # An in-memory database that was never migrated: the inbox cannot be read.
    response = make_client(database_url="sqlite://").get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "rasa": "ready",
        "model_file": "models/test-model.tar.gz",
        "mail": {"database": "unreachable"},
    }


def test_not_ready_while_rasa_has_no_model(
    make_client: MakeClient, fake_rasa: FakeRasa, database_url: str
) -> None:
    fake_rasa.model_file = None
    response = make_client(database_url=database_url).get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "rasa": "no_model", "mail": EMPTY_INBOX}


def test_not_ready_when_rasa_is_down(
    make_client: MakeClient, dead_rasa_url: str, database_url: str
) -> None:
    response = make_client(rasa_url=dead_rasa_url, database_url=database_url).get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "rasa": "unreachable", "mail": EMPTY_INBOX}


def test_not_ready_when_rasa_answers_an_error(
    make_client: MakeClient, fake_rasa: FakeRasa, database_url: str
) -> None:
    fake_rasa.status_code = 500
    response = make_client(database_url=database_url).get("/health/ready")
    assert response.status_code == 503
    assert response.json()["rasa"] == "unreachable"
