"""Skip or fail when a test's real back-end (PostgreSQL, Redis, nginx) is not there.

On a developer's machine without PostgreSQL, a test that needs it is skipped, saying why. In
CI (``CI=true``, as `.ci/run` sets it) the machine always has PostgreSQL, Redis and nginx, so
a missing one is a broken set-up: the test fails instead, and a run that tested nothing of the
PostgreSQL, Redis or nginx parts can never pass as green. Standard library only: the Rasa
environment's tests (tests/rasa_env) use it too.
"""

from __future__ import annotations

import os

import pytest

#: Figures tests measured and report (not assert): printed at the end of the run and written
#: to var/test-figures.txt by tests/conftest.py (e.g. the scale tests' lost turns and worst
#: turn time when a server dies or hangs).
TEST_FIGURES: list[str] = []


def in_ci() -> bool:
    """Whether this run is a CI run (``CI`` set to a true value, as CI services do)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skips the test with ``reason`` locally; fails it under ``CI=true``."""
    if in_ci():
        pytest.fail(f"CI=true, but {reason}", pytrace=False)
    pytest.skip(reason)


def required_env(name: str, why: str) -> str:
    """The value of the environment variable ``name``, or :func:`missing` saying ``why``."""
    value = os.environ.get(name)
    if not value:
        missing(f"{name} is not set: {why}")
    return value or ""
