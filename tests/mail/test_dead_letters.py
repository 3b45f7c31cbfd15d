"""Dead letters: no mail ends `failed` in silence; each becomes a handoff, forwarded once.

Real inbox database (SQLite), real SMTP server, the scripted bot of the processor tests.
"""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.mailbox import Handoff, InboxMessage, InboxState
from bot.mail import dead_letters, inbox
from bot.mail.intake import IntakeStatus, accept_raw
from bot.mail.processor import MailProcessor
from bot.mail.smtp import SmtpConfig, SmtpSender
from tests.hostile.corpus import MAILS
from tests.mail.conftest import MakeSettings
from tests.mail.helpers import Rule, ScriptedBot, SmtpServer, make_mail

FORWARD_TO = "humans@shop.example"
ANSWER = "Nous acceptons Visa, Mastercard, PayPal et Klarna."


def scripted_bot() -> ScriptedBot:
    return ScriptedBot(rules=[Rule("paiement", "payment_methods", 0.95, ANSWER)])


def processor_for(
    sessions: sessionmaker[Session], settings: Settings, smtp: SmtpServer, bot: ScriptedBot
) -> MailProcessor:
    sender = SmtpSender(SmtpConfig.from_url(smtp.url), timeout_s=5)
    return MailProcessor(sessions=sessions, settings=settings, bot=bot, sender=sender)


def store(sessions: sessionmaker[Session], settings: Settings, raw: bytes) -> int:
    with sessions() as session:
        result = accept_raw(session=session, raw=raw, settings=settings)
        session.commit()
    return result.inbox_id


def all_handoffs(sessions: sessionmaker[Session]) -> list[Handoff]:
    with sessions() as session:
        return list(session.scalars(select(Handoff).order_by(Handoff.id)))


def get_row(sessions: sessionmaker[Session], inbox_id: int) -> InboxMessage:
    with sessions() as session:
        found = session.get(InboxMessage, inbox_id)
        assert found is not None
        return found


