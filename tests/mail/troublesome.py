"""A mail child's processor whose bot misbehaves on purpose (``bot.mail.isolation`` tests).

The child process of :class:`bot.mail.isolation.IsolatedProcessor` imports this module by
name (``tests.mail.troublesome:processor``). Its bot answers like the scripted bot of the unit
tests, except for three words in a question: ``CRASH`` kills the child (SIGKILL to itself, as
the kernel's OOM killer would), ``FREEZE`` stops it (SIGSTOP: a process that no longer runs at
all), ``HANG`` blocks it in a call that never returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from bot.config import Settings
from bot.db.session import make_engine, session_factory
from bot.mail.processor import MailProcessor
from bot.mail.smtp import SmtpConfig, SmtpSender
from bot.rasa_client import Interpretation

ANSWER = "Nous acceptons Visa, Mastercard, PayPal et Klarna."


class TroublesomeBot:
    """Answers payment questions; crashes, freezes or hangs on the words above."""

    def parse(self, text: str) -> Interpretation:
        if "CRASH" in text:
            os.kill(os.getpid(), signal.SIGKILL)
        if "FREEZE" in text:
            os.kill(os.getpid(), signal.SIGSTOP)
        if "HANG" in text:
            threading.Event().wait()
        return Interpretation("payment_methods", 0.95)

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        return [ANSWER]


@contextlib.contextmanager
def processor(settings: Settings) -> Iterator[MailProcessor]:
    """The child's processor: the test's database and SMTP server, the troublesome bot."""
    engine = make_engine(settings.database_url)
    assert settings.smtp_url is not None
    try:
        yield MailProcessor(
            sessions=session_factory(engine),
            settings=settings,
            bot=TroublesomeBot(),
            sender=SmtpSender(SmtpConfig.from_url(settings.smtp_url), timeout_s=5),
        )
    finally:
        engine.dispose()
