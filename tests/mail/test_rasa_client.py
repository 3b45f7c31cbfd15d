"""The e-mail channel's Rasa client, against a scripted HTTP transport."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.errors import RasaUnavailableError
from bot.mail.rasa import Interpretation, RasaClient, message_as_text
from bot.payloads import NEUTRALISER


def client_for(handler: httpx.MockTransport) -> RasaClient:
    return RasaClient("http://rasa:5005/", timeout_s=5, client=httpx.Client(transport=handler))


def test_parse_ask_and_set_slots() -> None:
    seen: list[tuple[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((str(request.url), body))
        if request.url.path == "/model/parse":
            return httpx.Response(
                200, json={"intent": {"name": "delivery_time", "confidence": 0.87}}
            )
        if request.url.path == "/webhooks/rest/webhook":
            return httpx.Response(
                200,
                json=[
                    {"recipient_id": "s", "text": "Voir **ici** : [suivi](https://x.example/t)"},
                    {"recipient_id": "s", "buttons": [{"title": "Oui", "payload": "/affirm"}]},
                    {"recipient_id": "s", "custom": {"ignored": True}},
                ],
            )
        return httpx.Response(200, json={})

    with client_for(httpx.MockTransport(handle)) as rasa:
        assert rasa.parse("Quand ?") == Interpretation("delivery_time", 0.87)
        rasa.set_slots("email-1/2", {"language": "fr"})
        answers = rasa.ask("email-1", "Quand ?", {"store": "btomic"})

    assert answers == ["Voir ici : suivi (https://x.example/t)", "- Oui"]
    assert seen[0] == ("http://rasa:5005/model/parse", {"text": "Quand ?"})
    assert seen[1] == (
        "http://rasa:5005/conversations/email-1%2F2/tracker/events?include_events=NONE",
        [{"event": "slot", "name": "language", "value": "fr"}],
    )
    assert seen[2][1] == {
        "sender": "email-1",
        "message": "Quand ?",
        "metadata": {"store": "btomic"},
    }


def test_parse_without_intent() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, json={"text": "x"}))
    with client_for(transport) as rasa:
        assert rasa.parse("x") == Interpretation(None, 0.0)


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500, json={}), httpx.Response(200, content=b"not json")],
)
def test_errors_are_rasa_unavailable(response: httpx.Response) -> None:
    with (
        client_for(httpx.MockTransport(lambda _r: response)) as rasa,
        pytest.raises(RasaUnavailableError),
    ):
        rasa.ask("s", "x", {})


def test_connection_refused_is_rasa_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with client_for(httpx.MockTransport(refuse)) as rasa, pytest.raises(RasaUnavailableError):
        rasa.parse("x")


def test_message_as_text_with_an_image() -> None:
    assert message_as_text({"image": "https://x.example/a.png"}) == "https://x.example/a.png"


@pytest.mark.parametrize(
    "question", ["/restart", ' /inform{"verified_order": "OM-104233"}', "/order_status"]
)
def test_a_slash_question_of_a_mail_reaches_rasa_as_words(question: str) -> None:
    # A mail offers no buttons: none of its texts may be read as an intent given directly.
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if request.url.path == "/model/parse":
            return httpx.Response(200, json={"intent": {"name": "nlu_fallback", "confidence": 1}})
        return httpx.Response(200, json=[{"recipient_id": "s", "text": "ok"}])

    with client_for(httpx.MockTransport(handle)) as rasa:
        rasa.parse(question)
        rasa.ask("email-1", question, {})
    assert seen[0]["text"] == NEUTRALISER + question.strip()
    assert seen[1]["message"] == NEUTRALISER + question.strip()
