"""The one client of the Rasa server's HTTP API, for every channel (web chat, e-mail, console).

Each call Rasa offers is written once here: the request (:class:`Call`) and the reading of its
answer. Two transports run them:

* :class:`RasaClient`, asynchronous, on the gateway's process-wide ``httpx.AsyncClient``
  (:func:`make_http_client`): the web chat, the health probe, the support console;
* :class:`BlockingRasaClient`, synchronous, on an ``httpx.Client`` (:func:`make_blocking_client`):
  the mail processor, which runs in a worker thread or a child process (:mod:`bot.mail.isolation`).

Both build their HTTP client the same way (timeouts, the ``?token=`` of ``rasa run
--auth-token``) and turn transport failures into the same errors (see ``bot/errors.py``)::

    RasaUnavailableError        Rasa cannot be reached or answered with an error (503)
    ├── RasaTimeoutError        Rasa was reached but did not answer in time (504)
    └── RasaBadResponseError    Rasa answered something that is not the expected JSON

The calls: ``POST /webhooks/rest/webhook`` (the REST channel, a customer message with its channel
metadata, see docs/contracts.md), ``POST /model/parse`` (intent and entities of a text, touching
no conversation), ``POST /conversations/<id>/tracker/events``, ``GET /conversations/<id>/tracker``,
``PUT /model`` and ``GET /status``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from bot.errors import TURN_FAILED_KEY, RasaTurnFailedError, RasaUnavailableError
from bot.secret_rules import redact, redact_url_logs

__all__ = [
    "BlockingRasaClient",
    "Call",
    "Interpretation",
    "RasaBadResponseError",
    "RasaClient",
    "RasaTimeoutError",
    "make_blocking_client",
    "make_http_client",
    "message_as_text",
]

logger = logging.getLogger(__name__)

REST_WEBHOOK_PATH = "/webhooks/rest/webhook"
PARSE_PATH = "/model/parse"
STATUS_PATH = "/status"
MODEL_PATH = "/model"
#: Seconds a ``PUT /model`` may take: loading the spaCy pipelines takes tens of seconds.
LOAD_MODEL_TIMEOUT_S = 600.0
#: Pauses between two tries of a call Rasa could not take (restarting): 0.25 s, doubling to 2 s.
RESEND_FIRST_PAUSE_S = 0.25
RESEND_LONGEST_PAUSE_S = 2.0

_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_MARKDOWN_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


class RasaTimeoutError(RasaUnavailableError):
    """Rasa accepted the connection but did not answer within the configured timeout."""


class RasaBadResponseError(RasaUnavailableError):
    """Rasa answered with an error status or with a body that is not the expected JSON."""


@dataclass(frozen=True)
class Interpretation:
    """What the NLU understood of one text (``POST /model/parse``)."""

    intent: str | None
    confidence: float
    #: The entity types found in the text ("order_number", "country"...), in text order.
    entities: tuple[str, ...] = ()
    #: Rasa's whole answer, sent back with the text so that it is not parsed again
    #: (metadata ``parse_data``, bot/rasa_ext/reuse_parse.py).
    parse: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


# --- the HTTP clients ----------------------------------------------------------------------


def _timeout(timeout_s: float) -> httpx.Timeout:
    # Connecting gets a shorter budget than answering: a Rasa that cannot be reached should
    # fail fast (503), while a busy Rasa gets the whole `timeout_s` to reply (504 after it).
    return httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))


def _token_params(token: str | None) -> dict[str, str] | None:
    redact_url_logs()  # httpx logs each request's URL at INFO, token included
    # Rasa started with `--auth-token` refuses its HTTP API without `?token=`; httpx merges
    # these client-wide params with each call's own (`include_events=NONE`).
    return {"token": token} if token else None


def make_http_client(
    *, rasa_url: str, timeout_s: float, token: str | None = None
) -> httpx.AsyncClient:
    """The gateway's shared HTTP client to Rasa: one pool, keep-alive, the configured timeout.

    Args:
        rasa_url: the Rasa server, e.g. ``http://127.0.0.1:5005``.
        timeout_s: seconds a call may take (connecting: at most 5 of them).
        token: the Rasa API token (settings.rasa_token), sent as ``?token=`` on every call.
    """
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        base_url=rasa_url, timeout=_timeout(timeout_s), limits=limits, params=_token_params(token)
    )


def make_blocking_client(
    *, rasa_url: str, timeout_s: float, token: str | None = None
) -> httpx.Client:
    """The synchronous HTTP client to Rasa (the mail processor's), configured like
    :func:`make_http_client`."""
    return httpx.Client(base_url=rasa_url, timeout=_timeout(timeout_s), params=_token_params(token))


# --- the calls, each written once -----------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request to Rasa's HTTP API and the status that means success."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    #: Overrides the client's timeout for this call (None: the client's).
    timeout_s: float | None = None
    expected_status: int = 200
    #: Sent again while Rasa cannot be connected to (restarting), up to the client's
    #: ``restart_wait_s``: the request never left, so a new try is always safe. False for the
    #: health probe, which must say at once that Rasa is down.
    waits_for_restart: bool = True
    #: Sending it twice does what sending it once does: it is then also sent again when the
    #: connection broke after it was sent (Rasa killed mid-turn). A customer message carries
    #: its ``message_id``, answered again but processed once (bot/rasa_ext/idempotency.py).
    idempotent: bool = False

    def request_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``httpx.(Async)Client.request``."""
        kwargs: dict[str, Any] = {}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.params:
            kwargs["params"] = dict(self.params)
        if self.timeout_s is not None:
            kwargs["timeout"] = self.timeout_s
        return kwargs


def _conversation_path(sender: str, suffix: str) -> str:
    return f"/conversations/{quote(sender, safe='')}/{suffix}"


def message_call(*, sender: str, message: str, metadata: Mapping[str, Any]) -> Call:
    """A customer message for the REST channel, with its channel metadata.

    A unique ``message_id`` is added unless the metadata has one: a retry of this request
    (nginx sending it to the next Rasa server after a failure, a mail processed again) is then
    answered again but not processed twice (bot/rasa_ext/idempotency.py).
    """
    payload = {
        "sender": sender,
        "message": message,
        "metadata": {"message_id": uuid.uuid4().hex, **dict(metadata)},
    }
    return Call("POST", REST_WEBHOOK_PATH, json=payload, idempotent=True)


def parse_call(text: str) -> Call:
    """The NLU's reading of ``text`` (no conversation is touched)."""
    return Call("POST", PARSE_PATH, json={"text": text}, idempotent=True)


def events_call(sender: str, events: list[dict[str, Any]]) -> Call:
    """Events appended to a conversation (the console's pause, resume, agent messages)."""
    path = _conversation_path(sender, "tracker/events")
    return Call("POST", path, json=events, params={"include_events": "NONE"})


def tracker_call(sender: str, *, events: bool = False) -> Call:
    """A conversation's tracker without its events (its slots), or with those since its last
    restart (``events``)."""
    path = _conversation_path(sender, "tracker")
    include = "AFTER_RESTART" if events else "NONE"
    return Call("GET", path, params={"include_events": include}, idempotent=True)


def status_call(timeout_s: float | None = None) -> Call:
    """Rasa's ``/status`` (``model_file`` is set once a model is loaded)."""
    return Call("GET", STATUS_PATH, timeout_s=timeout_s, waits_for_restart=False, idempotent=True)


def load_model_call(model_file: str, timeout_s: float = LOAD_MODEL_TIMEOUT_S) -> Call:
    """Asks Rasa to load another model from its own disk; it answers 204 once loaded."""
    return Call(
        "PUT",
        MODEL_PATH,
        json={"model_file": model_file},
        timeout_s=timeout_s,
        expected_status=204,
        waits_for_restart=False,
    )


# --- reading the answers ----------------------------------------------------------------------


def read_messages(body: Any) -> list[dict[str, Any]]:
    """The bot's messages in a REST channel answer."""
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise RasaBadResponseError("Rasa's REST channel did not answer with a list of messages")
    return body


def failed_action(messages: list[dict[str, Any]]) -> str | None:
    """The custom action whose failure Rasa answered "send it again" in these messages (its
    ``custom`` marker, bot/rasa_ext/action_failures.py), or None for a turn that ran."""
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, Mapping) and TURN_FAILED_KEY in custom:
            return str(custom[TURN_FAILED_KEY])
    return None


