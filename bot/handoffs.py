"""The human handoff queue: conversations a support agent must take over.

Every channel records a handoff the same way, with :func:`record_handoff`: the e-mail channel
(a complaint, a question the bot is not sure about, an explicit request) and the chat actions
(``human_handoff`` in the widget or in ``rasa shell``). The chat knows no address to answer
at, so the bot asks for one and :func:`attach_customer_address` stores it with the handoff
(validated by :func:`contact_email`). The caller owns the session and commits.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.mailbox import ADDRESS_LENGTH, AddressSource, Handoff, HandoffChannel

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


# A deliverable-looking address: a local part, "@", a domain of dot-separated labels ending
# in a 2+ letter top-level domain. Deliberately strict: a typo should be caught and asked
# again rather than stored where no agent's answer will ever arrive.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
# A match starts only where a run of local-part characters starts: with a start allowed in the
# middle of a run ("?" is a local-part character), a long run without "@" took quadratic time.
_LOCAL_CHAR = r"[\w.@!#$%&'*+/=?^`{|}~-]"
_EMAIL_IN_TEXT = re.compile(
    rf"(?<!{_LOCAL_CHAR}){_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}(?![\w@-])"
)


def contact_email(text: str) -> str | None:
    """The e-mail address a customer typed, lower-cased, or None when it is not a valid one.

    Accepts the address alone or inside a sentence ("c'est marie@example.fr merci"), with or
    without angle brackets; refuses anything that is not exactly one well-formed address
    (``marie@example``, ``marie@@example.fr``, two different addresses).

    Args:
        text: the customer's message, or an extracted ``email`` entity.
    """
    found = {
        match.lower() for match in _EMAIL_IN_TEXT.findall(text.replace("<", " ").replace(">", " "))
    }
    if len(found) != 1:
        return None
    address = found.pop()
    if len(address) > ADDRESS_LENGTH or len(address.split("@")[0]) > 64:
        return None
    return address if _EMAIL.fullmatch(address) else None


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
    language: str | None = None,
) -> Handoff:
    """Adds a handoff to the queue (flushed, not committed).

    Args:
        session: the caller's session; the caller commits.
        channel: ``email``, ``web`` or ``shell``.
        conversation_id: the Rasa sender id (chat) or the e-mail conversation id.
        store_id: the store the customer contacted.
        reason: a short machine-readable cause (``human_handoff``, ``complaint``,
            ``low_confidence``...), cut to 64 characters.
        customer_address: where a human can answer, when known (an e-mail address); on the
            e-mail channel it is the sender, recorded as ``email_sender``.
        excerpt: what the customer wrote; only its start is kept.
        forwarded: whether the original was already forwarded to the support mailbox.
        inbox_message_id: the inbound mail behind an e-mail handoff.
        language: the customer's language (``fr``/``en``), when known.

    Returns:
        The new row, with its id.

    Raises:
        ValueError: ``channel`` is not one of the known channels.
    """
    channel = HandoffChannel(channel)
    source = (
        AddressSource.EMAIL_SENDER if customer_address and channel is HandoffChannel.EMAIL else None
    )
    if customer_address and source is None:
        source = AddressSource.CUSTOMER
    handoff = Handoff(
        channel=channel,
        conversation_id=conversation_id[:CONVERSATION_ID_LENGTH],
        store_id=store_id,
        customer_address=customer_address[:ADDRESS_LENGTH] if customer_address else None,
        address_source=source,
        language=language if language in ("fr", "en") else None,
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


def attach_customer_address(
    *, session: Session, conversation_id: str, address: str
) -> Handoff | None:
    """Stores the address a chat customer gave with their latest handoff (flushed).

    Args:
        session: the caller's session; the caller commits.
        conversation_id: the Rasa sender id of the conversation.
        address: a valid address (see :func:`contact_email`).

    Returns:
        The updated handoff, or None when the conversation has none.
    """
    handoff = session.scalars(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id[:CONVERSATION_ID_LENGTH])
        .order_by(Handoff.created_at.desc(), Handoff.id.desc())
        .limit(1)
    ).first()
    if handoff is None:
        return None
    handoff.customer_address = address[:ADDRESS_LENGTH]
    handoff.address_source = AddressSource.CUSTOMER
    session.flush()
    # No address in the log line: it is personal data, and it is in the database.
    logger.info("Handoff %s: the customer gave an address to answer at", handoff.id)
    return handoff
