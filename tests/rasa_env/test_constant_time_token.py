"""Rasa's API token is compared in constant time in every Rasa server of the project.

Rasa 3.6 checks its HTTP API's token with ``provided == token`` (``rasa/server.py``,
``requires_auth``), which stops at the first differing character. ``bot.rasa_ext.cli`` (how
every Rasa server of the project starts) installs ``bot.rasa_ext.constant_time_token``: the
token Rasa's decorator holds is a ``str`` whose ``==`` is ``hmac.compare_digest``. Here Rasa's
own app factory and decorator, with the real route handlers: a wrong token is refused (401),
the right one let through, and each check goes through ``hmac.compare_digest``.
"""

from __future__ import annotations

import asyncio
import hmac
import operator
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import rasa.server
from sanic import Sanic

from bot.rasa_ext import cli, constant_time_token
from bot.rasa_ext.constant_time_token import ConstantTimeToken

TOKEN = "Rq3v8ZtL0wXk5NfB2yHc7MdJ4pGs9aUe-run-token"


@pytest.fixture(autouse=True)
def _several_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sanic refuses a second app of the same name in one process unless testing.
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
def digests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every hmac.compare_digest call of the token's comparison."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(constant_time_token.hmac, "compare_digest", spy)
    return calls


def test_the_token_equals_only_itself(digests: list[tuple[bytes, bytes]]) -> None:
    token = ConstantTimeToken(TOKEN)

    # Rasa writes `provided == token` with `provided` a plain str: the subclass's __eq__ runs.
    def rasa_compares(provided: object) -> bool:
        return bool(operator.eq(provided, token))

    assert rasa_compares(TOKEN) and token == TOKEN
    assert not rasa_compares(TOKEN[:-1] + "x")
    assert not rasa_compares("") and not rasa_compares(TOKEN + "x")
    assert not rasa_compares(None) and not rasa_compares(b"x")
    assert ConstantTimeToken(TOKEN[::-1]) != TOKEN
    assert len(digests) >= 5
    assert "***" in repr(token) and TOKEN not in repr(token)
    assert {token: 1}[TOKEN] == 1  # hashes as the string does


def status_handler(app: Any) -> Any:
    """The real handler Rasa registered for GET /status (requires_auth, then the agent)."""
    for route in app.router.routes:
        if route.path == "status" and "GET" in route.methods:
            return route.handler
    raise AssertionError("no /status route")


def call(app: Any, token: str | None) -> int:
    """The HTTP status Rasa's /status handler answers a request carrying ``token``."""
    request = SimpleNamespace(args={} if token is None else {"token": token}, app=app)
    try:
        response = asyncio.run(status_handler(app)(request))
    except rasa.server.ErrorResponse as error:
        return int(error.status)
    return int(response.status)


def test_rasas_own_check_refuses_a_wrong_token_and_takes_the_right_one_in_constant_time(
    digests: list[tuple[bytes, bytes]],
) -> None:
    constant_time_token.install()
    app = rasa.server.create_app(auth_token=TOKEN, agent=None)
    assert call(app, None) == 401
    assert call(app, TOKEN[:-1] + "x") == 401  # all but the last character right
    assert call(app, "x" + TOKEN[1:]) == 401
    assert len(digests) == 2  # each offered token compared with compare_digest
    # The right token passes the token check; the next check (no model loaded) answers 409.
    assert call(app, TOKEN) == 409
    assert len(digests) == 3
    assert digests[-1] == (TOKEN.encode(), TOKEN.encode())


def test_the_rasa_launcher_installs_it_before_rasa_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What `python -m bot.rasa_ext.cli run` does, up to Rasa's own command line, which here
    # builds the app as `rasa run --enable-api` does (rasa.core.run.configure_app).
    import rasa.__main__
    from rasa.core import run

    built: list[Any] = []

    def rasa_main() -> None:
        app = run.configure_app(enable_api=True, auth_token=cli.auth_token_of(sys.argv))
        built.append(status_handler(app))

    monkeypatch.setattr(rasa.__main__, "main", rasa_main)
    monkeypatch.setattr(rasa.server, "create_app", rasa.server.create_app)  # restored after
    monkeypatch.setattr(sys, "argv", ["bot.rasa_ext.cli", "run", "--enable-api"])
    monkeypatch.setenv(cli.TOKEN_ENV_VAR, TOKEN)
    # The launcher's other fixes stay out of this process (tests that compare with stock Rasa
    # run after this one in the same process).
    for module in cli.FIXES:
        if module != "constant_time_token":
            monkeypatch.setattr(f"bot.rasa_ext.{module}.install", lambda: None)
    cli.main()
    assert getattr(rasa.server.create_app, "constant_time_token", False)
    assert len(built) == 1


def test_the_rasa_launcher_refuses_to_start_a_rasa_it_was_not_written_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `python -m bot.rasa_ext.cli run` on a Rasa whose token check this fix cannot vouch for:
    # one line, before Rasa's command line runs and before any other fix is installed.
    import rasa
    import rasa.__main__

    started: list[bool] = []
    installed: list[str] = []
    monkeypatch.setattr(rasa.__main__, "main", lambda: started.append(True))
    monkeypatch.setattr(rasa.server, "create_app", rasa.server.create_app)  # restored after
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    monkeypatch.setattr(sys, "argv", ["bot.rasa_ext.cli", "run", "--enable-api"])
    monkeypatch.setenv(cli.TOKEN_ENV_VAR, TOKEN)
    monkeypatch.delenv("BOT_PROFILE", raising=False)
    for module in cli.FIXES:
        if module != "constant_time_token":
            monkeypatch.setattr(
                f"bot.rasa_ext.{module}.install", lambda name=module: installed.append(name)
            )
    rasa_create_app = rasa.server.create_app
    with pytest.raises(SystemExit) as refused:
        cli.main()
    assert str(refused.value.code).startswith("error: Rasa 3.7.0 is not 3.6.x: ")
    assert TOKEN not in str(refused.value.code)
    assert started == [] and installed == []
    assert rasa.server.create_app is rasa_create_app
