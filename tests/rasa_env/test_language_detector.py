"""LanguageDetector: language attribute and entity, store entity, training-time behaviour."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import pytest
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import LANGUAGE_ATTRIBUTE, LanguageDetector, message_store


@pytest.fixture
def detector() -> LanguageDetector:
    return LanguageDetector(LanguageDetector.get_default_config())


def live_message(text: str, metadata: dict[str, Any] | None = None) -> Message:
    """A message shaped like Rasa's NLUMessageConverter output (metadata key present)."""
    return Message(data={TEXT: text, "message_id": "m1", METADATA: metadata})


def entities_of(message: Message, entity: str) -> list[dict[str, Any]]:
    return [e for e in message.get(ENTITIES, []) if e["entity"] == entity]


def test_clear_french_message(detector: LanguageDetector) -> None:
    message = live_message("Je n'ai toujours pas reçu mon colis")
    detector.process([message])
    assert message.get(LANGUAGE_ATTRIBUTE) == "fr"
    [language] = entities_of(message, "language")
    assert language["value"] == "fr"
    assert (language["start"], language["end"]) == (0, 0)
    assert language["extractor"] == "LanguageDetector"
    assert 0.9 < language["confidence"] <= 1.0


def test_clear_english_message(detector: LanguageDetector) -> None:
    message = live_message("Where is my parcel?")
    detector.process([message])
    assert message.get(LANGUAGE_ATTRIBUTE) == "en"
    assert [e["value"] for e in entities_of(message, "language")] == ["en"]


@pytest.mark.parametrize(
    "text", ["ok", "Klarna ?", "OM-104233", "marie@example.fr", "75011", "DHL", "👍"]
)
def test_ambiguous_message_emits_no_language(detector: LanguageDetector, text: str) -> None:
    message = live_message(text)
    detector.process([message])
    assert message.get(LANGUAGE_ATTRIBUTE) is None
    assert entities_of(message, "language") == []


@pytest.mark.parametrize(
    ("text", "written", "requested"),
    [
        ("en anglais stp", "fr", "en"),
        ("can you answer in French", "en", "fr"),
        ("parlez-vous anglais", "fr", "en"),
        ("English?", "en", "en"),
    ],
)
def test_switch_request_emits_the_target_language(
    detector: LanguageDetector, text: str, written: str, requested: str
) -> None:
    message = live_message(text)
    detector.process([message])
    # The tokenizer needs the language the text is written in...
    assert message.get(LANGUAGE_ATTRIBUTE) == written
    # ...the conversation gets the one the customer asks for.
    [language] = entities_of(message, "language")
    assert (language["value"], language["confidence"]) == (requested, 1.0)


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        # The e-mail channel chose the reply's language on the whole mail: it wins over the
        # sentence, and over a switch request inside it.
        ("Do you ship to Belgium?", {"language": "fr"}, ("fr", 1.0)),
        ("en anglais stp", {"language": "fr"}, ("fr", 1.0)),
        ("OM-104233", {"language": "EN"}, ("en", 1.0)),
        # The page's language only for a text that shows none.
        ("OM-104233", {"ui_language": "en"}, ("en", 0.5)),
        ("ok", {"ui_language": "fr-FR"}, ("fr", 0.5)),
        ("Where is my parcel?", {"ui_language": "fr"}, ("en", None)),
        ("en anglais stp", {"ui_language": "fr"}, ("en", 1.0)),
        # Not a language the bot answers in: no hint.
        ("OM-104233", {"language": "de", "ui_language": None}, None),
        ("OM-104233", {"language": 42}, None),
    ],
)
def test_channel_language_hints(
    detector: LanguageDetector,
    text: str,
    metadata: dict[str, Any],
    expected: tuple[str, float | None] | None,
) -> None:
    message = live_message(text, metadata)
    detector.process([message])
    found = entities_of(message, "language")
    if expected is None:
        assert found == []
        return
    [language] = found
    assert language["value"] == expected[0]
    if expected[1] is not None:
        assert language["confidence"] == expected[1]


def test_the_channel_language_does_not_change_the_tokenizers(detector: LanguageDetector) -> None:
    message = live_message("Do you ship to Belgium?", {"language": "fr"})
    detector.process([message])
    assert message.get(LANGUAGE_ATTRIBUTE) == "en"


def test_store_from_metadata(detector: LanguageDetector) -> None:
    message = live_message("bonjour", {"store": "btomic"})
    detector.process([message])
    [store] = entities_of(message, "store")
    assert store["value"] == "btomic"
    assert store["extractor"] == "LanguageDetector"


