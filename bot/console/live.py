"""The widget's side of a handoff: waiting for a person, talking to one live, back to the bot.

While a web conversation has a handoff that is not resolved, the gateway keeps what the
customer writes with the handoff (the agent's page shows it at once) and the widget polls
``GET /api/chat/live`` for the agent's messages. The bot itself is paused by the agent's
"take over" (Rasa's ``pause`` event) and resumed by "hand back" (``resume``): see
:mod:`bot.console.inbox`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.console import ConsoleUser, HandoffMessage, HandoffStatus, MessageAuthor
from bot.db.mailbox import Handoff, HandoffChannel, utcnow

Mode = Literal["bot", "waiting", "live"]
# Messages the widget shows: the agent's and the console's notices, never the customer's own.
_SHOWN = (MessageAuthor.AGENT, MessageAuthor.SYSTEM)


def latest_web_handoff(session: Session, sender: str) -> Handoff | None:
    """The newest web handoff of this Rasa conversation, whatever its status."""
    return session.scalar(
        select(Handoff)
        .where(Handoff.conversation_id == sender, Handoff.channel == HandoffChannel.WEB)
        .order_by(Handoff.id.desc())
        .limit(1)
    )


def mode_of(handoff: Handoff | None) -> Mode:
    """What the widget is in: the bot answers, a person is expected, or a person answers."""
    if handoff is None or handoff.status == HandoffStatus.RESOLVED.value:
        return "bot"
    return "live" if handoff.live_since is not None else "waiting"


@dataclass(frozen=True)
class LiveMessage:
    """A message for the widget."""

    id: int
    author: str
    text: str
    name: str | None


def customer_wrote(session: Session, sender: str, text: str, *, sent_at: dt.datetime) -> Mode:
    """Keeps a customer message with the conversation's open handoff; returns the mode.

    Called by the chat route after Rasa answered (or, while paused, only logged) the message
    sent at ``sent_at``; the message that asked for the person (the handoff is newer than it)
    is already in the bot's transcript. The caller commits.
    """
    handoff = latest_web_handoff(session, sender)
    mode = mode_of(handoff)
    created = handoff.created_at if handoff is not None else None
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    if handoff is not None and mode != "bot" and created is not None and created < sent_at:
        session.add(
            HandoffMessage(
                handoff_id=handoff.id, author=MessageAuthor.CUSTOMER, text=text, via="web"
            )
        )
        handoff.customer_seen_at = utcnow()
    return mode


def poll(session: Session, sender: str, after: int) -> tuple[Mode, list[LiveMessage]]:
    """The mode and the agent's / console's messages after id ``after`` (the caller commits).

    Each poll also tells the console the customer is still on the page.
    """
    handoff = latest_web_handoff(session, sender)
    if handoff is None:
        return "bot", []
    if handoff.status != HandoffStatus.RESOLVED.value:
        handoff.customer_seen_at = utcnow()
    rows = session.execute(
        select(HandoffMessage, ConsoleUser.name)
        .outerjoin(ConsoleUser, ConsoleUser.id == HandoffMessage.user_id)
        .where(
            HandoffMessage.handoff_id == handoff.id,
            HandoffMessage.id > after,
            HandoffMessage.author.in_(_SHOWN),
            HandoffMessage.via == "web",
        )
        .order_by(HandoffMessage.id)
    ).all()
    messages = [
        LiveMessage(
            id=m.id, author=m.author.value, text=m.text, name=(name or "").split(" ")[0] or None
        )
        for m, name in rows
    ]
    return mode_of(handoff), messages


def customer_present(
    handoff: Handoff, *, gone_after_s: float, now: dt.datetime | None = None
) -> bool:
    """Whether the customer's widget polled recently (they are still on the page)."""
    seen = handoff.customer_seen_at
    if seen is None:
        return False
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=dt.UTC)
    return ((now or utcnow()) - seen).total_seconds() <= gone_after_s
