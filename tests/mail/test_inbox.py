"""The inbox and handoff tables: migration, idempotent storage, intake, handoff records."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.mailbox import Handoff, HandoffChannel, InboxMessage, InboxState
from bot.db.migrate import current_revision, downgrade, upgrade
from bot.db.models import Base
from bot.db.session import make_engine
from bot.handoffs import excerpt_of, record_handoff
from bot.mail import inbox
from bot.mail.intake import IntakeStatus, accept_json, accept_raw
from tests.bot.db.test_db_migrations import head_revision
from tests.mail.conftest import MakeSettings
from tests.mail.helpers import BTOMIC_SUPPORT, make_mail

NOW = dt.datetime(2025, 2, 3, 9, 30, tzinfo=dt.UTC)


def test_migration_matches_the_models_and_downgrades(inbox_url: str) -> None:
    assert current_revision(inbox_url) == head_revision()
    engine = make_engine(inbox_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        checks = {c["name"] for c in inspect(engine).get_check_constraints("inbox_messages")}
        assert checks == {"ck_inbox_messages_state", "ck_inbox_messages_attempts_not_negative"}
        handoff_checks = {c["name"] for c in inspect(engine).get_check_constraints("handoffs")}
        assert handoff_checks == {
            "ck_handoffs_channel",
            "ck_handoffs_address_source",
            "ck_handoffs_status",  # the support console's inbox (0004)
        }
    finally:
        engine.dispose()
    downgrade(inbox_url, revision="0001")
    engine = make_engine(inbox_url)
    try:
        assert not {"inbox_messages", "handoffs"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    upgrade(inbox_url)
    assert current_revision(inbox_url) == head_revision()


def test_the_database_refuses_an_unknown_state(sessions: sessionmaker[Session]) -> None:
    # Plain SQL, past the model's enum type: the CHECK constraint itself refuses it.
    with sessions() as session:
        inbox.add_message(
            session=session,
            message_id="<s@x>",
            raw=b"x",
            store_id="om-system",
            sender=None,
            now=NOW,
        )
        session.commit()
        with pytest.raises(IntegrityError):
            session.execute(text("UPDATE inbox_messages SET state = 'lost'"))


def test_same_message_id_is_stored_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        first, created = inbox.add_message(
            session=session,
            message_id="<d@x>",
            raw=b"1",
            store_id="om-system",
            sender="a@x",
            now=NOW,
        )
        again, created_again = inbox.add_message(
            session=session,
            message_id="<d@x>",
            raw=b"2",
            store_id="om-system",
            sender="a@x",
            now=NOW,
        )
        session.commit()
    assert created and not created_again
    assert first.id == again.id and again.raw == b"1"


def test_intake_raw_accepts_then_finds_the_duplicate(
    sessions: sessionmaker[Session], make_settings: MakeSettings
) -> None:
    settings = make_settings()
    raw = make_mail(to=f"BTOMIC <{BTOMIC_SUPPORT}>")
    with sessions() as session:
        first = accept_raw(session=session, raw=raw, settings=settings)
        second = accept_raw(session=session, raw=raw, settings=settings)
        session.commit()
    assert first.status is IntakeStatus.ACCEPTED and first.store_id == "btomic"
    assert second.status is IntakeStatus.DUPLICATE and second.inbox_id == first.inbox_id
    with sessions() as session:
        (row,) = session.scalars(select(InboxMessage)).all()
    assert row.state is InboxState.RECEIVED and row.raw == raw
    assert row.sender == "marie.dupont@example.fr" and row.message_id == "<q1@example.fr>"


def test_unknown_recipient_goes_to_the_default_store(
    sessions: sessionmaker[Session], make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    with sessions() as session:
        result = accept_raw(
            session=session,
            raw=make_mail(to="someone@else.example"),
            settings=make_settings(default_store="btomic"),
        )
    assert result.store_id == "btomic"
    assert "No store mailbox among the recipients" in caplog.text


def test_configured_alias_chooses_the_store(
    sessions: sessionmaker[Session], make_settings: MakeSettings
) -> None:
    settings = make_settings(email_store_addresses={"Montres@Example.COM": "btomic"})
    with sessions() as session:
        result = accept_raw(
            session=session, raw=make_mail(to="montres@example.com"), settings=settings
        )
    assert result.store_id == "btomic"


def test_delivered_to_wins_over_to(
    sessions: sessionmaker[Session], make_settings: MakeSettings
) -> None:
    raw = make_mail(
        to="eshop.support@om-digitalsolutions.com", headers={"Delivered-To": BTOMIC_SUPPORT}
    )
    with sessions() as session:
        assert accept_raw(session=session, raw=raw, settings=make_settings()).store_id == "btomic"


@pytest.mark.parametrize("raw", [b"no headers at all", make_mail(sender=""), make_mail(body=" \n")])
def test_malformed_is_stored_as_failed_and_stays_malformed(
    sessions: sessionmaker[Session], make_settings: MakeSettings, raw: bytes
) -> None:
    settings = make_settings()
    with sessions() as session:
        first = accept_raw(session=session, raw=raw, settings=settings)
        again = accept_raw(session=session, raw=raw, settings=settings)
        session.commit()
    assert first.status is again.status is IntakeStatus.MALFORMED
    assert first.inbox_id == again.inbox_id and first.error == again.error
    with sessions() as session:
        row = session.get(InboxMessage, first.inbox_id)
        assert row is not None
        assert row.state is InboxState.FAILED and row.reason == "malformed"
        assert row.raw == raw and row.last_error == first.error


def test_intake_json(sessions: sessionmaker[Session], make_settings: MakeSettings) -> None:
    form = {
        "from": "a@example.fr",
        "to": BTOMIC_SUPPORT,
        "text": "Bonjour ?",
        "headers": {"Message-ID": "<j@x>"},
    }
    with sessions() as session:
        result = accept_json(
            session=session, body=json.dumps(form).encode(), settings=make_settings()
        )
    assert (result.status, result.message_id, result.store_id) == (
        IntakeStatus.ACCEPTED,
        "<j@x>",
        "btomic",
    )


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"text": "no sender"}'])
def test_intake_bad_json_is_kept(
    sessions: sessionmaker[Session], make_settings: MakeSettings, body: bytes
) -> None:
    with sessions() as session:
        result = accept_json(session=session, body=body, settings=make_settings())
        session.commit()
        row = session.get(InboxMessage, result.inbox_id)
        assert row is not None
    assert result.status is IntakeStatus.MALFORMED
    assert row.state is InboxState.FAILED
    assert row.raw == body or b"no sender" in row.raw


def test_record_handoff(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        handoff = record_handoff(
            session=session,
            channel="web",
            conversation_id="abc",
            store_id="btomic",
            reason="human_handoff",
            excerpt="Je veux   parler\nà quelqu'un " + "x" * 600,
        )
        session.commit()
    with sessions() as session:
        stored = session.get(Handoff, handoff.id)
        assert stored is not None
        assert stored.channel is HandoffChannel.WEB and stored.forwarded is False
        assert stored.excerpt is not None and stored.excerpt.startswith("Je veux parler à")
        assert len(stored.excerpt) == 500 and stored.excerpt.endswith("…")
        assert stored.created_at is not None


def test_record_handoff_refuses_an_unknown_channel(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(ValueError):
        record_handoff(
            session=session, channel="fax", conversation_id="a", store_id="btomic", reason="x"
        )


def test_excerpt_of() -> None:
    assert excerpt_of(None) is None and excerpt_of("") is None
    assert excerpt_of("a\n b", limit=10) == "a b"


def test_replies_since_counts_replied_rows_only(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for number, state in enumerate(
            [InboxState.REPLIED, InboxState.SKIPPED, InboxState.REPLIED]
        ):
            inbox.add_message(
                session=session,
                message_id=f"<r{number}@x>",
                raw=b"x",
                store_id="om-system",
                sender="a@x.fr",
                now=NOW,
                state=state,
            )
        session.commit()
        assert (
            inbox.replies_since(session=session, sender="a@x.fr", since=NOW - dt.timedelta(hours=1))
            == 2
        )
        assert (
            inbox.replies_since(session=session, sender="a@x.fr", since=NOW + dt.timedelta(hours=1))
            == 0
        )


def test_older_rows_in_processing_count_against_the_daily_limit(
    sessions: sessionmaker[Session],
) -> None:
    # Two workers decide two mails of one sender at once: the older row may be about to reply,
    # so the newer one counts it; the older one does not count the newer one.
    with sessions() as session:
        rows = [
            inbox.add_message(
                session=session,
                message_id=f"<p{number}@x>",
                raw=b"x",
                store_id="om-system",
                sender="a@x.fr",
                now=NOW,
                state=InboxState.PROCESSING,
            )[0]
            for number in range(2)
        ]
        session.commit()
        older, newer = sorted(row.id for row in rows)
        since = NOW - dt.timedelta(hours=1)
        assert inbox.replies_since(session=session, sender="a@x.fr", since=since) == 0
        assert (
            inbox.replies_since(session=session, sender="a@x.fr", since=since, before_id=older) == 0
        )
        assert (
            inbox.replies_since(session=session, sender="a@x.fr", since=since, before_id=newer) == 1
        )
        # Another sender's rows never count.
        assert (
            inbox.replies_since(session=session, sender="b@x.fr", since=since, before_id=newer) == 0
        )
