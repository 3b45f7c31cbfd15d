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

Runs in the Rasa environment.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

TOKEN_ENV_VAR = "RASA_TOKEN"  # noqa: S105 (the variable's name, not a secret)


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

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook: Blueprint = super().blueprint(on_new_message)

        async def require_token(request: Request) -> HTTPResponse | None:
            return token_refusal(request, os.environ.get(TOKEN_ENV_VAR))

        # A request middleware of the channel's blueprint: it runs before the channel's routes
        # and its answer, when it gives one, is the request's.
        webhook.middleware(require_token, "request")
        return webhook
