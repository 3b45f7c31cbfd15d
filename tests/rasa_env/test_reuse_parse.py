"""A question its channel already parsed is not parsed again (bot/rasa_ext/reuse_parse.py)."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.rasa_ext.reuse_parse import PARSE_KEY, reuse_parse

TEXT = "Livrez-vous en Suisse ?"


def parse_of(text: str) -> dict[str, Any]:
    """What `/model/parse` answers for `text` without metadata (store from the default)."""
    return {
        "text": text,
        "intent": {"name": "delivery_countries", "confidence": 0.93},
        "intent_ranking": [{"name": "delivery_countries", "confidence": 0.93}],
        "entities": [
            {"entity": "language", "value": "fr", "start": 0, "end": 0,
             "confidence": 0.99, "extractor": "LanguageDetector"},
            {"entity": "store", "value": "om-system", "start": 0, "end": 0,
             "confidence": 1.0, "extractor": "LanguageDetector"},
            {"entity": "country", "value": "CH", "start": 15, "end": 21,
             "extractor": "ShopEntityExtractor"},
        ],
    }  # fmt: skip


def test_the_parse_is_reused_with_the_messages_own_context_entities() -> None:
    metadata = {"store": "btomic", "language": "en", PARSE_KEY: parse_of(TEXT)}
    message = UserMessage(TEXT, sender_id="email-1", metadata=metadata)
    assert reuse_parse(message) is True
    assert message.parse_data is not None
    assert message.parse_data["intent"]["name"] == "delivery_countries"
    entities = [(e["entity"], e["value"]) for e in message.parse_data["entities"]]
    assert entities == [("language", "en"), ("store", "btomic"), ("country", "CH")]
    # Not stored twice: the parse leaves the metadata the tracker keeps.
    assert message.metadata == {"store": "btomic", "language": "en"}


def test_without_hints_the_context_entities_are_the_pipelines() -> None:
    message = UserMessage(TEXT, sender_id="s", metadata={PARSE_KEY: parse_of(TEXT)})
    assert reuse_parse(message) is True
    assert message.parse_data is not None
    entities = {(e["entity"], e["value"]) for e in message.parse_data["entities"]}
    assert ("language", "fr") in entities and ("country", "CH") in entities


def test_a_german_text_keeps_the_channels_language() -> None:
    text = "Wo ist meine Bestellung OM-104233?"
    parse = {**parse_of(text), "intent": {"name": "other_language", "confidence": 1.0}}
    parse["entities"] = [e for e in parse["entities"] if e["entity"] != "country"]
    for metadata, language in (({"language": "fr"}, "fr"), ({}, "en")):
        message = UserMessage(text, sender_id="s", metadata={**metadata, PARSE_KEY: parse})
        assert reuse_parse(message) is True
        assert message.parse_data is not None
        values = [e["value"] for e in message.parse_data["entities"] if e["entity"] == "language"]
        assert values == [language]


def test_anything_but_the_parse_of_this_text_is_ignored() -> None:
    for parse in (
        parse_of("Bonjour"),
        {"text": TEXT},
        {**parse_of(TEXT), "entities": "none"},
        "delivery_countries",
    ):
        message = UserMessage(TEXT, sender_id="s", metadata={"store": "btomic", PARSE_KEY: parse})
        assert reuse_parse(message) is False
        assert message.parse_data is None
        assert PARSE_KEY not in message.metadata
    plain = UserMessage(TEXT, sender_id="s", metadata={"store": "btomic"})
    assert reuse_parse(plain) is False and plain.parse_data is None
