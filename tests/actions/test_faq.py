"""action_answer_faq: any intent without a rule gets its shop's text, else the fallback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa_sdk.events import UserUtteranceReverted

from actions.faq import ActionAnswerFaq, faq_response
from bot.answers.library import clear_caches
from bot.shops import DEFAULT_STORES_DIR
from tests.actions.conftest import make_tracker


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy = tmp_path / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, copy)
    monkeypatch.setenv("STORES_DIR", str(copy))
    clear_caches()
    yield copy
    clear_caches()


async def test_an_intent_with_a_text_is_answered_by_it(dispatcher, domain) -> None:
    tracker = make_tracker({"store": "btomic", "language": "en"}, intent="warranty")
    assert await ActionAnswerFaq().run(dispatcher, tracker, domain) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_warranty"]


async def test_an_intent_without_a_text_falls_back(dispatcher, domain) -> None:
    tracker = make_tracker({"store": "btomic"}, intent="affirm")
    events = await ActionAnswerFaq().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_default"]
    assert events == [UserUtteranceReverted()]


async def test_a_text_added_to_a_shop_is_answered_at_once(stores: Path, dispatcher, domain) -> None:
    assert faq_response("om-system", "gift_wrapping") is None
    texts = stores / "om-system" / "texts.yml"
    block = '\nutter_gift_wrapping:\n  fr: "Pas de paquet cadeau."\n  en: "No gift wrap."\n'
    texts.write_text(texts.read_text("utf-8") + block, "utf-8")
    clear_caches()
    assert faq_response("om-system", "gift_wrapping") == "utter_gift_wrapping"
    assert faq_response("btomic", "gift_wrapping") is None  # only the shop that wrote it
    tracker = make_tracker({"store": "om-system"}, intent="gift_wrapping")
    await ActionAnswerFaq().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_gift_wrapping"]
    assert faq_response("om-system", None) is None
