"""E-mail out of the box: a local SMTP catcher (aiosmtpd) and the demo mailbox's storage.

In the local profile without ``SMTP_URL``, ``make run`` gives the gateway ``SMTP_URL`` =
this catcher and ``LOCAL_SMTP_PORT``; the gateway runs the catcher for its lifetime. Every
message sent (automatic replies, agents' replies, handoff forwards) is stored in the
``demo_mail`` table instead of leaving the machine; the demo mailbox page (``/mailbox``) shows
a visitor the replies to the mails they wrote to a shop's support address.
"""

from __future__ import annotations

import logging
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session, sessionmaker

from bot.db.console import DemoMail
from bot.mail.parsing import INBOUND_POLICY

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10_000_000


class CatchingHandler:
    """aiosmtpd handler: stores each message in ``demo_mail``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:  # noqa: N802
        """Stores the message; answers 250 (or 451 when the database refused it)."""
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        try:
            subject = BytesParser(policy=INBOUND_POLICY).parsebytes(raw, headersonly=True)[
                "Subject"
            ]
        except Exception:  # noqa: BLE001 - a subject is a nicety; the message is kept anyway
            subject = None
        recipients = ",".join(str(r).lower() for r in envelope.rcpt_tos)
        try:
            with self._sessions() as db:
                db.add(
                    DemoMail(
                        mail_from=str(envelope.mail_from or "")[:254],
                        rcpt_to=f",{recipients},",
                        subject=str(subject) if subject else None,
                        raw=raw,
                    )
                )
                db.commit()
        except Exception:
            logger.exception("The SMTP catcher could not store a message")
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"


def start_catcher(
    sessions: sessionmaker[Session], port: int, host: str = "127.0.0.1"
) -> Controller:
    """Starts the catcher on ``host:port`` (its own thread); the caller stops it."""
    kwargs: dict[str, Any] = {"data_size_limit": MAX_MESSAGE_BYTES}
    controller = Controller(CatchingHandler(sessions), hostname=host, port=port, **kwargs)
    controller.start()
    logger.info("Local SMTP catcher on %s:%s (messages in the demo mailbox)", host, port)
    return controller
