"""The hostile texts of `tests/hostile/corpus.py` through the real trained NLU pipeline.

The model `make test` trains (`models/bot.tar.gz`: the language detector, the spaCy
tokenizer, the featurizers, the classifier, the entity extractor) parses every text of the
corpus, cut to the most the NLU is ever given (the mail channel's `EMAIL_MAX_TEXT_CHARS`,
20,000 characters; the chat allows 2,000) and as the channels deliver it (stripped, valid
Unicode): each parse must give an intent, entities of the contract's types only, and take at
most a few seconds of CPU (of this process: other work on the machine does not count).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.hostile.corpus import MB, TEXTS, Case

pytestmark = pytest.mark.integration

TEXT_CAP = 20_000
CPU_BUDGET_S = 5.0
ENTITIES = {"order_number", "email", "postcode", "country", "language", "store"}


def parse(agent: Any, text: str) -> dict[str, Any]:
    from rasa.core.channels.channel import UserMessage

    message = UserMessage(text, metadata={"store": "om-system"})
    result: dict[str, Any] = asyncio.run(agent.processor.parse_message(message))
    return result


# The megabyte texts, cut to TEXT_CAP, would repeat the 20,000-character ones.
NLU_TEXTS = [case for case in TEXTS if not case.name.endswith(f"-{MB}")]


@pytest.mark.parametrize("case", NLU_TEXTS, ids=lambda case: case.name)
def test_every_hostile_text_parses_in_time(agent: Any, case: Case) -> None:
    # As the channels deliver it: stripped (an empty message never reaches Rasa: the chat
    # answers 422, the mail goes to a person) and valid Unicode (the gateway replaces a lone
    # surrogate of a JSON string; a decoded mail has none).
    text = case.value[:TEXT_CAP].encode("utf-8", "replace").decode("utf-8").strip()
    if not text:
        return
    started = time.process_time()
    result = parse(agent, text)
    elapsed = time.process_time() - started
    assert result["intent"]["name"], result["intent"]
    assert {entity["entity"] for entity in result["entities"]} <= ENTITIES
    assert elapsed < CPU_BUDGET_S, f"{case.name}: {elapsed:.2f} s of CPU"


def test_look_alike_order_numbers_are_not_order_numbers(agent: Any) -> None:
    for text in ("ОМ-104233", "𝐎𝐌-𝟏𝟎𝟒𝟐𝟑𝟑"):
        result = parse(agent, text)
        numbers = [e["value"] for e in result["entities"] if e["entity"] == "order_number"]
        assert numbers in ([], ["104233"]), numbers