def test_a_mail_rasa_never_answered_becomes_a_forwarded_handoff(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings(email_max_attempts=3, email_handoff_forward_to=FORWARD_TO)
    inbox_id = store(sessions, settings, make_mail(sender="marie@example.fr"))
    bot = scripted_bot()
    bot.failing = True  # Rasa down for longer than the retries last
    processor = processor_for(sessions, settings, smtp_server, bot)

    reports = [processor.drain() for _ in range(4)]

    assert [r.outcomes for r in reports] == [
        {"received": 1},
        {"received": 1},
        {"failed": 1},
        {},
    ]
    assert [r.dead_lettered for r in reports] == [0, 0, 1, 0]
    row = get_row(sessions, inbox_id)
    assert row.state is InboxState.FAILED and row.attempts == 3
    assert row.dead_lettered_at is not None and "scripted outage" in (row.last_error or "")
    (handoff,) = all_handoffs(sessions)
    assert (handoff.reason, handoff.inbox_message_id, handoff.channel.value) == (
        "failed_retries",
        inbox_id,
        "email",
    )
    assert handoff.customer_address == "marie@example.fr" and handoff.forwarded
    assert "moyens de paiement" in (handoff.excerpt or "")
    (forward,) = smtp_server.received
    assert forward.rcpt_tos == [FORWARD_TO]
    assert forward.message["Reply-To"] == "marie@example.fr"
    assert "Last error: scripted outage" in forward.text
    assert forward.message["Auto-Submitted"] == "auto-generated"


def test_smtp_down_for_good_still_leaves_a_handoff_in_the_queue(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings(email_max_attempts=2, email_handoff_forward_to=FORWARD_TO)
    inbox_id = store(sessions, settings, make_mail())
    processor = processor_for(sessions, settings, smtp_server, scripted_bot())
    smtp_server.refuse_next(100)  # replies and the forward are all refused

    reports = [processor.drain() for _ in range(3)]

    assert [r.dead_lettered for r in reports] == [0, 1, 0]
    assert get_row(sessions, inbox_id).state is InboxState.FAILED
    (handoff,) = all_handoffs(sessions)
    assert handoff.reason == "failed_retries" and not handoff.forwarded
    assert smtp_server.received == []


def test_a_malformed_mail_refused_by_the_webhook_is_handed_over_without_forward_set_up(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()  # no EMAIL_HANDOFF_FORWARD_TO
    with sessions() as session:
        result = accept_raw(
            session=session, raw=make_mail(sender="", message_id="<nofrom@x>"), settings=settings
        )
        session.commit()
    assert result.status is IntakeStatus.MALFORMED
    processor = processor_for(sessions, settings, smtp_server, scripted_bot())

    report = processor.drain()

    assert report.outcomes == {} and report.dead_lettered == 1
    (handoff,) = all_handoffs(sessions)
    assert handoff.reason == "failed_malformed" and handoff.customer_address is None
    assert not handoff.forwarded and smtp_server.received == []


def test_two_workers_hand_a_failed_mail_over_once(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings(email_handoff_forward_to=FORWARD_TO)
    ids = [
        store(sessions, settings, make_mail(message_id=f"<f{i}@x>", sender=f"c{i}@example.fr"))
        for i in range(8)
    ]
    with sessions() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id.in_(ids))
            .values(state=InboxState.FAILED, last_error="SMTP down")
        )
        session.commit()
    workers = [processor_for(sessions, settings, smtp_server, scripted_bot()) for _ in range(2)]
    start = threading.Barrier(2)
    counts: list[int] = []

    def hand_over(processor: MailProcessor) -> None:
        start.wait()
        counts.append(processor.hand_over_failed())

    threads = [threading.Thread(target=hand_over, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(counts) == 2 and sum(counts) == 8
    assert sorted(h.inbox_message_id for h in all_handoffs(sessions)) == sorted(ids)
    forwarded = sorted(m.message["Reply-To"] for m in smtp_server.to(FORWARD_TO))
    assert forwarded == sorted(f"c{i}@example.fr" for i in range(8))


def test_claim_refuses_a_row_that_had_all_its_attempts(
    sessions: sessionmaker[Session], make_settings: MakeSettings
) -> None:
    settings = make_settings(email_max_attempts=2)
    inbox_id = store(sessions, settings, make_mail())
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        session.execute(update(InboxMessage).where(InboxMessage.id == inbox_id).values(attempts=2))
        session.commit()
        assert inbox.claim(session=session, inbox_id=inbox_id, now=now, max_attempts=2) is None
        assert inbox.claim(session=session, inbox_id=inbox_id, now=now, max_attempts=3)


def test_a_mail_that_killed_its_worker_every_time_stops_and_is_handed_over(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    """Without isolation (python -m bot.mail.worker killed, a gateway OOM-killed): the
    lease brings the row back, and after EMAIL_MAX_ATTEMPTS claims it is not tried again."""
    settings = make_settings(
        email_max_attempts=2, email_processing_lease_s=60, email_handoff_forward_to=FORWARD_TO
    )
    inbox_id = store(sessions, settings, make_mail(sender="poison@example.fr"))
    bot = scripted_bot()
    processor = processor_for(sessions, settings, smtp_server, bot)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for _ in range(2):  # two workers died in the middle of this mail
        with sessions() as session:
            session.execute(
                update(InboxMessage)
                .where(InboxMessage.id == inbox_id)
                .values(state=InboxState.RECEIVED, claimed_at=None)
            )
            assert inbox.claim(session=session, inbox_id=inbox_id, now=long_ago, max_attempts=2)
            session.commit()

    report = processor.drain()

    assert report.requeued == 1 and report.dead_lettered == 1
    row = get_row(sessions, inbox_id)
    assert (row.state, row.reason, row.attempts) == (InboxState.FAILED, "poison", 2)
    assert bot.parsed == []  # not tried a third time
    (handoff,) = all_handoffs(sessions)
    assert handoff.reason == "failed_poison" and handoff.forwarded
    assert [m.message["Reply-To"] for m in smtp_server.received] == ["poison@example.fr"]


def test_the_inbox_health_counts_backlog_oldest_and_failures(
    sessions: sessionmaker[Session], make_settings: MakeSettings
) -> None:
    settings = make_settings()
    now = dt.datetime.now(dt.UTC)
    waiting = store(sessions, settings, make_mail(message_id="<w@x>"))
    busy = store(sessions, settings, make_mail(message_id="<b@x>"))
    failed = store(sessions, settings, make_mail(message_id="<f@x>"))
    with sessions() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == waiting)
            .values(received_at=now - dt.timedelta(seconds=90))
        )
        assert inbox.claim(session=session, inbox_id=busy, now=now)
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == failed)
            .values(state=InboxState.FAILED, processed_at=now)
        )
        session.commit()
        health = inbox.health(session=session, now=now)
    assert (health.backlog, health.processing) == (2, 1)
    assert health.oldest_waiting_s is not None and 90 <= health.oldest_waiting_s < 100
    assert (health.failed_24h, health.failed_not_handed_over) == (1, 1)
    with sessions() as session:
        assert dead_letters.take(session=session, inbox_id=failed, now=now)
        assert not dead_letters.take(session=session, inbox_id=failed, now=now)
        session.commit()
        assert inbox.health(session=session, now=now).failed_not_handed_over == 0


def test_a_mail_nested_past_the_parsers_stack_is_forwarded_byte_for_byte(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    # MIME nested 1,000 deep: the standard library's parser fails (RecursionError) at the
    # webhook, and again when the dead letter rebuilt it to attach it, which killed the
    # worker's pass. The forward now carries it as original.eml.
    (case,) = [c for c in MAILS if c.name == "mail-nested-1000"]
    raw = case.body
    settings = make_settings(email_handoff_forward_to="agents@om-digitalsolutions.com")
    with sessions() as session:
        result = accept_raw(session=session, raw=raw, settings=settings)
        session.commit()
    assert result.status is IntakeStatus.MALFORMED
    processor = processor_for(sessions, settings, smtp_server, scripted_bot())

    report = processor.drain()

    assert report.dead_lettered == 1
    (handoff,) = all_handoffs(sessions)
    assert handoff.reason == "failed_malformed" and handoff.forwarded
    (forward,) = smtp_server.received
    (attached,) = list(forward.message.iter_attachments())
    assert attached.get_filename() == "original.eml"
    assert attached.get_content() == raw
