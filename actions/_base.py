"""What every action of this package shares: the conversation's context and the failure answer.

No SQL and no settings here (they are behind ``bot.*``); this module only adapts rasa-sdk's
tracker, dispatcher and domain dict to the project's functions.

:class:`ShopAction` is abstract (:func:`inspect.isabstract`), so rasa-sdk, which instantiates
every concrete ``Action`` subclass it finds under ``actions/``, registers its subclasses only.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.answers.library import RenderError, render
from bot.conversation import conversation_channel, conversation_store
from bot.db.mailbox import HandoffChannel
from bot.i18n import Lang, normalise_language
from bot.replies import technical_problem
from bot.stores import StorePolicy

logger = logging.getLogger(__name__)

# Slots of domain.yml the actions read or set.
ORDER_NUMBER = "order_number"
ORDER_PROOF = "order_proof"
LOOKUP_PURPOSE = "lookup_purpose"
LOOKUP_FAILURES = "lookup_failures"
LOOKUP_LOCKED = "lookup_locked"
VERIFIED_ORDER = "verified_order"
VERIFIED_PROOF = "verified_proof"
START_LOOKUP = "start_lookup"
HANDOFF_REQUESTED = "handoff_requested"


@dataclass(frozen=True)
class Conversation:
    """The context of the current turn, read once from the tracker.

    Attributes:
        policy: the conversation's store (``store`` slot, else the configured default).
        lang: the customer's language (``language`` slot; French until it is detected, as
            the responses in domain.yml do).
        channel: where the message came from (web chat, e-mail, ``rasa shell``).
        metadata: the latest user message's channel metadata.
    """

    policy: StorePolicy
    lang: Lang
    channel: HandoffChannel
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sender_email(self) -> str | None:
        """The sender's address on the e-mail channel (the channel vouches for it), else None."""
        if self.channel is not HandoffChannel.EMAIL:
            return None
        address = self.metadata.get("sender_email")
        if not isinstance(address, str) or "@" not in address:
            return None
        return address.strip().lower()

    @property
    def client(self) -> str | None:
        """The web client's address as the gateway saw it (``client`` metadata), else None.

        Only the gateway reaches Rasa (its API needs the token), so the metadata is its own.
        """
        address = self.metadata.get("client")
        return address.strip()[:100] if isinstance(address, str) and address.strip() else None

    @classmethod
    def of(cls, tracker: Tracker) -> Conversation:
        """The context of ``tracker``'s latest turn."""
        metadata = message_metadata(tracker)
        return cls(
            policy=conversation_store(tracker.get_slot("store")),
            lang=language_of(tracker),
            channel=conversation_channel(metadata, tracker.get_latest_input_channel()),
            metadata=metadata,
        )


def language_of(tracker: Tracker) -> Lang:
    """The ``language`` slot as ``fr``/``en``; French while it is not known."""
    return normalise_language(tracker.get_slot("language"))


def message_metadata(tracker: Tracker) -> Mapping[str, Any]:
    """The channel metadata of the latest user message (an empty mapping if none)."""
    metadata = (tracker.latest_message or {}).get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def latest_entity_values(tracker: Tracker, entity: str) -> list[str]:
    """The distinct values of ``entity`` in the latest user message, in order, as text."""
    values: list[str] = []
    for value in tracker.get_latest_entity_values(entity):
        text = str(value).strip()
        if text and text not in values:
            values.append(text)
    return values


def response_text(store_id: str, response: str, lang: Lang) -> str | None:
    """The text of a response for the shop and language, as the answer service renders it.

    For the texts an action puts into buttons (topic labels): the same templates
    (``data/stores/<shop>/texts.yml``, ``data/stores/_common/texts.yml``) as the messages
    Rasa renders through the answer service.

    Args:
        store_id: the conversation's shop.
        response: the response name (``utter_topic_payment_methods``).
        lang: the customer's language.

    Returns:
        The text, or None when there is no such text (or it cannot be rendered: logged).
    """
    try:
        return render(response, store_id, lang)
    except RenderError as exc:
        if "no text for" not in str(exc):
            logger.error("Cannot render %s: %s", response, exc)
        return None


async def run_guarded(
    action_name: str,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    body: Callable[[], Awaitable[list[EventType]]],
    *,
    failure_events: Sequence[EventType] = (),
) -> list[EventType]:
    """Runs an action's body; on any error, apologises with the store's contact route.

    The action server must keep serving whatever one action does (a database down, a query
    timing out, a bug): the error is logged with its traceback, what the action had already
    said is withdrawn so the customer gets one clear message, and ``failure_events`` are
    returned (e.g. to end a form).

    Args:
        action_name: for the log.
        dispatcher: the action's dispatcher.
        tracker: the action's tracker (for the store and language of the apology).
        body: the action's work.
        failure_events: the events to return when ``body`` fails.
    """
    said = len(dispatcher.messages)
    try:
        return await body()
    except Exception:
        # No slot values in the message: they may hold an e-mail address or a postcode.
        logger.exception("Action %s failed; answering with the contact route", action_name)
        del dispatcher.messages[said:]
        lang = language_of(tracker)
        try:
            policy: StorePolicy | None = conversation_store(tracker.get_slot("store"))
        except Exception:
            logger.exception("No store policy for the apology")
            policy = None
        dispatcher.utter_message(text=technical_problem(policy, lang))
        return list(failure_events)


# rasa-sdk ships no type information (no py.typed), so `Action` is `Any` to mypy.
class ShopAction(Action, ABC):  # type: ignore[misc]
    """An action answering in the conversation's store and language, failures included.

    Subclasses implement :meth:`name` and :meth:`act`; :meth:`run` wraps :meth:`act` with
    :func:`run_guarded`.
    """

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Builds the context and runs :meth:`act`, answering any failure with an apology."""

        async def body() -> list[EventType]:
            return await self.act(dispatcher, tracker, domain, Conversation.of(tracker))

        return await run_guarded(self.name(), dispatcher, tracker, body)

    @abstractmethod
    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """The action's work.

        Args:
            dispatcher: to send messages.
            tracker: the conversation.
            domain: the domain dict.
            conversation: the turn's context.

        Returns:
            The events to apply.
        """
