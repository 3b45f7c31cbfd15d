"""The e-mail channel end to end: real gateway process, real Rasa, real SMTP server.

Why a second gateway process rather than a TestClient: the `live_stack` gateway has no
SMTP_URL, and the point here is the deployment path itself: settings read from the
environment, the worker started by the gateway's lifespan inside uvicorn, the webhook over
real HTTP, the bot reached over HTTP, the reply over SMTP. So this module starts one more
gateway with `devstack.stack.gateway_service` (the same command `make run` uses), pointed at the
session's real Rasa server and action server (`live_stack`, whose action server reads the demo
orders), at a real aiosmtpd server started here, and at an inbox database of its own (a fresh
SQLite file migrated to head), which the tests read to know when a mail was processed.

The answers asserted are the documented behaviour: a French question gets the store's French
answer, an English one the English answer, an order lookup succeeds only for the order's own
address (the sender address is the proof on this channel).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.db.mailbox import Handoff, InboxMessage, InboxState
from bot.db.migrate import upgrade
from bot.db.session import make_engine, session_factory
from devstack.stack import Stack, free_port, gateway_service
from tests.conftest import LiveStack
from tests.mail.helpers import BTOMIC_SUPPORT, OM_SUPPORT, ReceivedMail, SmtpServer, make_mail

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret"
TRACKING = "JD014600003828461025"
FINAL_STATES = {InboxState.REPLIED, InboxState.SKIPPED, InboxState.HANDOFF, InboxState.FAILED}
OM_TEAM_FR = "L'équipe du service client de l'E-Boutique OM SYSTEM"
BT_TEAM_FR = "L'équipe du service client BTOMIC"
BT_TEAM_EN = "The BTOMIC customer service team"


@dataclass
class MailGateway:
    """The e-mail gateway of this module and what it talks to."""

    url: str
    database_url: str
    smtp: SmtpServer
    log_dir: Path | None = None

    def deliver(self, raw: bytes) -> httpx.Response:
        """Posts a raw message to the webhook, as a mail provider would."""
        return httpx.post(
            f"{self.url}/email/inbound",
            content=raw,
            headers={"Content-Type": "message/rfc822", "X-Webhook-Secret": SECRET},
            timeout=30,
        )

    def row(self, message_id: str) -> InboxMessage | None:
        engine = make_engine(self.database_url)
        try:
            with session_factory(engine)() as session:
                return session.scalars(
                    select(InboxMessage).where(InboxMessage.message_id == message_id)
                ).one_or_none()
        finally:
            engine.dispose()

    def processed(self, message_id: str, timeout_s: float = 180.0) -> InboxMessage:
        """Waits until the worker has finished with a message; returns its row."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row = self.row(message_id)
            if row is not None and row.state in FINAL_STATES:
                return row
            time.sleep(0.3)
        raise AssertionError(f"{message_id} not processed in {timeout_s} s: {self.row(message_id)}")

    def replies_to(self, message_id: str) -> list[ReceivedMail]:
        """The replies the SMTP server received to a message."""
        return [mail for mail in self.smtp.received if mail.message["In-Reply-To"] == message_id]

    def only_reply(self, message_id: str) -> ReceivedMail:
        row = self.processed(message_id)
        replies = self.replies_to(message_id)
        assert row.state is InboxState.REPLIED, (row.state, row.reason, row.last_error)
        assert len(replies) == 1, replies
        return replies[0]


@pytest.fixture(scope="module")
def mail_gateway(
    live_stack: LiveStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MailGateway]:
    """A second gateway with SMTP_URL, on the live stack's Rasa, with its own inbox."""
    work: Path = tmp_path_factory.mktemp("mail-gateway")
    database_url = f"sqlite:///{work / 'inbox.db'}"
    upgrade(database_url)
    smtp = SmtpServer().start()
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        **live_stack.gateway_env,
        "SMTP_URL": smtp.url,
        "EMAIL_WEBHOOK_SECRET": SECRET,
        "EMAIL_WORKER_ENABLED": "true",
        "EMAIL_WORKER_POLL_S": "0.5",
        "EMAIL_RETRY_DELAY_S": "2",
        "EMAIL_HANDOFF_FORWARD_TO": "agents@example.test",
        "DEFAULT_STORE": "om-system",
    }
    stack = Stack([gateway_service(port=port, env=env)], log_dir=work / "log")
    try:
        with stack.running():
            yield MailGateway(
                url=f"http://127.0.0.1:{port}",
                database_url=database_url,
                smtp=smtp,
                log_dir=work / "log",
            )
    finally:
        smtp.stop()


