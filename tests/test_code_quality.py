"""The house rules hold on every run: ruff's rule set and `mypy --strict` on bot/ and actions/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.config import PROJECT_ROOT

BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing_in_the_app_code() -> None:
    result = run(str(BIN / "ruff"), "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing_in_the_rasa_environment_code() -> None:
    # Python 3.10 code that keeps typing.List & co. for Rasa's graph signature checks.
    result = run(
        str(BIN / "ruff"),
        "check",
        "--output-format",
        "concise",
        "--target-version",
        "py310",
        "--extend-ignore",
        "UP",
        "bot/nlu",
        "tests/rasa_env",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_bot_and_actions() -> None:
    result = run(str(BIN / "mypy"), "--strict", "bot", "actions", "devstack")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
