"""The one Rasa client (bot/rasa_client.py): both transports against the same scripted Rasa.

The gateway's asynchronous client and the mail processor's blocking one run the same calls;
every test below runs against both and must see the same requests, answers and errors.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.errors import RasaTurnFailedError, RasaUnavailableError
from bot.rasa_client import (
    BlockingRasaClient,
    Interpretation,
    RasaBadResponseError,
    RasaClient,
    RasaTimeoutError,
    events_call,
    make_blocking_client,
    make_http_client,
    message_as_text,
    status_call,
)

Handler = Callable[[httpx.Request], httpx.Response]
#: Runs one method of the client under test: ``await call("parse", "text")``.
Caller = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["gateway", "mail"])
def client_for(request: pytest.FixtureRequest) -> Callable[[Handler], Caller]:
    """Builds the client under test (async or blocking) around a scripted transport."""

    def build(handler: Handler) -> Caller:
        transport = httpx.MockTransport(handler)
        if request.param == "gateway":
            http = make_http_client(rasa_url="http://rasa:5005", timeout_s=5, token="s3cret")
            http._transport = transport
            client: Any = RasaClient(http)

            async def call(method: str, *args: Any, **kwargs: Any) -> Any:
                return await getattr(client, method)(*args, **kwargs)

            return call
        blocking_http = make_blocking_client(
            rasa_url="http://rasa:5005", timeout_s=5, token="s3cret"
        )
        blocking_http._transport = transport
        blocking = BlockingRasaClient(blocking_http)

        async def call_blocking(method: str, *args: Any, **kwargs: Any) -> Any:
            return getattr(blocking, method)(*args, **kwargs)

        return call_blocking

    return build


async def test_messages_go_to_the_rest_channel_with_metadata_and_token(
    client_for: Callable[[Handler], Caller],
) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"recipient_id": "s", "text": "Bonjour"}])

    call = client_for(handle)
    answer = await call("send_message", sender="web-1", message="Salut", metadata={"store": "x"})
    await call(
        "send_message", sender="web-1", message="Salut", metadata={"message_id": "email:a:0"}
    )
    assert answer == [{"recipient_id": "s", "text": "Bonjour"}]
    first, second = (json.loads(r.content) for r in seen)
    assert seen[0].url.path == "/webhooks/rest/webhook"
    assert seen[0].url.params["token"] == "s3cret"
    assert first["sender"] == "web-1" and first["message"] == "Salut"
    assert first["metadata"]["store"] == "x"
    # A fresh id per message unless the channel gives its own (a mail processed again).
    assert len(first["metadata"]["message_id"]) == 32
    assert second["metadata"]["message_id"] == "email:a:0"


async def test_parse_reads_intent_confidence_and_entities(
    client_for: Callable[[Handler], Caller],
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/model/parse"
        assert json.loads(request.content) == {"text": "Où est OM-104233 ?"}
        return httpx.Response(
            200,
            json={
                "intent": {"name": "order_status", "confidence": 0.91},
                "entities": [{"entity": "order_number", "value": "OM-104233"}, {"bad": 1}],
            },
        )

    call = client_for(handle)
    assert await call("parse", "Où est OM-104233 ?") == Interpretation(
        "order_status", 0.91, ("order_number",)
    )


async def test_parse_without_intent(client_for: Callable[[Handler], Caller]) -> None:
    call = client_for(lambda _r: httpx.Response(200, json={"text": "x"}))
    assert await call("parse", "x") == Interpretation(None, 0.0)


def gateway_client(handler: Handler) -> RasaClient:
    http = make_http_client(rasa_url="http://rasa:5005", timeout_s=5, token="s3cret")
    http._transport = httpx.MockTransport(handler)
    return RasaClient(http)


async def test_status_and_tracker_slots() -> None:
    seen: list[httpx.URL] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "bot.tar.gz"})
        return httpx.Response(200, json={"slots": {"language": "en"}})

    rasa = gateway_client(handle)
    assert await rasa.status() == {"model_file": "bot.tar.gz"}
    assert await rasa.slots("web-om/1") == {"language": "en"}
    assert seen[1].raw_path.startswith(b"/conversations/web-om%2F1/tracker?")
    # The call's own query and the token, together.
    assert seen[1].params["include_events"] == "NONE" and seen[1].params["token"] == "s3cret"


@pytest.mark.parametrize(
    ("tracker", "waiting"),
    [
        ({"active_loop": {"name": "order_lookup_form"}, "paused": False}, "order_lookup_form"),
        ({"active_loop": {}, "paused": True}, "paused"),
        ({"active_loop": {}, "paused": False}, None),
        ({"slots": {}}, None),
    ],
)
async def test_what_a_conversation_waits_for(tracker: dict[str, Any], waiting: str | None) -> None:
    seen: list[httpx.URL] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=tracker)

    assert await gateway_client(handle).waiting_for("web-om-1") == waiting
    assert seen[0].path == "/conversations/web-om-1/tracker"
    assert seen[0].params["include_events"] == "NONE"  # the slots only: no event read


@pytest.mark.parametrize(
    ("events", "waiting"),
    [
        # The message was sent before (its second part's id is stored): not waiting for it.
        ([{"event": "user", "metadata": {"message_id": "web:m1:1"}}], None),
        # Only other messages, or that id on no customer message: the form waits.
        ([{"event": "user", "metadata": {"message_id": "web:m1:0"}}], "order_lookup_form"),
        ([{"event": "bot", "metadata": {"message_id": "web:m1:1"}}], "order_lookup_form"),
        ([{"event": "user"}, "junk", {"event": "user", "metadata": []}], "order_lookup_form"),
        ([], "order_lookup_form"),
    ],
)
async def test_a_conversation_waits_for_nothing_from_a_message_it_already_holds(
    events: list[Any], waiting: str | None
) -> None:
    seen: list[httpx.URL] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(
            200, json={"active_loop": {"name": "order_lookup_form"}, "events": events}
        )

    rasa = gateway_client(handle)
    assert await rasa.waiting_for("web-om-1", unless_sent="web:m1:1") == waiting
    # The slots first; the events only because a form waits.
    assert [url.params["include_events"] for url in seen] == ["NONE", "AFTER_RESTART"]


async def test_nothing_waiting_reads_no_event() -> None:
    seen: list[httpx.URL] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"active_loop": {}, "paused": False})

    assert await gateway_client(handle).waiting_for("web-om-1", unless_sent="web:m1:1") is None
    assert [url.params["include_events"] for url in seen] == ["NONE"]


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 500, "json": {}},
        {"status_code": 200, "content": b"not json"},
        {"status_code": 200, "json": {"not": "a list"}},
    ],
    ids=["error-status", "not-json", "not-a-list"],
)
async def test_bad_answers_are_rasa_bad_response(
    client_for: Callable[[Handler], Caller], answer: dict[str, Any]
) -> None:
    call = client_for(lambda _r: httpx.Response(**answer))
    with pytest.raises(RasaBadResponseError):
        await call("send_message", sender="s", message="x", metadata={})


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (httpx.ConnectError("refused"), RasaUnavailableError),
        (httpx.ConnectTimeout("no route"), RasaUnavailableError),
        (httpx.ReadTimeout("slow"), RasaTimeoutError),
    ],
)
async def test_transport_failures_become_the_projects_errors(
    client_for: Callable[[Handler], Caller],
    exception: httpx.TransportError,
    error: type[RasaUnavailableError],
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        exception.request = request
        raise exception

    call = client_for(fail)
    with pytest.raises(error) as raised:
        await call("parse", "x")
    # A connect timeout is "unreachable" (503), not "slow" (504).
    assert isinstance(raised.value, RasaTimeoutError) == (error is RasaTimeoutError)


async def test_load_model_wants_204() -> None:
    answers = iter([httpx.Response(204), httpx.Response(400, json={"message": "no file"})])
    seen: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return next(answers)

    rasa = gateway_client(handle)
    await rasa.load_model("models/new.tar.gz")
    assert seen[0] == ("PUT", "/model", {"model_file": "models/new.tar.gz"})
    with pytest.raises(RasaBadResponseError):
        await rasa.load_model("models/missing.tar.gz")


def test_the_mail_reads_answers_as_text() -> None:
    seen: list[tuple[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), json.loads(request.content)))
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

    http = httpx.Client(base_url="http://rasa:5005", transport=httpx.MockTransport(handle))
    with BlockingRasaClient(http) as rasa:
        answers = rasa.ask("email-1", "Quand ?", {"store": "btomic", "language": "fr"})
    assert answers == ["Voir ici : suivi (https://x.example/t)", "- Oui"]
    assert seen[0][0] == "http://rasa:5005/webhooks/rest/webhook"
    assert http.is_closed


def test_the_mail_gets_no_answer_from_a_turn_whose_action_failed() -> None:
    """Rasa's "send it again" notice (an action cut off, bot/rasa_ext/action_failures.py) is
    no answer to a mail: the client raises, and the mail is retried as when Rasa is down."""
    notice = "I couldn't process that message just now: please send it again."

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {"recipient_id": "s", "text": notice},
                {"recipient_id": "s", "custom": {"turn_failed": "action_refund_status"}},
            ],
        )

    http = httpx.Client(base_url="http://rasa:5005", transport=httpx.MockTransport(handle))
    with BlockingRasaClient(http) as rasa, pytest.raises(RasaTurnFailedError) as caught:
        rasa.ask("email-1", "Where is my refund?", {"store": "btomic", "language": "en"})
    assert isinstance(caught.value, RasaUnavailableError)
    assert "action_refund_status" in str(caught.value)


def test_message_as_text_with_an_image() -> None:
    assert message_as_text({"image": "https://x.example/a.png"}) == "https://x.example/a.png"


# --- Rasa restarting: calls sent again, the message with the same id --------------------------


@pytest.fixture(params=["gateway", "mail"])
def waiting_client_for(request: pytest.FixtureRequest) -> Callable[..., Caller]:
    """The client under test with a restart wait (``RASA_RESTART_WAIT_S``)."""

    def build(handler: Handler, wait_s: float = 30.0) -> Caller:
        transport = httpx.MockTransport(handler)
        if request.param == "gateway":
            http = make_http_client(rasa_url="http://rasa:5005", timeout_s=5)
            http._transport = transport
            client: Any = RasaClient(http, restart_wait_s=wait_s)

            async def call(method: str, *args: Any, **kwargs: Any) -> Any:
                return await getattr(client, method)(*args, **kwargs)

            return call
        blocking_http = make_blocking_client(rasa_url="http://rasa:5005", timeout_s=5)
        blocking_http._transport = transport
        blocking = BlockingRasaClient(blocking_http, restart_wait_s=wait_s)

        async def call_blocking(method: str, *args: Any, **kwargs: Any) -> Any:
            return getattr(blocking, method)(*args, **kwargs)

        return call_blocking

    return build


def failing_first(failures: list[type[httpx.TransportError]], seen: list[httpx.Request]) -> Handler:
    """Raises the given transport errors on the first requests, then answers."""
    pending = list(failures)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if pending:
            raise pending.pop(0)("scripted", request=request)
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "m"})
        if request.url.path.startswith("/conversations/"):
            return httpx.Response(200, json={})
        return httpx.Response(200, json=[{"recipient_id": "s", "text": "Bonjour"}])

    return handle


async def test_a_refused_message_is_sent_again_with_its_id_while_rasa_restarts(
    waiting_client_for: Callable[..., Caller],
) -> None:
    seen: list[httpx.Request] = []
    refused = [httpx.ConnectError, httpx.ConnectError, httpx.ConnectTimeout]
    call = waiting_client_for(failing_first(refused, seen))
    answer = await call("send_message", sender="web-1", message="Salut", metadata={})
    assert answer == [{"recipient_id": "s", "text": "Bonjour"}]
    ids = {json.loads(r.content)["metadata"]["message_id"] for r in seen}
    assert len(seen) == 4 and len(ids) == 1  # the same request each time


@pytest.mark.parametrize("cut", [httpx.RemoteProtocolError, httpx.ReadError])
async def test_a_message_cut_off_mid_turn_is_sent_again_with_the_same_id(
    waiting_client_for: Callable[..., Caller], cut: type[httpx.TransportError]
) -> None:
    # Rasa killed after reading the message: the same message_id makes the resend safe (Rasa
    # answers a known id again without processing it twice, bot/rasa_ext/idempotency.py).
    seen: list[httpx.Request] = []
    call = waiting_client_for(failing_first([cut], seen))
    await call("send_message", sender="web-1", message="Salut", metadata={"message_id": "c:1"})
    assert [json.loads(r.content)["metadata"]["message_id"] for r in seen] == ["c:1", "c:1"]


async def test_a_cut_off_non_idempotent_call_is_not_sent_again(
    waiting_client_for: Callable[..., Caller],
) -> None:
    # Appending events twice would append them twice: only a refused connection is resent.
    seen: list[httpx.Request] = []
    call = waiting_client_for(failing_first([httpx.RemoteProtocolError], seen))
    with pytest.raises(RasaUnavailableError):
        await call("run", events_call("web-1", [{"event": "restart"}]))
    assert len(seen) == 1
    seen.clear()
    call = waiting_client_for(failing_first([httpx.ConnectError], seen))
    await call("run", events_call("web-1", [{"event": "restart"}]))
    assert len(seen) == 2


async def test_a_slow_rasa_is_not_sent_the_message_again(
    waiting_client_for: Callable[..., Caller],
) -> None:
    # A read timeout: Rasa is alive and may still answer; the customer gets the timeout answer.
    seen: list[httpx.Request] = []
    call = waiting_client_for(failing_first([httpx.ReadTimeout], seen))
    with pytest.raises(RasaTimeoutError):
        await call("send_message", sender="web-1", message="Salut", metadata={})
    assert len(seen) == 1


async def test_the_health_probe_does_not_wait_for_a_restart(
    waiting_client_for: Callable[..., Caller],
) -> None:
    seen: list[httpx.Request] = []
    call = waiting_client_for(failing_first([httpx.ConnectError], seen))
    with pytest.raises(RasaUnavailableError):
        await call("run", status_call())
    assert len(seen) == 1


async def test_a_rasa_down_longer_than_the_wait_is_unavailable(
    waiting_client_for: Callable[..., Caller],
) -> None:
    seen: list[httpx.Request] = []
    call = waiting_client_for(failing_first([httpx.ConnectError] * 1000, seen), wait_s=0.6)
    with pytest.raises(RasaUnavailableError) as raised:
        await call("send_message", sender="web-1", message="Salut", metadata={})
    assert not isinstance(raised.value, RasaTimeoutError)
    # Tried again with growing pauses (0.25 s, 0.5 s...) until the wait ran out, then given up.
    assert 2 <= len(seen) <= 4
    seen.clear()
    call = waiting_client_for(failing_first([httpx.ConnectError] * 1000, seen), wait_s=0)
    with pytest.raises(RasaUnavailableError):
        await call("send_message", sender="web-1", message="Salut", metadata={})
    assert len(seen) == 1
