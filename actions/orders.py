"""The order lookup: one form for "where is my order?" and "where is my refund?".

``order_lookup_form`` (domain.yml) collects ``order_number`` and ``order_proof`` (the e-mail
address or postcode on the order); ``lookup_purpose`` (``status``/``refund``) is filled from the
intent. :class:`ValidateOrderLookupForm` normalises both values and, as soon as both are known,
verifies them against the orders database in one place; :class:`ActionAnswerOrderLookup` (the
form's submit action) answers for the verified order.

Security (docs/intents.md): a wrong number and a wrong proof get the same neutral
answer (``utter_order_not_found``); after ``MAX_LOOKUP_FAILURES`` failed identifications in a
conversation the form stops asking (``lookup_locked``) and the answer offers a person.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions._base import (
    LOOKUP_FAILURES,
    LOOKUP_LOCKED,
    LOOKUP_PURPOSE,
    ORDER_NUMBER,
    ORDER_PROOF,
    VERIFIED_ORDER,
    VERIFIED_PROOF,
    Conversation,
    ShopAction,
    latest_entity_values,
    response_text,
    run_guarded,
)
from actions.once import run_once
from bot.config import get_settings
from bot.db.action_memory import rehearsed_write
from bot.db.session import get_reading_sessionmaker
from bot.order_lookup import MAX_LOOKUP_FAILURES, find_verified_order, split_proof
from bot.orders import (
    OrderFacts,
    candidate_numbers,
    normalise_order_number,
    order_facts,
    order_status_report,
)
from bot.refunds import refund_timeline
from bot.replies import lookup_locked_answer, order_status_answer, refund_answer
from bot.stores import load_store
from bot.verification import Check, CheckResult, check_proof, client_key

logger = logging.getLogger(__name__)

FORM_NAME = "order_lookup_form"
HANDOFF_PAYLOAD = "/human_handoff"


def _checked(number: str, proof: str, conversation: Conversation, tracker: Tracker) -> Check:
    # Runs in a worker thread: SQLAlchemy is synchronous and a slow or dead database must not
    # block the action server's event loop (other conversations, /health).
    email, postcode = split_proof(proof)
    client = client_key(
        channel=conversation.channel.value,
        client=conversation.client,
        sender_email=conversation.sender_email,
        conversation=tracker.sender_id,
    )
    settings = get_settings()
    # The order is read once (the rehearsal, outside the write lock); the writing step
    # (actions/once.py) reads the limits again and adds the attempt under the lock.
    memo: dict[str, str | None] = {}

    def step(session: Session) -> Check:
        return check_proof(
            session,
            settings,
            number=number,
            email=email,
            postcode=postcode,
            prefer_store=conversation.policy.id,
            client=client,
            channel=conversation.channel.value,
            conversation=tracker.sender_id,
            commit=False,
            memo=memo,
        )

    # Within run_once: rehearsed now, written with the remembered response; otherwise (no
    # message id) committed at once in a transaction of its own.
    return rehearsed_write(step)


def _load_facts(number: str, proof: str) -> OrderFacts | None:
    """The facts of the order, if the proof still matches it now (else None).

    The answer never trusts the ``verified_order`` slot alone: the stored proof is checked
    against the database again at answer time.
    """
    email, postcode = split_proof(proof)
    # Reads only: a reading session never waits for (nor takes) SQLite's write lock.
    with get_reading_sessionmaker()() as session:
        order = find_verified_order(session=session, number=number, email=email, postcode=postcode)
        if order is None or order.number != number:
            return None
        # order_facts() reads the relationships: while the session is open.
        return order_facts(order)


def _remembered_proof(tracker: Tracker, number: object) -> str | None:
    """The proof of the order verified earlier in the conversation, if ``number`` is that order.

    Lets "and my refund?" after a status answer go through without asking for the e-mail
    address again, while any other number still needs its own proof.
    """
    verified, proof = tracker.get_slot(VERIFIED_ORDER), tracker.get_slot(VERIFIED_PROOF)
    if not verified or not proof or not isinstance(number, str):
        return None
    return proof if verified in candidate_numbers(number) else None


# rasa-sdk ships no type information (no py.typed), so its base classes are `Any` to mypy.
class ValidateOrderLookupForm(FormValidationAction):  # type: ignore[misc]
    """Extracts and checks the order number and the proof of ownership."""

    def name(self) -> str:
        """The action name Rasa calls for the form (``validate_<form>``)."""
        return f"validate_{FORM_NAME}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Runs the validation; on any failure apologises and ends the form.

        The failure events clear both values (so nothing half-checked survives) and set
        ``requested_slot`` to None, which ends the form; the submit action then finds no
        verified order and says nothing more than the apology already did.
        """
        parent_run = super().run

        async def validate() -> list[EventType]:
            events: list[EventType] = await parent_run(dispatcher, tracker, domain)
            return events

        async def body() -> list[EventType]:
            # Counts a failed proof: once per customer message, a resend included.
            return await run_once(self.name(), dispatcher, tracker, validate)

        return await run_guarded(
            self.name(),
            dispatcher,
            tracker,
            body,
            failure_events=[
                SlotSet(ORDER_NUMBER, None),
                SlotSet(ORDER_PROOF, None),
                SlotSet(REQUESTED_SLOT, None),
            ],
        )

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """No slot once the lookups are locked: the form ends and the submit offers a person."""
        if tracker.slots.get(LOOKUP_LOCKED):
            return []
        return domain_slots

    async def extract_order_proof(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The proof: an e-mail address or postcode of the latest message, else a known one.

        In this order: an ``email`` entity, a ``postcode`` entity of the latest message; then,
        only while no proof is held and an order number is known (so that an unrelated
        message in the middle of the form still lets the form step aside): the e-mail
        channel's sender address, or the proof of the same order verified earlier.
        """
        for entity in ("email", "postcode"):
            values = latest_entity_values(tracker, entity)
            if values:
                return {ORDER_PROOF: values[0]}
        number = tracker.slots.get(ORDER_NUMBER)
        if tracker.slots.get(ORDER_PROOF) is not None or not number:
            return {}
        sender = Conversation.of(tracker).sender_email
        if sender is not None:
            return {ORDER_PROOF: sender}
        remembered = _remembered_proof(tracker, number)
        return {ORDER_PROOF: remembered} if remembered else {}

    def validate_order_number(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The normalised number ("OM-104233", or "104233" for digits alone), or a new ask."""
        values = slot_value if isinstance(slot_value, list) else [slot_value]
        text = " ".join(str(value) for value in values if value is not None)
        number = normalise_order_number(text) if text.strip() else None
        if number is None:
            # Not a number, or several different ones: say what a number looks like; the form
            # then asks for it again.
            if text.strip():
                dispatcher.utter_message(response="utter_invalid_order_number")
            return {ORDER_NUMBER: None}
        return {ORDER_NUMBER: number}

    def validate_order_proof(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """An e-mail address in lower case or a postcode in upper case with single spaces."""
        text = str(slot_value).strip() if slot_value is not None else ""
        if not text:
            return {ORDER_PROOF: None}
        if "@" in text:
            return {ORDER_PROOF: text.strip("<>").lower()}
        return {ORDER_PROOF: " ".join(text.upper().split())}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Validates each new value, then checks number and proof together when both are known.

        The check runs only when one of the two values is new in this turn, so coming back to
        the form after an interruption does not count a failure twice.
        """
        events: list[EventType] = await super().get_validation_events(dispatcher, tracker, domain)
        if tracker.slots.get(LOOKUP_LOCKED):
            return events
        changed = {event["name"] for event in events if event.get("event") == "slot"}
        number, proof = tracker.slots.get(ORDER_NUMBER), tracker.slots.get(ORDER_PROOF)
        if not changed & {ORDER_NUMBER, ORDER_PROOF} or not number or not proof:
            return events
        return events + await self._verify(dispatcher, tracker, str(number), str(proof))

    async def _verify(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, number: str, proof: str
    ) -> list[EventType]:
        conversation = Conversation.of(tracker)
        check = await asyncio.to_thread(_checked, number, proof, conversation, tracker)
        if check.result is CheckResult.REFUSED:
            # Too many failures on this order or from this client, wherever they came from:
            # nothing is checked; the submit action stops and offers a person.
            return [
                SlotSet(ORDER_NUMBER, None),
                SlotSet(ORDER_PROOF, None),
                SlotSet(LOOKUP_LOCKED, True),
            ]
        verified = check.number
        if verified is not None:
            return [
                SlotSet(ORDER_NUMBER, verified),
                SlotSet(VERIFIED_ORDER, verified),
                SlotSet(VERIFIED_PROOF, proof),
            ]
        failures = float(tracker.slots.get(LOOKUP_FAILURES) or 0) + 1
        dispatcher.utter_message(response="utter_order_not_found")
        events = [
            SlotSet(LOOKUP_FAILURES, failures),
            # Ask for both again: which one was wrong must not show.
            SlotSet(ORDER_NUMBER, None),
            SlotSet(ORDER_PROOF, None),
        ]
        if failures >= MAX_LOOKUP_FAILURES:
            logger.info("Order lookups locked for this conversation after %d failures", failures)
            events.append(SlotSet(LOOKUP_LOCKED, True))
        return events


class ActionAnswerOrderLookup(ShopAction):
    """The order lookup form's submit action: the status or refund of the verified order."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_answer_order_lookup"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Answers for the verified order, or offers a person once the lookups are locked.

        The number and proof are cleared afterwards so the next lookup starts afresh; the
        verified order and its proof stay (``verified_order``, ``verified_proof``).
        """
        reset = [SlotSet(ORDER_NUMBER, None), SlotSet(ORDER_PROOF, None)]
        lang = conversation.lang
        if tracker.get_slot(LOOKUP_LOCKED):
            title = response_text(conversation.policy.id, "utter_topic_human_handoff", lang)
            dispatcher.utter_message(
                text=lookup_locked_answer(conversation.policy, lang),
                buttons=[{"title": title or HANDOFF_PAYLOAD, "payload": HANDOFF_PAYLOAD}],
            )
            return reset
        number, verified = tracker.get_slot(ORDER_NUMBER), tracker.get_slot(VERIFIED_ORDER)
        proof = tracker.get_slot(VERIFIED_PROOF)
        if not number or number != verified or not proof:
            # The form ended without a verified order (stopped, or a failure already answered).
            return reset
        facts = await asyncio.to_thread(_load_facts, str(verified), str(proof))
        if facts is None:
            # The proof does not match the order now (gone, changed, or slots the customer's
            # own check never set): the same neutral answer.
            dispatcher.utter_message(response="utter_order_not_found")
            return reset
        order_policy = load_store(facts.store_id)
        today = dt.date.today()
        if tracker.get_slot(LOOKUP_PURPOSE) == "refund":
            text = refund_answer(
                refund_timeline(facts, order_policy, today),
                facts,
                order_policy,
                lang,
                conversation_store=conversation.policy.id,
            )
        else:
            text = order_status_answer(
                order_status_report(facts, order_policy, today),
                order_policy,
                lang,
                conversation_store=conversation.policy.id,
            )
        logger.info("Answered the %s of order %s", tracker.get_slot(LOOKUP_PURPOSE), facts.number)
        dispatcher.utter_message(text=text)
        return reset
