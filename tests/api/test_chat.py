"""The web chat proxy `POST /api/chat`, against a real scripted HTTP server in place of Rasa."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.api.schemas import SENDER_ID_PATTERN
from bot.payloads import NEUTRALISER, PayloadSigner
from devstack.stack import free_port
from tests.api.conftest import MakeClient, gateway_settings
from tests.api.servers import FakeRasa, GatewayServer

SENDER = "abcDEF123_-x"


def chat_body(message: str = "Bonjour", **extra: Any) -> dict[str, Any]:
    return {"sender_id": SENDER, "message": message, **extra}


def test_forwards_the_message_to_rasa_with_store_language_and_channel(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client()
    response = client.post(
        "/api/chat", json=chat_body("  Bonjour  ", store="btomic", language="fr-FR")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "messages": [{"text": "echo: Bonjour", "buttons": [], "image": None, "part": 0}],
        "handoff": None,  # no person expected (the support console's live handoff)
        "resend": False,
        "failed_parts": [],
    }
    sent = fake_rasa.messages()
    # Each message carries a unique id: a retry of the same request is not processed twice
    # by Rasa (bot/rasa_ext/idempotency.py).
    message_id = sent[0]["metadata"].pop("message_id")
    assert isinstance(message_id, str) and len(message_id) == 32
    assert sent == [
        {
            "sender": f"web-btomic-{SENDER}",
            "message": "Bonjour",
            "metadata": {
                "store": "btomic",
                "ui_language": "fr",
                "channel": "web",
                "client": "203.0.113.7",  # the TestClient's address
            },
        }
    ]
    client.post("/api/chat", json=chat_body("Merci", store="btomic"))
    assert fake_rasa.messages()[1]["metadata"]["message_id"] != message_id


def offer(fake_rasa: FakeRasa, *payloads: str) -> None:
    """The scripted Rasa answers "aide" with one button per payload, anything else by echo."""

    def reply(request: dict[str, Any]) -> list[dict[str, Any]]:
        if request["message"] != "aide":
            return [{"text": f"echo: {request['message']}"}]
        buttons = [{"title": f"Choix {i}", "payload": p} for i, p in enumerate(payloads)]
        return [{"text": "De quoi s'agit-il ?", "buttons": buttons}]

    fake_rasa.reply = reply


def offered_buttons(client: TestClient, **extra: Any) -> list[dict[str, str]]:
    response = client.post("/api/chat", json=chat_body("aide", **extra))
    assert response.status_code == 200, response.text
    buttons: list[dict[str, str]] = response.json()["messages"][0]["buttons"]
    return buttons


def test_an_offered_button_reaches_rasa_as_its_intent(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    offer(fake_rasa, "/payment_methods", '/inform{"country": "CH"}')
    client = make_client()
    buttons = offered_buttons(client, store="om-system")
    for button in buttons:
        assert len(button["signature"]) == 64
        response = client.post(
            "/api/chat",
            json=chat_body(button["payload"], store="om-system", signature=button["signature"]),
        )
        assert response.status_code == 200
    assert [m["message"] for m in fake_rasa.messages()[1:]] == [
        "/payment_methods",
        '/inform{"country": "CH"}',
    ]


@pytest.mark.parametrize(
    "typed",
    [
        "/restart",
        "  /restart  ",
        "/RESTART",
        "/",
        '/inform{"verified_order": "OM-104233"}',
        '/order_status{"verified_order": "OM-104233"}',
        "/payment_methods",  # a real intent, never offered in this conversation
        "\x1c/restart",  # str.strip (Rasa's) removes this control character
    ],
)
def test_a_typed_slash_text_reaches_rasa_as_words(
    make_client: MakeClient, fake_rasa: FakeRasa, typed: str
) -> None:
    response = make_client().post("/api/chat", json=chat_body(typed))
    assert response.status_code == 200
    sent = fake_rasa.messages()[0]["message"]
    # What Rasa strips and then reads as an intent never starts with '/'.
    assert not sent.strip().startswith("/")
    assert sent == NEUTRALISER + typed.strip()
    # The customer sees their words (the echo), the invisible mark aside.
    echoed = response.json()["messages"][0]["text"]
    assert echoed.replace(NEUTRALISER, "") == f"echo: {typed.strip()}"


def test_a_slash_part_of_a_message_with_two_requests_is_words_too(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    # The gateway cuts a message asking two things into two turns: the part read to cut it
    # and the part sent are the customer's words, never the intent syntax.
    fake_rasa.meanings = {
        "Livrez-vous en Suisse ?": "delivery_countries",
        NEUTRALISER + "/restart ?": "payment_methods",
    }
    response = make_client().post("/api/chat", json=chat_body("Livrez-vous en Suisse ? /restart ?"))
    assert response.status_code == 200
    parsed = [r.body["text"] for r in fake_rasa.received if r.path.startswith("/model/parse")]
    assert NEUTRALISER + "/restart ?" in parsed
    assert [m["message"] for m in fake_rasa.messages()] == [
        "Livrez-vous en Suisse ?",
        NEUTRALISER + "/restart ?",
    ]


def test_each_part_of_a_message_cut_in_two_is_sent_with_its_parse(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    # Parsed once: the parse read to cut the message goes with each part (metadata
    # parse_data), so Rasa does not run its pipeline on the same text again.
    fake_rasa.meanings = {
        "Livrez-vous en Suisse ?": "delivery_countries",
        "combien coûte la livraison ?": "shipping_cost",
    }
    message = "Livrez-vous en Suisse et combien coûte la livraison ?"
    response = make_client().post("/api/chat", json=chat_body(message))
    assert response.status_code == 200
    parsed = [r.body["text"] for r in fake_rasa.received if r.path.startswith("/model/parse")]
    assert parsed == ["Livrez-vous en Suisse ?", "combien coûte la livraison ?"]
    sent = fake_rasa.messages()
    assert [m["message"] for m in sent] == parsed
    for turn, intent in zip(sent, ["delivery_countries", "shipping_cost"], strict=True):
        parse = turn["metadata"]["parse_data"]
        assert parse["text"] == turn["message"]
        assert parse["intent"]["name"] == intent


def test_a_message_sent_whole_carries_no_parse(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    # Not cut (one part not understood alone): Rasa parses the whole message itself.
    fake_rasa.meanings = {"Livrez-vous en Suisse ?": "delivery_countries"}
    message = "Livrez-vous en Suisse et combien coûte la livraison ?"
    make_client().post("/api/chat", json=chat_body(message))
    (turn,) = fake_rasa.messages()
    assert turn["message"] == message
    assert "parse_data" not in turn["metadata"]


def test_a_signature_holds_for_its_payload_and_conversation_only(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    offer(fake_rasa, "/payment_methods")
    client = make_client()
    (button,) = offered_buttons(client, store="om-system")
    signature = button["signature"]
    attempts = [
        # Another payload with this signature.
        chat_body("/restart", store="om-system", signature=signature),
        chat_body('/payment_methods{"verified_order": "OM-104233"}', signature=signature),
        # The same payload and signature in another conversation, or the other shop's.
        {**chat_body("/payment_methods", signature=signature), "sender_id": "another-one-42"},
        chat_body("/payment_methods", store="btomic", signature=signature),
        # A forged or truncated signature.
        chat_body("/payment_methods", store="om-system", signature="0" * 64),
        chat_body("/payment_methods", store="om-system", signature=signature[:-1]),
        chat_body("/payment_methods", store="om-system", signature=signature.upper()),
    ]
    for body in attempts:
        assert client.post("/api/chat", json=body).status_code == 200
    sent = [m["message"] for m in fake_rasa.messages()[1:]]
    assert len(sent) == len(attempts)
    assert all(m.startswith(NEUTRALISER) for m in sent), sent


def test_gateways_sharing_the_console_secret_accept_each_others_buttons(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    offer(fake_rasa, "/payment_methods")
    secret = "s" * 40
    first = make_client(console_session_secret=secret)
    (button,) = offered_buttons(first)
    second = make_client(console_session_secret=secret)
    other = make_client(console_session_secret="o" * 40)
    for client in (second, other):
        body = chat_body(button["payload"], signature=button["signature"])
        assert client.post("/api/chat", json=body).status_code == 200
    assert [m["message"] for m in fake_rasa.messages()[1:]] == [
        "/payment_methods",
        NEUTRALISER + "/payment_methods",
    ]


def test_new_conversation_restarts_the_old_one_and_gives_a_fresh_id(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client()
    response = client.post("/api/chat/new", json={"sender_id": SENDER, "store": "btomic"})
    assert response.status_code == 200, response.text
    fresh = response.json()["sender_id"]
    assert re.fullmatch(SENDER_ID_PATTERN, fresh) and fresh != SENDER
    assert fake_rasa.events_for(f"web-btomic-{SENDER}") == [{"event": "restart"}]
    again = client.post("/api/chat/new", json={"sender_id": SENDER}).json()["sender_id"]
    assert again != fresh
    # Without a conversation to leave, only a fresh id.
    before = len(fake_rasa.received)
    assert client.post("/api/chat/new", json={}).status_code == 200
    assert len(fake_rasa.received) == before


def test_new_conversation_with_rasa_down_is_a_503(
    make_client: MakeClient, dead_rasa_url: str
) -> None:
    response = make_client(rasa_url=dead_rasa_url).post("/api/chat/new", json={"sender_id": SENDER})
    assert response.status_code == 503
    assert response.json() == {"error": "assistant_unavailable"}


@pytest.mark.parametrize("body", [{"sender_id": "bad id"}, {"sender_id": "x" * 65}, []])
def test_new_conversation_refuses_a_malformed_id(make_client: MakeClient, body: Any) -> None:
    response = make_client().post("/api/chat/new", json=body)
    assert response.status_code == 422


def test_a_lone_surrogate_is_replaced_before_rasa(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client()
    response = client.post(
        "/api/chat",
        content=b'{"sender_id": "abcDEF123_-x", "message": "OM-104233 \\ud800 ?"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert fake_rasa.messages()[0]["message"] == "OM-104233 ? ?"


def test_unknown_store_falls_back_to_the_default_and_is_logged(
    make_client: MakeClient, fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(default_store="om-system")
    with caplog.at_level(logging.WARNING, logger="bot.api.routes.chat"):
        response = client.post("/api/chat", json=chat_body(store="shop-of-nowhere", language="de"))
    assert response.status_code == 200
    sent = fake_rasa.messages()[0]
    assert sent["sender"] == f"web-om-system-{SENDER}"
    assert {k: v for k, v in sent["metadata"].items() if k != "message_id"} == {
        "store": "om-system",
        "ui_language": None,
        "channel": "web",
        "client": "203.0.113.7",
    }
    assert "shop-of-nowhere" in caplog.text


def test_missing_store_uses_the_default_without_a_warning(
    make_client: MakeClient, fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(default_store="btomic")
    with caplog.at_level(logging.WARNING, logger="bot.api.routes.chat"):
        assert client.post("/api/chat", json=chat_body()).status_code == 200
    assert fake_rasa.messages()[0]["metadata"]["store"] == "btomic"
    assert [r for r in caplog.records if r.name == "bot.api.routes.chat"] == []


def test_rasa_messages_become_text_buttons_and_images(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    fake_rasa.reply = lambda request: [
        {
            "recipient_id": request["sender"],
            "text": "De quoi s'agit-il ?",
            "buttons": [
                {"title": "Livraison", "payload": "/delivery_time"},
                {"title": "broken"},  # no payload: not a usable quick reply
            ],
        },
        {"recipient_id": request["sender"], "image": "https://example.com/colis.png"},
        {"recipient_id": request["sender"], "custom": {"kind": "not for the widget"}},
        {"recipient_id": request["sender"], "text": "   "},
    ]
    client = make_client(console_session_secret="k" * 40, default_store="om-system")
    response = client.post("/api/chat", json=chat_body())
    assert response.status_code == 200
    assert response.json() == {
        "messages": [
            {
                "text": "De quoi s'agit-il ?",
                "buttons": [
                    {
                        "title": "Livraison",
                        "payload": "/delivery_time",
                        "signature": PayloadSigner.from_secret("k" * 40).sign(
                            f"web-om-system-{SENDER}", "/delivery_time"
                        ),
                    }
                ],
                "image": None,
                "part": 0,
            },
            {"text": None, "buttons": [], "image": "https://example.com/colis.png", "part": 0},
        ],
        "handoff": None,
        "resend": False,
        "failed_parts": [],
    }


def test_one_shared_client_reuses_the_connection_to_rasa(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client()
    for _ in range(3):
        assert client.post("/api/chat", json=chat_body()).status_code == 200
    ports = {r.client_port for r in fake_rasa.received}
    assert len(fake_rasa.received) == 3
    assert len(ports) == 1, "each message opened a new connection to Rasa"


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["", "   ", "\n\t "])
def test_an_empty_message_is_refused_with_422(
    make_client: MakeClient, fake_rasa: FakeRasa, message: str
) -> None:
    response = make_client().post("/api/chat", json=chat_body(message))
    assert response.status_code == 422
    assert response.json()["error"] == "empty_message"
    assert fake_rasa.received == []


def test_a_message_over_the_limit_is_refused_with_413(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client()
    assert client.post("/api/chat", json=chat_body("a" * 2000)).status_code == 200
    response = client.post("/api/chat", json=chat_body("a" * 2001))
    assert response.status_code == 413
    assert response.json() == {"error": "message_too_long", "max_chars": 2000}
    assert len(fake_rasa.received) == 1


def test_the_limit_comes_from_the_settings(make_client: MakeClient) -> None:
    response = make_client(max_message_chars=10).post("/api/chat", json=chat_body("x" * 11))
    assert response.status_code == 413
    assert response.json() == {"error": "message_too_long", "max_chars": 10}


def test_a_huge_body_is_refused_before_it_is_parsed(make_client: MakeClient) -> None:
    body = b'{"sender_id": "abcdefgh", "message": "' + b"a" * 200_000 + b'"}'
    response = make_client().post(
        "/api/chat", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"error": "message_too_long", "max_chars": 2000}


def test_a_body_without_length_is_refused(make_client: MakeClient) -> None:
    def chunks() -> Any:
        yield b'{"sender_id": "abcdefgh", "message": "hi"}'

    response = make_client().post(
        "/api/chat", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 411
    assert response.json() == {"error": "length_required"}


def test_broken_json_gets_a_json_422_without_a_trace(make_client: MakeClient) -> None:
    response = make_client().post(
        "/api/chat",
        content=b'{"sender_id": "abcdefgh", "message": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "invalid_json"
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "Bonjour"}, "sender_id"),
        ({"sender_id": "short", "message": "Bonjour"}, "sender_id"),
        ({"sender_id": "has spaces in it", "message": "Bonjour"}, "sender_id"),
        ({"sender_id": "x" * 65, "message": "Bonjour"}, "sender_id"),
        ({"sender_id": "abcdefgh\n", "message": "Bonjour"}, "sender_id"),
        ({"sender_id": "abcdefgh"}, "message"),
        ({"sender_id": "abcdefgh", "message": 42}, "message"),
    ],
)
def test_invalid_fields_are_named_in_the_422(
    make_client: MakeClient, body: dict[str, Any], field: str
) -> None:
    response = make_client().post("/api/chat", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["error"] == "invalid_request"
    assert [d["field"] for d in payload["detail"]] == [field]
    assert "input" not in payload["detail"][0]


# --- Rasa down, slow or broken -------------------------------------------------------------


def test_rasa_unreachable_gives_503(make_client: MakeClient, dead_rasa_url: str) -> None:
    response = make_client(rasa_url=dead_rasa_url).post("/api/chat", json=chat_body())
    assert response.status_code == 503
    assert response.json() == {"error": "assistant_unavailable"}


def test_rasa_too_slow_gives_504(make_client: MakeClient, fake_rasa: FakeRasa) -> None:
    fake_rasa.delay_s = 3.0
    response = make_client(rasa_timeout_s=0.3).post("/api/chat", json=chat_body())
    assert response.status_code == 504
    assert response.json() == {"error": "assistant_timeout"}


def test_rasa_error_status_gives_503(make_client: MakeClient, fake_rasa: FakeRasa) -> None:
    fake_rasa.status_code = 500
    response = make_client().post("/api/chat", json=chat_body())
    assert response.status_code == 503
    assert response.json() == {"error": "assistant_unavailable"}


@pytest.mark.parametrize("raw", [b"<html>proxy error</html>", b'{"not": "a list"}', b"[1, 2]"])
def test_rasa_garbage_gives_503(make_client: MakeClient, fake_rasa: FakeRasa, raw: bytes) -> None:
    fake_rasa.raw_body = raw
    response = make_client().post("/api/chat", json=chat_body())
    assert response.status_code == 503
    assert response.json() == {"error": "assistant_unavailable"}


def test_an_unexpected_error_gives_a_json_500_and_is_logged(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    def explode() -> None:
        raise RuntimeError("secret internal detail")

    client.app.add_api_route("/api/explode", explode)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="bot.api.middleware"):
        response = client.get("/api/explode")
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error"}
    assert "secret" not in response.text
    assert "RuntimeError: secret internal detail" in caplog.text  # the trace is in the log


# --- rate limit ----------------------------------------------------------------------------


def test_a_client_over_its_budget_gets_429_with_retry_after(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client(chat_rate_limit_messages=3, chat_rate_limit_window_s=60.0)
    for _ in range(3):
        assert client.post("/api/chat", json=chat_body()).status_code == 200
    refused = client.post("/api/chat", json=chat_body())
    assert refused.status_code == 429
    # One token every 20 s (3 per 60 s).
    assert refused.json() == {"error": "rate_limited", "retry_after_s": 20}
    assert refused.headers["Retry-After"] == "20"
    assert len(fake_rasa.received) == 3


def test_each_client_ip_has_its_own_budget(fake_rasa: FakeRasa) -> None:
    # Two real client addresses need a real server: 127.0.0.1 and 127.0.0.2 are both loopback.
    app = create_app(
        gateway_settings(fake_rasa.url, chat_rate_limit_messages=2, chat_rate_limit_window_s=60.0)
    )
    gateway = GatewayServer(app).start()
    try:
        first = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.1"))
        second = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with first, second:
            url = f"{gateway.url}/api/chat"
            assert [first.post(url, json=chat_body()).status_code for _ in range(3)] == [
                200,
                200,
                429,
            ]
            assert second.post(url, json=chat_body()).status_code == 200
    finally:
        gateway.stop()


def test_health_is_not_rate_limited(make_client: MakeClient) -> None:
    client = make_client(chat_rate_limit_messages=1)
    assert client.post("/api/chat", json=chat_body()).status_code == 200
    assert client.post("/api/chat", json=chat_body()).status_code == 429
    assert client.get("/health").status_code == 200


def test_a_body_that_is_not_utf8_gets_the_chats_json_error(make_client: MakeClient) -> None:
    # Found by the hostile corpus: FastAPI's own answer was a 400 {"detail": ...}.
    response = make_client().post(
        "/api/chat",
        content=b'{"sender_id": "abcdefgh", "message": "\xc3\x28\xff"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_json"


# --- resends: the widget's client message id, Rasa restarting --------------------------------


def test_the_client_message_id_is_rasas_message_id_on_each_resend(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client()
    for _ in range(2):  # the widget's resend after a network error: the same id
        response = client.post("/api/chat", json=chat_body(client_message_id="m" + "a1" * 16))
        assert response.status_code == 200
    other = client.post("/api/chat", json=chat_body(client_message_id="m" + "b2" * 16))
    assert other.status_code == 200
    ids = [m["metadata"]["message_id"] for m in fake_rasa.messages()]
    # Prefixed, so that it never equals an id the gateway draws itself; per part of a message.
    assert ids == [f"web:m{'a1' * 16}:0", f"web:m{'a1' * 16}:0", f"web:m{'b2' * 16}:0"]


NOTICE_EN = "I couldn't process that message just now: please send it again."


def test_a_turn_whose_action_failed_asks_for_a_resend(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    """Rasa's "send it again" turn (an action cut off, bot/rasa_ext/action_failures.py): the
    notice is the answer, ``resend`` tells the widget to keep the text and its id."""
    fake_rasa.reply = lambda request: [
        {"recipient_id": request["sender"], "text": NOTICE_EN},
        {"recipient_id": request["sender"], "custom": {"turn_failed": "action_human_handoff"}},
    ]
    response = make_client().post("/api/chat", json=chat_body("I want a human"))
    assert response.status_code == 200
    assert response.json() == {
        "messages": [{"text": NOTICE_EN, "buttons": [], "image": None, "part": 0}],
        "handoff": None,
        "resend": True,
        "failed_parts": [0],
    }


def test_a_message_in_parts_says_which_part_each_answer_and_failure_is(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    """Two requests in one message, the second's action cut: the first part's answer is an
    answer (part 0), the notice is part 1's, and only part 1 is to be sent again."""
    fake_rasa.meanings = {
        "Livrez-vous en Suisse ?": "delivery_countries",
        "Where is my order OM-104233?": "order_status",
    }

    def reply(request: dict[str, Any]) -> list[dict[str, Any]]:
        if request["message"].startswith("Where"):
            return [
                {"recipient_id": request["sender"], "text": NOTICE_EN},
                {"recipient_id": request["sender"], "custom": {"turn_failed": "validate_x"}},
            ]
        return [{"recipient_id": request["sender"], "text": "Oui."}]

    fake_rasa.reply = reply
    response = make_client().post(
        "/api/chat",
        json=chat_body(
            "Livrez-vous en Suisse ? Where is my order OM-104233?",
            client_message_id="m" + "c3" * 16,
        ),
    )
    assert response.status_code == 200
    body = response.json()
    assert [(m["text"], m["part"]) for m in body["messages"]] == [("Oui.", 0), (NOTICE_EN, 1)]
    assert body["resend"] is True and body["failed_parts"] == [1]
    ids = [m["metadata"]["message_id"] for m in fake_rasa.messages()]
    assert ids == [f"web:m{'c3' * 16}:0", f"web:m{'c3' * 16}:1"]