def test_french_question_to_om_system_gets_a_french_om_system_answer(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        message_id="<fr-om@example.fr>",
        subject="Paiement",
        body="Bonjour,\n\nQuels moyens de paiement acceptez-vous ?\n\nCordialement,\nMarie Dupont",
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<fr-om@example.fr>")
    text = reply.text
    assert reply.rcpt_tos == ["marie.dupont@example.fr"]
    assert OM_SUPPORT in reply.message["From"]
    assert reply.message["Subject"] == "Re: Paiement"
    assert reply.message["Auto-Submitted"] == "auto-replied"
    assert text.startswith("Bonjour,\n")
    assert "Klarna" in text and "PayPal" in text
    assert "Vous pouvez payer" in text  # om-system's French wording
    assert OM_TEAM_FR in text


def test_english_question_to_btomic_gets_an_english_btomic_answer(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        sender="John Smith <john.smith@example.com>",
        to=BTOMIC_SUPPORT,
        message_id="<en-bt@example.com>",
        subject="Warranty",
        body="Hello,\n\nHow long is the warranty on your watches?\n\nBest regards,\nJohn",
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<en-bt@example.com>")
    text = reply.text
    assert BTOMIC_SUPPORT in reply.message["From"]
    assert text.startswith("Hello,\n")
    assert "24 months" in text
    assert BT_TEAM_EN in text


def test_two_questions_get_two_answers_in_one_reply(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Claire Martin <claire.martin@example.fr>",
        to=BTOMIC_SUPPORT,
        message_id="<two-q@example.fr>",
        subject="Questions",
        body=(
            "Bonjour,\n\nPuis-je payer avec Apple Pay ? Et combien de temps prend la "
            "livraison ?\n\nMerci d'avance,\nClaire"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<two-q@example.fr>")
    text = reply.text
    assert "Apple Pay" in text.split("\n> ")[0]  # in the answer, not only in the quotation
    assert "7 à 12 jours ouvrables" in text
    assert text.index("Apple Pay") < text.index("7 à 12 jours ouvrables")
    assert BT_TEAM_FR in text


def test_order_status_from_the_owner_gives_the_tracking_number(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        message_id="<owner@example.fr>",
        subject="Ma commande",
        body="Bonjour,\n\nOù en est ma commande OM-104233 ?\n\nMerci,\nMarie Dupont",
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<owner@example.fr>")
    assert TRACKING in reply.text
    assert "DHL" in reply.text


def test_a_question_without_its_order_number_is_asked_in_the_mails_wording(
    mail_gateway: MailGateway,
) -> None:
    # The answer service words a text for the conversation's channel: by e-mail, "reply to
    # this message with its number", not the chat's "what is its number?".
    raw = make_mail(
        message_id="<no-number@example.fr>",
        subject="Ma commande",
        body="Bonjour,\n\nOù en est ma commande ?\n\nMerci,\nMarie Dupont",
    )
    assert mail_gateway.deliver(raw).status_code == 202

    answer = mail_gateway.only_reply("<no-number@example.fr>").text.split("\n> ")[0]
    assert "répondez à ce message en indiquant son numéro" in " ".join(answer.split())
    assert "OM-123456" in answer
    assert "quel est son numéro" not in answer


def test_order_status_from_a_stranger_reveals_nothing(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Pierre Leroy <pierre.leroy@example.com>",
        message_id="<stranger@example.com>",
        subject="Commande",
        body="Bonjour,\n\nOù en est la commande OM-104233 ?\n\nPierre",
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<stranger@example.com>")
    answer = reply.text.split("\n> ")[0]
    assert TRACKING not in reply.text
    assert "DHL" not in answer and "expédiée" not in answer
    assert reply.rcpt_tos == ["pierre.leroy@example.com"]


def test_out_of_office_reply_gets_no_answer(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        message_id="<ooo@example.fr>",
        subject="Réponse automatique : Re: Paiement",
        body="Je suis absente jusqu'au 10 février. Quels moyens de paiement ? Merci.",
        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )
    assert mail_gateway.deliver(raw).status_code == 202

    row = mail_gateway.processed("<ooo@example.fr>")
    assert (row.state, row.reason) == (InboxState.SKIPPED, "auto_submitted")
    assert mail_gateway.replies_to("<ooo@example.fr>") == []


def test_newsletter_gets_no_answer(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Photo News <news@photo-news.example>",
        message_id="<news-1@photo-news.example>",
        subject="Nos promotions de la semaine",
        body="Découvrez nos offres ! Pourquoi attendre ?",
        headers={"List-Id": "Photo News <news.photo-news.example>"},
    )
    assert mail_gateway.deliver(raw).status_code == 202

    row = mail_gateway.processed("<news-1@photo-news.example>")
    assert (row.state, row.reason) == (InboxState.SKIPPED, "mailing_list")
    assert mail_gateway.replies_to("<news-1@photo-news.example>") == []


def test_duplicate_delivery_is_answered_once(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Paul Durand <paul.durand@example.fr>",
        message_id="<dup@example.fr>",
        subject="Livraison",
        body="Bonjour,\n\nQuel est le délai de livraison ?\n\nPaul",
    )
    first = mail_gateway.deliver(raw)
    second = mail_gateway.deliver(raw)
    assert first.status_code == 202
    assert second.status_code == 200 and second.json()["status"] == "duplicate"

    mail_gateway.only_reply("<dup@example.fr>")
    third = mail_gateway.deliver(raw)  # a late redelivery after the reply
    assert third.json()["status"] == "duplicate"
    time.sleep(2)  # several worker passes
    assert len(mail_gateway.replies_to("<dup@example.fr>")) == 1


def test_malformed_message_is_a_clear_400_and_nothing_is_lost(mail_gateway: MailGateway) -> None:
    raw = b"Subject: no sender\r\nMessage-ID: <nofrom@example.fr>\r\n\r\nOu est ma commande ?\r\n"
    response = mail_gateway.deliver(raw)

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed_message" and "From" in body["detail"]
    row = mail_gateway.row("<nofrom@example.fr>")
    assert row is not None and row.state is InboxState.FAILED and row.raw == raw


def test_angry_complaint_goes_to_a_human(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Luc Bernard <luc.bernard@example.fr>",
        message_id="<angry@example.fr>",
        subject="Commande OM-104250",
        body="C'est inadmissible, trois semaines sans nouvelles ! Je vais porter plainte.",
    )
    assert mail_gateway.deliver(raw).status_code == 202

    row = mail_gateway.processed("<angry@example.fr>")
    assert (row.state, row.reason) == (InboxState.HANDOFF, "complaint")
    assert mail_gateway.replies_to("<angry@example.fr>") == []
    forwards = mail_gateway.smtp.to("agents@example.test")
    assert any(f.message["Reply-To"] == "luc.bernard@example.fr" for f in forwards)


# --- real customers' mails: context, quotes, signatures, several questions ----------------------


def test_a_question_that_leans_on_the_sentence_before_is_read_with_it(
    mail_gateway: MailGateway,
) -> None:
    # Alone, "What should I do?" is out of scope; with the sentences before it, damaged_item.
    raw = make_mail(
        sender="Emma Jones <emma.jones@example.co.uk>",
        to=BTOMIC_SUPPORT,
        message_id="<cracked@example.co.uk>",
        subject="My watch",
        body=(
            "Hello,\n\nMy watch arrived yesterday with a cracked glass. Photo attached. "
            "What should I do?\n\nThanks,\nEmma"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    text = mail_gateway.only_reply("<cracked@example.co.uk>").text
    answer = text.split("\n> ")[0]
    assert "48 hours" in answer, text  # btomic's damaged-item answer
    assert "passed the rest of your message" not in answer


def test_a_long_paragraph_asking_in_its_last_sentence_gets_that_answer(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        sender="Sophie Bernard <sophie.bernard@example.fr>",
        message_id="<long-fr@example.fr>",
        subject="Livraison",
        body=(
            "Bonjour,\n\nJe suis photographe amateur depuis des années et j'ai enfin décidé de "
            "passer à un hybride. J'ai longuement comparé les modèles sur votre site et en "
            "magasin, mon beau-frère m'a aussi conseillée, et je compte commander un boîtier "
            "avec un objectif la semaine prochaine pour un voyage en Islande qui approche. "
            "Combien de temps faut-il pour être livré ?\n\n"
            "Bien cordialement,\nSophie Bernard\n06 12 34 56 78\n\n"
            "Le lun. 2 févr. 2025 à 09:00, E-Boutique OM SYSTEM "
            "<eshop.support@om-digitalsolutions.com> a écrit :\n"
            "> Bonjour, quelle météo fera-t-il demain ?\n"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    text = mail_gateway.only_reply("<long-fr@example.fr>").text
    answer = text.split("\n> ")[0]
    assert "3 à 4 jours ouvrables" in answer, text  # om-system's delivery time


def test_context_signature_and_quoted_history_do_not_hide_the_question(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        sender="John Smith <john.smith@example.co.uk>",
        to=BTOMIC_SUPPORT,
        message_id="<gift@example.co.uk>",
        subject="Re: Your order",
        body=(
            "Hi there,\n\nI bought one of your watches last month as a birthday present for "
            "my brother. He loves it and wears it every day. Is there a warranty on it?\n\n"
            "Best regards,\nJohn Smith\nSenior Accountant, Smith & Sons Ltd\n"
            "+44 20 7946 0000\n\nSent from my iPhone\n\n"
            "On Mon, Feb 2, 2025 at 9:00 AM BTOMIC <service@btomic.com> wrote:\n"
            "> Thank you for your order.\n> What do you think of the weather today?\n"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    text = mail_gateway.only_reply("<gift@example.co.uk>").text
    assert "24 months" in text.split("\n> ")[0], text


def test_two_questions_in_one_paragraph_get_both_answers(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Lukas Becker <lukas.becker@example.de>",
        message_id="<two-delivery@example.de>",
        subject="Delivery",
        body=(
            "Hello,\n\nI am moving to Switzerland next month and I would like to order a "
            "camera before that. Do you deliver to Switzerland? And how long does the "
            "delivery take?\n\nKind regards,\nLukas"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    answer = mail_gateway.only_reply("<two-delivery@example.de>").text.split("\n> ")[0]
    assert "Switzerland" in answer, answer
    assert "3 to 4 business days" in answer, answer


def test_two_questions_joined_in_one_sentence_get_both_answers(mail_gateway: MailGateway) -> None:
    raw = make_mail(
        sender="Claire Martin <claire.martin@example.fr>",
        message_id="<two-joined@example.fr>",
        subject="Livraison",
        body=(
            "Bonjour,\n\nJe compte commander un objectif. Livrez-vous en Suisse et combien "
            "coûte la livraison ?\n\nMerci,\nClaire"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    answer = mail_gateway.only_reply("<two-joined@example.fr>").text.split("\n> ")[0]
    # The delivery answer for Switzerland, then the shipping-cost answer (the FAQ is silent).
    assert "nous livrons en Suisse" in answer, answer
    assert "frais d'expédition" in answer, answer
    assert answer.index("Suisse") < answer.index("frais d'expédition"), answer


def test_a_documented_question_is_answered_and_the_rest_handed_over(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        sender="Giulia Rossi <giulia.rossi@example.it>",
        message_id="<partly@example.it>",
        subject="Two things",
        body=(
            "Hello,\n\nWhich payment methods do you accept?\n\n"
            "Also, which of your lenses would you recommend for bird photography?\n\n"
            "Thanks,\nGiulia"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<partly@example.it>")
    answer = reply.text.split("\n> ")[0]
    assert "PayPal" in answer and "Klarna" in answer, answer
    assert "passed the rest of your message on to a member of our team" in answer, answer
    forwards = mail_gateway.smtp.to("agents@example.test")
    assert any(f.message["Reply-To"] == "giulia.rossi@example.it" for f in forwards)
    row = mail_gateway.processed("<partly@example.it>")
    engine = make_engine(mail_gateway.database_url)
    try:
        with session_factory(engine)() as session:
            (handoff,) = session.scalars(
                select(Handoff).where(Handoff.inbox_message_id == row.id)
            ).all()
            assert handoff.reason.startswith("partly_answered")
            assert handoff.customer_address == "giulia.rossi@example.it"
            assert handoff.forwarded is True
    finally:
        engine.dispose()


def test_a_german_mail_from_the_owner_gets_one_english_reply_with_the_order(
    mail_gateway: MailGateway,
) -> None:
    raw = make_mail(
        sender="Lukas Becker <lukas.becker@example.de>",
        message_id="<german@example.de>",
        subject="Meine Bestellung",
        body=(
            "Guten Tag,\n\nich habe vor zwei Wochen bestellt. Wo ist meine Bestellung "
            "OM-104250? Ich warte immer noch.\n\nMit freundlichen Grüßen\nLukas Becker"
        ),
    )
    assert mail_gateway.deliver(raw).status_code == 202

    reply = mail_gateway.only_reply("<german@example.de>")
    text = reply.text
    answer = text.split("\n> ")[0]
    assert text.startswith("Hello,\n"), text
    assert answer.count("I speak French and English only") == 1, answer
    assert "OM-104250" in answer and "Kind regards," in answer, answer
    assert reply.message["Content-Language"] == "en"
    for french in ("Bonjour", "Cordialement", "commande"):
        assert french not in answer, answer


def test_the_rasa_token_never_reaches_the_gateway_log(
    mail_gateway: MailGateway, live_stack: LiveStack
) -> None:
    # The worker's child logs every Rasa call of the mails above at INFO, URL included: the
    # token in its query is redacted (bot/secret_rules.py), never written.
    raw = make_mail(
        message_id="<token-log@example.fr>",
        subject="Livraison",
        body="Bonjour,\n\nLivrez-vous en Suisse ?\n\nMerci",
    )
    assert mail_gateway.deliver(raw).status_code == 202
    mail_gateway.only_reply("<token-log@example.fr>")
    assert mail_gateway.log_dir is not None
    log = "".join(p.read_text("utf-8") for p in mail_gateway.log_dir.glob("*.log"))
    assert "/webhooks/rest/webhook?token=***" in log  # the calls were logged, redacted
    assert live_stack.rasa_token not in log
