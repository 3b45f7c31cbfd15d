"""scripts/compare_runs.py: per-test outcome differences between runs of the suite, from the
JUnit XML pytest writes (real pytest runs of a small generated test file, not hand-made XML)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "compare_runs.py"

# A test file whose outcomes are set by an environment variable: the same suite, run twice,
# with one test that flips (a flaky test), one that fails both times and one skipped.
SUITE = """
import os
import pytest

def test_steady():
    assert 1 + 1 == 2

def test_flaky():
    assert os.environ.get("FLIP") != "1"

def test_always_broken():
    assert False, "broken for good"

@pytest.mark.skipif(True, reason="needs a thing")
def test_skipped():
    pass

@pytest.fixture
def broken_teardown():
    yield
    if os.environ.get("FLIP") == "1":
        raise RuntimeError("teardown blew up")

def test_teardown(broken_teardown):
    pass

if os.environ.get("FLIP") != "1":
    def test_only_in_first_run():
        pass
"""


def pytest_run(folder: Path, suite: Path, *, flip: bool) -> Path:
    folder.mkdir(parents=True)
    xml = folder / "app.xml"
    # No third-party plugin needed: a quicker start.
    env = {
        "PATH": "/usr/bin:/bin",
        "FLIP": "1" if flip else "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
         f"--rootdir={suite.parent}", f"--junitxml={xml}", str(suite)],
        env=env, capture_output=True, check=False, cwd=suite.parent,
    )  # fmt: skip
    assert xml.exists()
    return folder


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Three runs of the sample suite: two alike, then one with the flips."""
    work = tmp_path_factory.mktemp("runs")
    suite = work / "suite" / "test_sample.py"
    suite.parent.mkdir()
    suite.write_text(SUITE, encoding="utf-8")
    return (
        pytest_run(work / "r1", suite, flip=False),
        pytest_run(work / "r2", suite, flip=False),
        pytest_run(work / "r3", suite, flip=True),
    )


def test_identical_runs_report_no_difference(tmp_path: Path, runs: tuple[Path, Path, Path]) -> None:
    first, second, _ = runs
    out = tmp_path / "reports" / "cmp"
    result = compare(str(first), str(second), "--out", str(out))
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["identical"] is True and report["differing"] == []
    # Identical, but a test fails in both runs: not a clean result (exit 1), and named.
    assert result.returncode == 1, result.stdout + result.stderr
    assert list(report["failing_in_every_run"]) == ["app:test_sample::test_always_broken"]
    assert (
        "broken for good" in report["failing_in_every_run"]["app:test_sample::test_always_broken"]
    )
    # A skip is reported as such, never as a pass.
    assert list(report["skipped_in_every_run"]) == ["app:test_sample::test_skipped"]
    assert report["runs"][0]["outcomes"] == {"failed": 1, "passed": 4, "skipped": 1}
    assert "identical" in out.with_suffix(".md").read_text(encoding="utf-8")


def test_a_flipped_outcome_an_error_and_a_missing_test_are_each_reported(
    tmp_path: Path, runs: tuple[Path, Path, Path]
) -> None:
    first, _, second = runs
    out = tmp_path / "cmp"
    result = compare(str(first / "app.xml"), str(second), "--out", str(out))
    assert result.returncode == 1
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    differing = {d["test"]: d["outcomes"] for d in report["differing"]}
    assert differing == {
        "app:test_sample::test_flaky": ["passed", "failed"],
        "app:test_sample::test_teardown": ["passed", "error"],
        "app:test_sample::test_only_in_first_run": ["passed", "missing"],
    }
    markdown = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "3 test(s) differ" in markdown and "teardown blew up" in markdown
    assert "test_flaky: passed / failed" in result.stdout


def test_one_run_or_an_unreadable_one_is_refused(
    tmp_path: Path, runs: tuple[Path, Path, Path]
) -> None:
    first = runs[0]
    assert compare(str(first)).returncode == 2  # argparse: at least two runs
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites><testcase", encoding="utf-8")
    result = compare(str(first), str(broken), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 2 and "cannot compare" in result.stderr
