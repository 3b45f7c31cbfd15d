"""The e-mail channel's client of the Rasa server's HTTP API.

Three calls, all on the Rasa server started with ``--enable-api``:

* ``POST /model/parse``: intent and confidence of a question, without touching any
  conversation (used to decide whether the bot may answer at all);
* ``POST /conversations/<id>/tracker/events``: sets the ``language`` and ``store`` slots the
  responses are conditioned on, from the whole mail rather than from one short sentence;
* ``POST /webhooks/rest/webhook``: the REST channel, exactly as the widget's messages go, with
  the channel metadata (store, channel, sender address) the actions read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from bot.errors import RasaUnavailableError
from bot.secret_rules import redact, redact_url_logs

logger = logging.getLogger(__name__)

_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_MARKDOWN_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


@dataclass(frozen=True)
class Interpretation:
    """What the NLU understood of one question."""

    intent: str | None
    confidence: float
    #: The entity types found in the text ("order_number", "country"...), in text order.
    entities: tuple[str, ...] = ()


class BotClient(Protocol):
    """What the e-mail processor needs from the bot (a fake in unit tests)."""

    def parse(self, text: str) -> Interpretation:
        """The intent of ``text`` and its confidence."""

    def set_slots(self, sender_id: str, slots: Mapping[str, str]) -> None:
        """Sets slots of the conversation ``sender_id``."""

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        """Sends ``text`` in the conversation ``sender_id``; returns the bot's messages."""


def message_as_text(message: Mapping[str, Any]) -> str:
    """One bot message as plain e-mail text: markdown links spelled out, buttons listed."""
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


class RasaClient:
    """A synchronous client of one Rasa server (the processor runs in a worker thread)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        client: httpx.Client | None = None,
        token: str | None = None,
    ) -> None:
        """Creates a client.

        Args:
            base_url: the Rasa server, e.g. ``http://127.0.0.1:5005``.
            timeout_s: seconds each call may take.
            client: an httpx client to use (tests); a new one otherwise, closed by close().
            token: the Rasa API token (``rasa run --auth-token``), sent as ``?token=``.
        """
        self._base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout_s)
        self._token = token
        redact_url_logs()  # httpx logs each request's URL, token included

    def close(self) -> None:
        """Closes the HTTP connections this client opened."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RasaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _post(self, path: str, payload: Any) -> Any:
        url = httpx.URL(f"{self._base_url}{path}")
        if self._token:
            # Merged into the path's own query (`params=` would replace it).
            url = url.copy_merge_params({"token": self._token})
        try:
            response = self._client.post(url, json=payload)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            # httpx's texts carry the URL, token included (stored as the inbox row's error).
            raise RasaUnavailableError(
                f"Rasa call {path.split('?')[0]} failed: {redact(str(exc))}"
            ) from exc

    def parse(self, text: str) -> Interpretation:
        """The intent of ``text`` and its confidence (``/model/parse``).

        Raises:
            RasaUnavailableError: the server cannot be reached or answered an error.
        """
        result = self._post("/model/parse", {"text": text})
        intent = result.get("intent") if isinstance(result, Mapping) else None
        if not isinstance(intent, Mapping):
            return Interpretation(intent=None, confidence=0.0)
        name = intent.get("name")
        confidence = intent.get("confidence")
        found = result.get("entities")
        entities = tuple(
            entity["entity"]
            for entity in (found if isinstance(found, list) else [])
            if isinstance(entity, Mapping) and isinstance(entity.get("entity"), str)
        )
        return Interpretation(
            intent=name if isinstance(name, str) else None,
            confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
            entities=entities,
        )

    def set_slots(self, sender_id: str, slots: Mapping[str, str]) -> None:
        """Sets slots in a conversation (appends ``slot`` events to its tracker).

        Raises:
            RasaUnavailableError: the server cannot be reached or refused the events.
        """
        events = [{"event": "slot", "name": name, "value": value} for name, value in slots.items()]
        path = f"/conversations/{quote(sender_id, safe='')}/tracker/events?include_events=NONE"
        self._post(path, events)

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        """Sends one message through the REST channel; returns the bot's answers as text.

        Raises:
            RasaUnavailableError: the server cannot be reached or answered an error.
        """
        payload = {"sender": sender_id, "message": text, "metadata": dict(metadata)}
        result = self._post("/webhooks/rest/webhook", payload)
        if not isinstance(result, list):
            raise RasaUnavailableError("Rasa's REST channel did not answer with a list")
        texts = [message_as_text(m) for m in result if isinstance(m, Mapping)]
        return [t for t in texts if t]
