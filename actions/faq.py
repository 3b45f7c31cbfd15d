"""The generic answer to any FAQ intent: the shop's text of that intent, else the fallback.

Rasa's ``RulePolicy`` runs this action (``core_fallback_action_name`` in config.yml) whenever no
rule applies to a message, and data/rules.yml has no rule per FAQ intent (only
``payment_methods`` has its own action): every FAQ intent, and a new one with no rule and no
``domain.yml`` entry, is answered here. A new FAQ intent is its NLU examples (``data/nlu/``;
the training's importer, ``bot/rasa_ext/faq_importer.py``, adds it to the domain) and one text
per shop (``utter_<intent>`` in ``data/stores/<shop>/texts.yml``, or one in
``_common/texts.yml``).
The text is asked for by name, so the answer service renders it like any response (shop,
language, channel, facts). With no text for the intent, the action does what Rasa's
``action_default_fallback`` does: ``utter_default`` and the message is reverted.

During the order lookup the form resumes afterwards (a rule of ``data/rules.yml``).
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import Conversation, ShopAction
from bot.answers.library import RenderError, find_template

FALLBACK_RESPONSE = "utter_default"


def faq_response(store_id: str, intent: object) -> str | None:
    """The response answering ``intent`` for the shop (``utter_<intent>``), if it has a text."""
    if not isinstance(intent, str) or not intent.strip():
        return None
    response = f"utter_{intent.strip()}"
    try:
        find_template(store_id, response)
    except RenderError:
        return None
    return response


class ActionAnswerFaq(ShopAction):
    """Answers the latest intent with its text, or falls back like Rasa's default."""

    def name(self) -> str:
        """The action name of config.yml's ``core_fallback_action_name`` and data/rules.yml."""
        return "action_answer_faq"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Utters ``utter_<intent>`` when the shop has that text, else ``utter_default``."""
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        response = faq_response(conversation.policy.id, intent)
        if response is None:
            dispatcher.utter_message(response=FALLBACK_RESPONSE)
            return [UserUtteranceReverted()]
        dispatcher.utter_message(response=response)
        return []