def test_store_from_environment(
    detector: LanguageDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_STORE", "btomic")
    message = live_message("ok", None)
    detector.process([message])
    assert [e["value"] for e in entities_of(message, "store")] == ["btomic"]


def test_metadata_beats_environment(
    detector: LanguageDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_STORE", "btomic")
    message = live_message("ok", {"store": "om-system"})
    detector.process([message])
    assert [e["value"] for e in entities_of(message, "store")] == ["om-system"]


def test_default_store_from_config() -> None:
    detector = LanguageDetector({"default_store": "btomic"})
    message = live_message("ok", {"other": "key"})
    detector.process([message])
    assert [e["value"] for e in entities_of(message, "store")] == ["btomic"]


def test_built_in_default_store(detector: LanguageDetector) -> None:
    message = live_message("ok")
    detector.process([message])
    assert [e["value"] for e in entities_of(message, "store")] == ["om-system"]


def test_the_metadata_store_is_read_as_the_channel_checked_it(
    detector: LanguageDetector, caplog: pytest.LogCaptureFixture
) -> None:
    # The channel checked the store where the message entered (Rasa's REST channel:
    # bot.rasa_ext.rest_channel, tests/rasa_env/test_rest_channel_store.py); the component
    # does not choose another shop. A value no entry checked goes on as it is: the answer
    # service and the actions refuse it loudly and answer with the apology of no shop
    # (tests/answers/test_answer_service.py, tests/actions/test_base.py).
    message = live_message("bonjour", {"store": "amazon"})
    with caplog.at_level(logging.WARNING):
        detector.process([message])
    assert [e["value"] for e in entities_of(message, "store")] == ["amazon"]
    assert caplog.text == ""


def test_a_channel_naming_no_store_gets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert message_store({"store": 42}, {}) == "om-system"
    assert message_store({"store": "  "}, {}) == "om-system"
    assert message_store(None, {"DEFAULT_STORE": " BTOMIC "}) == "btomic"
    assert message_store({}, {}, default_store="btomic") == "btomic"


def test_an_unknown_default_store_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_STORE", "nope")
    with pytest.raises(InvalidConfigException, match="'nope'"):
        LanguageDetector(LanguageDetector.get_default_config())
    monkeypatch.delenv("DEFAULT_STORE")
    with pytest.raises(InvalidConfigException, match="'amazon'"):
        LanguageDetector({"default_store": "amazon"})


def test_entities_are_appended_to_existing_ones(detector: LanguageDetector) -> None:
    earlier = {"entity": "order_number", "value": "OM-104233", "start": 5, "end": 14}
    message = live_message("bonjour OM-104233")
    message.set(ENTITIES, [earlier], add_to_output=True)
    detector.process([message])
    assert message.get(ENTITIES)[0] is earlier
    assert [e["entity"] for e in message.get(ENTITIES)] == ["order_number", "language", "store"]
    assert ENTITIES in message.output_properties


def test_training_sets_the_attribute_but_adds_no_entity(detector: LanguageDetector) -> None:
    annotated = {"entity": "order_number", "value": "OM-104233", "start": 22, "end": 31}
    examples = [
        Message(
            data={
                TEXT: "où en est ma commande OM-104233 ?",
                "intent": "order_status",
                ENTITIES: [annotated],
            }
        ),
        Message(data={TEXT: "where is my parcel", "intent": "order_status"}),
        Message(data={TEXT: "ok", "intent": "affirm"}),
        Message(data={"intent": "affirm"}),  # no text: left alone
    ]
    detector.process_training_data(TrainingData(examples))
    assert [m.get(LANGUAGE_ATTRIBUTE) for m in examples[:3]] == ["fr", "en", None]
    assert LANGUAGE_ATTRIBUTE not in examples[3].data
    assert examples[0].get(ENTITIES) == [annotated]
    assert examples[1].get(ENTITIES) is None


def test_text_less_messages_are_skipped(detector: LanguageDetector) -> None:
    message = Message(data={"action_name": "utter_greet"})
    detector.process([message])
    assert message.get(ENTITIES) is None


@pytest.mark.parametrize("edited_module", ["bot.nlu.language", "bot.nlu.langid"])
def test_fingerprint_follows_the_helper_modules(
    edited_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word-list change must invalidate Rasa's training cache: the fingerprint is stable
    while the sources are unchanged, and changes when either module's source does."""
    first = LanguageDetector.fingerprint_addon({})
    assert first == LanguageDetector.fingerprint_addon({})
    assert first is not None and len(first) == 64
    real_getsource = inspect.getsource

    def one_more_word(obj: Any) -> str:
        source = real_getsource(obj)
        if getattr(obj, "__name__", None) == edited_module:
            return source + '\nEXTRA_WORDS = ("bonjour",)\n'
        return source

    monkeypatch.setattr(inspect, "getsource", one_more_word)
    edited = LanguageDetector.fingerprint_addon({})
    assert edited is not None and len(edited) == 64
    assert edited != first
