"""The client's address and the chat's rate limit: forwarded headers, trusted proxies, Redis.

X-Forwarded-For is believed only from the proxies of ``TRUSTED_PROXIES`` (empty by default);
the rate limit counts under the address so found, in this gateway's memory or, with
``REDIS_HOST``, in a real Redis shared by every gateway (``TEST_REDIS_URL``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.api.ratelimit import RedisTokenBucketLimiter, TokenBucketLimiter
from tests.api.conftest import MakeClient, gateway_settings
from tests.api.servers import FakeRasa
from tests.services import required_env

PEER = "203.0.113.7"  # the TestClient's address: the connection's peer
# 30 messages an hour: no token comes back while a test runs (30 a minute would give one
# back every 2 s on a slow machine).
HOUR = {"chat_rate_limit_messages": 30, "chat_rate_limit_window_s": 3600.0}


def chat(client: TestClient, forwarded_for: str | None = None, **extra: Any) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = {"sender_id": "client-address-test", "message": "Bonjour", **extra}
    return client.post("/api/chat", json=body, headers=headers).status_code


def seen_client(fake_rasa: FakeRasa) -> str:
    client: str = fake_rasa.messages()[-1]["metadata"]["client"]
    return client


# --- forwarded headers ---------------------------------------------------------------------


def test_without_trusted_proxies_forged_headers_change_nothing(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client(**HOUR)
    codes = [chat(client, f"198.51.100.{i}, 192.0.2.{i}") for i in range(40)]
    # One client, one budget: a new forged address per message does not buy a new one.
    assert codes == [200] * 30 + [429] * 10
    assert seen_client(fake_rasa) == PEER


def test_a_trusted_proxy_gives_the_customers_address(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client(
        trusted_proxies=f"10.0.0.0/8, {PEER}",
        chat_rate_limit_messages=2,
        chat_rate_limit_window_s=3600.0,
    )
    assert chat(client, "198.51.100.9") == 200
    assert seen_client(fake_rasa) == "198.51.100.9"
    # What the customer forged sits left of what the proxy appended: the right-most address
    # that is not a trusted proxy is the customer.
    assert chat(client, "192.0.2.66, 198.51.100.9, 10.1.2.3") == 200
    assert seen_client(fake_rasa) == "198.51.100.9"
    assert chat(client, "1.1.1.1, 198.51.100.9") == 429  # its third message: its own budget
    assert chat(client, "198.51.100.10") == 200  # another customer behind the proxy


def test_a_peer_that_is_no_listed_proxy_is_the_client(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    client = make_client(trusted_proxies="10.0.0.0/8")
    assert chat(client, "198.51.100.9") == 200
    assert seen_client(fake_rasa) == PEER


def test_trusting_everyone_is_refused() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES cannot be"):
        create_app(gateway_settings("http://127.0.0.1:9", trusted_proxies="10.0.0.1, *"))


# --- the limit in Redis --------------------------------------------------------------------


@pytest.fixture
def redis_settings() -> Iterator[dict[str, Any]]:
    """REDIS_* settings of the test Redis, under a key prefix of this test only (removed)."""
    url = urlsplit(required_env("TEST_REDIS_URL", "the shared rate limit needs a real Redis"))
    prefix = f"ratetest{uuid.uuid4().hex[:8]}"
    values = {
        "redis_host": url.hostname,
        "redis_port": url.port or 6379,
        "redis_db": int((url.path or "/0").strip("/") or 0),
        "redis_password": url.password,
        "redis_key_prefix": prefix,
    }
    yield values
    import redis

    with redis.Redis(
        host=values["redis_host"],
        port=values["redis_port"],
        db=values["redis_db"],
        password=values["redis_password"],
    ) as connection:
        for key in connection.scan_iter(f"{prefix}:*"):
            connection.delete(key)


def test_two_gateways_share_one_budget_in_redis(
    make_client: MakeClient, fake_rasa: FakeRasa, redis_settings: dict[str, Any]
) -> None:
    first = make_client(**HOUR, **redis_settings)
    second = make_client(**HOUR, **redis_settings)
    assert isinstance(first.app.state.chat_rate_limiter, RedisTokenBucketLimiter)  # type: ignore[attr-defined]
    codes = [chat(first if i % 2 else second) for i in range(40)]
    assert codes == [200] * 30 + [429] * 10
    # Another client keeps its own budget, on either gateway.
    other = make_client(client=("198.51.100.77", 1234), **HOUR, **redis_settings)
    assert chat(other) == 200


def test_without_redis_two_gateways_count_apart(
    make_client: MakeClient, fake_rasa: FakeRasa
) -> None:
    # The per-process buckets the shared one replaces: each gateway gives its own 30.
    first, second = make_client(), make_client()
    assert isinstance(first.app.state.chat_rate_limiter, TokenBucketLimiter)  # type: ignore[attr-defined]
    codes = [chat(first if i % 2 else second) for i in range(40)]
    assert codes == [200] * 40


def test_the_redis_bucket_refills_on_redis_time(redis_settings: dict[str, Any]) -> None:
    from redis.asyncio import Redis

    client = "198.51.100.5"
    key = f"{redis_settings['redis_key_prefix']}:chat-rate:{client}"

    async def scenario() -> tuple[list[float], list[float]]:
        redis = Redis(
            host=redis_settings["redis_host"],
            port=redis_settings["redis_port"],
            db=redis_settings["redis_db"],
            password=redis_settings["redis_password"],
        )
        # Two tokens, one back each second.
        limiter = RedisTokenBucketLimiter(
            redis, capacity=2, window_s=2.0, key_prefix=redis_settings["redis_key_prefix"]
        )
        try:
            waits: list[float] = []
            called_at: list[float] = []  # the Redis time of each call (TIME, in the script)
            for _ in range(3):
                waits.append(await limiter.acquire_async(client))
                called_at.append(float(await redis.hget(key, "updated")))
            # As long as the limiter said, on this clock (a little more: the float's rounding).
            await asyncio.sleep(waits[2] + 0.05)
            waits.append(await limiter.acquire_async(client))
            return waits, called_at
        finally:
            await limiter.aclose()

    waits, called_at = asyncio.run(scenario())
    assert waits[:2] == [0.0, 0.0]
    # The third waits for the token that comes back a second after the first call, less the
    # Redis time that went by between the first call and the third: however long the calls
    # took (a busy machine may take a good part of that second, or all of it: then no wait).
    elapsed = called_at[2] - called_at[0]
    assert elapsed >= 0
    assert waits[2] == pytest.approx(max(0.0, 1.0 - elapsed), abs=0.002)
    assert waits[3] == 0.0


def test_redis_down_falls_back_on_the_gateways_own_bucket(
    make_client: MakeClient, fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(
        chat_rate_limit_messages=3,
        chat_rate_limit_window_s=3600.0,
        redis_host="127.0.0.1",
        redis_port=1,
    )
    codes = [chat(client) for _ in range(4)]
    assert codes == [200, 200, 200, 429]  # still limited, per gateway
    assert "Redis failed" in caplog.text
