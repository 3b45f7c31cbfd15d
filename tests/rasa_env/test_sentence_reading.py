"""The sentence-aware reading of the intent classifier: bot.nlu.sentences and
bot.nlu.intent_classifier.combine (option `sentences`, off in config.yml unless chosen)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.nlu.sentences import MAX_SENTENCES, split_sentences

CLASSES = ["greet", "order_status", "out_of_scope", "thank"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Bonjour. Ma commande n'est toujours pas arrivée, elle arrive quand\u00a0? Merci",
            [
                "Bonjour.",
                "Ma commande n'est toujours pas arrivée, elle arrive quand\u00a0?",
                "Merci",
            ],
        ),
        ("merci", ["merci"]),
        ("hi, where is my order?? thx", ["hi, where is my order??", "thx"]),
        # A short line without final punctuation ends a sentence (a greeting, a signature);
        # one ending with a comma goes on.
        (
            "Bonjour,\nma commande OM-104233 n'est pas arrivée\nMerci\nJean Dupont",
            ["Bonjour, ma commande OM-104233 n'est pas arrivée.", "Merci.", "Jean Dupont"],
        ),
        # A mailer's wrapped line (50 characters or more) goes on on the next line.
        (
            "I ordered a leather camera strap two weeks ago and it has\nnot arrived yet. Any news?",
            [
                "I ordered a leather camera strap two weeks ago and it has not arrived yet.",
                "Any news?",
            ],
        ),
        # Titles, abbreviations and decimal numbers do not end a sentence; blank lines do.
        (
            "M. Dupont a commandé 2.5 kg etc. pour lui\n\nOù est le colis ?",
            ["M. Dupont a commandé 2.5 kg etc. pour lui", "Où est le colis ?"],
        ),
        ("Ok\u2026 merci !", ["Ok\u2026", "merci !"]),
        # Punctuation alone is no sentence.
        ("... ?!", []),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def row(**scores: float) -> Any:
    return np.array([scores.get(c, 0.0) for c in CLASSES])


def same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(a, b))


def test_combine_is_the_whole_text_when_off_or_one_sentence() -> None:
    from bot.nlu.intent_classifier import combine

    whole = row(thank=0.7, order_status=0.3)
    request = row(order_status=0.9, thank=0.1)
    assert same(combine(whole, np.array([request, request]), CLASSES, {}), whole)
    for mode in ("override", "average"):
        assert same(combine(whole, None, CLASSES, {"sentences": mode}), whole)
        assert same(combine(whole, np.array([request]), CLASSES, {"sentences": mode}), whole)


def test_override_takes_the_request_sentence_of_a_social_or_unsure_message() -> None:
    from bot.nlu.intent_classifier import combine

    request = row(order_status=0.9, thank=0.1)
    social = row(greet=0.95, order_status=0.05)
    sentences = np.array([social, request, row(thank=0.99, greet=0.01)])
    override = {"sentences": "override"}
    # The whole text reads as thanks: the request sentence's probabilities are taken.
    assert same(combine(row(thank=0.7, order_status=0.3), sentences, CLASSES, override), request)
    # An unsure whole text (under sentence_low) too, whatever its intent.
    unsure = row(out_of_scope=0.45, order_status=0.35, thank=0.2)
    assert same(combine(unsure, sentences, CLASSES, override), request)
    # A confident request reading of the whole text is left alone (gate "social_or_low")...
    confident = row(out_of_scope=0.6, order_status=0.4)
    assert same(combine(confident, sentences, CLASSES, override), confident)
    # ... but not with the gate "always" when the sentence is clearly surer.
    always = {**override, "sentence_gate": "always", "sentence_margin": 0.2}
    assert same(combine(confident, sentences, CLASSES, always), request)
    # The margin: the sentence must beat the whole text's best score by it.
    sure_thanks = row(thank=0.8, order_status=0.2)
    assert same(
        combine(sure_thanks, sentences, CLASSES, {**override, "sentence_margin": 0.2}), sure_thanks
    )
    assert same(
        combine(sure_thanks, sentences, CLASSES, {**override, "sentence_margin": 0.1}), request
    )


def test_without_a_request_sentence_greetings_and_thanks_stand() -> None:
    from bot.nlu.intent_classifier import combine

    whole = row(thank=0.6, greet=0.4)
    # out_of_scope is no request: "je vous écris de Lyon" does not replace a thanks.
    sentences = np.array([row(greet=0.9, thank=0.1), row(out_of_scope=0.99, thank=0.01)])
    for mode in ("override", "average"):
        assert same(combine(whole, sentences, CLASSES, {"sentences": mode}), whole)


def test_average_mixes_the_whole_text_and_the_surest_request_sentence() -> None:
    from bot.nlu.intent_classifier import combine

    whole = row(thank=0.7, order_status=0.3)
    weak, strong = row(order_status=0.6, thank=0.4), row(order_status=0.9, thank=0.1)
    combined = combine(whole, np.array([weak, strong]), CLASSES, {"sentences": "average"})
    assert combined == pytest.approx(row(thank=0.4, order_status=0.6))
    assert combined.sum() == pytest.approx(1.0)


def test_unknown_modes_are_refused() -> None:
    from bot.nlu.intent_classifier import combine

    whole, sentences = row(thank=1.0), np.array([row(order_status=1.0)] * 2)
    with pytest.raises(ValueError, match="sentences mode"):
        combine(whole, sentences, CLASSES, {"sentences": "vote"})
    with pytest.raises(ValueError, match="sentence_gate"):
        combine(whole, sentences, CLASSES, {"sentences": "average", "sentence_gate": "never"})


def test_the_component_refuses_unknown_sentence_options() -> None:
    from bot.nlu.intent_classifier import TfidfIntentClassifier

    with pytest.raises(ValueError, match="sentences mode 'vote'"):
        TfidfIntentClassifier({"sentences": "vote"}, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sentence_gate 'never'"):
        TfidfIntentClassifier(
            {"sentences": "average", "sentence_gate": "never"},
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def small_model() -> Any:
    """A classifier fitted on a few examples, where thanks outnumber the requests."""
    from bot.nlu.intent_classifier import fit_model

    texts = {
        "order_status": [
            "où est ma commande",
            "ma commande n'est pas arrivée",
            "colis pas reçu",
            "where is my order",
        ],
        "thank": [
            "merci",
            "merci beaucoup",
            "merci à vous",
            "thanks",
            "merci pour votre aide",
            "merci d'avance",
        ],
        "greet": ["bonjour", "bonjour à vous", "salut", "hello"],
        "goodbye": ["au revoir", "bonne journée", "bye"],
    }
    return fit_model(
        {"C": 300},
        [t for ts in texts.values() for t in ts],
        [intent for intent, ts in texts.items() for _ in ts],
    )


MESSAGES = [
    "Bonjour. Merci beaucoup pour votre aide. Ma commande\u00a0?",
    "Bonjour. Ma commande n'est toujours pas arrivée, elle arrive quand\u00a0? Merci",
    "merci",
    "Merci. Bonne journée",
]


@pytest.mark.parametrize("mode", ["override", "average"])
def test_a_request_wrapped_in_thanks_is_read_as_the_request(small_model: Any, mode: str) -> None:
    from bot.nlu.intent_classifier import rankings

    whole_only = [r[0]["name"] for r in rankings(small_model, MESSAGES)]
    # Read whole, the first message is mostly thanks for this model.
    assert whole_only == ["thank", "order_status", "thank", "goodbye"]
    ranked = rankings(small_model, MESSAGES, config={"sentences": mode})
    assert [r[0]["name"] for r in ranked] == [
        "order_status",
        "order_status",
        "thank",  # a lone "merci" stays thank
        "goodbye",  # no sentence asks anything
    ]
    for ranking in ranked:
        confidences = [item["confidence"] for item in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0)


def test_very_long_messages_are_read_whole(small_model: Any) -> None:
    from bot.nlu.intent_classifier import rankings

    text = " ".join(["Merci beaucoup."] * MAX_SENTENCES + ["Ma commande\u00a0?"])
    assert len(split_sentences(text)) == MAX_SENTENCES + 1
    on = rankings(small_model, [text], config={"sentences": "override"})
    assert on == rankings(small_model, [text])


def test_the_rasa_component_reads_the_option(small_model: Any) -> None:
    from rasa.shared.nlu.constants import INTENT, TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.intent_classifier import TfidfIntentClassifier

    def intent_of(config: dict[str, Any]) -> str:
        component = TfidfIntentClassifier(config, None, None, small_model)  # type: ignore[arg-type]
        (message,) = component.process([Message(data={TEXT: MESSAGES[0]})])
        return str(message.get(INTENT)["name"])

    assert intent_of({}) == "thank"
    assert intent_of({"sentences": "override"}) == "order_status"
