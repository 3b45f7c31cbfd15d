"""Rasa 3.6 opens a new HTTP session and connection for every call to an endpoint: fixed.

`EndpointConfig.request` (every call to the action server and to the NLG endpoint, i.e. the
answer service, which renders each text the bot sends: several calls per turn) runs
``async with self.session() as session:``, and `EndpointConfig.session` builds a new
`aiohttp.ClientSession` each time: a new connection pool, a new TCP connection (connect,
accept), closed after one request. Under load that was about 8 % of the Rasa server's CPU
(py-spy at 8 conversations, `make bench`), besides the connections' cost to the servers.

:func:`install` makes `EndpointConfig.session` hand out one session per endpoint and event
loop, kept open, so that calls reuse their keep-alive connections. The session is built as
Rasa builds it (the endpoint's headers, basic auth, Rasa's request timeout); ``async with``
on it no longer closes it. Its connections are dropped after :data:`KEEPALIVE_S` seconds
unused, below the keep-alive of the servers it talks to (Sanic's and uvicorn's 5 s), so the
client lets an idle connection go before the server closes it under a request. A session
whose event loop is not the running one (another `asyncio.run`) is never reused: a new one is
made for the running loop.

A call whose connection is refused (the action server or the answer service restarting, or
the action server's Sanic worker being replaced: `make run` restarts a dead process in about
a second) waits for it: the connection is tried again, after 0.1 s, then 0.2, 0.4... (at most
1 s apart), for up to :data:`RESTART_WAIT_S` seconds (``ENDPOINT_RESTART_WAIT_S``), and the
request is sent once connected. Only a refused connection is tried again: the request never
left. A request that may have reached the server (the connection cut after sending it, a
timeout) is never sent again: an action's effects (a verification attempt counted) must not
happen twice; that call fails as Rasa's calls always failed.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from typing import Any

# The app environment type-checks this package but has no aiohttp (Rasa's does): untyped there.
import aiohttp  # type: ignore[import-not-found,unused-ignore]
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `EndpointConfig.session` this module knows (read before widening).
KNOWN_RASA_PREFIX = "3.6."
#: Seconds an unused connection is kept (the servers' keep-alive is 5 s).
KEEPALIVE_S = 2.0
_ATTRIBUTE = "_bot_shared_session"
#: Seconds a refused connection is tried again (a server restarting), from the first try. Below
#: the gateway's RASA_TIMEOUT_S (30 s), which covers the whole turn.
RESTART_WAIT_S = float(os.environ.get("ENDPOINT_RESTART_WAIT_S", "20"))
FIRST_PAUSE_S = 0.1
LONGEST_PAUSE_S = 1.0
#: Rasa's own method, as it was when this module was first imported (before any `install`).
RASA_SESSION = EndpointConfig.session


class _Borrowed:
    """``async with`` over a shared session: gives the session, does not close it."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:  # used without `async with`: the session itself
        return getattr(self._session, name)


def _refused(exc: aiohttp.ClientConnectorError) -> bool:
    """Whether nothing listened at the address (the request was not sent)."""
    error = exc.os_error
    return isinstance(error, ConnectionRefusedError) or error.errno == errno.ECONNREFUSED


class WaitingConnector(aiohttp.TCPConnector):  # type: ignore[misc,unused-ignore]
    """A connector that tries a refused connection again for up to ``wait_s`` seconds."""

    def __init__(self, *args: Any, wait_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_s = RESTART_WAIT_S if wait_s is None else wait_s

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        started = time.monotonic()
        pause = FIRST_PAUSE_S
        while True:
            try:
                return await super().connect(req, traces, timeout)
            except aiohttp.ClientConnectorError as exc:
                left = started + self.wait_s - time.monotonic()
                if not _refused(exc) or left <= 0:
                    raise
                logger.info("%s refused the connection (restarting?): trying again", req.url)
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, LONGEST_PAUSE_S)


def _new_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """A session configured as Rasa's `EndpointConfig.session` configures it."""
    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    return aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=WaitingConnector(keepalive_timeout=KEEPALIVE_S),
    )


def shared_session(self: EndpointConfig) -> _Borrowed:
    """`EndpointConfig.session`, one open session per endpoint and running event loop."""
    loop = asyncio.get_running_loop()
    cached = self.__dict__.get(_ATTRIBUTE)
    if cached is not None:
        cached_loop, session = cached
        if cached_loop is loop and not session.closed:
            return _Borrowed(session)
    session = _new_session(self)
    self.__dict__[_ATTRIBUTE] = (loop, session)
    return _Borrowed(session)


async def close_session(endpoint: EndpointConfig) -> None:
    """Closes the endpoint's shared session, if it has one (tests; a server keeps it open)."""
    cached = endpoint.__dict__.pop(_ATTRIBUTE, None)
    if cached is not None and not cached[1].closed:
        await cached[1].close()


def install() -> bool:
    """Replaces Rasa's method; returns False (and changes nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "its endpoint sessions are left as they are.",
        [(EndpointConfig, "session", shared_session)],
    )
