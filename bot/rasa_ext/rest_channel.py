"""Rasa's REST channel, closed to callers without Rasa's API token.

Rasa 3.6's REST channel (``rasa.core.channels.rest.RestInput``, ``POST /webhooks/rest/webhook``)
needs no token and passes the request's ``metadata`` on as if the channel had set it: the
gateway and the mail worker put the channel, the shop, the language and the e-mail sender (the
proof of ownership of an e-mail lookup) there. Any process that could reach Rasa's port could
therefore claim ``{"channel": "email", "sender_email": <the owner>}`` and get an order's
tracking number.

:class:`TokenRestInput` is the same channel, under the same name (so the same URL and the same
``input_channel``), that refuses a message (401) unless its ``token`` query parameter is Rasa's
API token (``RASA_TOKEN``, the token every profile gives Rasa: bot.rasa_ext.cli), compared in
constant time. The gateway, the mail worker, the tests and the benchmarks send it, as they do
for Rasa's API. Rasa without a token (a bare ``rasa run`` by hand) has an open API anyway; the
channel is then as open as it is. ``credentials.yml`` names this class instead of ``rest``.

It is also where a message posted to Rasa enters, so it checks the message's store there
(:func:`metadata_with_checked_store`, :func:`bot.shops.resolve_store`): the ``store`` metadata
becomes a shop of the registry, the deployment's default (``DEFAULT_STORE``, else the
registry's) when the caller names none or an unknown one. The NLU component reads it as it is
and nothing past it checks again. The gateway and the mail worker send a store they checked
at their own entry (the widget's attribute, the recipient address): it passes unchanged.

Runs in the Rasa environment.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.shops import resolve_store

TOKEN_ENV_VAR = "RASA_TOKEN"  # noqa: S105 (the variable's name, not a secret)
#: The metadata key of the message's shop (docs/contracts.md).
STORE_KEY = "store"


def metadata_with_checked_store(metadata: Any) -> dict[str, Any]:
    """The message's metadata with its ``store`` checked against the shop registry.

    Args:
        metadata: what the caller sent as ``metadata`` (anything; not a mapping: none).

    Returns:
        A copy whose ``store`` is a shop id: the one asked for when it is a shop, else the
        deployment's default (``DEFAULT_STORE``, else the registry's), with a warning for an
        unknown one (:func:`bot.shops.resolve_store`).
    """
    checked = dict(metadata) if isinstance(metadata, Mapping) else {}
    checked[STORE_KEY] = resolve_store(checked.get(STORE_KEY))
    return checked


def token_refusal(request: Request, expected: str | None) -> HTTPResponse | None:
    """The 401 answer for a message whose ``token`` is not ``expected`` (None: accepted)."""
    if not expected or request.method != "POST":
        return None
    provided = request.args.get("token") or ""
    if hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8")):
        return None
    return response.json({"error": "This channel needs Rasa's API token (?token=...)."}, status=401)


class TokenRestInput(RestInput):  # type: ignore[misc]
    """The REST channel, answering only callers that hold Rasa's API token."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def get_metadata(self, request: Request) -> dict[str, Any]:
        """The request's ``metadata``, its store checked (:func:`metadata_with_checked_store`)."""
        return metadata_with_checked_store(super().get_metadata(request))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook: Blueprint = super().blueprint(on_new_message)

        async def require_token(request: Request) -> HTTPResponse | None:
            return token_refusal(request, os.environ.get(TOKEN_ENV_VAR))

        # A request middleware of the channel's blueprint: it runs before the channel's routes
        # and its answer, when it gives one, is the request's.
        webhook.middleware(require_token, "request")
        return webhook
