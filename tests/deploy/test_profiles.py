"""Configuration profiles chosen by BOT_PROFILE, and the Rasa API token on every call.

`local` is today's behaviour, unchanged. `production` refuses at start-up what would lose
data or leave the Rasa API open. The gateway's and the e-mail worker's Rasa clients send
RASA_TOKEN as `?token=` (Rasa's `--auth-token`), keeping any query of their own.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.config import PROJECT_ROOT, Settings
from bot.errors import RasaUnavailableError
from bot.rasa_client import BlockingRasaClient, RasaClient, make_blocking_client, make_http_client

POSTGRES = "postgresql+psycopg2://shop:pw@db.example:5432/orders"
# Production secrets must be long and random (bot/secret_rules.py).
TOKEN = "Rq3v8ZtL0wXk5NfB2yHc7MdJ4pGs9aUe"
WEBHOOK = "Wm6fT1qZ8rLx3KvB0nYd5HcJ9sGp2aUe"
SESSION = "Sx4hP9tQ2mVz7LcB1nRf6KdJ0wGy3aUe"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's shell may export these; the tests set what they need."""
    for name in (
        "BOT_PROFILE",
        "DATABASE_URL",
        "RASA_TOKEN",
        "EMAIL_WEBHOOK_SECRET",
        "CONSOLE_SESSION_SECRET",
        "SMTP_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_local_is_the_default_profile_and_needs_nothing() -> None:
    local = settings()
    assert local.bot_profile == "local"
    assert local.rasa_token is None
    assert local.database_url.startswith("sqlite:///")


def test_the_profile_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PROFILE", "production")
    monkeypatch.setenv("DATABASE_URL", POSTGRES)
    monkeypatch.setenv("RASA_TOKEN", TOKEN)
    monkeypatch.setenv("EMAIL_WEBHOOK_SECRET", WEBHOOK)
    monkeypatch.setenv("CONSOLE_SESSION_SECRET", SESSION)
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example:25")
    monkeypatch.setenv("REDIS_HOST", "redis.example")
    production = settings()
    assert (production.bot_profile, production.rasa_token) == ("production", TOKEN)


def test_production_refuses_a_sqlite_orders_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must be a PostgreSQL URL"):
        settings(bot_profile="production", rasa_token=TOKEN, email_webhook_secret=WEBHOOK)


def test_production_refuses_an_open_rasa_api() -> None:
    with pytest.raises(ValidationError, match="RASA_TOKEN must be set"):
        settings(bot_profile="production", database_url=POSTGRES, email_webhook_secret=WEBHOOK)


def test_production_refuses_an_open_mail_webhook() -> None:
    with pytest.raises(ValidationError, match="EMAIL_WEBHOOK_SECRET must be set"):
        settings(bot_profile="production", database_url=POSTGRES, rasa_token=TOKEN)
    # The local profile keeps it optional (a gateway not reachable from outside).
    assert settings().email_webhook_secret is None


def test_production_refuses_a_console_without_a_session_secret() -> None:
    ready = {
        "database_url": POSTGRES,
        "rasa_token": TOKEN,
        "email_webhook_secret": WEBHOOK,
        "smtp_url": "smtp://mail.example:25",
        "redis_host": "redis.example",
    }
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET must be set"):
        settings(bot_profile="production", **ready)
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET is too short"):
        settings(bot_profile="production", console_session_secret="short", **ready)
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET is not random"):
        settings(bot_profile="production", console_session_secret="k" * 32, **ready)
    assert settings(bot_profile="production", console_session_secret=SESSION, **ready)
    # Local: optional (a random key per gateway process).
    assert settings().console_session_secret is None


def test_production_refuses_to_start_without_smtp_url() -> None:
    ready = {
        "database_url": POSTGRES,
        "rasa_token": TOKEN,
        "email_webhook_secret": WEBHOOK,
        "console_session_secret": SESSION,
        "redis_host": "redis.example",
    }
    # Without it no mail would be answered, forwarded or handed over: it would pile up.
    with pytest.raises(ValidationError, match="SMTP_URL must be set"):
        settings(bot_profile="production", **ready)
    with pytest.raises(ValidationError, match="SMTP_URL must be set"):
        settings(bot_profile="production", smtp_url="", **ready)
    assert settings(bot_profile="production", smtp_url="smtp://mail.example:25", **ready)
    # Local: optional (make run starts a local SMTP catcher).
    assert settings().smtp_url is None


def test_production_refuses_to_start_without_redis() -> None:
    ready = {
        "database_url": POSTGRES,
        "rasa_token": TOKEN,
        "email_webhook_secret": WEBHOOK,
        "console_session_secret": SESSION,
        "smtp_url": "smtp://mail.example:25",
    }
    # Without it each gateway would keep its own chat budget: N gateways, N times the limit.
    with pytest.raises(ValidationError, match="REDIS_HOST must be set"):
        settings(bot_profile="production", **ready)
    assert settings(bot_profile="production", redis_host="redis.example", **ready)
    # Local: optional (one gateway, its own memory).
    assert settings().redis_host is None


def test_a_mail_budget_longer_than_the_lease_is_refused() -> None:
    with pytest.raises(ValidationError, match="EMAIL_PROCESSING_BUDGET_S must be shorter"):
        settings(email_processing_budget_s=600, email_processing_lease_s=600)
    assert settings(email_processing_budget_s=10, email_processing_lease_s=11)


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValidationError):
        settings(bot_profile="staging")


