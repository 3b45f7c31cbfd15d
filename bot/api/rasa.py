"""The gateway's client for the Rasa server's HTTP API (REST channel and /status).

One instance wraps the process-wide `httpx.AsyncClient` created in the app lifespan, so every
channel of the gateway (web chat, e-mail) reuses the same pooled connections to Rasa.
Transport failures become the project's errors (see `bot/errors.py`):

    RasaUnavailableError        Rasa cannot be reached or answered with an error (503)
    ├── RasaTimeoutError        Rasa was reached but did not answer in time (504)
    └── RasaBadResponseError    Rasa answered something that is not the REST channel's JSON
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from bot.errors import RasaUnavailableError
from bot.secret_rules import redact, redact_url_logs

logger = logging.getLogger(__name__)

REST_WEBHOOK_PATH = "/webhooks/rest/webhook"
STATUS_PATH = "/status"


class RasaTimeoutError(RasaUnavailableError):
    """Rasa accepted the connection but did not answer within the configured timeout."""


class RasaBadResponseError(RasaUnavailableError):
    """Rasa answered with an error status or with a body that is not the expected JSON."""


def make_http_client(
    *, rasa_url: str, timeout_s: float, token: str | None = None
) -> httpx.AsyncClient:
    """The shared HTTP client to Rasa: one pool, keep-alive, the configured timeout.

    Connecting gets a shorter budget than answering: a Rasa that cannot be reached should
    fail fast (503), while a busy Rasa gets the whole `timeout_s` to reply (504 after it).
    `token` (settings.rasa_token) is sent as `?token=` on every call: Rasa started with
    `--auth-token` refuses its HTTP API (/status, /conversations, /model) without it.
    """
    timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    params = {"token": token} if token else None
    redact_url_logs()  # httpx logs each request's URL, token included
    return httpx.AsyncClient(base_url=rasa_url, timeout=timeout, limits=limits, params=params)


class RasaClient:
    """Talks to one Rasa server through a shared `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send_message(
        self, *, sender: str, message: str, metadata: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Sends one customer message to the REST channel; returns the bot's messages.

        Raises:
            RasaTimeoutError: Rasa did not answer in time.
            RasaBadResponseError: Rasa answered with an error status or unexpected JSON.
            RasaUnavailableError: Rasa cannot be reached.
        """
        # A unique id per customer message: a retry of this request (nginx sending it to the
        # next Rasa server after a failure) is then answered again but not processed twice
        # (bot/rasa_ext/idempotency.py).
        payload = {
            "sender": sender,
            "message": message,
            "metadata": {"message_id": uuid.uuid4().hex, **dict(metadata)},
        }
        response = await self._request("POST", REST_WEBHOOK_PATH, json=payload)
        body = _json_body(response)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise RasaBadResponseError("Rasa's REST channel did not answer with a list of messages")
        return body

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Appends events to a conversation (the console's pause, resume, agent messages).

        Raises:
            RasaUnavailableError: Rasa cannot be reached or refused the events.
        """
        path = f"/conversations/{quote(sender, safe='')}/tracker/events"
        # httpx merges these params with the client's (the token).
        await self._request("POST", path, json=events, params={"include_events": "NONE"})

    async def load_model(self, model_file: str, *, timeout_s: float = 600.0) -> None:
        """Asks Rasa to load another model from its own disk (``PUT /model``).

        Rasa answers once the model is loaded: tens of seconds (the spaCy pipelines), hence
        a timeout of its own, longer than a chat turn's.

        Raises:
            RasaUnavailableError: Rasa cannot be reached or did not load it.
        """
        try:
            response = await self._http.put(
                "/model", json={"model_file": model_file}, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailableError(f"Rasa could not be reached: {exc!r}") from exc
        if response.status_code != 204:
            raise RasaBadResponseError(f"Rasa answered PUT /model with HTTP {response.status_code}")

    async def slots(self, sender: str) -> dict[str, Any]:
        """The conversation's slots (``{}`` when Rasa answers something unexpected)."""
        path = f"/conversations/{quote(sender, safe='')}/tracker"
        response = await self._request("GET", path, params={"include_events": "NONE"})
        body = _json_body(response)
        slots = body.get("slots") if isinstance(body, dict) else None
        return slots if isinstance(slots, dict) else {}

    async def status(self, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Rasa's `/status` document (`model_file` is set once a model is loaded).

        `timeout_s` overrides the client's timeout (a health probe wants a short one).
        """
        extra: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
        response = await self._request("GET", STATUS_PATH, **extra)
        body = _json_body(response)
        if not isinstance(body, dict):
            raise RasaBadResponseError("Rasa's /status did not answer with a JSON object")
        return body

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.ConnectTimeout as exc:
            # Not even connected: the server is unreachable rather than slow. (httpx's texts
            # may carry the URL, with the token: redacted.)
            raise RasaUnavailableError(f"Rasa could not be reached: {redact(repr(exc))}") from exc
        except httpx.TimeoutException as exc:
            raise RasaTimeoutError(f"Rasa did not answer {path} in time") from exc
        except httpx.HTTPError as exc:
            raise RasaUnavailableError(f"Rasa could not be reached: {redact(repr(exc))}") from exc
        if response.status_code != 200:
            raise RasaBadResponseError(f"Rasa answered {path} with HTTP {response.status_code}")
        return response


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise RasaBadResponseError("Rasa answered with a body that is not JSON") from exc
