"""Payment methods, and whether Klarna is offered in a country the customer names.

Replaces the plain ``utter_payment_methods`` rule: the FAQ answer is said as before (the
response picks the store and language variation), followed, when the message names a country
("Klarna in Switzerland?"), by whether Klarna is offered there (om-system: its
``payment.klarna_countries``; btomic: Klarna is not among the means its FAQ lists, which the
answer says without claiming it is impossible).
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import Conversation, ShopAction
from actions.delivery import asked_countries
from bot.delivery import delivery_eligibility
from bot.replies import klarna_answer


class ActionPaymentMethods(ShopAction):
    """The store's payment means, plus Klarna per named country."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_payment_methods"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Utters ``utter_payment_methods`` and one Klarna sentence per named country."""
        dispatcher.utter_message(response="utter_payment_methods")
        countries, postcode = asked_countries(tracker)
        policy, lang = conversation.policy, conversation.lang
        for country in countries:
            eligibility = delivery_eligibility(policy, country, postcode)
            text = klarna_answer(eligibility, policy, lang, asked=country)
            if text:
                dispatcher.utter_message(text=text)
        return []
