"""Real HTTP servers for the gateway's tests: a scripted stand-in for Rasa, and the gateway.

`FakeRasa` is a small `http.server` on a free port that answers the two Rasa endpoints the
gateway uses (`POST /webhooks/rest/webhook`, `GET /status`) the way a test scripts it: with
messages, slowly, with an error status or with garbage. It records what it received, and
from which client port, so tests see exactly what went over the wire.

`GatewayServer` runs the real gateway app with uvicorn in a thread, for the browser tests.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from fastapi import FastAPI

from devstack.stack import free_port

Reply = Callable[[dict[str, Any]], list[dict[str, Any]]]


def echo_reply(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Answers every message with 'echo: <message>'."""
    return [{"recipient_id": request.get("sender"), "text": f"echo: {request.get('message')}"}]


@dataclass
class Received:
    """One request the fake Rasa received."""

    method: str
    path: str
    body: Any
    client_port: int


@dataclass
class FakeRasa:
    """A scripted Rasa server (REST channel + /status) on 127.0.0.1, started by the test."""

    reply: Reply = echo_reply
    delay_s: float = 0.0
    status_code: int = 200
    raw_body: bytes | None = None  # when set, answered instead of the JSON reply
    model_file: str | None = "models/test-model.tar.gz"
    # What GET /conversations/<id>/tracker answers (the support console reads the language).
    slots: dict[str, Any] = field(default_factory=dict)
    # More of that tracker (``active_loop``, ``events``: what the gateway reads of it).
    tracker_extra: dict[str, Any] = field(default_factory=dict)
    # When set, POST /model/parse answers the intent of each text from this table
    # (``nlu_fallback`` for any other); unset, it answers 404 like a server without it.
    meanings: dict[str, str] | None = None
    received: list[Received] = field(default_factory=list)
    #: The port to listen on (0: a free one).
    port: int = 0

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeRasa:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # wake up delayed handlers
        self._server.shutdown()
        self._server.server_close()

    def events_for(self, sender: str) -> list[dict[str, Any]]:
        """The tracker events appended to a conversation, in order."""
        prefix = f"/conversations/{sender}/tracker/events"
        return [e for r in self.received if r.path.startswith(prefix) for e in r.body]

    def messages(self) -> list[dict[str, Any]]:
        """The REST channel payloads received, in order."""
        return [r.body for r in self.received if r.path == "/webhooks/rest/webhook"]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Rasa's server does

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                fake.received.append(Received("GET", self.path, None, self.client_address[1]))
                if self.path == "/status":
                    self._answer(fake.status_code, {"model_file": fake.model_file})
                elif self.path.startswith("/conversations/"):
                    tracker = {"slots": fake.slots, "events": [], **fake.tracker_extra}
                    self._answer(fake.status_code, tracker)
                else:
                    self._answer(404, {"error": "not found"})

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                fake.received.append(Received("PUT", self.path, body, self.client_address[1]))
                # PUT /model (the support console switching models): Rasa answers 204.
                self.send_response(204 if fake.status_code == 200 else fake.status_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                fake.received.append(Received("POST", self.path, body, self.client_address[1]))
                if fake.delay_s:
                    fake._release.wait(fake.delay_s)
                if self.path.startswith("/conversations/"):
                    # Events appended by the support console (pause, resume, agent messages).
                    self._answer(fake.status_code, {})
                    return
                if self.path.split("?")[0] == "/model/parse" and fake.meanings is not None:
                    intent = fake.meanings.get(body.get("text"), "nlu_fallback")
                    self._answer(
                        200,
                        {
                            "text": body.get("text"),
                            "intent": {"name": intent, "confidence": 0.9},
                            "entities": [],
                        },
                    )
                    return
                if self.path != "/webhooks/rest/webhook":
                    self._answer(404, {"error": "not found"})
                    return
                self._answer(fake.status_code, fake.reply(body))

            def _answer(self, status: int, payload: Any) -> None:
                data = fake.raw_body if fake.raw_body is not None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up waiting (timeout tests)

        return Handler


class GatewayServer:
    """The gateway app served by uvicorn in a background thread on a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class ShopPageServer:
    """Another site (its own origin on the loopback) serving `html` at every path.

    A real server rather than the browser's request routing: Chromium only lets a page load
    loopback resources (the gateway) when the page itself comes from a loopback address.
    """

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://localhost:{self._server.server_address[1]}"

    def start(self) -> ShopPageServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CuttingActionProxy:
    """A real HTTP proxy between Rasa and the real action server that can cut one call.

    Every call of Rasa to the action server (``POST /webhook``) goes through it, unchanged;
    while ``cut`` names an action, the next call of that action is read and its connection
    closed with no answer, as when the action server dies mid-call (Rasa's aiohttp sees the
    server disconnect: bot/rasa_ext/action_failures.py). While ``cut_after`` names an action,
    the next call of that action is passed on to the action server, which runs it (its writes
    committed), and then its answer is dropped and the connection closed: the answer was cut on
    its way back. ``calls`` records the actions called, ``cuts`` the calls cut.
    """

    def __init__(self, target_port: int) -> None:
        self.target = f"http://127.0.0.1:{target_port}"
        self.cut: str | None = None
        self.cut_after: str | None = None
        self.calls: list[str] = []
        self.cuts: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> CuttingActionProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        import httpx

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) if length else b""
                action = None
                if raw:
                    with contextlib.suppress(ValueError):
                        action = json.loads(raw).get("next_action")
                if action is not None:
                    proxy.calls.append(action)
                if action is not None and action == proxy.cut:
                    proxy.cut = None
                    proxy.cuts.append(action)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # no answer: the call is cut
                    return
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in {"host", "content-length", "connection"}
                }
                answer = httpx.request(
                    method, proxy.target + self.path, content=raw, headers=headers, timeout=60
                )
                if action is not None and action == proxy.cut_after:
                    proxy.cut_after = None
                    proxy.cuts.append(action)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # the action ran; no answer
                    return
                body = answer.content
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", ""))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

        return Handler
