"""The rendered answers, built once per test session (tests/answers/renders.py)."""

from __future__ import annotations

import pytest

from tests.answers.renders import Matrix, build_matrix


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """Every composed answer, through the real actions and demo databases."""
    return build_matrix(tmp_path_factory.mktemp("answers"))
