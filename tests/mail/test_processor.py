"""The processor on a real inbox database and a real SMTP server, with a scripted bot.

What the bot answers is scripted here (the end-to-end tests use the real Rasa); what is
checked is the channel's own behaviour: one reply with the right headers, skips, handoffs,
retries, and exactly one reply whatever the failures and the concurrency.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.mailbox import Handoff, InboxMessage, InboxState
from bot.errors import RasaTurnFailedError, RasaUnavailableError
from bot.mail import inbox
from bot.mail.intake import IntakeStatus, accept_raw
from bot.mail.processor import MailProcessor
from bot.mail.smtp import SmtpConfig, SmtpSender
from bot.payloads import NEUTRALISER
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


def store_and_process(
    sessions: sessionmaker[Session],
    settings: Settings,
    bot: ScriptedBot,
    smtp: SmtpServer,
    raw: bytes,
) -> tuple[int, InboxState | None]:
    """Stores an inbound mail as the webhook does, processes it; its row id and final state."""
    inbox_id = store_mail(sessions, settings, raw)
    return inbox_id, make_processor(sessions, settings, bot, smtp).process(inbox_id)


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
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, raw)

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
        # without running the turn twice (bot/rasa_ext/idempotency.py). It names the question
        # (a digest of its normalised text) and its occurrence in the mail, not its place.
        "message_id": "email:<q1@example.fr>:"
        + hashlib.sha256(b"quels moyens de paiement acceptez-vous ?").hexdigest()[:16]
        + ":0",
        # The parse the processor decided on: Rasa does not parse the question again
        # (bot/rasa_ext/reuse_parse.py).
        "parse_data": {
            "text": "Quels moyens de paiement acceptez-vous ?",
            "intent": {"name": "payment_methods", "confidence": 0.93},
            "entities": [],
        },
    }


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
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, make_mail(body=body))
    assert state is InboxState.REPLIED

    (mail,) = smtp_server.received
    text = mail.text
    assert text.index(PAYMENT_FR) < text.index(DELIVERY_FR)
    assert [asked[1] for asked in bot.asked] == [
        "Puis-je payer avec Klarna ?",
        "Et en combien de temps livrez-vous en France ?",
    ]


def test_two_questions_joined_in_one_sentence_get_two_answers(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    body = (
        "Bonjour,\n\nPuis-je payer par carte et quand livrez-vous en France ?\n\n"
        "Cordialement,\nMarie Dupont\n"
    )
    inbox_id = store_mail(sessions, settings, make_mail(body=body))

    assert make_processor(sessions, settings, bot, smtp_server).process(inbox_id) is (
        InboxState.REPLIED
    )

    (mail,) = smtp_server.received
    assert mail.text.index(PAYMENT_FR) < mail.text.index(DELIVERY_FR)
    assert [asked[1] for asked in bot.asked] == [
        "Puis-je payer par carte ?",
        "quand livrez-vous en France ?",
    ]
    assert handoffs(sessions) == []  # nothing left for a person


@pytest.mark.parametrize(
    "question",
    [
        # The same question twice: one answer.
        "Puis-je payer par carte et puis-je payer par virement ?",
        # One half the bot cannot answer alone: the sentence is read whole.
        "Puis-je payer par carte et quel temps fera-t-il demain ?",
    ],
)
def test_a_joined_sentence_is_read_whole_unless_each_half_is_its_own_question(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
    question: str,
) -> None:
    settings = make_settings()
    inbox_id = store_mail(sessions, settings, make_mail(body=f"Bonjour,\n\n{question}\n"))

    assert make_processor(sessions, settings, bot, smtp_server).process(inbox_id) is (
        InboxState.REPLIED
    )

    assert [asked[1] for asked in bot.asked] == [question]
    assert smtp_server.received[0].text.count(PAYMENT_FR) == 1


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
    inbox_id, _state = store_and_process(sessions, settings, bot, smtp_server, raw)

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
    inbox_id, state = store_and_process(
        sessions, settings, bot, smtp_server, make_mail(sender=sender, headers=headers)
    )

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
    inbox_id, state = store_and_process(
        sessions, settings, bot, smtp_server, make_mail(body=body, subject="Ma commande")
    )

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
    inbox_id, state = store_and_process(
        sessions, settings, bot, smtp_server, make_mail(body="C'est un scandale !")
    )
    assert state is InboxState.HANDOFF
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
    inbox_id, state = store_and_process(
        sessions, settings, bot, smtp_server, make_mail(body="Merci beaucoup !")
    )
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


class ActionCutBot(ScriptedBot):
    """Rasa whose action server is killed mid-call on the first ``cuts`` questions: the client
    raises as BlockingRasaClient.ask does on Rasa's "send it again" marker."""

    cuts: int = 1

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        if self.cuts > 0:
            self.cuts -= 1
            self.asked.append((sender_id, text, dict(metadata)))
            raise RasaTurnFailedError("action action_delivery_countries failed")
        return super().ask(sender_id, text, metadata)