def read_interpretation(body: Any) -> Interpretation:
    """The intent, confidence and entity types of a ``/model/parse`` answer."""
    intent = body.get("intent") if isinstance(body, Mapping) else None
    if not isinstance(intent, Mapping):
        return Interpretation(intent=None, confidence=0.0)
    name = intent.get("name")
    confidence = intent.get("confidence")
    found = body.get("entities")
    entities = tuple(
        entity["entity"]
        for entity in (found if isinstance(found, list) else [])
        if isinstance(entity, Mapping) and isinstance(entity.get("entity"), str)
    )
    return Interpretation(
        intent=name if isinstance(name, str) else None,
        confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
        entities=entities,
        parse=body if isinstance(body, Mapping) else None,
    )


def read_slots(body: Any) -> dict[str, Any]:
    """A tracker's slots (``{}`` when Rasa answers something unexpected)."""
    slots = body.get("slots") if isinstance(body, dict) else None
    return slots if isinstance(slots, dict) else {}


def read_waiting_for(body: Any) -> str | None:
    """What a conversation waits for instead of a new request: its active form's name,
    ``"paused"`` while a person has taken it over (support console), else None."""
    if not isinstance(body, dict):
        raise RasaBadResponseError("Rasa's tracker is not a JSON object")
    if body.get("paused"):
        return "paused"
    loop = body.get("active_loop")
    name = loop.get("name") if isinstance(loop, dict) else None
    return name if isinstance(name, str) and name else None


