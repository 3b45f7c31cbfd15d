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
"""

from __future__ import annotations

import functools
import hmac
from typing import Any


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


def install() -> None:
    """Makes every app ``rasa.server.create_app`` builds compare its token in constant time."""
    import rasa.server

    create_app = rasa.server.create_app
    if getattr(create_app, "constant_time_token", False):
        return

    @functools.wraps(create_app)
    def create_app_with_constant_time_token(*args: Any, **kwargs: Any) -> Any:
        if "auth_token" in kwargs:
            kwargs["auth_token"] = constant_time(kwargs["auth_token"])
        elif len(args) > 2:  # create_app(agent, cors_origins, auth_token, ...)
            args = (*args[:2], constant_time(args[2]), *args[3:])
        return create_app(*args, **kwargs)

    create_app_with_constant_time_token.constant_time_token = True  # type: ignore[attr-defined]
    rasa.server.create_app = create_app_with_constant_time_token
