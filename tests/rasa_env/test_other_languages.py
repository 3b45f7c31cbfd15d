"""Other-language detection: the scorer, and the NLU component that sets `other_language`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import langid, other_languages
from bot.nlu.language import OTHER_LANGUAGE_INTENT, OtherLanguageClassifier
from bot.nlu.other_languages import OTHER_LANGUAGES, WORDS, other_language_of

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = yaml.safe_load((ROOT / "tests" / "other_languages" / "messages.yml").read_text("utf-8"))
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def nlu_texts(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts = []
    for block in data.get("nlu") or []:
        for line in str(block.get("examples") or "").splitlines():
            if line.strip().startswith("- "):
                texts.append(_ANNOTATION.sub(r"\1", line.strip()[2:]))
    return texts


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wo ist meine Bestellung OM-104233?", "de"),
        ("¿Hacen envíos a España?", "es"),
        ("Buongiorno, ho ordinato una fotocamera dieci giorni fa e non è ancora arrivata.", "it"),
        ("Waar is mijn bestelling OM-104233?", "nl"),
        ("Gdzie jest moje zamówienie OM-104233?", "pl"),
        ("Onde está a minha encomenda OM-104233?", "pt"),
    ],
)
def test_clear_messages_in_other_languages_are_detected(text: str, language: str) -> None:
    assert other_language_of(text) == language


@pytest.mark.parametrize(
    "text",
    [
        # Short, shared or borrowed words are no evidence.
        "merci",
        "ok",
        "ciao",
        "super, danke",
        "OM-104233",
        "Klarna ?",
        "👍",
        # French and English messages naming places, people or products of other countries.
        "Livrez-vous en Allemagne, à Zürich ou à Madrid ?",
        "Do you ship to España or Portugal?",
        "Bonjour, je m'appelle José Da Silva, où est ma commande ?",
        "Hello, my name is Jan de Vries, where is my order?",
        "J'ai commandé une montre pour mon ami Giulio, elle est arrivée cassée.",
        # A French customer quoting a foreign word or two.
        "Le livreur m'a dit « bitte » et « danke » puis il est reparti sans le colis !",
    ],
)
def test_french_english_and_ambiguous_messages_are_not_another_language(text: str) -> None:
    assert other_language_of(text) is None


def test_no_message_of_the_training_data_is_taken_for_another_language() -> None:
    texts = [
        text
        for path in sorted((ROOT / "data").rglob("*.yml"))
        if "stores" not in path.parts
        for text in nlu_texts(path)
    ]
    assert len(texts) > 1000
    flagged = [(text, other_language_of(text)) for text in texts]
    assert [pair for pair in flagged if pair[1] is not None] == []


@pytest.mark.parametrize("path", ["tests/nlu/test_nlu.yml", "tests/nlu_realistic/fr.yml",
                                  "tests/nlu_realistic/en.yml"])  # fmt: skip
def test_no_french_or_english_test_message_is_taken_for_another_language(path: str) -> None:
    # Measured only: these sets chose nothing (the word lists were checked on data/).
    texts = nlu_texts(ROOT / path)
    assert len(texts) > 300
    flagged = [(text, other_language_of(text)) for text in texts]
    assert [pair for pair in flagged if pair[1] is not None] == []


def test_most_hand_written_foreign_messages_are_detected_and_none_as_the_wrong_one() -> None:
    detected = right = total = 0
    for language in OTHER_LANGUAGES:
        for text in FOREIGN[language]:
            found = other_language_of(text)
            total += 1
            detected += found is not None
            right += found == language
    assert total == 90
    assert right == detected  # never the wrong language
    assert detected / total >= 0.85


def test_the_word_lists_hold_no_french_english_or_shared_word() -> None:
    known = langid.FR_WORDS | langid.EN_WORDS | langid.SHARED_WORDS
    for language in OTHER_LANGUAGES:
        assert WORDS[language], language
        assert not WORDS[language] & known, language


# --- the NLU component ---------------------------------------------------------------------


def classified(text: str, intent: str = "out_of_scope") -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": 0.8})
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.8}])
    message.set(
        ENTITIES,
        [
            {"entity": "order_number", "value": "OM-104233", "start": 24, "end": 33},
            {"entity": "language", "value": "fr", "start": 0, "end": 0},
        ],
    )
    return message


def entity_values(message: Message) -> list[tuple[str, Any]]:
    return [(e["entity"], e["value"]) for e in message.get(ENTITIES)]


def test_the_component_sets_the_intent_and_english_and_keeps_the_other_entities() -> None:
    component = OtherLanguageClassifier(OtherLanguageClassifier.get_default_config())
    (message,) = component.process([classified("Wo ist meine Bestellung OM-104233?")])
    assert message.get(INTENT) == {"name": OTHER_LANGUAGE_INTENT, "confidence": 1.0}
    ranking = message.get(INTENT_RANKING_KEY)
    assert [r["name"] for r in ranking] == [OTHER_LANGUAGE_INTENT]
    assert entity_values(message) == [("order_number", "OM-104233"), ("language", "en")]


def test_the_channels_language_stays_for_a_text_in_another_language() -> None:
    # An e-mail chose its reply's language on the whole mail: one German sentence in it
    # is still answered in that language, in one reply.
    component = OtherLanguageClassifier(OtherLanguageClassifier.get_default_config())
    message = classified("Wo ist meine Bestellung OM-104233?")
    message.set(METADATA, {"language": "fr"})
    (message,) = component.process([message])
    assert message.get(INTENT) == {"name": OTHER_LANGUAGE_INTENT, "confidence": 1.0}
    assert entity_values(message) == [("order_number", "OM-104233"), ("language", "fr")]


def test_the_component_leaves_french_and_english_alone() -> None:
    component = OtherLanguageClassifier(OtherLanguageClassifier.get_default_config())
    (message,) = component.process([classified("Où est ma commande OM-104233 ?", "order_status")])
    assert message.get(INTENT) == {"name": "order_status", "confidence": 0.8}
    assert entity_values(message) == [("order_number", "OM-104233"), ("language", "fr")]


def test_the_answer_language_must_be_french_or_english() -> None:
    from rasa.shared.exceptions import InvalidConfigException

    with pytest.raises(InvalidConfigException, match="answer_language"):
        OtherLanguageClassifier({"answer_language": "de"})


@pytest.mark.parametrize(
    "text",
    [
        "Wann bekomme ich meine Rückerstattung für OM-104250?",
        "Ich habe das Paket zurückgeschickt, wo bleibt mein Geld?",
        "Die Rueckerstattung fehlt noch",
        "¿Cuándo recibiré el reembolso de mi pedido?",
        "Quando arriva il rimborso dell'ordine 104250?",
        "Wanneer krijg ik mijn geld terug?",
        "Kiedy otrzymam zwrot pieniędzy za zamówienie?",
        "Quando recebo o reembolso da encomenda?",
    ],
)
def test_refund_questions_of_other_languages_are_recognised(text: str) -> None:
    assert other_languages.asks_for_refund(text)


@pytest.mark.parametrize(
    "text",
    [
        "Wo ist meine Bestellung OM-104233?",
        "Ich möchte das Paket zurückschicken",  # a return, not (yet) a refund
        "¿Hacen envíos a España?",
        "Dove posso fare il reso?",
        "Waar is mijn bestelling?",
    ],
)
def test_status_and_return_questions_are_not_refund_questions(text: str) -> None:
    assert not other_languages.asks_for_refund(text)


def test_a_shops_names_are_no_evidence_and_come_from_its_folder(add_shop) -> None:
    text = "Wo ist meine Bestellung?"
    assert other_languages.other_language_of(text) == "de"
    assert other_languages.other_language_of("OM SYSTEM Olympus Zuiko BTOMIC") is None
    # A made-up shop whose brand is made of German words: the words name the shop, not the
    # customer's language, as soon as its folder exists (no code lists the shops' names).
    add_shop("lumen", "[Meine Bestellung, Wo ist]")
    assert other_languages.other_language_of(text) is None
