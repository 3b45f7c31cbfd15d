"""Human handoff: the conversation goes into the support team's queue, with an address.

The handoff is recorded with :func:`bot.handoffs.record_handoff` (the same queue the e-mail
channel uses), with the channel from the message metadata, the Rasa sender id, the store, the
language and a reason; then ``handoff_requested`` is set. On the e-mail channel the sender's
address is where the team answers: ``utter_human_handoff`` says so. The chat (web widget,
``rasa shell``) knows no address, and promising that someone will get back to the customer
would be false: ``utter_human_handoff_ask_email`` asks for an e-mail address (or gives the
route to write in), and ``handoff_email_requested`` lets the rules send the answer to
:class:`ActionSaveHandoffEmail`, which validates the address and stores it with the handoff
(:func:`bot.handoffs.attach_customer_address`), or gives the route when the customer declines.
If the queue cannot be written, the customer is told so through the failure apology instead:
saying "passed on" would be false.
"""

from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions._base import (
    HANDOFF_REQUESTED,
    LOOKUP_LOCKED,
    Conversation,
    ShopAction,
    latest_entity_values,
    run_guarded,
)
from actions.once import run_once
from bot.db.action_memory import deferred_write
from bot.db.mailbox import HandoffChannel
from bot.handoffs import attach_customer_address, contact_email, record_handoff

#: Featurized slot: the bot has just asked for an address to answer a handoff at.
HANDOFF_EMAIL_REQUESTED = "handoff_email_requested"

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
    language: str,
) -> None:
    # Within run_once: written in the call's writing step, with the remembered response
    # (actions/once.py); otherwise at once, in a transaction of its own.
    def step(session: Session) -> None:
        record_handoff(
            session=session,
            channel=channel,
            conversation_id=conversation_id,
            store_id=store_id,
            reason=reason,
            customer_address=customer_address,
            excerpt=excerpt,
            language=language,
        )

    deferred_write(step)


def _attach(*, conversation: Conversation, conversation_id: str, address: str) -> None:
    def step(session: Session) -> None:
        handoff = attach_customer_address(
            session=session, conversation_id=conversation_id, address=address
        )
        if handoff is None:
            # No earlier handoff in this conversation (a tracker from before the queue): the
            # address still reaches the team.
            record_handoff(
                session=session,
                channel=conversation.channel,
                conversation_id=conversation_id,
                store_id=conversation.policy.id,
                reason=REASON_REQUESTED,
                customer_address=address,
                language=conversation.lang,
            )

    deferred_write(step)


def _customer_words(tracker: Tracker) -> str | None:
    """The latest message the customer typed (not a button payload such as /human_handoff)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = event.get("text")
        if isinstance(text, str) and text.strip() and not text.startswith("/"):
            return text
    return None


class _OnceAction(ShopAction):
    """A shop action with effects: its body runs once per customer message (actions/once.py)."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """:meth:`ShopAction.run`, the body once per message (a resend answered again)."""

        async def body() -> list[EventType]:
            async def act() -> list[EventType]:
                return await self.act(dispatcher, tracker, domain, Conversation.of(tracker))

            return await run_once(self.name(), dispatcher, tracker, act)

        return await run_guarded(self.name(), dispatcher, tracker, body)


class ActionHumanHandoff(_OnceAction):
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
        """Records the handoff, then says so, asking for an address when none is known."""
        reason = REASON_LOOKUP_LOCKED if tracker.get_slot(LOOKUP_LOCKED) else REASON_REQUESTED
        address = conversation.sender_email
        await asyncio.to_thread(
            _record,
            channel=conversation.channel,
            conversation_id=tracker.sender_id,
            store_id=conversation.policy.id,
            reason=reason,
            customer_address=address,
            excerpt=_customer_words(tracker),
            language=conversation.lang,
        )
        if address is not None:
            dispatcher.utter_message(response="utter_human_handoff")
            return [SlotSet(HANDOFF_REQUESTED, True), SlotSet(HANDOFF_EMAIL_REQUESTED, False)]
        dispatcher.utter_message(response="utter_human_handoff_ask_email")
        return [SlotSet(HANDOFF_REQUESTED, True), SlotSet(HANDOFF_EMAIL_REQUESTED, True)]


class ActionSaveHandoffEmail(_OnceAction):
    """The customer's answer to the request for an address: stored, asked again, or declined."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_save_handoff_email"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Validates and stores the address with the handoff, or says what to do instead."""
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        text = str((tracker.latest_message or {}).get("text") or "")
        if intent == "deny":
            dispatcher.utter_message(response="utter_handoff_no_email")
            return [SlotSet(HANDOFF_EMAIL_REQUESTED, False)]
        candidates = [*latest_entity_values(tracker, "email"), text]
        address = next((a for a in map(contact_email, candidates) if a is not None), None)
        if address is not None:
            await asyncio.to_thread(
                _attach,
                conversation=conversation,
                conversation_id=tracker.sender_id,
                address=address,
            )
            dispatcher.utter_message(response="utter_handoff_email_saved", handoff_email=address)
            return [SlotSet(HANDOFF_EMAIL_REQUESTED, False)]
        # Something like an address, but not a valid one: say so. Anything else ("yes"): ask.
        response = "utter_handoff_email_invalid" if "@" in text else "utter_ask_handoff_email"
        dispatcher.utter_message(response=response)
        return [SlotSet(HANDOFF_EMAIL_REQUESTED, True)]
