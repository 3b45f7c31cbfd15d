"""The processor on a real inbox database and a real SMTP server, with a scripted bot.

What the bot answers is scripted here (the end-to-end tests use the real Rasa); what is
checked is the channel's own behaviour: one reply with the right headers, skips, handoffs,
retries, and exactly one reply whatever the failures and the concurrency.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.mailbox import Handoff, InboxMessage, InboxState
from bot.mail import inbox
from bot.mail.intake import IntakeStatus, accept_raw
from bot.mail.processor import MailProcessor
from bot.mail.smtp import SmtpConfig, SmtpSender
from tests.mail.conftest import MakeSettings
from tests.mail.helpers import BTOMIC_SUPPORT, OM_SUPPORT, Rule, ScriptedBot, SmtpServer, make_mail

PAYMENT_FR = "Nous acceptons Visa, Mastercard, PayPal et Klarna."
DELIVERY_FR = "La livraison prend 3 à 4 jours ouvrables."


def scripted_bot() -> ScriptedBot:
    return ScriptedBot(
        rules=[
            Rule("paiement|payer", "payment_methods", 0.93, PAYMENT_FR),
            Rule("livr", "delivery_time", 0.9, DELIVERY_FR),
            Rule("warranty", "warranty", 0.91, "Our watches have a 24-month warranty."),
            Rule("conseiller|human", "human_handoff", 0.97, "Je vous mets en relation."),
            Rule("météo|weather", "out_of_scope", 0.9, "Je ne peux pas vous aider."),
            Rule("merci", "thank", 0.95, "Avec plaisir !"),
            Rule("vague", "payment_methods", 0.31, PAYMENT_FR),
        ]
    )


def store_mail(sessions: sessionmaker[Session], settings: Settings, raw: bytes) -> int:
    with sessions() as session:
        result = accept_raw(session=session, raw=raw, settings=settings)
        session.commit()
    assert result.status is IntakeStatus.ACCEPTED, result
    return result.inbox_id


def row(sessions: sessionmaker[Session], inbox_id: int) -> InboxMessage:
    with sessions() as session:
        found = session.get(InboxMessage, inbox_id)
        assert found is not None
        return found


def handoffs(sessions: sessionmaker[Session]) -> list[Handoff]:
    with sessions() as session:
        return list(session.scalars(select(Handoff).order_by(Handoff.id)))


@pytest.fixture
def bot() -> ScriptedBot:
    return scripted_bot()


def make_processor(
    sessions: sessionmaker[Session], settings: Settings, bot: ScriptedBot, smtp: SmtpServer
) -> MailProcessor:
    sender = SmtpSender(SmtpConfig.from_url(smtp.url), timeout_s=5)
    return MailProcessor(sessions=sessions, settings=settings, bot=bot, sender=sender)


def test_one_question_gets_one_reply_with_thread_headers(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    raw = make_mail(
        subject="RE: Re: Paiement",
        headers={"References": "<root@example.fr> <q0@om>", "In-Reply-To": "<q0@om>"},
    )
    inbox_id = store_mail(sessions, settings, raw)

    state = make_processor(sessions, settings, bot, smtp_server).process(inbox_id)

    assert state is InboxState.REPLIED
    (mail,) = smtp_server.received
    reply = mail.message
    assert mail.rcpt_tos == ["marie.dupont@example.fr"]
    assert OM_SUPPORT in reply["From"]
    assert reply["Subject"] == "Re: Paiement"
    assert reply["In-Reply-To"] == "<q1@example.fr>"
    assert reply["References"].split() == ["<root@example.fr>", "<q0@om>", "<q1@example.fr>"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Message-ID"].endswith("@om-digitalsolutions.com>")
    text = mail.text
    assert text.startswith("Bonjour,\n")
    assert PAYMENT_FR in text
    assert "L'équipe du service client de l'E-Boutique OM SYSTEM" in text
    assert "> Quels moyens de paiement acceptez-vous ?" in text
    stored = row(sessions, inbox_id)
    assert stored.reply_message_id == reply["Message-ID"]
    assert stored.attempts == 1 and stored.processed_at is not None
    # The bot was asked in the thread's conversation with the channel metadata.
    ((sender_id, question, metadata),) = bot.asked
    assert sender_id == stored.conversation_id and sender_id.startswith("email-")
    assert question == "Quels moyens de paiement acceptez-vous ?"
    assert metadata == {
        "store": "om-system",
        "channel": "email",
        "sender_email": "marie.dupont@example.fr",
        "language": "fr",
        # Stable for this mail's question: asked again after a crash, Rasa answers it again
        # without running the turn twice (bot/rasa_ext/idempotency.py).
        "message_id": "email:<q1@example.fr>:0",
    }
    assert bot.slots == [(sender_id, {"language": "fr", "store": "om-system"})]


def test_two_questions_get_two_answers_in_one_reply(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    body = (
        "Bonjour,\n\nPuis-je payer avec Klarna ? Et en combien de temps livrez-vous en "
        "France ?\n\nCordialement,\nMarie Dupont\n"
    )
    inbox_id = store_mail(sessions, settings, make_mail(body=body))

    assert make_processor(sessions, settings, bot, smtp_server).process(inbox_id) is (
        InboxState.REPLIED
    )

    (mail,) = smtp_server.received
    text = mail.text
    assert text.index(PAYMENT_FR) < text.index(DELIVERY_FR)
    assert [asked[1] for asked in bot.asked] == [
        "Puis-je payer avec Klarna ?",
        "Et en combien de temps livrez-vous en France ?",
    ]


def test_english_mail_to_btomic_is_answered_in_english_by_btomic(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    raw = make_mail(
        sender="John Smith <john@example.com>",
        to=BTOMIC_SUPPORT,
        subject="Warranty",
        body="Hello,\nHow long is the warranty on your watches?\nBest regards,\nJohn",
    )
    inbox_id = store_mail(sessions, settings, raw)
    make_processor(sessions, settings, bot, smtp_server).process(inbox_id)

    (mail,) = smtp_server.received
    assert BTOMIC_SUPPORT in mail.message["From"]
    assert mail.text.startswith("Hello,\n")
    assert "The BTOMIC customer service team" in mail.text
    assert bot.asked[0][2]["store"] == "btomic"
    assert bot.asked[0][2]["language"] == "en"


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, "marie.dupont@example.fr", "auto_submitted"),
        ({"Precedence": "bulk"}, "news@example.fr", "precedence_bulk"),
        ({"List-Id": "<promo.example.fr>"}, "news@example.fr", "mailing_list"),
        ({}, "MAILER-DAEMON@mx.example.fr", "robot_sender"),
        ({}, OM_SUPPORT, "own_address"),
    ],
)
def test_robots_get_no_reply(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
    headers: dict[str, str],
    sender: str,
    reason: str,
) -> None:
    settings = make_settings()
    inbox_id = store_mail(sessions, settings, make_mail(sender=sender, headers=headers))

    state = make_processor(sessions, settings, bot, smtp_server).process(inbox_id)

    assert state is InboxState.SKIPPED
    assert row(sessions, inbox_id).reason == reason
    assert smtp_server.received == [] and bot.parsed == []


def test_daily_limit_per_sender(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_max_replies_per_sender_per_day=2)
    processor = make_processor(sessions, settings, bot, smtp_server)
    states = [
        processor.process(store_mail(sessions, settings, make_mail(message_id=f"<n{i}@x>")))
        for i in range(3)
    ]
    assert states == [InboxState.REPLIED, InboxState.REPLIED, InboxState.SKIPPED]
    assert len(smtp_server.received) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("C'est inadmissible, je vais porter plainte !", "complaint"),
        ("This is the worst service ever, my lawyer will call you.", "complaint"),
        ("Je voudrais parler à un conseiller.", "human_handoff"),
        ("Quel temps fera-t-il demain, la météo ?", "out_of_scope"),
        ("J'ai une question un peu vague ?", "low_confidence"),
        ("Bonjour,\n\nPS: blablabla zzz ?", "out_of_scope"),
        ("> Quoted history only\n> nothing new", "no_new_text"),
    ],
)
def test_a_human_takes_over(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
    body: str,
    reason: str,
) -> None:
    settings = make_settings(email_handoff_forward_to="agents@om-digitalsolutions.com")
    inbox_id = store_mail(sessions, settings, make_mail(body=body, subject="Ma commande"))

    state = make_processor(sessions, settings, bot, smtp_server).process(inbox_id)

    assert state is InboxState.HANDOFF
    assert row(sessions, inbox_id).reason == reason
    assert bot.asked == []  # nothing went into the conversation
    (handoff,) = handoffs(sessions)
    assert handoff.channel.value == "email"
    assert handoff.reason == reason and handoff.forwarded is True
    assert handoff.customer_address == "marie.dupont@example.fr"
    assert handoff.inbox_message_id == inbox_id
    # The original went to the agents, attached; nothing went to the customer.
    (forward,) = smtp_server.received
    assert forward.rcpt_tos == ["agents@om-digitalsolutions.com"]
    message = forward.message
    assert message["Reply-To"] == "marie.dupont@example.fr"
    assert message["Auto-Submitted"] == "auto-generated"
    attached = [part for part in message.iter_attachments()]
    assert attached[0].get_content_type() == "message/rfc822"
    assert attached[0].get_content()["Message-ID"] == "<q1@example.fr>"


def test_handoff_without_forward_address_is_only_recorded(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    inbox_id = store_mail(sessions, settings, make_mail(body="C'est un scandale !"))
    assert make_processor(sessions, settings, bot, smtp_server).process(inbox_id) is (
        InboxState.HANDOFF
    )
    (handoff,) = handoffs(sessions)
    assert handoff.forwarded is False and handoff.excerpt == "C'est un scandale !"
    assert smtp_server.received == []


def test_a_thank_you_needs_no_reply(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    inbox_id = store_mail(sessions, settings, make_mail(body="Merci beaucoup !"))
    state = make_processor(sessions, settings, bot, smtp_server).process(inbox_id)
    assert state is InboxState.SKIPPED
    assert row(sessions, inbox_id).reason == "nothing_to_answer"
    assert smtp_server.received == []


def test_smtp_failure_is_retried_and_the_same_reply_sent_once(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_retry_delay_s=0.0)
    inbox_id = store_mail(sessions, settings, make_mail())
    processor = make_processor(sessions, settings, bot, smtp_server)
    smtp_server.refuse_next(1)

    assert processor.process(inbox_id) is InboxState.RECEIVED
    failed_once = row(sessions, inbox_id)
    assert failed_once.state is InboxState.RECEIVED
    assert failed_once.attempts == 1 and "451" in (failed_once.last_error or "")
    assert failed_once.reply_raw is not None
    assert smtp_server.received == []

    assert processor.drain().outcomes == {"replied": 1}
    (mail,) = smtp_server.received
    assert mail.message["Message-ID"] == failed_once.reply_message_id
    assert row(sessions, inbox_id).attempts == 2
    assert len(bot.asked) == 1  # the retry did not ask the bot again


def test_smtp_down_until_max_attempts_fails_the_row(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_max_attempts=3)
    inbox_id = store_mail(sessions, settings, make_mail())
    processor = make_processor(sessions, settings, bot, smtp_server)
    smtp_server.refuse_next(10)

    states = [processor.process(inbox_id) for _ in range(3)]

    assert states == [InboxState.RECEIVED, InboxState.RECEIVED, InboxState.FAILED]
    failed = row(sessions, inbox_id)
    assert failed.attempts == 3 and failed.raw  # nothing lost
    assert processor.process(inbox_id) is None  # a failed row is not claimed again


def test_retry_waits_for_its_time(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_retry_delay_s=3600.0)
    inbox_id = store_mail(sessions, settings, make_mail())
    processor = make_processor(sessions, settings, bot, smtp_server)
    smtp_server.refuse_next(1)
    processor.process(inbox_id)
    assert processor.drain().outcomes == {}  # not due for an hour
    assert row(sessions, inbox_id).next_attempt_at is not None


def test_rasa_outage_is_retried(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    inbox_id = store_mail(sessions, settings, make_mail())
    processor = make_processor(sessions, settings, bot, smtp_server)
    bot.failing = True
    assert processor.process(inbox_id) is InboxState.RECEIVED
    assert "scripted outage" in (row(sessions, inbox_id).last_error or "")
    bot.failing = False
    assert processor.drain().outcomes == {"replied": 1}
    assert len(smtp_server.received) == 1


def test_two_workers_draining_at_once_send_each_reply_once(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    ids = [
        store_mail(sessions, settings, make_mail(message_id=f"<c{i}@x>", sender=f"c{i}@x.fr"))
        for i in range(12)
    ]
    bots = [scripted_bot(), scripted_bot()]
    processors = [make_processor(sessions, settings, b, smtp_server) for b in bots]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(processor: MailProcessor) -> None:
        try:
            start.wait()
            processor.drain()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(p,)) for p in processors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    recipients = sorted(mail.rcpt_tos[0] for mail in smtp_server.received)
    assert recipients == sorted(f"c{i}@x.fr" for i in range(12))
    assert all(row(sessions, i).state is InboxState.REPLIED for i in ids)
    assert len(bots[0].asked) + len(bots[1].asked) == 12


def test_claim_is_exclusive(sessions: sessionmaker[Session], make_settings: MakeSettings) -> None:
    settings = make_settings()
    inbox_id = store_mail(sessions, settings, make_mail())
    now = dt.datetime.now(dt.UTC)
    with sessions() as first, sessions() as second:
        assert inbox.claim(session=first, inbox_id=inbox_id, now=now) is not None
        first.commit()
        assert inbox.claim(session=second, inbox_id=inbox_id, now=now) is None


def test_a_crash_before_sending_is_processed_again(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_processing_lease_s=60)
    inbox_id = store_mail(sessions, settings, make_mail())
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with sessions() as session:  # a worker claimed it, then its process died
        assert inbox.claim(session=session, inbox_id=inbox_id, now=long_ago)
        session.commit()

    report = make_processor(sessions, settings, bot, smtp_server).drain()

    assert report.requeued == 1 and report.outcomes == {"replied": 1}
    assert len(smtp_server.received) == 1


def test_a_crash_while_sending_goes_to_a_human_not_to_a_second_reply(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_processing_lease_s=60)
    inbox_id = store_mail(sessions, settings, make_mail())
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with sessions() as session:
        claim = inbox.claim(session=session, inbox_id=inbox_id, now=long_ago)
        assert claim is not None
        inbox.update_claimed(session=session, claim=claim, send_started_at=long_ago)
        session.commit()

    report = make_processor(sessions, settings, bot, smtp_server).drain()

    assert report.outcomes == {"handoff": 1}
    assert row(sessions, inbox_id).reason == "interrupted_send"
    assert [h.reason for h in handoffs(sessions)] == ["interrupted_send"]
    assert smtp_server.received == []


def test_a_malformed_stored_row_fails_without_retry(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    with sessions() as session:  # e.g. stored by an older gateway without the checks
        stored, _ = inbox.add_message(
            session=session,
            message_id="<x@y>",
            raw=b"not a mail",
            store_id="om-system",
            sender=None,
            now=dt.datetime.now(dt.UTC),
        )
        session.commit()
        inbox_id = stored.id
    assert make_processor(sessions, settings, bot, smtp_server).process(inbox_id) is (
        InboxState.FAILED
    )
    assert row(sessions, inbox_id).reason == "malformed"


def test_a_sent_reply_that_cannot_be_recorded_is_never_sent_again(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(email_processing_lease_s=0.05)
    inbox_id = store_mail(sessions, settings, make_mail())
    processor = make_processor(sessions, settings, bot, smtp_server)
    real_finish = inbox.finish

    def database_blinks(**kwargs: object) -> bool:
        raise OperationalError("UPDATE", {}, Exception("database is locked"))

    monkeypatch.setattr(inbox, "finish", database_blinks)
    assert processor.process(inbox_id) is InboxState.PROCESSING
    monkeypatch.setattr(inbox, "finish", real_finish)
    time.sleep(0.1)  # the lease runs out

    assert processor.drain().outcomes == {"handoff": 1}
    assert len(smtp_server.received) == 1
    assert row(sessions, inbox_id).reason == "interrupted_send"
