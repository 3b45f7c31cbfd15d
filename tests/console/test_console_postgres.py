"""The console on the production profile's databases: the orders/console database and Rasa's
tracker store both on PostgreSQL (each in a schema of its own), with the same import, figures,
several importing gateways and erasure as on SQLite."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from bot.console import analytics, privacy
from bot.console.reporting import TRACKER_EVENTS, import_events, tracker_engine
from bot.console.seeding import create_tracker_table, write_conversations
from bot.console.users import create_user
from bot.db.console import ReportConversation, Role
from bot.db.mailbox import InboxMessage, InboxState
from bot.db.migrate import upgrade
from bot.db.session import make_engine, session_factory
from bot.secret_rules import generate_secret
from bot.stores import store_ids
from tests.bot.db.conftest import new_database
from tests.console.conftest import PASSWORD, MakeConsole, login
from tests.console.test_console_analytics import SEEDED

pytestmark = pytest.mark.postgres


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with (
        new_database("postgresql", tmp_path) as app_url,
        new_database("postgresql", tmp_path) as tracker_url,
    ):
        yield app_url, tracker_url


def test_import_figures_and_erasure_on_postgresql(databases: tuple[str, str]) -> None:
    app_url, tracker_url = databases
    upgrade(app_url)
    writer = create_engine(tracker_url)
    create_tracker_table(writer)
    write_conversations(writer, SEEDED)
    engine = make_engine(app_url)
    sessions = session_factory(engine)
    reader = tracker_engine(tracker_url)
    try:
        # Two gateways importing at once: one takes the import, the other skips; nothing twice.
        reports = []
        failures: list[BaseException] = []

        def gateway() -> None:
            try:
                reports.append(
                    import_events(sessions, reader, stores=store_ids(), default_store="om-system")
                )
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=gateway) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert sum(r.conversations for r in reports) == len(SEEDED)
        import_events(sessions, reader, stores=store_ids(), default_store="om-system")
        when = dt.datetime(2026, 11, 3, 23, 30, tzinfo=dt.UTC)
        with sessions() as session:
            for index, delay in enumerate((10, 30, 20, None)):
                session.add(
                    InboxMessage(
                        message_id=f"<pg-{index}@example.fr>",
                        raw=b"x",
                        store_id="btomic",
                        sender=f"c{index}@example.fr",
                        state=InboxState.REPLIED if delay else InboxState.HANDOFF,
                        received_at=when,
                        processed_at=when + dt.timedelta(seconds=delay) if delay else None,
                    )
                )
            session.commit()
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(ReportConversation)) == len(
                SEEDED
            )
            figures = analytics.compute(session, analytics.Filters(stores=tuple(store_ids())))
        assert figures.totals.conversations == 6
        assert figures.totals.contained == 4
        assert (figures.totals.customer_messages, figures.totals.clarified) == (10, 1)
        assert (figures.totals.lookups_verified, figures.totals.lookups_failed) == (1, 2)
        # E-mail, counted per UTC day by PostgreSQL (23:30 UTC stays on the 3rd).
        assert (figures.email.received, figures.email.auto_answered) == (4, 3)
        assert figures.email.handed_over == 1 and figures.email.median_reply_s == 20.0
        assert list(figures.email_by_day) == [dt.date(2026, 11, 3)]

        with sessions() as session:
            subject = privacy.subject_of(session, email=None, order="OM-104233")
            erased = privacy.erase(session, subject, writer)
            session.commit()
        assert erased.conversations == 1 and erased.tracker_events > 0
        with writer.connect() as connection:
            senders = {
                row[0] for row in connection.execute(select(TRACKER_EVENTS.c.sender_id).distinct())
            }
        assert SEEDED[3].rasa_sender not in senders and len(senders) == 5
    finally:
        reader.dispose()
        writer.dispose()
        engine.dispose()


def test_the_production_console_signs_in_with_a_secure_cookie(
    databases: tuple[str, str], make_console: MakeConsole
) -> None:
    """The production profile (PostgreSQL, secrets set): the session cookie is also Secure (sent
    over HTTPS only), and the session works across requests on PostgreSQL."""
    app_url, tracker_url = databases
    upgrade(app_url)
    create_tracker_table(create_engine(tracker_url))
    engine = make_engine(app_url)
    try:
        with session_factory(engine)() as session:
            create_user(
                session,
                email="prod.admin@shops.example",
                name="Prod Admin",
                role=Role.ADMIN,
                shops=["om-system", "btomic"],
                password=PASSWORD,
            )
            session.commit()
    finally:
        engine.dispose()
    secret = generate_secret()
    client = make_console(
        bot_profile="production",
        database_url=app_url,
        tracker_store_url=tracker_url,
        rasa_token=generate_secret(),
        email_webhook_secret=generate_secret(),
        console_session_secret=secret,
        smtp_url="smtp://127.0.0.1:2525",
    )
    client.base_url = client.base_url.copy_with(scheme="https")  # production is behind HTTPS
    signed_in = login(client, "prod.admin@shops.example")
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.headers["set-cookie"]
    assert "console_session=" in cookie
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/console/handoffs").status_code == 200
    # Over plain HTTP the browser keeps it to itself: no session there.
    client.base_url = client.base_url.copy_with(scheme="http")
    assert client.get("/console/handoffs").status_code == 303
