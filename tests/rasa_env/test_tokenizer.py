"""SpacyLookupTokenizer: spaCy rules per language, original offsets, folded lookup lemmas."""

from __future__ import annotations

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import LANGUAGE_ATTRIBUTE
from bot.nlu.tokenizer import SpacyLookupTokenizer


def tokens_of(
    tokenizer: SpacyLookupTokenizer, text: str, lang: str | None
) -> list[tuple[str, str]]:
    message = Message(data={TEXT: text, LANGUAGE_ATTRIBUTE: lang})
    tokens = tokenizer.tokenize(message, TEXT)
    for token in tokens:
        # Offsets point at the original characters: entity spans stay right.
        assert text[token.start : token.end] == token.text
    return [(t.text, t.lemma) for t in tokens]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'adresse", [("l'", "le"), ("adresse", "adresse")]),
        ("j'ai", [("j'", "je"), ("ai", "avoir")]),
        ("aujourd'hui", [("aujourd'hui", "aujourd'hui")]),
        ("jusqu'à lundi", [("jusqu'", "jusque"), ("à", "a"), ("lundi", "lundi")]),
        ("l’adresse", [("l’", "le"), ("adresse", "adresse")]),  # typographic apostrophe
        (
            "Qu'est-ce que",
            [("Qu'", "que"), ("est", "etre"), ("ce", "ce"), ("que", "que")],
        ),
        ("Livrez-vous", [("Livrez", "livrer"), ("vous", "vous")]),
        ("est-ce que", [("est", "etre"), ("ce", "ce"), ("que", "que")]),
        # The euphonic "t" of "a-t-il" is dropped.
        ("a-t-il", [("a", "avoir"), ("il", "il")]),
        ("Pouvez-vous", [("Pouvez", "pouvoir"), ("vous", "vous")]),
    ],
)
def test_french_elisions_and_inversions(
    tokenizer: SpacyLookupTokenizer, text: str, expected: list[tuple[str, str]]
) -> None:
    assert tokens_of(tokenizer, text, "fr") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Écosse", "ecosser"),  # the lookup table's lemma, folded
        ("commandes", "commande"),
        ("livrés", "livrer"),
        ("recu", "recevoir"),  # missing cedilla: found through the folded index
        ("reçu", "recevoir"),
        ("livraisón", "livraison"),  # stray accent folded away
        ("LIVRAISON", "livraison"),
        ("remboursé", "rembourser"),
    ],
)
def test_french_lemmas_are_lower_case_and_accent_folded(
    tokenizer: SpacyLookupTokenizer, text: str, expected: str
) -> None:
    assert tokens_of(tokenizer, text, "fr") == [(text, expected)]


def test_english_contractions_and_lemmas(tokenizer: SpacyLookupTokenizer) -> None:
    assert tokens_of(
        tokenizer, "Where's my parcel? I can't find it, I've ordered lenses", "en"
    ) == [
        ("Where", "where"),
        ("'s", "'s"),
        ("my", "my"),
        ("parcel", "parcel"),
        ("?", "?"),
        ("I", "i"),
        ("ca", "can"),
        ("n't", "not"),
        ("find", "find"),
        ("it", "it"),
        (",", ","),
        ("I", "i"),
        ("'ve", "have"),
        ("ordered", "order"),
        ("lenses", "lens"),
    ]


@pytest.mark.parametrize("lang", ["fr", "en", None])
@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("ma commande OM-104233 svp", "OM-104233"),
        ("order bt-200517.", "bt-200517"),
        ("commande #104233, merci", "#104233"),
        ("écrivez à marie.dupont@example.fr !", "marie.dupont@example.fr"),
        ("Tokyo 150-0001", "150-0001"),
        ("Varsovie (00-950)", "00-950"),
        ("75011 Paris", "75011"),
        ("voir https://shop.example.com/a?b=1", "https://shop.example.com/a?b=1"),
    ],
)
def test_identifiers_stay_one_token(
    tokenizer: SpacyLookupTokenizer, text: str, whole: str, lang: str | None
) -> None:
    assert whole in [t for t, _ in tokens_of(tokenizer, text, lang)]


def test_uk_postcode_is_two_tokens_with_exact_offsets(tokenizer: SpacyLookupTokenizer) -> None:
    message = Message(data={TEXT: "postcode SW1A 1AA please", LANGUAGE_ATTRIBUTE: "en"})
    tokens = tokenizer.tokenize(message, TEXT)
    assert [(t.text, t.start, t.end) for t in tokens][1:3] == [("SW1A", 9, 13), ("1AA", 14, 17)]


