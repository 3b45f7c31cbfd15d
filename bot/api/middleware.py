"""The gateway's ASGI middleware: last-resort error handler, body limit, security headers,
the client's address behind trusted proxies.

Plain ASGI classes rather than `BaseHTTPMiddleware`: they touch only the response start
message and never buffer a body.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.errors import error_response

logger = logging.getLogger(__name__)

# The demo pages load only the gateway's own script, styles and API. Images may come from
# https (a bot message can carry one); nothing may frame the pages.
HTML_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HTML_SECURITY_HEADERS = {
    "Content-Security-Policy": HTML_CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class InternalErrorMiddleware:
    """The global handler of unexpected errors: logs the trace, answers 500 `internal_error`.

    A middleware rather than `app.exception_handler(Exception)`: Starlette re-raises after
    calling such a handler, so the server would log every trace a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception:
            logger.exception("Unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half a response is out: only the server can close the connection
            await error_response(500, "internal_error")(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses oversized bodies on one path before they are read (413), and unsized ones (411).

    The chat route checks the message length exactly; this only keeps a megabyte body from
    being parsed at all.
    """

    def __init__(self, app: ASGIApp, *, path: str, max_bytes: int, max_chars: int) -> None:
        self.app = app
        self.path = path
        self.max_bytes = max_bytes
        self.max_chars = max_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is None or not length.isdigit():
            await error_response(411, "length_required")(scope, receive, send)
            return
        if int(length) > self.max_bytes:
            response = error_response(413, "message_too_long", max_chars=self.max_chars)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """`nosniff` on every response; CSP, framing and referrer rules on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in HTML_SECURITY_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def trusted_proxies(setting: str) -> list[str]:
    """``TRUSTED_PROXIES`` as a list of addresses and networks (blanks ignored).

    The gateway wraps itself in uvicorn's ``ProxyHeadersMiddleware`` with these proxies only
    (``create_app``): when the connection's peer is one of them, the right-most address of
    X-Forwarded-For that is not itself a trusted proxy becomes the client (a client's forged
    entries sit to the left of what its proxy appended). None listed (the default): the
    headers are ignored, the client is the peer. The gateway runs under uvicorn with
    ``--no-proxy-headers`` (devstack/stack.py, deploy/), so this setting alone decides.

    Raises:
        ValueError: ``*`` (trusting everyone is what this setting prevents).
    """
    proxies = [item.strip() for item in setting.split(",") if item.strip()]
    if "*" in proxies:
        raise ValueError("TRUSTED_PROXIES cannot be '*': list the proxies' addresses")
    return proxies
