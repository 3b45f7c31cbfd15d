"""Settings from the environment (and an optional `.env` file), in one place.

Every process of the app environment (action server, gateway, e-mail worker, scripts)
reads its configuration through :func:`get_settings`. The Rasa environment never imports
this module (it has no pydantic-settings); `bot/nlu/` reads the few variables it needs itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import BotError
from bot.secret_rules import password_problem, secret_problem
from bot.shops import default_store

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
#: The optional settings file, relative to the working directory (`make` runs in the project).
ENV_FILE = ".env"


def env_file_values(
    path: str | Path = ENV_FILE, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables of the `.env` file that the process environment does not set.

    What :class:`Settings` reads from the file, for the processes that do not read it
    themselves: `make run` puts these into the environment of every process it starts (the
    Rasa server's NLU reads DEFAULT_STORE and STORES_DIR from its environment only). A variable
    of the environment wins over the file, as it does for the settings.
    """
    current = os.environ if environ is None else environ
    file = Path(path)
    if not file.is_file():
        return {}
    values = dotenv_values(file, encoding="utf-8")
    return {
        name: value for name, value in values.items() if value is not None and name not in current
    }


def _registry_default_store() -> str:
    """The registry's default shop; "" when there is no shop (the first use says so)."""
    try:
        return default_store()
    except BotError:
        return ""


