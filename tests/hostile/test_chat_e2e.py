"""The whole hostile corpus through the real chat endpoint, with the real Rasa and actions.

A gateway process of this module (the command `make run` uses, `devstack.stack.gateway_service`)
talks to the session's Rasa server and action server (`live_stack`); its rate limit is raised
so that one client may send the whole corpus. Every text of `tests/hostile/corpus.py` is sent
as a chat message (the megabyte ones too: refused before they are read), then every request
body of the corpus (megabyte JSON, deep nesting, wrong types, broken UTF-8, gzip bombs...) as
it is. Each must get a clear answer: the bot's messages (200) or a JSON error the widget
explains (411, 413, 422), never a 5xx, a dropped connection or an empty answer; the gateway
stays healthy throughout. The count, the answers and the slowest input are reported
(var/test-figures.txt).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.db.migrate import upgrade
from devstack.stack import Stack, free_port, gateway_service
from tests.conftest import LiveStack
from tests.hostile.corpus import JSON_BODIES, TEXTS
from tests.services import TEST_FIGURES

pytestmark = pytest.mark.e2e

# What the widget explains (bot/api/static/widget.js): too long, no length, invalid.
CLEAR_ERRORS = {411: "length_required", 413: "message_too_long", 422: None}


@pytest.fixture(scope="module")
def chat_gateway(live_stack: LiveStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work: Path = tmp_path_factory.mktemp("hostile-chat")
    database_url = f"sqlite:///{work / 'gateway.db'}"
    upgrade(database_url)
    port = free_port()
    env = {
        **live_stack.gateway_env,
        "DATABASE_URL": database_url,
        "EMAIL_WORKER_ENABLED": "false",
        "DEFAULT_STORE": "om-system",
        # One client sends the whole corpus: the limit is tested in tests/e2e.
        "CHAT_RATE_LIMIT_MESSAGES": "100000",
    }
    stack = Stack([gateway_service(port=port, env=env)], log_dir=work / "log")
    with stack.running():
        yield f"http://127.0.0.1:{port}"


def check_clear(response: httpx.Response, what: str) -> str:
    """The answer's kind ("answered", or the error code); fails on anything unclear."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    body: Any = response.json()
    if response.status_code == 200:
        texts = [m.get("text") or m.get("image") or m.get("buttons") for m in body["messages"]]
        assert any(texts), (what, body)  # something to read, never an empty answer
        return "answered"
    assert response.status_code in CLEAR_ERRORS, (what, response.status_code, body)
    expected = CLEAR_ERRORS[response.status_code]
    assert isinstance(body.get("error"), str), (what, body)
    if expected:
        assert body["error"] == expected, (what, body)
    return str(body["error"])


def test_the_corpus_through_the_chat_endpoint(chat_gateway: str) -> None:
    outcomes: dict[str, int] = {}
    timings: list[tuple[float, str]] = []
    with httpx.Client(base_url=chat_gateway, timeout=120) as client:
        for case in TEXTS:
            sender = "hostile" + uuid.uuid4().hex[:12]  # one conversation each: no carry-over
            started = time.monotonic()
            # Escaped JSON (as a browser sends it): a lone surrogate travels as "\ud800".
            body = {"sender_id": sender, "message": case.value, "store": "om-system"}
            response = client.post(
                "/api/chat",
                content=json.dumps(body).encode("ascii"),
                headers={"Content-Type": "application/json"},
            )
            timings.append((time.monotonic() - started, case.name))
            kind = check_clear(response, case.name)
            outcomes[kind] = outcomes.get(kind, 0) + 1
        for raw in JSON_BODIES:
            started = time.monotonic()
            response = client.post(
                "/api/chat",
                content=raw.body,
                headers={"Content-Type": raw.content_type, **dict(raw.headers)},
            )
            timings.append((time.monotonic() - started, raw.name))
            kind = check_clear(response, raw.name)
            outcomes[kind] = outcomes.get(kind, 0) + 1
            assert client.get("/health").status_code == 200, raw.name
    tried = len(TEXTS) + len(JSON_BODIES)
    assert sum(outcomes.values()) == tried >= 200
    # Every text a customer can send (not blank, within the chat's 2,000 characters once the
    # gateway has stripped it) got the bot's answer; the others got the widget's errors.
    sendable = [
        case
        for case in TEXTS
        if 0 < len(case.value.encode("utf-8", "replace").decode("utf-8").strip()) <= 2000
    ]
    assert outcomes["answered"] == len(sendable), outcomes
    slowest_s, slowest = max(timings)
    TEST_FIGURES.append(
        f"hostile corpus, chat endpoint: {tried} inputs, 0 crashes, outcomes {outcomes}, "
        f"slowest {slowest_s:.2f} s ({slowest})"
    )
