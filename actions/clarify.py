"""Low-confidence messages: offer the two most likely topics as buttons.

``nlu_fallback`` (FallbackClassifier) leads here. The buttons are titled with the topic names
of ``utter_topic_<intent>`` in the customer's language (read from the domain rasa-sdk passes
in, so the labels stay in domain.yml) and send ``/<intent>``; a last "something else" button
sends ``/deny``, which a rule answers with ``utter_default`` (rephrase, or the contact route):
typing "no" after the question means the same thing.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import Conversation, ShopAction, response_text
from bot.i18n import Lang

FALLBACK_INTENT = "nlu_fallback"
SOMETHING_ELSE_INTENT = "deny"
TOPICS_OFFERED = 2


def topic_buttons(ranking: list[dict[str, Any]], store_id: str, lang: Lang) -> list[dict[str, str]]:
    """Buttons for the most likely intents of ``ranking`` that have a topic label.

    ``nlu_fallback`` is skipped, and so is ``deny``: its payload is the "something else"
    button's, and "No" is not a topic.

    Args:
        ranking: ``latest_message["intent_ranking"]``, most likely first.
        store_id: the conversation's shop (for the ``utter_topic_<intent>`` labels).
        lang: the customer's language.
    """
    buttons: list[dict[str, str]] = []
    for entry in ranking:
        intent = entry.get("name")
        if not isinstance(intent, str) or intent in (FALLBACK_INTENT, SOMETHING_ELSE_INTENT):
            continue
        payload = f"/{intent}"
        if any(button["payload"] == payload for button in buttons):
            continue
        title = response_text(store_id, f"utter_topic_{intent}", lang)
        if title is None:
            continue
        buttons.append({"title": title, "payload": payload})
        if len(buttons) == TOPICS_OFFERED:
            break
    return buttons


class ActionClarify(ShopAction):
    """Asks which of the two most likely topics the customer meant."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_clarify"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Utters ``utter_clarify_intro`` with the topic buttons and "something else"."""
        lang = conversation.lang
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        store_id = conversation.policy.id
        buttons = topic_buttons(list(ranking), store_id, lang)
        something_else = response_text(store_id, "utter_something_else", lang)
        buttons.append(
            {
                "title": something_else or SOMETHING_ELSE_INTENT,
                "payload": f"/{SOMETHING_ELSE_INTENT}",
            }
        )
        dispatcher.utter_message(response="utter_clarify_intro", buttons=buttons)
        return []
