"""The foundation end to end: the three real processes start and answer."""

from __future__ import annotations

import httpx
import pytest

from bot.answers.library import render
from devstack.stack import PortInUseError, Stack, action_service, port_is_free
from tests.conftest import LiveStack, new_sender, texts


def test_every_process_answers_its_health_check(live_stack: LiveStack) -> None:
    status = httpx.get(
        f"{live_stack.rasa_url}/status", params=live_stack.token_param, timeout=10
    ).json()
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
        Stack([action_service(port=taken, secret="unused")]).check_ports()


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


def test_a_message_delivered_twice_is_answered_twice_and_processed_once(
    live_stack: LiveStack,
) -> None:
    # nginx sends a request again to the next Rasa server when the first one fails, and a
    # server may fail after saving the turn: the same message id must not run the turn twice.
    sender = new_sender()
    metadata = {"store": "om-system", "message_id": "m-1"}
    first = live_stack.say("Où en est ma commande OM-104233 ?", sender=sender, metadata=metadata)
    again = live_stack.say("Où en est ma commande OM-104233 ?", sender=sender, metadata=metadata)
    assert texts(first).strip() and again == first
    events = live_stack.tracker(sender)["events"]
    users = [e["text"] for e in events if e["event"] == "user"]
    assert users == ["Où en est ma commande OM-104233 ?"]
    # The form asked for the e-mail once; a new message (new id) goes on with it.
    assert sum(1 for e in events if e["event"] == "bot") == len(first)
    answer = texts(
        live_stack.say(
            "marie.dupont@example.fr",
            sender=sender,
            metadata={"store": "om-system", "message_id": "m-2"},
        )
    )
    assert "JD014600003828461025" in answer
    # Messages without an id are processed as Rasa always did: each one is a turn.
    live_stack.say("merci", sender=sender)
    live_stack.say("merci", sender=sender)
    users = [e["text"] for e in live_stack.tracker(sender)["events"] if e["event"] == "user"]
    assert users[-2:] == ["merci", "merci"]


def test_a_question_its_channel_parsed_is_not_parsed_again(live_stack: LiveStack) -> None:
    # The e-mail channel parses each question to decide, then sends it with that parse
    # (bot/rasa_ext/reuse_parse.py): Rasa takes the parse instead of running the pipeline.
    text = "Livrez-vous en Suisse ?"
    parse = httpx.post(
        f"{live_stack.rasa_url}/model/parse",
        json={"text": text},
        params=live_stack.token_param,
        timeout=30,
    )
    parse.raise_for_status()
    # A parse the pipeline would never give this text shows which one Rasa used.
    thanks = {"name": "thank", "confidence": 1.0}
    sent = {**parse.json(), "intent": thanks, "intent_ranking": [thanks]}
    sender = new_sender()
    metadata = {"store": "btomic", "language": "en", "parse_data": sent}
    live_stack.say(text, sender=sender, metadata=metadata)
    [user] = [e for e in live_stack.tracker(sender)["events"] if e["event"] == "user"]
    assert user["parse_data"]["intent"]["name"] == "thank"
    # The entities of the message's metadata are those of this message, not of the parse's.
    found = {(e["entity"], e["value"]) for e in user["parse_data"]["entities"]}
    assert {("store", "btomic"), ("language", "en"), ("country", "CH")} <= found
    assert not {("store", "om-system"), ("language", "fr")} & found
    assert "parse_data" not in user["metadata"]  # stored once, not twice

    # The parse of another text is no parse of this one: the pipeline reads it.
    other = new_sender()
    live_stack.say("Bonjour", sender=other, metadata={"store": "btomic", "parse_data": sent})
    [user] = [e for e in live_stack.tracker(other)["events"] if e["event"] == "user"]
    assert user["parse_data"]["intent"]["name"] == "greet"


def test_rasas_rest_channel_checks_the_store_where_the_message_enters(
    live_stack: LiveStack,
) -> None:
    # A direct caller of Rasa's REST channel (no gateway in front): the channel checks the
    # store metadata (bot.rasa_ext.rest_channel); the NLU, the actions and the answer service
    # read what it chose. Unknown or unnamed: the deployment's default, never no answer.
    def store_and_answer(metadata: dict[str, object] | None) -> tuple[str, str]:
        sender = new_sender()
        question = "Comment retourner un article ?"
        answer = texts(live_stack.say(question, sender=sender, metadata=metadata))
        return live_stack.tracker(sender)["slots"]["store"], answer

    default, default_answer = store_and_answer(None)
    assert default == "om-system"  # the registry's default: the test stack sets no other
    assert store_and_answer({"store": "amazon"}) == (default, default_answer)
    assert store_and_answer({"store": 42}) == (default, default_answer)
    assert default_answer == render("utter_return_policy", "om-system", "fr")
    assert store_and_answer({"store": " BTOMIC "}) == (
        "btomic",
        render("utter_return_policy", "btomic", "fr"),
    )