def test_token_text_keeps_the_original_case(tokenizer: SpacyLookupTokenizer) -> None:
    assert tokens_of(tokenizer, "Bonjour", "fr") == [("Bonjour", "bonjour")]


def test_unknown_language_prefers_the_pipeline_that_knows_more_words(
    tokenizer: SpacyLookupTokenizer,
) -> None:
    # French rules split the elision, English rules would keep "l'adresse" whole.
    assert [t for t, _ in tokens_of(tokenizer, "l'adresse", None)] == ["l'", "adresse"]
    english = tokens_of(tokenizer, "shipped parcels", None)
    assert english == [("shipped", "ship"), ("parcels", "parcel")]


def test_language_is_detected_when_no_detector_ran(tokenizer: SpacyLookupTokenizer) -> None:
    """Without the LanguageDetector attribute the tokenizer detects the language itself."""
    message = Message(data={TEXT: "Je n'ai pas reçu l'adresse"})
    tokens = tokenizer.tokenize(message, TEXT)
    assert [t.text for t in tokens] == ["Je", "n'", "ai", "pas", "reçu", "l'", "adresse"]
    assert {t.get("language") for t in tokens} == {"fr"}


def test_empty_and_symbol_only_texts(tokenizer: SpacyLookupTokenizer) -> None:
    assert tokens_of(tokenizer, "   ", None) == []
    assert tokens_of(tokenizer, "😀", None) == [("😀", "😀")]


def test_process_training_data_tokenises_text_and_intent(
    tokenizer: SpacyLookupTokenizer,
) -> None:
    example = Message(data={TEXT: "livrez-vous en Écosse ?", INTENT: "delivery_countries"})
    example.set(LANGUAGE_ATTRIBUTE, "fr")
    tokenizer.process_training_data(TrainingData([example]))
    assert [t.lemma for t in example.get(TOKENS_NAMES[TEXT])] == [
        "livrer",
        "vous",
        "en",
        "ecosser",
        "?",
    ]
    assert [t.text for t in example.get(TOKENS_NAMES[INTENT])] == ["delivery_countries"]


def test_count_vectors_featurizer_reads_the_lemmas(tokenizer: SpacyLookupTokenizer) -> None:
    """CountVectorsFeaturizer (use_lemma: True by default) sees the folded lemmas."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
        CountVectorsFeaturizer,
    )

    assert CountVectorsFeaturizer.get_default_config()["use_lemma"] is True
    featurizer = CountVectorsFeaturizer(
        CountVectorsFeaturizer.get_default_config(),
        None,  # type: ignore[arg-type]  # storage and resource are unused before training
        None,  # type: ignore[arg-type]
        ExecutionContext(GraphSchema({}), node_name="cvf"),
    )
    message = Message(data={TEXT: "Livrez-vous les colis reçus ?", LANGUAGE_ATTRIBUTE: "fr"})
    tokenizer.process([message])
    assert featurizer._get_processed_message_tokens_by_attribute(message, TEXT) == [
        "livrer",
        "vous",
        "le",
        "colis",
        "recevoir",
        "?",
    ]


def test_invalid_fallback_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="fallback_language"):
        SpacyLookupTokenizer(
            {**SpacyLookupTokenizer.get_default_config(), "fallback_language": "de"}
        )


def test_lemma_languages_keeps_english_words_as_typed() -> None:
    # config.yml gives lemmas to French only (reports/pipeline_cross_validation.md).
    french_only = SpacyLookupTokenizer(
        {**SpacyLookupTokenizer.get_default_config(), "lemma_languages": ["fr"]}
    )
    assert tokens_of(french_only, "I've ordered lenses", "en") == [
        ("I", "i"),
        ("'ve", "'ve"),
        ("ordered", "ordered"),
        ("lenses", "lenses"),
    ]
    # Still lower-cased and accent-folded, so "Café" and "cafe" are one feature.
    assert tokens_of(french_only, "Café", "en") == [("Café", "cafe")]
    # French keeps its lemmas.
    assert tokens_of(french_only, "Livrez-vous", "fr") == [("Livrez", "livrer"), ("vous", "vous")]


def test_unknown_lemma_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="lemma_languages"):
        SpacyLookupTokenizer(
            {**SpacyLookupTokenizer.get_default_config(), "lemma_languages": ["fr", "de"]}
        )