def test_a_resend_of_a_message_sent_in_parts_is_cut_the_same_way(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    """The first try's second part started a form (its proof check then cut): the resend is
    still cut in the same parts, each with its id, instead of being sent whole as the form's
    answer under part 0's id (which would bring back part 0's answer, and nothing else)."""
    fake_rasa.meanings = {
        "Livrez-vous en Suisse ?": "delivery_countries",
        "Où en est ma commande OM-104233 ?": "order_status",
    }
    message = "Livrez-vous en Suisse ? Où en est ma commande OM-104233 ?"
    client = make_client()
    body = chat_body(message, client_message_id="m" + "d4" * 16)
    first = client.post("/api/chat", json=body)
    assert first.status_code == 200
    parts = ["Livrez-vous en Suisse ?", "Où en est ma commande OM-104233 ?"]
    assert [m["message"] for m in fake_rasa.messages()] == parts
    # Now the form waits; the tracker holds the first try's parts, ids included.
    fake_rasa.tracker_extra = {
        "active_loop": {"name": "order_lookup_form"},
        "events": [
            {"event": "user", "text": m["message"], "metadata": m["metadata"]}
            for m in fake_rasa.messages()
        ],
    }
    again = client.post("/api/chat", json=body)
    assert again.status_code == 200
    sent = fake_rasa.messages()[2:]
    assert [m["message"] for m in sent] == parts
    assert [m["metadata"]["message_id"] for m in sent] == [
        f"web:m{'d4' * 16}:0",
        f"web:m{'d4' * 16}:1",
    ]
    # Another message while the form waits is its answer: sent whole, as before.
    other = client.post(
        "/api/chat", json=chat_body(message + " ", client_message_id="m" + "e5" * 16)
    )
    assert other.status_code == 200
    assert fake_rasa.messages()[-1]["message"] == message


@pytest.mark.parametrize(
    "hostile",
    [
        "short",
        "x" * 65,
        "m" + "a" * 20 + "\n",
        "../../etc/passwd-aaaaaaaa",
        "m" + "a" * 20 + ":0",
        "ｍ" + "a" * 20,
        12345678901234567890,
        ["m" + "a" * 20],
    ],
    ids=["short", "long", "newline", "path", "colon", "fullwidth", "number", "list"],
)
def test_a_hostile_client_message_id_gets_a_clear_422(
    make_client: MakeClient, fake_rasa: FakeRasa, hostile: Any
) -> None:
    response = make_client().post("/api/chat", json=chat_body(client_message_id=hostile))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert any(d["field"].endswith("client_message_id") for d in body["detail"]), body
    assert fake_rasa.messages() == []  # nothing reached Rasa


def test_a_chat_turn_waits_for_rasa_to_come_back(make_client: MakeClient) -> None:
    """Rasa restarting (nothing listens on its port yet): the gateway sends the turn again
    until it comes back, within RASA_RESTART_WAIT_S, and the customer gets the answer."""
    port = free_port()
    client = make_client(rasa_url=f"http://127.0.0.1:{port}", rasa_restart_wait_s=120.0)
    answers: list[Any] = []
    sender = threading.Thread(
        target=lambda: answers.append(client.post("/api/chat", json=chat_body("Revenu ?")))
    )
    sender.start()
    time.sleep(1.0)  # not a measure: lets the gateway find the port closed first
    restarted = FakeRasa(port=port).start()
    try:
        sender.join(timeout=120)
        (response,) = answers
        assert response.status_code == 200, response.text
        assert [m["text"] for m in response.json()["messages"]] == ["echo: Revenu ?"]
        assert len(restarted.messages()) == 1  # sent once it could be
    finally:
        restarted.stop()
