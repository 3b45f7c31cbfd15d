"""FastAPI dependencies of the gateway, as `Annotated` aliases for the routes' signatures.

The app keeps its settings, its shared Rasa client and its rate limiter on `app.state`
(set by :func:`bot.api.main.create_app` and its lifespan), so a test builds an app with its
own settings and nothing is global.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.api.errors import ApiError
from bot.api.ratelimit import TokenBucketLimiter
from bot.config import Settings
from bot.rasa_client import RasaClient


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_rasa_client(request: Request) -> RasaClient:
    """The app's Rasa client (one pooled `httpx.AsyncClient`, opened by the lifespan)."""
    client: RasaClient = request.app.state.rasa
    return client


def client_key(request: Request) -> str:
    """The key a client is rate-limited under: its IP address.

    Behind a reverse proxy, run uvicorn with `--proxy-headers --forwarded-allow-ips ...` so
    this is the customer's address and not the proxy's.
    """
    return request.client.host if request.client else "unknown"


def enforce_chat_rate_limit(request: Request) -> None:
    """Refuses the request with 429 when its client has used up its message budget."""
    limiter: TokenBucketLimiter = request.app.state.chat_rate_limiter
    wait_s = limiter.acquire(client_key(request))
    if wait_s > 0:
        retry_after = limiter.retry_after_header(wait_s)
        raise ApiError(
            429,
            "rate_limited",
            headers={"Retry-After": retry_after},
            retry_after_s=int(retry_after),
        )


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RasaClientDep = Annotated[RasaClient, Depends(get_rasa_client)]
ChatRateLimit = Depends(enforce_chat_rate_limit)