def read_user_message_ids(body: Any) -> set[str]:
    """The ``message_id`` of each customer message a tracker (with its events) holds."""
    events = body.get("events") if isinstance(body, dict) else None
    ids: set[str] = set()
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        metadata = event.get("metadata")
        message_id = metadata.get("message_id") if isinstance(metadata, dict) else None
        if isinstance(message_id, str):
            ids.add(message_id)
    return ids


def read_status(body: Any) -> dict[str, Any]:
    """Rasa's ``/status`` document."""
    if not isinstance(body, dict):
        raise RasaBadResponseError("Rasa's /status did not answer with a JSON object")
    return body


def message_as_text(message: Mapping[str, Any]) -> str:
    """One bot message as plain text (e-mail): markdown links spelled out, buttons listed."""
    parts: list[str] = []
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        text = _MARKDOWN_LINK.sub(r"\1 (\2)", text)
        parts.append(_MARKDOWN_EMPHASIS.sub(r"\2", text).strip())
    buttons = message.get("buttons")
    if isinstance(buttons, list):
        titles = [b.get("title") for b in buttons if isinstance(b, Mapping)]
        parts += [f"- {title}" for title in titles if isinstance(title, str) and title]
    image = message.get("image")
    if isinstance(image, str) and image:
        parts.append(image)
    return "\n".join(parts)


def _transport_error(call: Call, exc: httpx.HTTPError) -> RasaUnavailableError:
    # httpx's texts may carry the URL, `?token=` included: redacted (they are stored, logged).
    if isinstance(exc, httpx.ConnectTimeout):
        # Not even connected: the server is unreachable rather than slow.
        return RasaUnavailableError(f"Rasa could not be reached: {redact(repr(exc))}")
    if isinstance(exc, httpx.TimeoutException):
        return RasaTimeoutError(f"Rasa did not answer {call.method} {call.path} in time")
    return RasaUnavailableError(f"Rasa could not be reached: {redact(repr(exc))}")


