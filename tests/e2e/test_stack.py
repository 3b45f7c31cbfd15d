"""The foundation end to end: the three real processes start and answer."""

from __future__ import annotations

import httpx
import pytest

from bot.stack import PortInUseError, Stack, action_service, port_is_free
from tests.conftest import LiveStack, new_sender, texts


def test_every_process_answers_its_health_check(live_stack: LiveStack) -> None:
    status = httpx.get(f"{live_stack.rasa_url}/status", timeout=10).json()
    assert status["model_file"].endswith(".tar.gz")
    assert httpx.get(f"{live_stack.action_url}/health", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{live_stack.gateway_url}/health", timeout=10).json()["status"] == "ok"


def test_rest_channel_answers_with_the_trained_model(live_stack: LiveStack) -> None:
    messages = live_stack.say("Bonjour !", sender=new_sender())
    assert texts(messages).strip(), messages


def test_a_taken_port_gives_a_clear_message(live_stack: LiveStack) -> None:
    taken = int(live_stack.action_url.rsplit(":", 1)[1])
    assert not port_is_free(taken)
    with pytest.raises(
        PortInUseError, match=f"Port {taken} for the action server is already in use"
    ):
        Stack([action_service(port=taken)]).check_ports()


def test_current_rasa_sdk_serves_custom_actions_to_rasa_3_6(live_stack: LiveStack) -> None:
    # Rasa 3.6.21 (Python 3.10) calls the action server of the app environment, which runs
    # the current rasa-sdk on Python 3.11: the HTTP/JSON action protocol must still work.
    rasa_version = httpx.get(f"{live_stack.rasa_url}/version", timeout=10).json()["version"]
    assert rasa_version == "3.6.21"
    sender = new_sender()
    answer = texts(
        live_stack.say("Livrez-vous en Suisse ?", sender=sender, metadata={"store": "om-system"})
    )
    assert "Suisse" in answer and "Klarna" in answer
    events = live_stack.tracker(sender)["events"]
    actions = [e["name"] for e in events if e["event"] == "action"]
    assert "action_delivery_countries" in actions
