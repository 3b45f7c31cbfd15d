"""Accepting an inbound mail: store it first, then answer the webhook.

Whatever arrives is stored before anything else (the inbox is the durable queue), so a crash
of the gateway right after the webhook's 202 loses nothing: the worker finds the row. A
message that cannot be used (no header section, no From address, no text) is stored too, as
``failed`` with the reason, and the caller gets a clear error; an operator can still read it.

Idempotency is by Message-ID: a second delivery of a stored message is a ``duplicate`` and
changes nothing, so a webhook's retries never lead to a second reply. A message without a
Message-ID gets one from a digest of its bytes, which makes identical retries duplicates too.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db.mailbox import InboxMessage, InboxState, utcnow
from bot.errors import MalformedMailError
from bot.mail.inbox import add_message
from bot.mail.parsing import (
    content_digest_id,
    message_from_json,
    message_id_of,
    parse_bytes,
    read_message,
    recipient_addresses,
)
from bot.mail.routing import choose_store
from bot.shops import resolve_store

logger = logging.getLogger(__name__)

MALFORMED = "malformed"


class IntakeStatus(enum.StrEnum):
    """What happened to a delivered message."""

    ACCEPTED = "accepted"  # stored, waiting for the worker
    DUPLICATE = "duplicate"  # already stored: nothing done
    MALFORMED = "malformed"  # stored as failed: nothing to answer


@dataclass(frozen=True)
class IntakeResult:
    """The outcome of one delivery, for the webhook's answer."""

    status: IntakeStatus
    message_id: str
    inbox_id: int
    store_id: str
    error: str | None = None


def _store_malformed(
    *,
    session: Session,
    raw: bytes,
    message_id: str,
    store_id: str,
    sender: str | None,
    error: str,
) -> IntakeResult:
    row, created = add_message(
        session=session,
        message_id=message_id,
        raw=raw,
        store_id=store_id,
        sender=sender,
        now=utcnow(),
        state=InboxState.FAILED,
        reason=MALFORMED,
        error=error,
    )
    if not created:
        return _previous(row)
    logger.warning("Inbound message %s is malformed (stored as %s): %s", message_id, row.id, error)
    return IntakeResult(
        status=IntakeStatus.MALFORMED,
        message_id=row.message_id,
        inbox_id=row.id,
        store_id=row.store_id,
        error=row.last_error or error,
    )


def _previous(row: InboxMessage) -> IntakeResult:
    if row.reason == MALFORMED:
        # The same unusable message again: the same clear error, not a silent "duplicate".
        return IntakeResult(
            IntakeStatus.MALFORMED, row.message_id, row.id, row.store_id, row.last_error
        )
    return IntakeResult(IntakeStatus.DUPLICATE, row.message_id, row.id, row.store_id)


def accept_raw(*, session: Session, raw: bytes, settings: Settings) -> IntakeResult:
    """Stores a raw RFC 5322 message (flushed; the caller commits).

    Args:
        session: the caller's session.
        raw: the message bytes as delivered.
        settings: store mapping and default store.

    Returns:
        accepted, duplicate or malformed (the row id in every case).
    """
    default_store = resolve_store(None, settings.default_store)
    try:
        message = parse_bytes(raw)
    except MalformedMailError as exc:
        return _store_malformed(
            session=session,
            raw=raw,
            message_id=content_digest_id(raw),
            store_id=default_store,
            sender=None,
            error=str(exc),
        )
    message_id = message_id_of(message) or content_digest_id(raw)
    store_id = choose_store(recipient_addresses(message), settings).store_id
    try:
        parsed = read_message(message)
    except MalformedMailError as exc:
        return _store_malformed(
            session=session,
            raw=raw,
            message_id=message_id,
            store_id=store_id,
            sender=None,
            error=str(exc),
        )
    row, created = add_message(
        session=session,
        message_id=message_id,
        raw=raw,
        store_id=store_id,
        sender=parsed.sender,
        now=utcnow(),
    )
    if not created:
        logger.info("Inbound message %s is a duplicate of inbox row %s", message_id, row.id)
        return _previous(row)
    logger.info("Inbound message %s stored as inbox row %s for %s", message_id, row.id, store_id)
    return IntakeResult(IntakeStatus.ACCEPTED, message_id, row.id, store_id)


def accept_json(*, session: Session, body: bytes, settings: Settings) -> IntakeResult:
    """Stores the JSON form of a mail (see :class:`bot.mail.parsing.JsonMail`).

    A body that is not JSON, or JSON of another shape, is stored as it came (``failed``).
    """
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise MalformedMailError("The JSON body is not an object.")
        raw, _message_id = message_from_json(data)
    except (ValueError, RecursionError, MalformedMailError) as exc:
        # RecursionError: JSON nested deeper than the parser's stack (a hostile body).
        error = str(exc) if isinstance(exc, MalformedMailError) else f"The body is not JSON: {exc}"
        return _store_malformed(
            session=session,
            raw=body,
            message_id=content_digest_id(body),
            store_id=resolve_store(None, settings.default_store),
            sender=None,
            error=error,
        )
    return accept_raw(session=session, raw=raw, settings=settings)
