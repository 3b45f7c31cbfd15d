"""`scripts/find-python`: finds the interpreter the way a user's machine offers it."""

from __future__ import annotations

import os
import subprocess
import sys

from bot.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "find-python"


def find(version: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), version], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_missing_python_gives_one_sentence_saying_what_to_install(tmp_path) -> None:
    # No pyenv, no python3.10 on PATH, an empty home: nothing to find.
    result = find("3.10", PATH="/usr/bin:/bin", HOME=str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Python 3.10 was not found" in lines[0] and "install" in lines[0]


def test_an_override_that_is_not_the_right_version_is_refused() -> None:
    result = find(
        "3.10", PATH=os.environ["PATH"], HOME=os.environ.get("HOME", "/"), PYTHON310=sys.executable
    )
    assert result.returncode == 1
    assert "is not a working Python 3.10" in result.stderr


def test_the_running_interpreter_is_found_by_its_version() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    result = find(
        version,
        PATH=f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        HOME=os.environ.get("HOME", "/"),
    )
    assert result.returncode == 0, result.stderr
    found = result.stdout.strip()
    check = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == str(sys.version_info[:2])
