"""Rasa's REST channel checks the message's store where the message enters Rasa.

`bot.rasa_ext.rest_channel.TokenRestInput.get_metadata` runs the one check
(`bot.shops.resolve_store`) on the `store` metadata of every message posted to
`/webhooks/rest/webhook`; the NLU component reads it as it is (test_language_detector.py).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from bot.rasa_ext.rest_channel import TokenRestInput, metadata_with_checked_store


@pytest.fixture(autouse=True)
def no_default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFAULT_STORE", raising=False)


def test_a_shop_of_the_registry_passes_normalised_with_the_other_keys() -> None:
    sent = {"store": " BTOMIC ", "channel": "web", "message_id": "m1"}
    assert metadata_with_checked_store(sent) == {
        "store": "btomic",
        "channel": "web",
        "message_id": "m1",
    }
    assert sent["store"] == " BTOMIC "  # the caller's dict is not changed


def test_an_unknown_store_becomes_the_default_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.shops"):
        assert metadata_with_checked_store({"store": "amazon"}) == {"store": "om-system"}
    assert "Unknown store 'amazon'" in caplog.text


@pytest.mark.parametrize("metadata", [None, {}, "not a mapping", {"store": 42}])
def test_no_store_said_is_the_deployments_default(
    metadata: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert metadata_with_checked_store(metadata)["store"] == "om-system"
    # DEFAULT_STORE reaches Rasa's entry too: a REST call naming no store answers for it.
    monkeypatch.setenv("DEFAULT_STORE", "btomic")
    assert metadata_with_checked_store(metadata)["store"] == "btomic"


def test_the_channel_hands_the_checked_metadata_to_rasa() -> None:
    channel = TokenRestInput()
    request = SimpleNamespace(
        json={"sender": "s", "message": "hi", "metadata": {"store": "BTOMIC"}}
    )
    assert channel.get_metadata(request) == {"store": "btomic"}
    assert channel.get_metadata(SimpleNamespace(json={"sender": "s"})) == {"store": "om-system"}
