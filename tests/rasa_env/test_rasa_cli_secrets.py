"""`python -m bot.rasa_ext.cli` refuses to serve the production profile with weak secrets.

Its API token (`--auth-token`, RASA_TOKEN) and the secrets its endpoints file sends
(ACTION_SERVER_SECRET, ANSWER_SERVICE_TOKEN) must be set, long, random and no placeholder: the
server stops with one line naming each problem, before Rasa is even imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.rasa_ext.cli import auth_token_of, production_problems, with_token_from_environment

ROOT = Path(__file__).resolve().parents[2]
GOOD = "Rq3v8ZtL0wXk5NfB2yHc7MdJ4pGs9aUe"
ENV = {
    "BOT_PROFILE": "production",
    "ACTION_SERVER_SECRET": GOOD[::-1],
    "ANSWER_SERVICE_TOKEN": GOOD,
}


def test_the_token_is_read_from_the_arguments() -> None:
    assert auth_token_of(["run", "--auth-token", "abc"]) == "abc"
    assert auth_token_of(["run", "--auth-token=abc", "--port", "1"]) == "abc"
    assert auth_token_of(["run"]) is None


def test_production_needs_real_secrets_to_serve() -> None:
    serving = ["run", "--enable-api", "--auth-token", GOOD]
    assert production_problems(serving, ENV) == []
    (problem,) = production_problems(["run", "--enable-api", "--auth-token", "change-me"], ENV)
    assert problem.startswith("RASA_TOKEN (--auth-token) is a placeholder")
    (problem,) = production_problems(["run", "--enable-api"], ENV)
    assert problem.startswith("RASA_TOKEN (--auth-token) must be set")
    weak = {**ENV, "ACTION_SERVER_SECRET": "short", "ANSWER_SERVICE_TOKEN": "a" * 40}
    problems = production_problems(serving, weak)
    assert [p.split(" ")[0] for p in problems] == ["ACTION_SERVER_SECRET", "ANSWER_SERVICE_TOKEN"]
    # Not serving (training), or the local profile: nothing to check.
    assert production_problems(["train"], {"BOT_PROFILE": "production"}) == []
    assert production_problems(["run", "--enable-api"], {"BOT_PROFILE": "local"}) == []


def test_a_weak_token_stops_the_server_with_one_line() -> None:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.rasa_ext.cli", "run", "--enable-api", "--auth-token", "t0ken"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: BOT_PROFILE=production: RASA_TOKEN (--auth-token) is too short")
    assert "t0ken" not in line


def test_the_token_comes_from_the_environment_not_the_command_line() -> None:
    token = "t" * 40
    assert with_token_from_environment(["run", "--enable-api"], {"RASA_TOKEN": token}) == [
        "run",
        "--enable-api",
        f"--auth-token={token}",
    ]
    # An explicit --auth-token wins; other commands and an unset variable change nothing.
    explicit = ["run", "--auth-token", "x" * 40]
    assert with_token_from_environment(explicit, {"RASA_TOKEN": token}) == explicit
    assert with_token_from_environment(["train"], {"RASA_TOKEN": token}) == ["train"]
    assert with_token_from_environment(["run"], {}) == ["run"]
    # The production check sees the token taken from the environment.
    env = {"BOT_PROFILE": "production", "RASA_TOKEN": "change-me"}
    problems = production_problems(with_token_from_environment(["run"], env), env)
    assert any("RASA_TOKEN" in problem for problem in problems)


def test_a_token_that_starts_with_a_dash_reaches_rasa() -> None:
    # secrets.token_urlsafe draws from A-Z a-z 0-9 - _: one token in 64 starts with "-", which
    # Rasa's argparse took for an option ("--auth-token: expected one argument") when the token
    # was a separate argument: the server did not start (120 errors in one CI run).
    from rasa.__main__ import create_argument_parser

    for token in ("-" + GOOD, "--" + GOOD, "-_" + GOOD):
        argv = with_token_from_environment(["run", "--enable-api"], {"RASA_TOKEN": token})
        assert create_argument_parser().parse_args(argv).auth_token == token
        assert auth_token_of(argv) == token
