"""Human handoff: the conversation goes into the support team's queue.

The handoff is recorded with :func:`bot.handoffs.record_handoff` (the same queue the e-mail
channel uses), with the channel from the message metadata, the Rasa sender id, the store and
a reason; then ``handoff_requested`` is set and ``utter_human_handoff`` (which says the
conversation has been flagged, and gives the contact route) is said. If the queue cannot be
written, the customer is told so through the failure apology instead: saying "flagged" would
be false.
"""

from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import HANDOFF_REQUESTED, LOOKUP_LOCKED, Conversation, ShopAction
from bot.db.mailbox import HandoffChannel
from bot.db.session import get_sessionmaker
from bot.handoffs import record_handoff

#: Reasons recorded in the queue (``handoffs.reason``).
REASON_REQUESTED = "human_handoff"
REASON_LOOKUP_LOCKED = "lookup_failed"


def _record(
    *,
    channel: HandoffChannel,
    conversation_id: str,
    store_id: str,
    reason: str,
    customer_address: str | None,
    excerpt: str | None,
) -> None:
    # In a worker thread (synchronous SQLAlchemy); one session, committed, closed on exit.
    with get_sessionmaker()() as session:
        record_handoff(
            session=session,
            channel=channel,
            conversation_id=conversation_id,
            store_id=store_id,
            reason=reason,
            customer_address=customer_address,
            excerpt=excerpt,
        )
        session.commit()


def _customer_words(tracker: Tracker) -> str | None:
    """The latest message the customer typed (not a button payload such as /human_handoff)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = event.get("text")
        if isinstance(text, str) and text.strip() and not text.startswith("/"):
            return text
    return None


class ActionHumanHandoff(ShopAction):
    """Puts the conversation in the human handoff queue and says so."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_human_handoff"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Records the handoff, sets ``handoff_requested`` and utters ``utter_human_handoff``."""
        reason = REASON_LOOKUP_LOCKED if tracker.get_slot(LOOKUP_LOCKED) else REASON_REQUESTED
        await asyncio.to_thread(
            _record,
            channel=conversation.channel,
            conversation_id=tracker.sender_id,
            store_id=conversation.policy.id,
            reason=reason,
            customer_address=conversation.sender_email,
            excerpt=_customer_words(tracker),
        )
        dispatcher.utter_message(response="utter_human_handoff")
        return [SlotSet(HANDOFF_REQUESTED, True)]
