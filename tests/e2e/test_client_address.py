"""The chat's rate limit against forged forwarded headers, on real gateway processes.

Each gateway here is started with the command `make run` uses (`devstack.stack.gateway_service`:
uvicorn with `--no-proxy-headers`), so what is tested is the deployed path: uvicorn's socket
gives the peer, and only the app's `TRUSTED_PROXIES` may replace it with X-Forwarded-For.
Issue 12's probe: 40 chats from one client, each with its own forged X-Forwarded-For, all got
200 with a limit of 30 per minute.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.db.migrate import upgrade
from devstack.stack import Stack, free_port, gateway_service
from tests.conftest import LiveStack
from tests.services import required_env

pytestmark = pytest.mark.e2e

StartGateways = Callable[..., list[str]]


@pytest.fixture
def start_gateways(tmp_path: Path) -> Iterator[StartGateways]:
    """Starts gateway processes (uvicorn, free ports) with the given environment."""
    stacks: list[Stack] = []
    database_url = f"sqlite:///{tmp_path / 'inbox.db'}"
    upgrade(database_url)

    def start(count: int = 1, **env: str) -> list[str]:
        ports = [free_port() for _ in range(count)]
        environment = {
            "DATABASE_URL": database_url,
            "EMAIL_WORKER_ENABLED": "false",
            "DEFAULT_STORE": "om-system",
            **env,
        }
        services = [
            gateway_service(port=port, env=environment, name=f"gateway {i}")
            for i, port in enumerate(ports)
        ]
        stack = Stack(services, log_dir=tmp_path / f"log{len(stacks)}")
        stacks.append(stack)
        stack.start()
        return [f"http://127.0.0.1:{port}" for port in ports]

    yield start
    for stack in stacks:
        stack.stop()


def chat(url: str, forwarded_for: str, sender_id: str) -> int:
    response = httpx.post(
        f"{url}/api/chat",
        json={"sender_id": sender_id, "message": "Bonjour", "store": "om-system"},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=90,
    )
    return response.status_code


def test_forty_chats_with_forged_forwarded_headers_are_limited_at_thirty(
    live_stack: LiveStack, start_gateways: StartGateways
) -> None:
    # The default settings: no TRUSTED_PROXIES, 30 messages a minute. The 40 chats go at once
    # (as a script would send them), each in its own conversation, each with its own forged
    # X-Forwarded-For; the real Rasa answers the ones let through.
    (url,) = start_gateways(**live_stack.gateway_env)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(
            pool.map(
                lambda i: chat(url, f"198.51.100.{i}, 10.0.0.{i}", "e2e" + uuid.uuid4().hex),
                range(40),
            )
        )
    elapsed = time.monotonic() - started
    answered, refused = codes.count(200), codes.count(429)
    assert answered + refused == 40, codes
    # 30 at once; at most one more per 2 s if the requests were slow to arrive.
    assert 30 <= answered <= 30 + int(elapsed / 2), (codes, elapsed)
    assert refused >= 40 - 30 - int(elapsed / 2)
    assert refused > 0


def test_behind_a_trusted_proxy_each_customer_has_a_budget(
    start_gateways: StartGateways,
) -> None:
    # The proxy (here 127.0.0.1) is listed: the address it forwards is the client. Rasa is
    # down: 503 means the message passed the limit, 429 that it did not.
    (url,) = start_gateways(
        RASA_URL=f"http://127.0.0.1:{free_port()}",
        TRUSTED_PROXIES="127.0.0.1",
        CHAT_RATE_LIMIT_WINDOW_S="3600",  # 30 an hour: none comes back during the test
        # Rasa stays down: no wait for a restart (each of the 66 chats would wait 30 s).
        RASA_RESTART_WAIT_S="0",
    )
    sender = "e2e" + uuid.uuid4().hex
    assert [chat(url, f"198.51.100.{i}", sender) for i in range(35)] == [503] * 35
    # One customer behind the proxy still has one budget, whatever it puts in front of the
    # address the proxy appended.
    forged = [chat(url, f"203.0.113.{i}, 198.51.100.200", sender) for i in range(31)]
    assert forged == [503] * 30 + [429]


def test_two_gateways_share_the_limit_in_redis(start_gateways: StartGateways) -> None:
    redis = urlsplit(required_env("TEST_REDIS_URL", "the shared rate limit needs a real Redis"))
    urls = start_gateways(
        2,
        RASA_URL=f"http://127.0.0.1:{free_port()}",
        CHAT_RATE_LIMIT_MESSAGES="30",
        CHAT_RATE_LIMIT_WINDOW_S="3600",
        REDIS_HOST=redis.hostname or "127.0.0.1",
        REDIS_PORT=str(redis.port or 6379),
        REDIS_DB=(redis.path or "/0").strip("/") or "0",
        REDIS_PASSWORD=redis.password or "",
        REDIS_KEY_PREFIX=f"e2erate{uuid.uuid4().hex[:8]}",
        # Rasa stays down: no wait for a restart (each of the 30 chats let through would
        # wait RASA_RESTART_WAIT_S, 30 s, before its 503).
        RASA_RESTART_WAIT_S="0",
    )
    sender = "e2e" + uuid.uuid4().hex
    codes = [chat(urls[i % 2], f"198.51.100.{i}", sender) for i in range(40)]
    # Forged headers ignored, one budget across both gateways: 30 pass (503: Rasa is down).
    assert codes == [503] * 30 + [429] * 10
