"""The gateway: the assistant's only public face (FastAPI). It never imports Rasa.

`create_app(settings)` builds the app (tests pass their own settings); `app` is the instance
`uvicorn bot.api.main:app` serves. Routers live in `bot/api/routes/`, one per resource: add a
channel with one `app.include_router(...)` line in `create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.api.errors import install_error_handlers
from bot.api.middleware import (
    BodyLimitMiddleware,
    InternalErrorMiddleware,
    SecurityHeadersMiddleware,
    trusted_proxies,
)
from bot.api.paths import STATIC_DIR
from bot.api.ratelimit import RateLimiter, RedisTokenBucketLimiter, TokenBucketLimiter
from bot.api.routes import chat, email, health, pages, widget
from bot.config import Settings, get_settings
from bot.console import web as console
from bot.payloads import PayloadSigner
from bot.rasa_client import RasaClient, make_http_client

# A chat body is the message plus a few short fields; JSON may escape each character as
# \uXXXX (6 bytes), hence the factor, plus room for the other fields.
_CHAT_BODY_OVERHEAD_BYTES = 4096


def cors_origins(settings: Settings) -> list[str]:
    """`settings.cors_origins` as a list (comma-separated, blanks ignored)."""
    return [
        origin.strip().rstrip("/") for origin in settings.cors_origins.split(",") if origin.strip()
    ]


def chat_rate_limiter(settings: Settings) -> RateLimiter:
    """The chat's rate limiter: in Redis when ``REDIS_HOST`` is set, else in this process."""
    local = TokenBucketLimiter(
        capacity=settings.chat_rate_limit_messages, window_s=settings.chat_rate_limit_window_s
    )
    if not settings.redis_host:
        return local
    from redis.asyncio import Redis

    redis = Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_password or None,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
    )
    return RedisTokenBucketLimiter(
        redis,
        capacity=settings.chat_rate_limit_messages,
        window_s=settings.chat_rate_limit_window_s,
        key_prefix=settings.redis_key_prefix,
        fallback=local,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the gateway app for `settings` (the process settings by default)."""
    settings = settings or get_settings()
    proxies = trusted_proxies(settings.trusted_proxies)
    limiter = chat_rate_limiter(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client for the whole process: Rasa connections are pooled and kept alive.
        async with make_http_client(
            rasa_url=settings.rasa_url,
            timeout_s=settings.rasa_timeout_s,
            token=settings.rasa_token,
        ) as http:
            app.state.rasa = RasaClient(http, restart_wait_s=settings.rasa_restart_wait_s)
            try:
                yield
            finally:
                if isinstance(limiter, RedisTokenBucketLimiter):
                    await limiter.aclose()

    app = FastAPI(
        title="Shop support assistant gateway",
        version="0.1.0",
        lifespan=lifespan,
        # The interactive docs load their assets from a CDN: useless offline and against the
        # pages' Content-Security-Policy. The schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.chat_rate_limiter = limiter
    # Signs the quick replies relayed to the widget (bot/payloads.py). Keyed on the console's
    # session secret, which every gateway of a production deployment shares (required there);
    # in the local profile without one, a key drawn at start-up (offered buttons then end
    # with the process: a click after a restart is read as words).
    app.state.payload_signer = PayloadSigner.from_secret(settings.console_session_secret)
    install_error_handlers(app)

    # The last middleware added runs first: CORS is outermost so every answer, errors
    # included, carries the CORS headers the widget needs to read it from a shop's page.
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        path="/api/chat",
        max_bytes=settings.max_message_chars * 6 + _CHAT_BODY_OVERHEAD_BYTES,
        max_chars=settings.max_message_chars,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins(settings),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    # Outermost: every part of the app (rate limit, console, logs) sees the real client.
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)

    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(widget.router)
    app.include_router(pages.router)
    app.include_router(email.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The support console (/console), the widget's live endpoint, the demo mailbox.
    console.install(app)
    return app


app = create_app()
