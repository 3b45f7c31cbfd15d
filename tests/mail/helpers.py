"""Building blocks of the e-mail tests: mails, a real SMTP server, a scripted bot.

`SmtpServer` is a real aiosmtpd server on a free port (a `Controller` runs it in its own
thread); it records every message it accepted and can be told to refuse the next ones with a
temporary error, so tests read exactly what went over SMTP.

`ScriptedBot` stands in for Rasa in the processor's unit tests (no HTTP): each rule maps a
word of the question to an intent, a confidence and an answer. The end-to-end tests use the
real Rasa server instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

from bot.rasa_client import Interpretation
from devstack.stack import free_port

OM_SUPPORT = "eshop.support@om-digitalsolutions.com"
BTOMIC_SUPPORT = "service@btomic.com"


def make_mail(
    *,
    sender: str = "Marie Dupont <marie.dupont@example.fr>",
    to: str = OM_SUPPORT,
    subject: str = "Question",
    body: str = "Bonjour,\n\nQuels moyens de paiement acceptez-vous ?\n\nMarie",
    message_id: str | None = "<q1@example.fr>",
    headers: Mapping[str, str] | None = None,
    html: str | None = None,
    charset: str = "utf-8",
) -> bytes:
    """An inbound mail as raw bytes (CRLF line ends, as SMTP carries them)."""
    message = EmailMessage(policy=policy.SMTP)
    if sender:
        message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 03 Feb 2025 10:12:00 +0100"
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    if html is not None and body:
        message.set_content(body, charset=charset)
        message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html", charset=charset)
    else:
        message.set_content(body, charset=charset)
    return message.as_bytes()


@dataclass
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.content)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        content: str = body.get_content()
        return content.replace("\r\n", "\n")


class _RecordingHandler:
    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.refuse_next = 0
        self.refusal = "451 4.3.0 Temporary failure, try again later"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return self.refusal
        content = envelope.original_content or envelope.content
        self.received.append(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(content))
        )
        return "250 2.0.0 OK"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self._handler = _RecordingHandler()
        self.port = free_port()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[ReceivedMail]:
        return self._handler.received

    def refuse_next(self, count: int) -> None:
        """Answers the next ``count`` messages with a temporary failure (451)."""
        self._handler.refuse_next = count

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout_s: float = 60.0) -> list[ReceivedMail]:
        """Waits until at least ``count`` messages arrived; returns them all."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.received)

    def to(self, address: str) -> list[ReceivedMail]:
        """The messages delivered to ``address``."""
        return [mail for mail in self.received if address in mail.rcpt_tos]


@dataclass
class Rule:
    """When a question contains ``word``: this intent, confidence and answer."""

    word: str
    intent: str
    confidence: float = 0.95
    answer: str = ""
    entities: tuple[str, ...] = ()


@dataclass
class ScriptedBot:
    """A stand-in for Rasa: rules by word, and a record of every call."""

    rules: list[Rule] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)
    asked: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    failing: bool = False

    def _rule(self, text: str) -> Rule | None:
        return next(
            (rule for rule in self.rules if re.search(rule.word, text, re.IGNORECASE)), None
        )

    def parse(self, text: str) -> Interpretation:
        if self.failing:
            from bot.errors import RasaUnavailableError

            raise RasaUnavailableError("scripted outage")
        self.parsed.append(text)
        rule = self._rule(text)
        intent, confidence, entities = (
            ("nlu_fallback", 0.2, ())
            if rule is None
            else (rule.intent, rule.confidence, rule.entities)
        )
        # Rasa's answer as /model/parse gives it: the processor sends it back with the question.
        parse = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": [{"entity": entity} for entity in entities],
        }
        return Interpretation(intent, confidence, entities, parse=parse)

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        self.asked.append((sender_id, text, dict(metadata)))
        rule = self._rule(text)
        return [rule.answer] if rule is not None and rule.answer else []