def recording_transport(seen: list[httpx.URL], body: Any) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


async def test_the_gateway_sends_the_token_on_every_call() -> None:
    seen: list[httpx.URL] = []
    http = make_http_client(rasa_url="http://rasa.test", timeout_s=5, token="s3cret")
    http._transport = recording_transport(seen, {"model_file": "bot.tar.gz"})
    async with http:
        await RasaClient(http).status()
    assert seen[0].params["token"] == "s3cret"


async def test_without_a_token_the_gateway_sends_none() -> None:
    seen: list[httpx.URL] = []
    http = make_http_client(rasa_url="http://rasa.test", timeout_s=5)
    http._transport = recording_transport(seen, [])
    async with http:
        await RasaClient(http).send_message(sender="s", message="hi", metadata={})
    assert "token" not in seen[0].params


def test_the_mail_worker_sends_the_token_on_every_call() -> None:
    seen: list[httpx.URL] = []
    client = make_blocking_client(rasa_url="http://rasa.test", timeout_s=5, token="s3cret")
    client._transport = recording_transport(seen, [])
    bot = BlockingRasaClient(client)
    bot.parse("Bonjour")
    bot.ask("mail-1", "Bonjour", {})
    assert seen[0].path == "/model/parse" and seen[0].params["token"] == "s3cret"
    assert seen[1].path == "/webhooks/rest/webhook" and seen[1].params["token"] == "s3cret"


def test_the_token_never_shows_in_the_mail_worker_s_stored_error() -> None:
    # httpx's error text carries the URL, `?token=` included; the inbox row stores the text.
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"connection lost talking to {request.url}", request=request)

    client = make_blocking_client(rasa_url="http://rasa.test", timeout_s=5, token="s3cret-t0ken")
    client._transport = httpx.MockTransport(fail)
    bot = BlockingRasaClient(client)
    with pytest.raises(RasaUnavailableError) as raised:
        bot.ask("mail-1", "Bonjour", {})
    assert "token=***" in str(raised.value)
    assert "s3cret-t0ken" not in str(raised.value)


async def test_the_token_never_shows_in_the_gateway_s_errors() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    http = make_http_client(rasa_url="http://rasa.test", timeout_s=5, token="s3cret-t0ken")
    http._transport = httpx.MockTransport(fail)
    async with http:
        with pytest.raises(RasaUnavailableError) as raised:
            await RasaClient(http).status()
    assert "token=***" in str(raised.value) and "s3cret-t0ken" not in str(raised.value)


def test_http_client_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.URL] = []
    client = make_blocking_client(rasa_url="http://rasa.test", timeout_s=5, token="s3cret-t0ken")
    client._transport = recording_transport(seen, [])
    with caplog.at_level(logging.INFO, logger="httpx"):
        BlockingRasaClient(client).ask("mail-1", "Bonjour", {})
    assert "webhooks/rest/webhook?token=***" in caplog.text
    assert "s3cret-t0ken" not in caplog.text


# --- production secrets: real ones, or one sentence naming the variable -------------------------

