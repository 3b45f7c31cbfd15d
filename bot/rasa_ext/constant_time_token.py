"""Rasa's API token compared in constant time.

Rasa 3.6 checks the token of its HTTP API with ``provided == token`` (``rasa/server.py``,
``requires_auth``): Python's string comparison stops at the first differing character, so the
time of a refusal tells how much of a guess was right, the classic timing oracle. Over a socket
the difference is a few nanoseconds against microseconds of noise, but the check costs nothing
to fix, without touching Rasa's code: :func:`install` wraps ``rasa.server.create_app`` so the
token it hands ``requires_auth`` is a :class:`ConstantTimeToken`, a ``str`` whose ``==``
is ``hmac.compare_digest``. Python tries a subclass's reflected ``__eq__`` first, so Rasa's
``provided == token`` (``provided`` a plain ``str``) runs that comparison.

Installed by :mod:`bot.rasa_ext.cli` (every Rasa server of the project) and by
``scripts/rasa_interactive.py``.

Written for Rasa 3.6: ``create_app(agent, cors_origins, auth_token, ...)`` hands
``auth_token`` to ``requires_auth``, which compares it with ``==``. On another Rasa version
:func:`install` **refuses to start** (``SystemExit``, one line: "error: Rasa 3.7.0 is not 3.6.x:
..."), where the other fixes of bot/rasa_ext warn and leave Rasa's code. Why:

* installing anyway is not safe: if ``auth_token`` moved or Rasa keeps the token another way,
  the wrapper would turn another argument into a token, or appear installed and change nothing;
* running without it silently gives up a security property the project documents (README,
  threat model; docs/contracts.md) for every Rasa server, and a warning in a running server's
  log is easy to miss;
* refusing costs no running deployment anything: the Rasa version is pinned
  (requirements/rasa.lock) and every Rasa process (`make run`, the tests, the Docker image)
  starts through the launcher, so an upgrade stops at its first start, in development or CI,
  with a message saying what to do: read the new Rasa's ``requires_auth`` and widen
  :data:`KNOWN_RASA_PREFIX` (or drop this fix if Rasa compares in constant time itself).

Rasa's own token check still runs in every case; what is refused is a Rasa whose check this
module cannot vouch for.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any

from bot.rasa_ext._install import patch_rasa, refusal, written_for

logger = logging.getLogger(__name__)

#: The Rasa versions whose ``create_app`` and ``requires_auth`` this was written for (read
#: them before widening).
KNOWN_RASA_PREFIX = "3.6."
#: What the refusal says after "Rasa X is not 3.6.x: ".
REFUSED = (
    "its API token would not be compared in constant time (bot/rasa_ext/constant_time_token.py):"
    " refusing to start; read that Rasa's requires_auth and widen KNOWN_RASA_PREFIX"
)


class ConstantTimeToken(str):
    """A secret whose equality with a string is decided in constant time."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        return hmac.compare_digest(
            str.encode(self, "utf-8", "surrogatepass"), other.encode("utf-8", "surrogatepass")
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return "ConstantTimeToken('***')"


def constant_time(token: str | None) -> str | None:
    """``token`` as a :class:`ConstantTimeToken` (None and "" unchanged: no authentication)."""
    return ConstantTimeToken(token) if token else token


def with_constant_time_token(create_app: Callable[..., Any]) -> Callable[..., Any]:
    """Rasa 3.6's ``create_app``, handing ``requires_auth`` a :class:`ConstantTimeToken`."""
    if getattr(create_app, "constant_time_token", False):
        return create_app  # already this wrapper: installing twice is installing once

    @functools.wraps(create_app)
    def create_app_with_constant_time_token(*args: Any, **kwargs: Any) -> Any:
        if "auth_token" in kwargs:
            kwargs["auth_token"] = constant_time(kwargs["auth_token"])
        elif len(args) > 2:  # create_app(agent, cors_origins, auth_token, ...)
            args = (*args[:2], constant_time(args[2]), *args[3:])
        return create_app(*args, **kwargs)

    create_app_with_constant_time_token.constant_time_token = True  # type: ignore[attr-defined]
    return create_app_with_constant_time_token


def install() -> bool:
    """Makes every app ``rasa.server.create_app`` builds compare its token in constant time.

    Raises:
        SystemExit: Rasa's version is not :data:`KNOWN_RASA_PREFIX` (nothing changed; see the
            module's docstring for why this fix refuses to start rather than warn).
    """
    if not written_for(KNOWN_RASA_PREFIX):
        raise SystemExit(f"error: {refusal(KNOWN_RASA_PREFIX, REFUSED)}.")
    import rasa.server

    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        REFUSED,
        [(rasa.server, "create_app", with_constant_time_token(rasa.server.create_app))],
    )
