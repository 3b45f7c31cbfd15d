"""Calls to an endpoint (action server, answer service) reuse one session and its connections.

A real aiohttp server on the loopback counts the TCP connections it accepts; Rasa's own
`EndpointConfig.request` is called as Rasa calls it. Stock Rasa 3.6 opens a connection per
call; with :mod:`bot.rasa_ext.endpoint_sessions` installed the calls share one, and answer the
same (JSON, headers and token sent, an HTTP error raised as Rasa raises it).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot.rasa_ext import endpoint_sessions


@pytest.fixture
def rasa_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rasa's own `EndpointConfig.session` during the test (even when an earlier test of the
    session installed the project's fixes in this process), put back as it was after it."""
    monkeypatch.setattr(EndpointConfig, "session", endpoint_sessions.RASA_SESSION)
    yield


async def _calls(
    count: int, fail_at: int | None = None, endpoint: EndpointConfig | None = None
) -> dict[str, Any]:
    seen: dict[str, Any] = {"headers": [], "tokens": [], "peers": set(), "answers": []}

    async def answer(request: web.Request) -> web.Response:
        seen["headers"].append(request.headers.get("X-Action-Secret"))
        seen["tokens"].append(request.query.get("token"))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen["peers"].add(peer)
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "no"}, status=500)
        return web.json_response({"echo": body["n"]})

    app = web.Application()
    app.router.add_post("/webhook", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/webhook"
    if endpoint is None:
        endpoint = EndpointConfig(url=url, headers={"X-Action-Secret": "s3cret"}, token="tok")
    endpoint.url = url
    try:
        for n in range(count):
            if n == fail_at:
                with pytest.raises(ClientResponseError) as caught:
                    await endpoint.request(json={"n": n, "fail": True}, method="post")
                seen["answers"].append(("error", caught.value.status))
            else:
                seen["answers"].append(await endpoint.request(json={"n": n}, method="post"))
    finally:
        await endpoint_sessions.close_session(endpoint)
        await runner.cleanup()
    return seen


def test_stock_rasa_opens_a_connection_per_call(rasa_session: None) -> None:
    seen = asyncio.run(_calls(4))
    assert seen["answers"] == [{"echo": n} for n in range(4)]
    assert len(seen["peers"]) == 4  # four client ports: four connections


def test_calls_share_one_connection_and_answer_the_same(rasa_session: None) -> None:
    assert endpoint_sessions.install()
    seen = asyncio.run(_calls(6, fail_at=3))
    assert seen["answers"] == [
        {"echo": 0},
        {"echo": 1},
        {"echo": 2},
        ("error", 500),
        {"echo": 4},
        {"echo": 5},
    ]
    assert seen["headers"] == ["s3cret"] * 6  # the endpoint's headers, as Rasa sends them
    assert seen["tokens"] == ["tok"] * 6
    assert len(seen["peers"]) == 1  # one connection for every call, the error included


def test_a_new_event_loop_gets_a_session_of_its_own(rasa_session: None) -> None:
    """Two `asyncio.run`s (Rasa's shell, tests): the first loop's session is never reused."""
    assert endpoint_sessions.install()
    endpoint = EndpointConfig(url="http://127.0.0.1:1/", headers={"X-Action-Secret": "s3cret"})

    async def twice() -> tuple[Any, Any]:
        async with endpoint.session() as first, endpoint.session() as again:
            return first, again

    first, again = asyncio.run(twice())
    assert first is again  # one session per endpoint and loop
    other, _ = asyncio.run(twice())
    assert other is not first  # another loop: another session
    seen = asyncio.run(_calls(3, endpoint=endpoint))
    assert seen["answers"] == [{"echo": 0}, {"echo": 1}, {"echo": 2}]
    assert len(seen["peers"]) == 1


# --- a server restarting: a refused connection is tried again, nothing else ------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve(port: int, handler: Any) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _call_while_restarting() -> tuple[Any, int]:
    """A call made while nothing listens on the port; the server starts a moment later."""
    port = _free_port()
    received: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        received.append((await request.json())["n"])
        return web.json_response({"echo": received[-1]})

    endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
    call = asyncio.ensure_future(endpoint.request(json={"n": 7}, method="post"))
    await asyncio.sleep(0.5)  # not a measure: the call finds the port closed first
    runner = await _serve(port, answer)
    try:
        result: Any = await asyncio.wait_for(call, timeout=120)
    except aiohttp.ClientConnectorError as exc:
        result = exc
    finally:
        await endpoint_sessions.close_session(endpoint)
        await runner.cleanup()
    return result, len(received)


def test_stock_rasa_fails_a_call_to_a_restarting_server(rasa_session: None) -> None:
    result, received = asyncio.run(_call_while_restarting())
    assert isinstance(result, aiohttp.ClientConnectorError) and received == 0


def test_a_call_to_a_restarting_server_waits_for_it(rasa_session: None) -> None:
    assert endpoint_sessions.install()
    result, received = asyncio.run(_call_while_restarting())
    assert result == {"echo": 7} and received == 1  # sent once, when it could be


def test_a_call_cut_off_after_sending_is_not_sent_again(rasa_session: None) -> None:
    # The action server killed while it handles the request: it may have acted (a verification
    # attempt counted), so the call fails as Rasa's always did instead of running twice.
    assert endpoint_sessions.install()
    received: list[int] = []

    async def scenario() -> None:
        port = _free_port()

        async def die(request: web.Request) -> web.Response:
            received.append((await request.json())["n"])
            assert request.transport is not None
            request.transport.abort()  # the connection cut, no answer
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        runner = await _serve(port, die)
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
        try:
            with pytest.raises(aiohttp.ClientError) as caught:
                await endpoint.request(json={"n": 1}, method="post")
            assert not isinstance(caught.value, aiohttp.ClientConnectorError)
        finally:
            await endpoint_sessions.close_session(endpoint)
            await runner.cleanup()

    asyncio.run(scenario())
    assert received == [1]


def test_a_server_down_longer_than_the_wait_fails_the_call(
    rasa_session: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert endpoint_sessions.install()
    monkeypatch.setattr(endpoint_sessions, "RESTART_WAIT_S", 0.5)

    async def scenario() -> None:
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{_free_port()}/webhook")
        try:
            with pytest.raises(aiohttp.ClientConnectorError):
                await endpoint.request(json={"n": 1}, method="post")
        finally:
            await endpoint_sessions.close_session(endpoint)

    asyncio.run(scenario())