PRODUCTION_READY = {
    "BOT_PROFILE": "production",
    "DATABASE_URL": POSTGRES,
    "RASA_TOKEN": TOKEN,
    "EMAIL_WEBHOOK_SECRET": WEBHOOK,
    "CONSOLE_SESSION_SECRET": SESSION,
    "SMTP_URL": "smtp://mail.example:25",
    "REDIS_HOST": "redis.example",
}


@pytest.mark.parametrize("name", ["RASA_TOKEN", "EMAIL_WEBHOOK_SECRET", "CONSOLE_SESSION_SECRET"])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("change-me", "is a placeholder"),
        ("change-me-long-random-string-of-32-characters", "is a placeholder"),
        ("Xq7Vf2LmX9aZ", "is too short"),
        ("a" * 40, "is not random"),
    ],
)
def test_production_refuses_placeholder_and_short_secrets(
    name: str, value: str, words: str
) -> None:
    values = {key.lower(): v for key, v in PRODUCTION_READY.items()}
    values[name.lower()] = value
    with pytest.raises(ValidationError, match=f"{name} {words}"):
        settings(**values)


def test_production_refuses_placeholder_passwords_in_urls() -> None:
    values = {key.lower(): v for key, v in PRODUCTION_READY.items()}
    with pytest.raises(ValidationError, match="the password in DATABASE_URL is a placeholder"):
        settings(**{**values, "database_url": POSTGRES.replace(":pw@", ":change-me@")})
    with pytest.raises(ValidationError, match="the password in SMTP_URL is a placeholder"):
        settings(**{**values, "smtp_url": "smtp://user:change-me@mail.example:587"})
    assert settings(**values).bot_profile == "production"


def start(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Starts a process of the app environment as the deploy files do; it must stop at once."""
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_READY}
    return subprocess.run(
        [sys.executable, *argv],
        cwd=PROJECT_ROOT,
        env={**clean, "PYTHONPATH": str(PROJECT_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "extra", "name"),
    [
        # The gateway, as the app image runs it.
        (
            ["-m", "uvicorn", "bot.api.main:app", "--port", "1"],
            {"RASA_TOKEN": "change-me-please"},
            "RASA_TOKEN",
        ),
        (
            ["-m", "uvicorn", "bot.api.main:app", "--port", "1"],
            {"CONSOLE_SESSION_SECRET": "tooshort-x1"},
            "CONSOLE_SESSION_SECRET",
        ),
        (["-m", "bot.db.migrate"], {"EMAIL_WEBHOOK_SECRET": ""}, "EMAIL_WEBHOOK_SECRET"),
        (
            ["-m", "bot.action_server", "--port", "1"],
            {"ACTION_SERVER_SECRET": "change-me-long-random-string"},
            "ACTION_SERVER_SECRET",
        ),
        (
            ["-m", "bot.action_server", "--port", "1"],
            {"ACTION_SERVER_SECRET": TOKEN[::-1], "RASA_TOKEN": "my-secret-token-123"},
            "RASA_TOKEN",
        ),
        (
            ["-m", "bot.answers.service", "--port", "1"],
            {"ANSWER_SERVICE_TOKEN": "changeme-answers"},
            "ANSWER_SERVICE_TOKEN",
        ),
    ],
)
def test_a_production_process_with_a_bad_secret_stops_with_one_line_naming_it(
    argv: list[str], extra: dict[str, str], name: str
) -> None:
    line = one_line(start(argv, {**PRODUCTION_READY, **extra}))
    assert line.startswith("error: ") and name in line, line
    for value in extra.values():
        assert not value or value not in line  # the value itself is never shown


def test_env_files_with_secrets_are_never_committed() -> None:
    # `.env` (local settings) and deploy/production.env (the filled-in compose values).
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", ".env", "deploy/production.env"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == [".env", "deploy/production.env"], result.stderr


def test_the_answer_service_never_starts_open_in_any_profile() -> None:
    # An internal service authenticates its callers: without ANSWER_SERVICE_TOKEN it would
    # answer any process (the local profile too), so it refuses to start.
    env = {k: v for k, v in os.environ.items() if k != "ANSWER_SERVICE_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.answers.service", "--port", "1"],
        cwd=PROJECT_ROOT,
        env={**env, "PYTHONPATH": str(PROJECT_ROOT), "BOT_PROFILE": "local"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = one_line(result)
    assert line.startswith("error: ANSWER_SERVICE_TOKEN is not set"), line
