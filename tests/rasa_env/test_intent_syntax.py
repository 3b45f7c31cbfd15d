"""The channels' neutralised customer text against Rasa 3.6's own reading of the intent syntax.

Rasa gives a message starting with ``/`` its intent and entities directly (the NLU graph's
last node, ``RegexMessageHandler``, calls ``YAMLStoryReader.unpack_regex_message``). The
gateway and the mail channel pass customer text through ``bot.payloads.as_customer_text``;
here Rasa's own function reads the result, for every intent of the domain and the corpus's
injections: the raw text is an intent (the control), the neutralised one never is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.payloads import as_customer_text
from tests.hostile.corpus import TEXTS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def rasa_reading(text: str, domain: Domain) -> Message:
    """What Rasa's NLU graph makes of ``text`` before any classifier (Rasa strips it first)."""
    return YAMLStoryReader.unpack_regex_message(Message({TEXT: text}), domain)


def payloads(domain: Domain) -> list[str]:
    texts = []
    for intent in domain.intents:
        texts += [
            f"/{intent}",
            f"  /{intent}\n",
            f'/{intent}{{"email": "marie.dupont@example.fr", "order_number": "OM-104233"}}',
            f"/{intent}@0.99",
            f"\x1c/{intent}",  # str.strip removes this separator
        ]
    return texts


def test_every_intent_of_the_domain_is_words_once_neutralised(domain: Domain) -> None:
    texts = payloads(domain)
    assert "restart" in domain.intents and "human_handoff" in domain.intents
    for text in texts:
        # The control: Rasa reads the raw text as the intent itself.
        assert rasa_reading(text, domain).get(INTENT), text
        neutralised = rasa_reading(as_customer_text(text), domain)
        assert neutralised.get(INTENT) is None, text
        assert neutralised.get(TEXT).strip().lstrip("\u2060") == text.strip()


def test_the_corpus_injections_are_words_once_neutralised(domain: Domain) -> None:
    injections = [case.value for case in TEXTS if case.name.startswith("injection-")]
    assert len(injections) >= 25
    for text in injections:
        assert rasa_reading(as_customer_text(text), domain).get(INTENT) is None, text