def test_a_turn_whose_action_failed_is_retried_not_replied_empty(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(email_retry_delay_s=0.0)
    bot = ActionCutBot(rules=scripted_bot().rules)
    inbox_id = store_mail(sessions, settings, make_mail())
    processor = make_processor(sessions, settings, bot, smtp_server)
    assert processor.process(inbox_id) is InboxState.RECEIVED  # back for a retry, no reply
    assert smtp_server.received == []
    assert handoffs(sessions) == []
    assert "action_delivery_countries" in (row(sessions, inbox_id).last_error or "")
    assert processor.drain().outcomes == {"replied": 1}
    assert len(smtp_server.received) == 1
    # The same question, with the same message id (Rasa processes it again after a failed
    # turn: bot/rasa_ext/idempotency.py).
    first, again = bot.asked
    assert first[2]["message_id"] == again[2]["message_id"]


class RememberingRasa(ScriptedBot):
    """The scripted bot answering like Rasa with this project's extensions: a message id the
    conversation already holds gets its stored answers and nothing is processed again
    (bot/rasa_ext/idempotency.py, actions/once.py); each processed order lookup is one proof
    check (an effect, recorded in ``effects``). Asking a question containing ``outage_on``
    fails as an unreachable Rasa does."""

    turns: dict[tuple[str, str], list[str]]
    effects: list[str]
    outage_on: str | None = None

    def __init__(self, rules: list[Rule]) -> None:
        super().__init__(rules=rules)
        self.turns = {}
        self.effects = []

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        if self.outage_on is not None and self.outage_on in text:
            raise RasaUnavailableError("scripted outage mid-mail")
        self.asked.append((sender_id, text, dict(metadata)))
        key = (sender_id, str(metadata["message_id"]))
        if key in self.turns:
            return self.turns[key]
        rule = self._rule(text)
        answers = [rule.answer] if rule is not None and rule.answer else []
        if rule is not None and rule.intent == "order_status":
            self.effects.append(text)
        self.turns[key] = answers
        return answers


ORDER_FR = "Pour la commande OM-104233, votre adresse e-mail est bien celle de la commande."
WARRANTY_FR = "Nos montres sont garanties 24 mois."


def test_a_retry_cut_otherwise_by_a_new_model_answers_each_question_with_its_own_answer(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    # The first attempt's model does not read "livrez-vous en Suisse ?" alone: the joined
    # sentence is one question. Rasa becomes unreachable at the third question; the model is
    # retrained and deployed before the retry, which cuts the sentence into two questions.
    # Every question after it moved one place on.
    old_model = [
        Rule("paiement|payer", "payment_methods", 0.93, PAYMENT_FR),
        Rule("livr", "delivery_time", 0.3, DELIVERY_FR),
        Rule("commande", "order_status", 0.92, ORDER_FR),
        Rule("garantie", "warranty", 0.91, WARRANTY_FR),
    ]
    new_model = [
        Rule("livr", "delivery_time", 0.9, DELIVERY_FR) if rule.word == "livr" else rule
        for rule in old_model
    ]
    settings = make_settings(email_retry_delay_s=0.0)
    bot = RememberingRasa(old_model)
    bot.outage_on = "garantie"
    body = (
        "Bonjour,\n\nPuis-je payer par carte et livrez-vous en Suisse ?\n\n"
        "Où en est ma commande OM-104233 ?\n\nQuelle est la durée de la garantie ?\n\nMarie"
    )
    inbox_id = store_mail(sessions, settings, make_mail(body=body))
    processor = make_processor(sessions, settings, bot, smtp_server)

    assert processor.process(inbox_id) is InboxState.RECEIVED  # back for a retry
    assert [asked[1] for asked in bot.asked] == [
        "Puis-je payer par carte et livrez-vous en Suisse ?",
        "Où en est ma commande OM-104233 ?",
    ]
    assert bot.effects == ["Où en est ma commande OM-104233 ?"]
    first_ids = {asked[1]: asked[2]["message_id"] for asked in bot.asked}

    bot.rules, bot.outage_on = new_model, None
    bot.asked.clear()
    assert processor.drain().outcomes == {"replied": 1}

    questions = [asked[1] for asked in bot.asked]
    assert questions == [
        "Puis-je payer par carte ?",
        "livrez-vous en Suisse ?",
        "Où en est ma commande OM-104233 ?",
        "Quelle est la durée de la garantie ?",
    ]
    # Each question has its own answer, in order, once: the delivery question moved to the
    # order question's old place and is not answered with that question's stored answer.
    (mail,) = smtp_server.received
    reply = mail.text
    answers = [PAYMENT_FR, DELIVERY_FR, ORDER_FR, WARRANTY_FR]
    assert all(reply.count(answer) == 1 for answer in answers), reply
    positions = [reply.index(answer) for answer in answers]
    assert positions == sorted(positions)
    # Its proof check ran once, on the first attempt: the retry got its stored answer.
    assert bot.effects == ["Où en est ma commande OM-104233 ?"]
    ids = [asked[2]["message_id"] for asked in bot.asked]
    assert len(set(ids)) == len(ids)
    # The new questions got ids of their own; the unchanged one kept its id wherever it went.
    assert not set(ids[:2]) & set(first_ids.values())
    assert ids[2] == first_ids["Où en est ma commande OM-104233 ?"]


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


# --- real customers: context, several questions, part answered ------------------------------


def real_customer_bot() -> ScriptedBot:
    return ScriptedBot(
        rules=[
            Rule("cracked", "damaged_item", 0.95, "Contact us within 48 hours."),
            Rule("paiement|payer", "payment_methods", 0.93, PAYMENT_FR),
            Rule("météo|weather", "out_of_scope", 0.9, "Je ne peux pas vous aider."),
            # First match wins: the passage names what is wrong, the short question does not.
            Rule("toujours rien", "order_status", 0.9, "Quel est le numéro de votre commande ?"),
            Rule("normal", "delivery_time", 0.55, DELIVERY_FR),
        ]
    )


def test_a_question_that_needs_the_sentence_before_it_is_read_with_it(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    bot = real_customer_bot()
    body = (
        "Hello,\n\nMy watch arrived yesterday with a cracked glass. Photo attached. "
        "What should I do?"
    )
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, make_mail(body=body))
    assert state is InboxState.REPLIED
    # Alone the question is not understood; with the two sentences before it, it is.
    assert bot.parsed == [
        "What should I do?",
        "My watch arrived yesterday with a cracked glass. Photo attached. What should I do?",
    ]
    assert [asked[1] for asked in bot.asked] == [bot.parsed[1]]
    assert "Contact us within 48 hours." in smtp_server.received[0].text
    assert handoffs(sessions) == []


def test_a_short_question_is_read_with_its_context_when_that_is_clearer(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    # "C'est normal ?" alone is a weak delivery_time; with the sentence before, order_status.
    settings = make_settings()
    bot = real_customer_bot()
    body = "Bonjour,\n\nJ'ai commandé il y a 10 jours et toujours rien. C'est normal ?"
    inbox_id, _state = store_and_process(sessions, settings, bot, smtp_server, make_mail(body=body))

    assert [asked[1] for asked in bot.asked] == [
        "J'ai commandé il y a 10 jours et toujours rien. C'est normal ?"
    ]


def test_a_long_question_understood_alone_is_asked_alone(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    bot = real_customer_bot()
    body = "Bonjour,\n\nIl fait beau, la météo est bonne. Quels moyens de paiement pour payer ?"
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, make_mail(body=body))
    assert state is InboxState.REPLIED
    assert bot.parsed == ["Quels moyens de paiement pour payer ?"]
    assert handoffs(sessions) == []


def test_the_documented_question_is_answered_and_the_rest_handed_over(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings(email_handoff_forward_to="agents@om-digitalsolutions.com")
    bot = real_customer_bot()
    body = "Bonjour,\n\nPuis-je payer avec Klarna ?\n\nEt quelle météo fera-t-il demain ?\n\nMarie"
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, make_mail(body=body))
    assert state is InboxState.REPLIED
    # Only the documented question went into the conversation.
    assert [asked[1] for asked in bot.asked] == ["Puis-je payer avec Klarna ?"]
    by_recipient = {mail.rcpt_tos[0]: mail for mail in smtp_server.received}
    reply = by_recipient["marie.dupont@example.fr"].text
    assert PAYMENT_FR in reply
    assert "Nous avons transmis le reste de votre message à un membre de notre équipe" in reply
    assert reply.index(PAYMENT_FR) < reply.index("Nous avons transmis")
    forward = by_recipient["agents@om-digitalsolutions.com"].message
    assert forward["Reply-To"] == "marie.dupont@example.fr"
    assert "partly_answered" in forward["Subject"]
    (handoff,) = handoffs(sessions)
    assert handoff.reason == "partly_answered: out_of_scope"
    assert handoff.forwarded is True and handoff.inbox_message_id == inbox_id
    assert handoff.customer_address == "marie.dupont@example.fr"


def test_a_partly_answered_mail_retried_after_an_smtp_failure_records_one_handoff(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    bot = real_customer_bot()
    body = "Puis-je payer avec Klarna ?\n\nEt quelle météo fera-t-il demain ?"
    inbox_id = store_mail(sessions, settings, make_mail(body=body))
    processor = make_processor(sessions, settings, bot, smtp_server)

    smtp_server.refuse_next(1)
    assert processor.process(inbox_id) is InboxState.RECEIVED
    assert processor.drain().outcomes == {"replied": 1}

    assert len(smtp_server.received) == 1
    assert [h.reason for h in handoffs(sessions)] == ["partly_answered: out_of_scope"]


def test_nothing_documented_still_goes_to_a_person(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    bot = real_customer_bot()
    inbox_id, state = store_and_process(
        sessions,
        settings,
        bot,
        smtp_server,
        make_mail(body="Merci !\n\nQuelle météo fera-t-il demain ?"),
    )
    assert state is InboxState.HANDOFF
    assert row(sessions, inbox_id).reason == "out_of_scope"
    assert bot.asked == []


# --- mails written in another language (German, Spanish...) --------------------------------

OTHER_LANGUAGE_LINE = "I speak French and English only, so I'll answer you in English."
ORDER_EN = "Your order OM-104233 was shipped on Friday 4 December 2026 by DHL."


def other_language_bot() -> ScriptedBot:
    # As the real NLU does: intent other_language, the entities it could read.
    return ScriptedBot(
        rules=[
            Rule(
                "OM-104233",
                "other_language",
                1.0,
                f"{OTHER_LANGUAGE_LINE}\n\n{ORDER_EN}",
                ("order_number",),
            ),
            Rule("Geld", "other_language", 1.0, OTHER_LANGUAGE_LINE),
        ]
    )


def test_a_german_mail_naming_its_order_is_answered_in_english(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    bot = other_language_bot()
    body = "Guten Tag,\n\nwo ist meine Bestellung OM-104233? Ich warte schon zwei Wochen.\n\nLukas"
    inbox_id, state = store_and_process(
        sessions, settings, bot, smtp_server, make_mail(subject="Bestellung", body=body)
    )
    assert state is InboxState.REPLIED
    (mail,) = smtp_server.received
    text = mail.text
    assert text.startswith("Hello,\n")  # English throughout, not a French greeting
    assert text.count(OTHER_LANGUAGE_LINE) == 1 and ORDER_EN in text
    assert "Kind regards," in text and "Cordialement" not in text
    assert mail.message["Content-Language"] == "en"
    # The reply's language goes to the bot with each question (the NLU answers in it).
    assert {metadata["language"] for _sender, _text, metadata in bot.asked} == {"en"}
    assert handoffs(sessions) == []


def test_a_german_mail_with_nothing_readable_goes_to_a_person(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    bot = other_language_bot()
    body = "Guten Tag,\n\nwann bekomme ich mein Geld zurück? Ich habe die Uhr schon geschickt."
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, make_mail(body=body))
    assert state is InboxState.HANDOFF
    assert row(sessions, inbox_id).reason == "other_language"
    assert bot.asked == []
    (handoff,) = handoffs(sessions)
    assert handoff.reason == "other_language"


def test_a_mail_in_rasas_intent_syntax_is_read_and_asked_as_words(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    # A mail offers no buttons: `/restart` or `/inform{...}` is the customer's words, for the
    # NLU reading and in the conversation (Rasa would read the raw text as the intent itself).
    settings = make_settings()
    bot = ScriptedBot(rules=[Rule("restart|inform", "order_status", 0.9, "Answer.")])
    body = '/restart\n\n/inform{"order_number": "OM-104233"} ?'
    inbox_id = store_mail(sessions, settings, make_mail(body=body))

    make_processor(sessions, settings, bot, smtp_server).process(inbox_id)

    assert bot.parsed and bot.asked
    texts = bot.parsed + [asked[1] for asked in bot.asked]
    assert all(text.startswith(NEUTRALISER) for text in texts), texts
    assert all(not text.strip().startswith("/") for text in texts)
    assert {text.lstrip(NEUTRALISER) for text in bot.parsed} <= {
        "/restart",
        '/inform{"order_number": "OM-104233"} ?',
        '/restart /inform{"order_number": "OM-104233"} ?',
    }


def test_a_mail_over_the_header_caps_goes_to_a_person_with_the_original_whole(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    bot: ScriptedBot,
    smtp_server: SmtpServer,
) -> None:
    # 20,000 recipients (the corpus' raw mail took 89 s to store before the caps): stored,
    # then handed to a person without asking the bot; the forward carries every recipient.
    settings = make_settings(email_handoff_forward_to="agents@om-digitalsolutions.com")
    recipients = ", ".join(f"r{i}@example.com" for i in range(20_000))
    raw = make_mail(body="Bonjour,\n\nQuels moyens de paiement acceptez-vous ?").replace(
        f"To: {OM_SUPPORT}".encode(), f"To: {OM_SUPPORT}, {recipients}".encode()
    )
    assert b"r19999@example.com" in raw
    inbox_id, state = store_and_process(sessions, settings, bot, smtp_server, raw)

    assert state is InboxState.HANDOFF
    assert row(sessions, inbox_id).reason == "over_caps"
    assert row(sessions, inbox_id).store_id == "om-system"  # routed on the first recipients
    assert bot.asked == []
    (handoff,) = handoffs(sessions)
    assert (handoff.reason, handoff.forwarded) == ("over_caps", True)
    assert "paiement" in (handoff.excerpt or "")
    (forward,) = smtp_server.received
    assert forward.rcpt_tos == ["agents@om-digitalsolutions.com"]
    # Its 390 kB To line is more than SMTP carries in a line: the original travels as a file,
    # every byte of it.
    (attached,) = list(forward.message.iter_attachments())
    assert attached.get_filename() == "original.eml"
    assert attached.get_content() == raw
