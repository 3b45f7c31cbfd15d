"""Delivery countries: whether the store delivers to a country (or a UK area), or where it does.

The country comes from the ``country`` entity of the latest message (ISO codes, including
GB-SCT, GB-NIR, GB-IOW, JE, GG, IM), refined by a UK ``postcode``; the facts are the store's
(``bot.delivery.delivery_eligibility``), the wording is ``bot.replies.delivery_answer``.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import Conversation, ShopAction, latest_entity_values
from bot.delivery import delivery_eligibility, uk_postcode_area
from bot.replies import delivery_answer

# Answers per message at most: a longer list of countries is most likely not a question.
MAX_COUNTRIES = 3


def asked_countries(tracker: Tracker) -> tuple[list[str], str | None]:
    """The countries and the postcode named in the latest message.

    A UK-format postcode without a country counts as the United Kingdom, so "do you deliver
    to EH1 1YZ?" is checked against the UK exclusions.

    Returns:
        ``(countries, postcode)``; ``countries`` is empty when none was named.
    """
    countries = latest_entity_values(tracker, "country")[:MAX_COUNTRIES]
    postcodes = latest_entity_values(tracker, "postcode")
    postcode = postcodes[0] if postcodes else None
    has_letters = postcode is not None and any(ch.isalpha() for ch in postcode)
    if not countries and postcode and has_letters and uk_postcode_area(postcode) is not None:
        countries = ["GB"]
    return countries, postcode


def delivery_replies(tracker: Tracker, conversation: Conversation) -> list[str]:
    """One answer per country named in the latest message, or the store's delivery area."""
    countries, postcode = asked_countries(tracker)
    policy, lang = conversation.policy, conversation.lang
    if not countries:
        return [delivery_answer(delivery_eligibility(policy, None), policy, lang)]
    return [
        delivery_answer(
            delivery_eligibility(policy, country, postcode), policy, lang, asked=country
        )
        for country in countries
    ]


class ActionDeliveryCountries(ShopAction):
    """Answers "do you deliver to ...?" and "which countries do you deliver to?"."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_delivery_countries"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Utters one answer per named country (or the store's list, or that its FAQ gives none)."""
        for text in delivery_replies(tracker, conversation):
            dispatcher.utter_message(text=text)
        return []