class Settings(BaseSettings):
    """The app environment's configuration; each field maps to an upper-case variable."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    # Deployment profile. `local` (the default, `make run`): SQLite orders database, one Rasa
    # server with a SQLite tracker store and its in-memory lock store. `production` (the files
    # under deploy/, `make scale-demo`): PostgreSQL orders database and tracker store, Redis lock
    # store, the Rasa API behind RASA_TOKEN, several servers of each kind. Chosen by BOT_PROFILE
    # alone: in `production` a missing setting stops the process at start-up (see below) rather
    # than silently falling back to a local default.
    bot_profile: Literal["local", "production"] = "local"
    # Token of the Rasa server's HTTP API (`rasa run --auth-token`); the gateway and the e-mail
    # worker send it as `?token=` on every call. Required in the production profile.
    rasa_token: str | None = None

    # Orders database: any SQLAlchemy URL; the embedded default is a SQLite file under var/.
    database_url: str = Field(default=f"sqlite:///{VAR_DIR / 'orders.db'}")
    # Seconds a database statement may take before the action gives up (PostgreSQL), or a
    # writer waits for SQLite's write lock (bot/db/session.py).
    database_statement_timeout_s: float = 5.0

    # Store used when a channel does not say which shop the customer is on (a folder of
    # data/stores/, see bot/shops.py); unset: the registry's (data/stores/_common/registry.yml).
    default_store: str = Field(default_factory=_registry_default_store)

    # Where the processes listen / reach each other.
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_port: int = 5005
    action_server_port: int = 5055
    # The answer service (Rasa's NLG endpoint, bot/answers/service.py).
    answer_service_port: int = 5057
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # Seconds the gateway waits for Rasa before telling the customer to retry.
    rasa_timeout_s: float = 30.0
    # Seconds the gateway keeps sending a chat turn again while Rasa cannot take it (refused
    # connection: restarting; connection cut mid-turn: the turn's message_id makes the resend
    # safe, bot/rasa_ext/idempotency.py) before it answers "assistant unavailable". Covers a
    # Rasa restart (20-28 s measured under `make run`'s test load on 2 busy cores); a longer
    # one is covered by the widget's own resends (WIDGET_RESEND_FOR_S).
    rasa_restart_wait_s: float = Field(default=30.0, ge=0.0)
    # Seconds the web chat widget keeps sending a message again (same client_message_id,
    # pauses of 0.5 s doubling to 4 s) while the gateway cannot be reached or answers 502/503
    # (a gateway or Rasa restarting), showing "reconnecting", before it shows the error.
    widget_resend_for_s: float = Field(default=90.0, ge=0.0, le=600.0)

    # Web chat (bot/api): the longest message a customer may send, in characters (413 above).
    max_message_chars: int = Field(default=2000, ge=1)
    # Per-client-IP token bucket on POST /api/chat: at most this many messages per window
    # (a burst of the full amount is allowed, then it refills evenly over the window).
    chat_rate_limit_messages: int = Field(default=30, ge=1)
    chat_rate_limit_window_s: float = Field(default=60.0, gt=0.0)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the gateway believes, as
    # comma-separated addresses or networks ("10.0.0.0/8, 127.0.0.1"). Empty (the default):
    # the client is the connection's peer, whatever the headers say (bot/api/middleware.py).
    trusted_proxies: str = ""
    # Redis shared by every gateway: the chat rate limit's buckets live there, so a client has
    # one budget whichever gateway answers (bot/api/ratelimit.py). The same REDIS_* variables
    # as Rasa's lock store (deploy/); unset REDIS_HOST = buckets in this process's memory
    # (the local profile's one gateway). Required in production.
    redis_host: str | None = None
    redis_port: int = 6379
    redis_db: int = 0
    redis_password: str | None = None
    redis_key_prefix: str = "shopsupport"
    # Origins allowed to call the gateway from a browser (CORS), comma-separated. The demo
    # shop pages are served by the gateway itself; add each real shop's origin here
    # (e.g. "https://shop.example.com") when the widget is embedded on its pages.
    cors_origins: str = "http://localhost:8000,http://127.0.0.1:8000"

    # Outbound e-mail, e.g. smtp://user:password@mail.example.com:587?starttls=1
    smtp_url: str | None = None
    # Seconds one SMTP conversation (connect, TLS, AUTH, DATA) may take before it counts as
    # a failed attempt; the inbox row then waits for a retry, nothing is lost.
    smtp_timeout_s: float = 30.0

    # --- order verification limits (bot/verification.py) ------------------------------------
    # Failed proofs of ownership on one order number (from anywhere) within the window that
    # lock it: it is then not checked at all, even with the right proof, for the cool-down.
    verification_max_failures: int = Field(default=5, ge=1)
    # Failed proofs from one client (web address, e-mail sender) on any orders that lock it.
    verification_client_max_failures: int = Field(default=20, ge=1)
    verification_window_s: float = Field(default=3600.0, gt=0.0)
    verification_cooldown_s: float = Field(default=3600.0, gt=0.0)

    # --- actions with effects, once per customer message (bot/db/action_memory.py) -----------
    # How long the action server remembers the answer of an action with effects to one message
    # (a resend of that message within it gets the answer again, the effects not run twice).
    # The widget resends within minutes, the mail worker within ~15 min; a week is ample.
    action_memory_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0.0)

    # --- support e-mail auto-reply (bot/mail, POST /email/inbound) ---------------------------
    # Shared secret the inbound-parse webhook sends in `X-Webhook-Secret`. Unset = the route
    # accepts any caller (only for a gateway that is not reachable from outside: the local
    # profile); the production profile refuses to start without it.
    email_webhook_secret: str | None = None
    # Extra recipient address -> store id entries (aliases such as a second mailbox), as JSON in
    # EMAIL_STORE_ADDRESSES. Each store's own `contact.email` from data/stores/*/facts.yml is always
    # mapped, so the defaults live in one place (the store files).
    email_store_addresses: dict[str, str] = Field(default_factory=dict)
    # At most this many automatic replies to one sender in 24 hours: a last-resort loop guard
    # when a robot answers our answers without any of the usual auto-reply headers.
    email_max_replies_per_sender_per_day: int = Field(default=5, ge=0)
    # Below this NLU confidence for any question of a mail, a human answers instead of the bot.
    email_min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # Where a mail handed over to a human is forwarded (the original attached); unset = the
    # handoff is only recorded in the `handoffs` table.
    email_handoff_forward_to: str | None = None
    # Processing attempts of one inbound mail (Rasa or SMTP failures) before it is `failed`.
    email_max_attempts: int = Field(default=5, ge=1)
    # First retry delay in seconds; it doubles at each further attempt.
    email_retry_delay_s: float = Field(default=60.0, ge=0.0)
    # Whether the gateway drains the inbox itself (an asyncio task in its lifespan). Off when a
    # separate `python -m bot.mail.worker` does it; the worker also needs SMTP_URL.
    email_worker_enabled: bool = True
    # Seconds between two looks at the inbox when nothing woke the worker up.
    email_worker_poll_s: float = Field(default=5.0, gt=0.0)
    # A row `processing` for longer than this is taken to be abandoned by a crashed worker.
    email_processing_lease_s: float = Field(default=600.0, gt=0.0)
    # Seconds one mail may take (its questions to Rasa, the reply over SMTP) in the worker's
    # child process before the child is killed and the attempt counts as failed
    # (bot/mail/isolation.py). Must be shorter than the lease.
    email_processing_budget_s: float = Field(default=300.0, gt=0.0)
    # Largest inbound message accepted (bytes of the raw message or of the JSON form).
    email_max_bytes: int = Field(default=10_000_000, gt=0)
    # At most this many questions of one mail are put to the bot; a longer mail goes to a human.
    email_max_questions: int = Field(default=5, ge=1)
    # A customer text (quotes and signature removed) longer than this, in characters, goes to
    # a human without being split into questions: no customer writes 20,000 characters to a
    # bot, and the NLU is not run on megabytes.
    email_max_text_chars: int = Field(default=20_000, ge=100)

    # --- support console (bot/console, /console) -------------------------------------------
    # Key of the console's session and CSRF tokens. Required in production (start-up refused
    # without it, or with one shorter than 32 characters); in the local profile an unset
    # secret is drawn at random when the gateway starts (logins then end with the process).
    console_session_secret: str | None = None
    # Hours a console login lasts.
    console_session_hours: float = Field(default=12.0, gt=0.0)
    # Failed logins allowed per account (and 4x that per client address) in the window.
    console_login_max_failures: int = Field(default=5, ge=1)
    console_login_window_s: float = Field(default=900.0, gt=0.0)
    # Rasa's tracker store, read (never written, except by a privacy erasure) to import the
    # conversations into the reporting tables. Production: the PostgreSQL URL of DB_*.
    tracker_store_url: str = Field(default=f"sqlite:///{VAR_DIR / 'rasa-tracker.db'}")
    # Seconds between two imports of new tracker events by the gateway.
    console_import_interval_s: float = Field(default=5.0, gt=0.0)
    # Where reviewed training examples are written (a training-data file under data/).
    console_training_file: Path = PROJECT_ROOT / "data" / "nlu" / "reviewed.yml"
    # A customer whose widget has not polled for this long has left the page: the agent's
    # reply then goes by e-mail.
    console_customer_gone_s: float = Field(default=20.0, gt=0.0)
    # Days transcripts, inbox mails and handoffs are kept (`python -m bot.console.privacy
    # purge`); unset = kept until erased.
    retention_days: int | None = Field(default=None, ge=1)
    # Local profile: port of the SMTP catcher the gateway runs for the demo mailbox
    # (`make run` sets it when SMTP_URL is unset); mail then goes there.
    local_smtp_port: int | None = None

    @model_validator(mode="after")
    def _budget_within_lease(self) -> Self:
        """A mail's time budget must end before its claim is taken to be abandoned."""
        if self.email_processing_budget_s >= self.email_processing_lease_s:
            raise ValueError(
                "EMAIL_PROCESSING_BUDGET_S must be shorter than EMAIL_PROCESSING_LEASE_S "
                "(otherwise a second worker takes over a mail still being processed)"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Self:
        """In the production profile, refuses the local defaults that would lose data.

        Several gateways and action servers share one orders database and the inbox in it, so
        it cannot be a SQLite file of one machine, and one Redis for the chat rate limit; the
        Rasa API and the inbound-mail webhook must not be open.
        """
        if self.bot_profile != "production":
            return self
        problems = []
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must be a PostgreSQL URL, not SQLite")
        # Secrets: set, long, random, not an example left in place (bot/secret_rules.py).
        for name, value, why in (
            ("RASA_TOKEN", self.rasa_token, "the token the Rasa servers were started with"),
            (
                "EMAIL_WEBHOOK_SECRET",
                self.email_webhook_secret,
                "without it the inbound-mail webhook would accept any caller's mail and answer "
                "it from the shop's address",
            ),
            (
                "CONSOLE_SESSION_SECRET",
                self.console_session_secret,
                "it signs the support console's sessions",
            ),
        ):
            problem = secret_problem(name, value)
            if problem:
                problems.append(f"{problem}: {why}")
        if not self.smtp_url:
            problems.append(
                "SMTP_URL must be set (without it no e-mail is answered, forwarded or handed "
                "over: inbound mail would only pile up)"
            )
        if not self.redis_host:
            problems.append(
                "REDIS_HOST must be set (the chat rate limit is shared by the gateways there)"
            )
        for name, url in (
            ("DATABASE_URL", self.database_url),
            ("TRACKER_STORE_URL", self.tracker_store_url),
            ("SMTP_URL", self.smtp_url or ""),
        ):
            problem = password_problem(name, _password_of(url))
            if problem:
                problems.append(problem)
        if problems:
            raise ValueError("BOT_PROFILE=production: " + "; ".join(problems))
        return self


def _password_of(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class SettingsError(SystemExit):
    """The settings cannot be used. Uncaught, Python prints its one line and exits with 1, no
    traceback: every process (gateway, action server, answer service, workers) stops that way."""


def settings_problems(error: ValidationError) -> str:
    """The problems of a ValidationError of :class:`Settings`, in one line, values left out."""
    messages = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] != "value_error":
            names = ".".join(str(part) for part in item["loc"]).upper()
            message = f"{names}: {message}"
        messages.append(message)
    return "; ".join(messages)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Returns the process-wide settings (read once).

    Raises:
        SettingsError: a setting is missing or unusable (e.g. ``BOT_PROFILE=production`` with
            a placeholder secret), with one line naming the variable.
    """
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(f"error: {settings_problems(error)}.") from None
