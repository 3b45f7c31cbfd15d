"""Two requests in one chat message: which messages are cut, and in which order the parts go.

The parts' meanings are scripted here (a table of intents); the real NLU reads them in
tests/e2e/test_real_customers.py, through the gateway.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.api.several_requests import Part, answer_order, candidate_parts, split_message
from bot.errors import RasaUnavailableError
from bot.rasa_client import Interpretation


def test_a_joined_question_gives_two_parts() -> None:
    assert candidate_parts("Livrez-vous en Suisse et combien coûte la livraison ?") == [
        "Livrez-vous en Suisse ?",
        "combien coûte la livraison ?",
    ]


def test_two_sentences_give_two_parts_and_the_context_stays_with_its_question() -> None:
    message = "Ma montre est arrivée rayée. Que faire ? Et livrez-vous en Suisse ?"
    assert candidate_parts(message) == [
        "Ma montre est arrivée rayée. Que faire ?",
        "Et livrez-vous en Suisse ?",
    ]


@pytest.mark.parametrize(
    "message",
    [
        "Livrez-vous en Suisse ?",
        "Where and when is it sent?",
        "/payment_methods",
        "Bonjour, j'ai commandé il y a 10 jours (commande 104233) et toujours rien, c'est normal ?",
    ],
)
def test_one_request_stays_whole(message: str) -> None:
    assert candidate_parts(message) == [message]


def test_the_lookup_comes_last() -> None:
    parts = ["Where is my order OM-104233?", "do you ship to Canada?"]
    assert answer_order(parts, ["order_status", "delivery_countries"]) == [
        "do you ship to Canada?",
        "Where is my order OM-104233?",
    ]


@pytest.mark.parametrize(
    "intents",
    [
        ["delivery_countries", "delivery_countries"],  # the same question twice
        ["delivery_countries", "nlu_fallback"],  # one part not understood alone
        ["payment_methods", "out_of_scope"],
        ["greet", "payment_methods"],
        ["order_status", "refund_status"],  # two lookups
        ["inform", "shipping_cost"],
    ],
)
def test_parts_that_cannot_be_answered_apart_are_not_cut(intents: list[str]) -> None:
    assert answer_order(["a b", "c d"], intents) is None


def run_split(
    message: str, meanings: dict[str, str], *, loop: str | None = None, down: bool = False
) -> tuple[list[str], list[str]]:
    asked: list[str] = []

    async def parse(text: str) -> Interpretation:
        if down:
            raise RasaUnavailableError("down")
        asked.append(text)
        intent = meanings.get(text, "nlu_fallback")
        return Interpretation(
            intent=intent, confidence=0.9, parse={"text": text, "intent": {"name": intent}}
        )

    async def waiting_for() -> str | None:
        return loop

    parts = asyncio.run(
        split_message(message, ui_language="fr", parse=parse, waiting_for=waiting_for)
    )
    # A part sent whole was not parsed here; a cut part carries the parse of its own text.
    for part in parts:
        if part.parse is None:
            assert parts == [Part(message)]
        else:
            assert part.parse["text"] == part.text
            assert part.parse["intent"]["name"] == meanings[part.text]
    return [part.text for part in parts], asked


MESSAGE = "Livrez-vous en Suisse et combien coûte la livraison ?"
MEANINGS = {
    "Livrez-vous en Suisse ?": "delivery_countries",
    "combien coûte la livraison ?": "shipping_cost",
}


def test_a_message_with_two_understood_requests_is_sent_as_two() -> None:
    parts, asked = run_split(MESSAGE, MEANINGS)
    assert parts == ["Livrez-vous en Suisse ?", "combien coûte la livraison ?"]
    assert asked == parts


@pytest.mark.parametrize("waiting", ["order_lookup_form", "paused"])
def test_a_message_answering_a_form_or_to_a_person_is_sent_whole_without_parsing(
    waiting: str,
) -> None:
    parts, asked = run_split(MESSAGE, MEANINGS, loop=waiting)
    assert parts == [MESSAGE] and asked == []


def test_rasa_unreachable_for_the_parse_sends_the_message_whole() -> None:
    assert run_split(MESSAGE, MEANINGS, down=True)[0] == [MESSAGE]


def test_a_part_not_understood_sends_the_message_whole() -> None:
    parts, _ = run_split(MESSAGE, {"Livrez-vous en Suisse ?": "delivery_countries"})
    assert parts == [MESSAGE]
