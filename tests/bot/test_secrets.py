"""Production secrets must be real ones, and the action server starts only with its own.

bot/secret_rules.py says what a usable secret is (set, 32+ characters, not a placeholder, not
one character repeated); bot/action_server.py refuses to start without ACTION_SERVER_SECRET
with one sentence naming it, and inflates compressed bodies with a cap on the output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import pytest

from bot.action_server import InflatedTooLarge, configured_secret, inflate_capped, max_body_bytes
from bot.config import PROJECT_ROOT
from bot.secret_rules import generate_secret, is_placeholder, password_problem, secret_problem

GOOD = "q7Vf2LmX9aZ4kT1wB8nR3cY6hJ0pE5sDgU"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "must be set"),
        ("", "must be set"),
        ("   ", "must be set"),
        ("change-me", "placeholder"),
        ("change-me-long-random-string-of-32-characters", "placeholder"),
        ("CHANGE_ME_PLEASE_0123456789abcdefghij", "placeholder"),
        ("<your token here, 32 characters long>", "placeholder"),
        ("${RASA_TOKEN}", "placeholder"),
        ("my-super-secret-token-1234567890abc", "placeholder"),
        ("t0ken", "too short (5 characters)"),
        ("Xq7Vf2LmX9aZ4kT1wB8nR3c", "too short"),
        ("k" * 32, "not random"),
        ("abab" * 10, "not random"),
    ],
)
def test_unusable_secrets_are_named_in_one_sentence(value: str | None, words: str) -> None:
    problem = secret_problem("RASA_TOKEN", value)
    assert problem is not None and words in problem
    assert problem.startswith("RASA_TOKEN ") and "\n" not in problem


def test_random_secrets_pass() -> None:
    assert secret_problem("RASA_TOKEN", GOOD) is None
    generated = {generate_secret() for _ in range(200)}
    assert len(generated) == 200
    assert all(secret_problem("X", value) is None for value in generated)


def test_a_password_in_a_url_is_only_refused_when_it_is_a_placeholder() -> None:
    assert password_problem("DATABASE_URL", "change-me") is not None
    assert password_problem("DATABASE_URL", "pw") is None  # short, but not ours to judge
    assert password_problem("DATABASE_URL", None) is None
    assert is_placeholder("ChangeMe") and not is_placeholder(GOOD)


def test_the_action_server_needs_its_secret() -> None:
    with pytest.raises(SystemExit, match="ACTION_SERVER_SECRET is not set"):
        configured_secret({})
    assert configured_secret({"ACTION_SERVER_SECRET": "short-is-fine-locally"}) == (
        "short-is-fine-locally"
    )
    production = {"BOT_PROFILE": "production"}
    with pytest.raises(SystemExit, match="ACTION_SERVER_SECRET is a placeholder"):
        configured_secret({**production, "ACTION_SERVER_SECRET": "change-me-long-random-string"})
    with pytest.raises(SystemExit, match="ACTION_SERVER_SECRET is too short"):
        configured_secret({**production, "ACTION_SERVER_SECRET": "abc123"})
    assert configured_secret({**production, "ACTION_SERVER_SECRET": GOOD}) == GOOD


def test_the_action_server_refuses_to_start_without_a_secret_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_SECRET"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot.action_server", "--port", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ACTION_SERVER_SECRET is not set")


def test_the_body_cap_is_a_number_of_bytes() -> None:
    assert max_body_bytes({}) == 8 * 1024 * 1024
    assert max_body_bytes({"ACTION_SERVER_MAX_BODY_BYTES": "2048"}) == 2048
    for wrong in ("lots", "12"):
        with pytest.raises(SystemExit, match="ACTION_SERVER_MAX_BODY_BYTES"):
            max_body_bytes({"ACTION_SERVER_MAX_BODY_BYTES": wrong})


def test_inflating_stops_at_the_cap_whatever_the_ratio() -> None:
    body = b'{"next_action": "action_listen"}'
    assert inflate_capped(zlib.compress(body), 1024) == body
    bomb = zlib.compress(b" " * 50_000_000, 9)  # 50 MB in about 50 kB
    with pytest.raises(InflatedTooLarge):
        inflate_capped(bomb, 1024)
    exact = zlib.compress(b"x" * 1024)
    assert len(inflate_capped(exact, 1024)) == 1024
    with pytest.raises(InflatedTooLarge):
        inflate_capped(zlib.compress(b"x" * 1025), 1024)
    with pytest.raises(zlib.error):
        inflate_capped(b"not deflate", 1024)
    with pytest.raises(zlib.error):
        inflate_capped(zlib.compress(body)[:-6], 1024)  # cut short
