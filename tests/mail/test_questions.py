"""Language of a mail and the questions the bot is asked (spaCy sentencizer)."""

from __future__ import annotations

import pytest

from bot.mail.questions import (
    detect_language,
    find_questions,
    names_an_order,
    split_joined,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Bonjour, je n'ai toujours pas reçu ma commande. Pouvez-vous m'aider ?", "fr"),
        ("Hello, I still have not received my order. Can you help me?", "en"),
        ("OM-104233", "fr"),  # nothing to go by: the fallback
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_detect_language_fallback_is_configurable() -> None:
    assert detect_language("OM-104233", fallback="en") == "en"


def test_sentences_ignore_hard_wrapping_but_not_paragraphs() -> None:
    text = (
        "Bonjour,\n\nJe voudrais savoir si vous livrez en Suisse, car je souhaite commander un\n"
        "appareil pour mon frère qui habite à Genève. Est-ce possible ?\n\nMerci"
    )
    assert split_sentences(text, "fr") == [
        "Bonjour,",
        "Je voudrais savoir si vous livrez en Suisse, car je souhaite commander un appareil "
        "pour mon frère qui habite à Genève.",
        "Est-ce possible ?",
        "Merci",
    ]


def test_two_questions_are_found_in_order() -> None:
    text = "Bonjour,\nPuis-je payer avec Klarna ? Et livrez-vous en Suisse ?\nMerci, bonne journée."
    assert find_questions(text, "fr") == [
        "Puis-je payer avec Klarna ?",
        "Et livrez-vous en Suisse ?",
    ]


def test_questions_without_question_marks() -> None:
    text = "Hello,\nCan I pay with PayPal.\nI would like to know your return policy\nThanks"
    assert find_questions(text, "en") == [
        "Can I pay with PayPal.",
        "I would like to know your return policy.",
    ]


def test_greeting_is_stripped_from_the_question() -> None:
    assert find_questions("Bonjour, où est ma commande OM-104233 ?", "fr") == [
        "où est ma commande OM-104233 ?"
    ]


def test_order_number_given_beside_the_question_goes_with_it() -> None:
    assert find_questions("Ma commande est la OM-104233. Où est-elle ?", "fr") == [
        "Ma commande est la OM-104233. Où est-elle ?"
    ]
    assert find_questions("Where is my parcel? The order is BT-200517.", "en") == [
        "Where is my parcel? The order is BT-200517."
    ]


def test_no_question_means_the_whole_text() -> None:
    text = "Bonjour,\nMa commande OM-104233 n'est toujours pas arrivée.\nMerci."
    assert find_questions(text, "fr") == [
        "Ma commande OM-104233 n'est toujours pas arrivée. Merci."
    ]


def test_requests_count_as_questions() -> None:
    text = "Bonjour,\nJe souhaite suivre ma commande OM-104233.\nMerci."
    assert find_questions(text, "fr") == ["Je souhaite suivre ma commande OM-104233."]


def test_empty_text() -> None:
    assert find_questions("", "fr") == []
    assert find_questions("Bonjour,", "fr") == []


@pytest.mark.parametrize(
    "sentence",
    ["Ma commande est la om104233.", "Commande n° 104 233.", "Order #104233.", "Ref BT-200517."],
)
def test_an_order_number_in_any_shape_goes_with_the_next_question(sentence: str) -> None:
    assert names_an_order(sentence)
    assert find_questions(f"{sentence} Où en est-elle ?", "fr") == [f"{sentence} Où en est-elle ?"]


def test_no_order_number_in_other_digits() -> None:
    assert not names_an_order("Mon numéro est le 06 12 34 56 78, code 1042334.")


@pytest.mark.parametrize(
    ("sentence", "parts"),
    [
        (
            "Livrez-vous en Suisse et combien coûte la livraison ?",
            ["Livrez-vous en Suisse ?", "combien coûte la livraison ?"],
        ),
        (
            "Do you ship to Canada and how much does shipping cost?",
            ["Do you ship to Canada?", "how much does shipping cost?"],
        ),
        (
            "Puis-je payer par carte, et est-ce que vous livrez en Belgique\u00a0?",
            ["Puis-je payer par carte\u00a0?", "est-ce que vous livrez en Belgique\u00a0?"],
        ),
        (
            "Je voudrais retourner un article et comment se passe le remboursement",
            ["Je voudrais retourner un article", "comment se passe le remboursement"],
        ),
    ],
)
def test_two_questions_joined_by_and_are_split(sentence: str, parts: list[str]) -> None:
    assert split_joined(sentence) == parts


@pytest.mark.parametrize(
    "sentence",
    [
        "Where and when is it sent?",  # "and when" continues the first question
        "I bought a camera and it broke, what do I do?",  # "and it" opens no question
        "Rouge et quand ?",  # halves too short
        "Pouvez-vous me rembourser et m'envoyer l'étiquette ?",
    ],
)
def test_one_question_stays_whole(sentence: str) -> None:
    assert split_joined(sentence) == [sentence]
