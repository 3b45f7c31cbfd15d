"""Configuration profiles chosen by BOT_PROFILE, and the Rasa API token on every call.

`local` is today's behaviour, unchanged. `production` refuses at start-up what would lose
data or leave the Rasa API open. The gateway's and the e-mail worker's Rasa clients send
RASA_TOKEN as `?token=` (Rasa's `--auth-token`), keeping any query of their own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.rasa_client import BlockingRasaClient, RasaClient, make_blocking_client, make_http_client

POSTGRES = "postgresql+psycopg2://shop:pw@db.example:5432/orders"


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
    monkeypatch.setenv("RASA_TOKEN", "t0ken")
    monkeypatch.setenv("EMAIL_WEBHOOK_SECRET", "w3bhook")
    monkeypatch.setenv("CONSOLE_SESSION_SECRET", "s" * 32)
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example:25")
    production = settings()
    assert (production.bot_profile, production.rasa_token) == ("production", "t0ken")


def test_production_refuses_a_sqlite_orders_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must be a PostgreSQL URL"):
        settings(bot_profile="production", rasa_token="t", email_webhook_secret="w")


def test_production_refuses_an_open_rasa_api() -> None:
    with pytest.raises(ValidationError, match="RASA_TOKEN must be set"):
        settings(bot_profile="production", database_url=POSTGRES, email_webhook_secret="w")


def test_production_refuses_an_open_mail_webhook() -> None:
    with pytest.raises(ValidationError, match="EMAIL_WEBHOOK_SECRET must be set"):
        settings(bot_profile="production", database_url=POSTGRES, rasa_token="t")
    # The local profile keeps it optional (a gateway not reachable from outside).
    assert settings().email_webhook_secret is None


def test_production_refuses_a_console_without_a_session_secret() -> None:
    ready = {
        "database_url": POSTGRES,
        "rasa_token": "t",
        "email_webhook_secret": "w",
        "smtp_url": "smtp://mail.example:25",
    }
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET must be set"):
        settings(bot_profile="production", **ready)
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET must be set"):
        settings(bot_profile="production", console_session_secret="short", **ready)
    assert settings(bot_profile="production", console_session_secret="k" * 32, **ready)
    # Local: optional (a random key per gateway process).
    assert settings().console_session_secret is None


def test_production_refuses_to_start_without_smtp_url() -> None:
    ready = {
        "database_url": POSTGRES,
        "rasa_token": "t",
        "email_webhook_secret": "w",
        "console_session_secret": "k" * 32,
    }
    # Without it no mail would be answered, forwarded or handed over: it would pile up.
    with pytest.raises(ValidationError, match="SMTP_URL must be set"):
        settings(bot_profile="production", **ready)
    with pytest.raises(ValidationError, match="SMTP_URL must be set"):
        settings(bot_profile="production", smtp_url="", **ready)
    assert settings(bot_profile="production", smtp_url="smtp://mail.example:25", **ready)
    # Local: optional (make run starts a local SMTP catcher).
    assert settings().smtp_url is None


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


def test_the_mail_worker_sends_the_token_and_keeps_its_own_query() -> None:
    seen: list[httpx.URL] = []
    client = make_blocking_client(rasa_url="http://rasa.test", timeout_s=5, token="s3cret")
    client._transport = recording_transport(seen, [])
    bot = BlockingRasaClient(client)
    bot.set_slots("mail-1", {"language": "fr"})
    bot.ask("mail-1", "Bonjour", {})
    assert seen[0].params["token"] == "s3cret"
    assert seen[0].params["include_events"] == "NONE"
    assert seen[1].path == "/webhooks/rest/webhook" and seen[1].params["token"] == "s3cret"
