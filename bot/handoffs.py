"""The human handoff queue: conversations a support agent must take over.

Every channel records a handoff the same way, with :func:`record_handoff`: the e-mail channel
(a complaint, a question the bot is not sure about, an explicit request) and the chat actions
(``human_handoff`` in the widget or in ``rasa shell``). The caller owns the session and commits.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.db.mailbox import ADDRESS_LENGTH, Handoff, HandoffChannel

logger = logging.getLogger(__name__)

# Enough of the customer's words for the queue; the full text stays in the inbox or tracker.
EXCERPT_LENGTH = 500
REASON_LENGTH = 64
CONVERSATION_ID_LENGTH = 128


def excerpt_of(text: str | None, *, limit: int = EXCERPT_LENGTH) -> str | None:
    """The first ``limit`` characters of ``text`` on one line, with an ellipsis when cut."""
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def record_handoff(
    *,
    session: Session,
    channel: HandoffChannel | str,
    conversation_id: str,
    store_id: str,
    reason: str,
    customer_address: str | None = None,
    excerpt: str | None = None,
    forwarded: bool = False,
    inbox_message_id: int | None = None,
) -> Handoff:
    """Adds a handoff to the queue (flushed, not committed).

    Args:
        session: the caller's session; the caller commits.
        channel: ``email``, ``web`` or ``shell``.
        conversation_id: the Rasa sender id (chat) or the e-mail conversation id.
        store_id: the store the customer contacted.
        reason: a short machine-readable cause (``human_handoff``, ``complaint``,
            ``low_confidence``...), cut to 64 characters.
        customer_address: where a human can answer, when known (an e-mail address).
        excerpt: what the customer wrote; only its start is kept.
        forwarded: whether the original was already forwarded to the support mailbox.
        inbox_message_id: the inbound mail behind an e-mail handoff.

    Returns:
        The new row, with its id.

    Raises:
        ValueError: ``channel`` is not one of the known channels.
    """
    handoff = Handoff(
        channel=HandoffChannel(channel),
        conversation_id=conversation_id[:CONVERSATION_ID_LENGTH],
        store_id=store_id,
        customer_address=customer_address[:ADDRESS_LENGTH] if customer_address else None,
        reason=reason[:REASON_LENGTH],
        excerpt=excerpt_of(excerpt),
        forwarded=forwarded,
        inbox_message_id=inbox_message_id,
    )
    session.add(handoff)
    session.flush()
    # No customer text in the log line: the excerpt is in the database, not in the logs.
    logger.info(
        "Handoff %s recorded: channel=%s store=%s reason=%s",
        handoff.id,
        handoff.channel.value,
        store_id,
        handoff.reason,
    )
    return handoff
