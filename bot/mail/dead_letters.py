"""Dead letters: every mail that ends ``failed`` becomes a handoff, so none is lost in silence.

A mail fails when it is not a usable message (``malformed``: stored by the webhook or found
by the worker), when every attempt failed (Rasa or SMTP down longer than the retries last),
or when its processing killed or froze the worker ``EMAIL_MAX_ATTEMPTS`` times (``poison``,
see :mod:`bot.mail.isolation`). Each worker pass then hands such rows to a human, once:

1. a conditional ``UPDATE ... SET dead_lettered_at = now WHERE dead_lettered_at IS NULL``
   (the worker whose row count is 1 owns the dead letter; several gateways never hand one
   mail over twice), committed with the handoff row (channel ``email``, reason
   ``failed_<why>``) in one transaction;
2. then, when ``EMAIL_HANDOFF_FORWARD_TO`` is set, one forward of the original to that
   address, saying why it was not answered (a forward that fails is logged: the handoff is
   already in the console's queue).

The caller (:meth:`bot.mail.processor.MailProcessor.drain`) runs :func:`hand_over_failed` at the
end of each pass.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.mailbox import Handoff, HandoffChannel, InboxMessage, InboxState
from bot.errors import MailDeliveryError, MalformedMailError
from bot.handoffs import excerpt_of, record_handoff
from bot.mail.cleaning import strip_quotes_and_signature
from bot.mail.compose import build_forward
from bot.mail.parsing import INBOUND_POLICY, read_mail
from bot.stores import load_store

logger = logging.getLogger(__name__)

#: Handoff reasons of failed mails, by the inbox row's reason.
REASONS = {
    "malformed": "failed_malformed",
    "poison": "failed_poison",
    None: "failed_retries",
}


class MailSender(Protocol):
    """Sends one message (:class:`bot.mail.smtp.SmtpSender`)."""

    def send(self, message: EmailMessage) -> None:
        """Sends ``message``; raises MailDeliveryError when it was not accepted."""


def handoff_reason(row_reason: str | None) -> str:
    """The handoff reason of a failed row (``failed_malformed``, ``failed_poison``...)."""
    return REASONS.get(row_reason, f"failed_{row_reason}"[:64])


def pending_ids(*, session: Session, limit: int) -> list[int]:
    """The failed rows no one handed over yet, oldest first."""
    query = (
        select(InboxMessage.id)
        .where(InboxMessage.state == InboxState.FAILED, InboxMessage.dead_lettered_at.is_(None))
        .order_by(InboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def take(*, session: Session, inbox_id: int, now: dt.datetime) -> bool:
    """Marks a failed row as handed over; False when another worker did it first."""
    result = session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.id == inbox_id,
            InboxMessage.state == InboxState.FAILED,
            InboxMessage.dead_lettered_at.is_(None),
        )
        .values(dead_lettered_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount) == 1


def _original(raw: bytes) -> EmailMessage:
    """The stored mail as a message object (lenient: a malformed mail is forwarded as is)."""
    message = BytesParser(policy=INBOUND_POLICY).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _customer_text(raw: bytes) -> str | None:
    try:
        parsed = read_mail(raw)
    except MalformedMailError:
        return None
    return strip_quotes_and_signature(parsed.text) or parsed.text or None


def hand_over_failed(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    sender: MailSender,
    clock: Callable[[], dt.datetime],
    limit: int = 100,
) -> int:
    """Turns the failed rows no one handed over yet into handoffs (forwarded when set up).

    Returns:
        How many rows this call handed over.
    """
    with sessions() as session:
        ids = pending_ids(session=session, limit=limit)
    done = 0
    for inbox_id in ids:
        if hand_over_one(
            sessions=sessions, settings=settings, sender=sender, clock=clock, inbox_id=inbox_id
        ):
            done += 1
    return done


def hand_over_one(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    sender: MailSender,
    clock: Callable[[], dt.datetime],
    inbox_id: int,
) -> bool:
    """Hands one failed row over; False when another worker had done it."""
    with sessions() as session:
        if not take(session=session, inbox_id=inbox_id, now=clock()):
            session.rollback()
            return False
        row = session.get(InboxMessage, inbox_id)
        assert row is not None  # the UPDATE above just matched it
        reason = handoff_reason(row.reason)
        text = _customer_text(row.raw)
        handoff = record_handoff(
            session=session,
            channel=HandoffChannel.EMAIL,
            conversation_id=row.conversation_id or row.message_id[:128],
            store_id=row.store_id,
            customer_address=row.sender,
            reason=reason,
            excerpt=text,
            inbox_message_id=row.id,
        )
        session.commit()
        handoff_id, raw, store_id = handoff.id, row.raw, row.store_id
        customer, error = row.sender, row.last_error
    logger.error(
        "Inbox row %s failed (%s, last error: %s): handed over to a human (handoff %s)",
        inbox_id,
        reason,
        error,
        handoff_id,
    )
    forward_to = settings.email_handoff_forward_to
    if not forward_to:
        return True
    note = "Not answered automatically: every attempt failed or the mail is unusable."
    if error:
        note += f"\nLast error: {excerpt_of(error, limit=300)}"
    quoted = excerpt_of(text)
    try:
        original: EmailMessage | None = _original(raw)
    except Exception:  # noqa: BLE001 - e.g. RecursionError: MIME nested past the parser's stack
        original = None  # forwarded as original.eml, byte for byte
    forward = build_forward(
        original=original,
        original_raw=raw,
        store=load_store(store_id),
        forward_to=forward_to,
        reason=reason,
        customer=customer,
        excerpt=f"{note}\n\n{quoted}" if quoted else note,
        now=clock(),
    )
    try:
        sender.send(forward)
    except (MailDeliveryError, RecursionError, ValueError) as exc:
        # RecursionError, ValueError: a hostile original the generator cannot write. The
        # handoff is in the console's queue already; the worker's pass goes on.
        logger.error("Forward of failed inbox row %s not sent: %s", inbox_id, exc)
        return True
    with sessions() as session:
        session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id)
            .values(forwarded=True)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return True