def _not_sent(exc: httpx.HTTPError) -> bool:
    """Whether the request surely never reached Rasa: no connection could be made."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def _cut_off(exc: httpx.HTTPError) -> bool:
    """Whether the connection broke after the request left, without an answer (Rasa killed
    mid-request): sent again only for an idempotent call. A read *timeout* is not: Rasa is
    alive but slow, and the customer gets the timeout answer."""
    return isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError)


@dataclass
class _Resends:
    """When a call that failed before Rasa answered is sent again: while Rasa restarts.

    A call is sent again when its request never reached Rasa (refused connection), or when
    the connection broke under an idempotent call, for at most ``wait_s`` seconds from the
    first try, with pauses of 0.25 s doubling to 2 s. After that the error is raised (the
    customer gets the "assistant unavailable" answer).
    """

    call: Call
    wait_s: float
    started: float = field(default_factory=time.monotonic)
    pause_s: float = RESEND_FIRST_PAUSE_S

    def next_pause(self, exc: httpx.HTTPError) -> float | None:
        """Seconds to wait before the next try, or None: give up and raise."""
        if not self.call.waits_for_restart or self.wait_s <= 0:
            return None
        if not (_not_sent(exc) or (self.call.idempotent and _cut_off(exc))):
            return None
        left = self.started + self.wait_s - time.monotonic()
        if left <= 0:
            return None
        pause = min(self.pause_s, left)
        self.pause_s = min(self.pause_s * 2, RESEND_LONGEST_PAUSE_S)
        logger.info(
            "Rasa could not take %s %s (%s): sent again in %.2f s",
            self.call.method,
            self.call.path,
            type(exc).__name__,
            pause,
        )
        return pause


def _body(call: Call, response: httpx.Response) -> Any:
    if response.status_code != call.expected_status:
        raise RasaBadResponseError(
            f"Rasa answered {call.method} {call.path} with HTTP {response.status_code}"
        )
    if call.expected_status == 204:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise RasaBadResponseError(
            f"Rasa answered {call.method} {call.path} with a body that is not JSON"
        ) from exc


# --- the two transports -----------------------------------------------------------------------


class RasaClient:
    """Talks to one Rasa server through a shared ``httpx.AsyncClient`` (the gateway).

    ``restart_wait_s`` (setting ``RASA_RESTART_WAIT_S``): how long a call that Rasa could not
    take (refused connection: Rasa restarting; a connection cut under an idempotent call:
    Rasa killed mid-turn) is sent again before it fails (:class:`_Resends`).
    """

    def __init__(self, http: httpx.AsyncClient, *, restart_wait_s: float = 0.0) -> None:
        self._http = http
        self._restart_wait_s = restart_wait_s

    async def run(self, call: Call) -> Any:
        """Sends one call; returns its JSON body (None for a 204).

        Raises:
            RasaTimeoutError: Rasa did not answer in time.
            RasaBadResponseError: Rasa answered with an unexpected status or body.
            RasaUnavailableError: Rasa cannot be reached (for ``restart_wait_s``).
        """
        resends = _Resends(call, self._restart_wait_s)
        while True:
            try:
                response = await self._http.request(call.method, call.path, **call.request_kwargs())
            except httpx.HTTPError as exc:
                pause = resends.next_pause(exc)
                if pause is None:
                    raise _transport_error(call, exc) from exc
                await asyncio.sleep(pause)
                continue
            return _body(call, response)

    async def send_message(
        self, *, sender: str, message: str, metadata: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Sends one customer message to the REST channel; returns the bot's messages."""
        call = message_call(sender=sender, message=message, metadata=metadata)
        return read_messages(await self.run(call))

    async def parse(self, text: str) -> Interpretation:
        """The NLU's reading of ``text``."""
        return read_interpretation(await self.run(parse_call(text)))

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Appends events to a conversation (the console's pause, resume, agent messages)."""
        await self.run(events_call(sender, events))

    async def load_model(self, model_file: str, *, timeout_s: float = LOAD_MODEL_TIMEOUT_S) -> None:
        """Asks Rasa to load another model from its own disk (``PUT /model``)."""
        await self.run(load_model_call(model_file, timeout_s))

    async def slots(self, sender: str) -> dict[str, Any]:
        """The conversation's slots (``{}`` when Rasa answers something unexpected)."""
        return read_slots(await self.run(tracker_call(sender)))

    async def waiting_for(self, sender: str, *, unless_sent: str | None = None) -> str | None:
        """The conversation's active form, ``"paused"`` when a person has it, else None.

        ``unless_sent``: a message id; None when the conversation already holds a customer
        message with it (a resend: the state then is what that message itself left, e.g. the
        form one of its parts started, which must not change how it is read again).
        """
        waiting = read_waiting_for(await self.run(tracker_call(sender)))
        if waiting is None or unless_sent is None:
            return waiting
        # Something waits: the events (read only then) tell whether this message caused it.
        tracker = await self.run(tracker_call(sender, events=True))
        if unless_sent in read_user_message_ids(tracker):
            return None
        return read_waiting_for(tracker)

    async def status(self, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Rasa's ``/status`` document; ``timeout_s`` overrides the client's timeout (a health
        probe wants a short one)."""
        return read_status(await self.run(status_call(timeout_s)))


class BlockingRasaClient:
    """The same calls on a synchronous ``httpx.Client`` (the mail processor's thread or child).

    Closes the HTTP client it is given when closed (``with`` block). ``restart_wait_s`` as
    :class:`RasaClient`'s (0 for the mail worker: a mail Rasa could not answer waits in its
    queue for the next attempt, bot/mail/processor.py).
    """

    def __init__(self, http: httpx.Client, *, restart_wait_s: float = 0.0) -> None:
        self._http = http
        self._restart_wait_s = restart_wait_s

    @classmethod
    def connect(
        cls, rasa_url: str, *, timeout_s: float, token: str | None = None
    ) -> BlockingRasaClient:
        """A client with its own connections (:func:`make_blocking_client`)."""
        return cls(make_blocking_client(rasa_url=rasa_url, timeout_s=timeout_s, token=token))

    def close(self) -> None:
        """Closes the HTTP connections."""
        self._http.close()

    def __enter__(self) -> BlockingRasaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, call: Call) -> Any:
        """Sends one call; returns its JSON body (None for a 204); raises as
        :meth:`RasaClient.run`."""
        resends = _Resends(call, self._restart_wait_s)
        while True:
            try:
                response = self._http.request(call.method, call.path, **call.request_kwargs())
            except httpx.HTTPError as exc:
                pause = resends.next_pause(exc)
                if pause is None:
                    raise _transport_error(call, exc) from exc
                time.sleep(pause)
                continue
            return _body(call, response)

    def send_message(
        self, *, sender: str, message: str, metadata: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Sends one customer message to the REST channel; returns the bot's messages."""
        call = message_call(sender=sender, message=message, metadata=metadata)
        return read_messages(self.run(call))

    def parse(self, text: str) -> Interpretation:
        """The NLU's reading of ``text``."""
        return read_interpretation(self.run(parse_call(text)))

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        """Sends one message through the REST channel; returns the bot's answers as plain text.

        Raises:
            RasaTurnFailedError: an action of the turn failed (Rasa's "send it again" notice
                is no answer to mail: the mail is retried, the same message processed again).
        """
        messages = self.send_message(sender=sender_id, message=text, metadata=metadata)
        action = failed_action(messages)
        if action is not None:
            raise RasaTurnFailedError(f"action {action} failed in conversation {sender_id}")
        return [t for t in (message_as_text(m) for m in messages) if t]
