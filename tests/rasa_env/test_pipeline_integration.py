"""Trains a tiny NLU model with the custom components and parses messages through Rasa.

One model is trained per module (about 15 s, mostly imports and spaCy tables) into a
temporary folder, with its own Rasa training cache, then loaded with `Agent.load`.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.integration,
    # Expected with this tiny config: no statistical entity extractor, and the typed
    # synonym mapper is a subclass that Rasa's validator does not recognise.
    pytest.mark.filterwarnings("ignore:You have defined training data consisting of entity"),
    pytest.mark.filterwarnings("ignore:You have defined synonyms in your training data"),
]

CONFIG = """
recipe: default.v1
language: fr
assistant_id: nlu-components-test
pipeline:
  - name: bot.nlu.language.LanguageDetector
  - name: bot.nlu.tokenizer.SpacyLookupTokenizer
  - name: bot.nlu.intent_classifier.TfidfIntentClassifier
  - name: bot.nlu.entities.ShopEntityExtractor
  - name: bot.nlu.entities.TypedEntitySynonymMapper
"""

NLU = """
version: "3.1"
nlu:
- intent: order_status
  examples: |
    - où en est ma commande [OM-104233](order_number) ?
    - where is my order [#104233](order_number)
    - je n'ai pas reçu mon colis
    - my parcel has not arrived
    - quand vais-je recevoir ma commande ?
    - when will my package arrive
- intent: delivery_countries
  examples: |
    - livrez-vous en [Écosse]{"entity": "country", "value": "GB-SCT"} ?
    - do you ship to [Germany]{"entity": "country", "value": "DE"}?
    - vous livrez en [France]{"entity": "country", "value": "FR"} ?
    - which countries do you deliver to
    - dans quels pays livrez-vous
- intent: greet
  examples: |
    - bonjour
    - hello
    - salut
    - hi there
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    workdir = tmp_path_factory.mktemp("nlu_model")
    (workdir / "config.yml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    (workdir / "nlu.yml").write_text(textwrap.dedent(NLU), encoding="utf-8")
    saved_cache = os.environ.get("RASA_CACHE_DIRECTORY")
    # Keep Rasa's training cache out of the repository's .rasa/ folder.
    os.environ["RASA_CACHE_DIRECTORY"] = str(workdir / "cache")
    try:
        model = train_nlu(
            str(workdir / "config.yml"),
            str(workdir / "nlu.yml"),
            str(workdir / "models"),
            fixed_model_name="nlu",
        )
        assert model is not None and Path(model).exists()
        yield Agent.load(model)
    finally:
        if saved_cache is None:
            os.environ.pop("RASA_CACHE_DIRECTORY", None)
        else:
            os.environ["RASA_CACHE_DIRECTORY"] = saved_cache


def parse(agent: Any, text: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    from rasa.core.channels.channel import UserMessage

    return asyncio.run(agent.processor.parse_message(UserMessage(text, metadata=metadata)))


def values(result: dict[str, Any], entity: str) -> list[Any]:
    return [e["value"] for e in result["entities"] if e["entity"] == entity]


def test_french_order_status_with_store_metadata(agent: Any) -> None:
    result = parse(agent, "où en est ma commande OM-104233 ?", {"store": "btomic"})
    assert result["intent"]["name"] == "order_status"
    assert values(result, "language") == ["fr"]
    assert values(result, "store") == ["btomic"]
    [order] = [e for e in result["entities"] if e["entity"] == "order_number"]
    assert (order["value"], order["start"], order["end"]) == ("OM-104233", 22, 31)
    assert order["extractor"] == "ShopEntityExtractor"
    # The order number is one token, the French elision rules ran.
    text = result["text"]
    assert [text[s:e] for s, e in result["text_tokens"]] == [
        "où",
        "en",
        "est",
        "ma",
        "commande",
        "OM-104233",
        "?",
    ]


def test_english_message_and_default_store(agent: Any) -> None:
    result = parse(agent, "do you ship to DE?")
    assert result["intent"]["name"] == "delivery_countries"
    assert values(result, "language") == ["en"]
    assert values(result, "store") == ["om-system"]
    assert values(result, "country") == ["DE"]


def test_store_from_environment(agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_STORE", "btomic")
    assert values(parse(agent, "bonjour"), "store") == ["btomic"]


def test_ambiguous_message_keeps_the_conversation_language(agent: Any) -> None:
    result = parse(agent, "#104233", {"store": "unknown-shop"})
    assert values(result, "language") == []
    # The NLU reads the store its channel checked (Rasa's REST channel: test_rest_channel_store);
    # a parse that skipped every channel keeps what it was given, never another shop.
    assert values(result, "store") == ["unknown-shop"]
    assert values(parse(agent, "#104233", None), "store") == ["om-system"]  # none said
    assert values(result, "order_number") == ["104233"]


def test_switch_request(agent: Any) -> None:
    assert values(parse(agent, "en anglais stp"), "language") == ["en"]


def test_language_survives_country_synonyms(agent: Any) -> None:
    """Training annotated France -> "FR"; the language entity "fr" must stay "fr"."""
    result = parse(agent, "vous livrez en France ?")
    assert values(result, "language") == ["fr"]
    assert values(result, "country") == ["FR"]


def test_french_elision_tokens(agent: Any) -> None:
    result = parse(agent, "livrez-vous l'Écosse aujourd'hui ?")
    text = result["text"]
    assert [text[s:e] for s, e in result["text_tokens"]] == [
        "livrez",
        "vous",
        "l'",
        "Écosse",
        "aujourd'hui",
        "?",
    ]
    assert values(result, "country") == ["GB-SCT"]
