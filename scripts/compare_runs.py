#!/usr/bin/env python3
"""Runs the whole suite N times (or reads N runs' JUnit XML) and reports every test whose
outcome differs between runs: a flaky test, a test that depends on the order or on what an
earlier run left behind, a test that some runs never collected.

Two ways to use it:

* ``python scripts/compare_runs.py --runs 3`` (``make compare-runs RUNS=3``): runs
  ``make test`` three times in a row in this checkout, each run writing its JUnit XML to
  ``var/junit/run-<k>/`` (``make test`` writes ``rasa_env.xml`` and ``app.xml`` to
  ``JUNIT_DIR``), then compares. ``--fresh-clone DIR`` clones the committed ``HEAD`` into
  DIR first and runs ``bash .ci/run`` there instead (what CI runs: environments, model and
  all, built by the first run), so nothing of this checkout's ``var/`` or caches is reused.
* ``python scripts/compare_runs.py RUN RUN ...``: compares existing runs, each RUN a JUnit XML
  file or a folder of them (one run of ``make test`` is two files).

A test's outcome in a run is ``passed``, ``failed``, ``error`` (setup or teardown), ``skipped``
(with its reason: a skip is never counted as a pass) or ``missing`` (not in that run). Writes
``reports/run_comparison.json`` and ``reports/run_comparison.md`` (``--out``), prints the
summary, and exits 0 when every test has one and the same outcome in every run and none failed,
1 when some outcome differs or a test failed in every run, 2 when a run could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET  # noqa: S405 - our own pytest's output
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "reports" / "run_comparison"
# How bad an outcome is, when one test case has several results (a test that failed and
# whose teardown then raised is reported as a failure and an error).
SEVERITY = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclass
class Run:
    """One run of the suite: each test's outcome and time, and where it came from."""

    label: str
    sources: list[str]
    outcomes: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float | None = None
    exit_code: int | None = None

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.outcomes.values()).items()))


class RunError(Exception):
    """A run's XML is missing or unreadable."""


def _case_outcome(case: ET.Element) -> tuple[str, str]:
    """The outcome of one <testcase> and its message (the worst of its results)."""
    outcome, detail = "passed", ""
    for child in case:
        tag = child.tag
        if tag == "skipped":  # an expected failure (xfail) too, with its reason
            kind = "skipped"
        elif tag == "failure":
            kind = "failed"
        elif tag == "error":
            kind = "error"
        else:
            continue
        if SEVERITY[kind] >= SEVERITY[outcome]:
            outcome = kind
            detail = " ".join((child.get("message") or child.text or "").split())[:300]
    return outcome, detail


def read_junit(path: Path, run: Run) -> None:
    """Adds the test cases of one JUnit XML file to ``run``, named ``<file stem>:<id>``."""
    try:
        tree = ET.parse(path)  # noqa: S314 - our own pytest's output
    except (OSError, ET.ParseError) as exc:
        raise RunError(f"{path}: {exc}") from exc
    suite = path.stem
    for case in tree.iter("testcase"):
        classname, name = case.get("classname") or "", case.get("name") or ""
        test_id = f"{suite}:{classname}::{name}"
        outcome, detail = _case_outcome(case)
        previous = run.outcomes.get(test_id)
        if previous is None or SEVERITY[outcome] > SEVERITY[previous]:
            run.outcomes[test_id] = outcome
            run.details[test_id] = detail
        run.seconds[test_id] = run.seconds.get(test_id, 0.0) + float(case.get("time") or 0.0)


def load_run(source: Path, label: str) -> Run:
    """A run from one XML file or from every ``*.xml`` of a folder."""
    files = sorted(source.glob("*.xml")) if source.is_dir() else [source]
    if not files or not all(f.exists() for f in files):
        raise RunError(f"{source}: no JUnit XML there")
    run = Run(label=label, sources=[str(f) for f in files])
    for path in files:
        read_junit(path, run)
    meta = source / "run.json" if source.is_dir() else None
    if meta is not None and meta.exists():
        recorded = json.loads(meta.read_text(encoding="utf-8"))
        run.wall_s, run.exit_code = recorded.get("wall_s"), recorded.get("exit_code")
    return run


@dataclass
class Comparison:
    runs: list[Run]
    differing: dict[str, list[str]]
    failing_everywhere: dict[str, str]
    skipped_everywhere: dict[str, str]

    @property
    def identical(self) -> bool:
        return not self.differing

    @property
    def ok(self) -> bool:
        return self.identical and not self.failing_everywhere


def compare(runs: list[Run]) -> Comparison:
    """Each test's outcomes across the runs; the tests whose outcomes differ."""
    every_test = sorted(set().union(*(run.outcomes for run in runs)))
    differing: dict[str, list[str]] = {}
    failing: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for test_id in every_test:
        outcomes = [run.outcomes.get(test_id, "missing") for run in runs]
        if len(set(outcomes)) > 1:
            differing[test_id] = outcomes
        elif outcomes[0] in ("failed", "error"):
            failing[test_id] = runs[0].details.get(test_id, "")
        elif outcomes[0] == "skipped":
            skipped[test_id] = runs[0].details.get(test_id, "")
    return Comparison(runs, differing, failing, skipped)


def slowest_spread(runs: list[Run], count: int = 15) -> list[tuple[str, list[float]]]:
    """The tests whose time varies most between runs (a hint, not a difference)."""
    spreads = []
    for test_id in set().union(*(run.seconds for run in runs)):
        times = [run.seconds.get(test_id, 0.0) for run in runs]
        spreads.append((max(times) - min(times), test_id, times))
    spreads.sort(reverse=True)
    return [(test_id, times) for _, test_id, times in spreads[:count]]


def to_json(result: Comparison) -> dict[str, object]:
    return {
        "identical": result.identical,
        "runs": [
            {
                "label": run.label,
                "sources": run.sources,
                "tests": len(run.outcomes),
                "outcomes": run.counts(),
                "wall_s": run.wall_s,
                "exit_code": run.exit_code,
                "total_test_s": round(sum(run.seconds.values()), 1),
            }
            for run in result.runs
        ],
        "differing": [
            {
                "test": test_id,
                "outcomes": outcomes,
                "details": [run.details.get(test_id, "") for run in result.runs],
            }
            for test_id, outcomes in result.differing.items()
        ],
        "failing_in_every_run": result.failing_everywhere,
        "skipped_in_every_run": result.skipped_everywhere,
        "largest_time_spread": [
            {"test": test_id, "seconds": [round(t, 2) for t in times]}
            for test_id, times in slowest_spread(result.runs)
        ],
    }


def to_markdown(result: Comparison) -> str:
    lines = ["# Outcomes of the suite across runs", ""]
    verdict = (
        "**identical**: every test has the same outcome in every run"
        if result.identical
        else f"**{len(result.differing)} test(s) differ** between runs"
    )
    lines += [f"{len(result.runs)} runs: {verdict}.", ""]
    lines += ["| run | tests | outcomes | wall time | exit code |", "|---|---|---|---|---|"]
    for run in result.runs:
        outcomes = ", ".join(f"{n} {kind}" for kind, n in run.counts().items())
        wall = f"{run.wall_s:.0f} s" if run.wall_s is not None else "n/a"
        code = "n/a" if run.exit_code is None else str(run.exit_code)
        lines.append(f"| {run.label} | {len(run.outcomes)} | {outcomes} | {wall} | {code} |")
    lines.append("")
    if result.differing:
        labels = " | ".join(run.label for run in result.runs)
        lines += ["## Tests whose outcome differs", "", f"| test | {labels} |"]
        lines.append("|---" * (len(result.runs) + 1) + "|")
        for test_id, outcomes in result.differing.items():
            lines.append(f"| `{test_id}` | " + " | ".join(outcomes) + " |")
        lines.append("")
        for test_id in result.differing:
            for run in result.runs:
                detail = run.details.get(test_id)
                if detail:
                    lines.append(f"- `{test_id}` ({run.label}): {detail}")
        lines.append("")
    if result.failing_everywhere:
        lines += ["## Failing in every run", ""]
        lines += [f"- `{t}`: {d}" for t, d in result.failing_everywhere.items()]
        lines.append("")
    if result.skipped_everywhere:
        lines += ["## Skipped in every run (not passes)", ""]
        lines += [f"- `{t}`: {d}" for t, d in result.skipped_everywhere.items()]
        lines.append("")
    lines += ["## Largest time spread between runs (seconds; a hint, not a difference)", ""]
    for test_id, times in slowest_spread(result.runs):
        lines.append(f"- `{test_id}`: " + ", ".join(f"{t:.1f}" for t in times))
    return "\n".join(lines) + "\n"


def write_reports(result: Comparison, out: Path) -> tuple[Path, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    json_path.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(to_markdown(result), encoding="utf-8")
    return json_path, md_path


def run_suite(times: int, junit_root: Path, *, checkout: Path, command: list[str]) -> list[Path]:
    """Runs ``command`` (``make test`` or ``bash .ci/run``) ``times`` times in ``checkout``,
    one JUnit folder per run; a failing run goes on to the next (its failures are outcomes)."""
    folders = []
    for number in range(1, times + 1):
        folder = junit_root / f"run-{number}"
        if folder.exists():
            for old in folder.glob("*.xml"):
                old.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        print(f"== run {number} of {times}: {' '.join(command)} (JUnit XML in {folder})")
        started = time.monotonic()
        env = {**os.environ, "JUNIT_DIR": str(folder)}
        code = subprocess.call(command, cwd=checkout, env=env)  # noqa: S603 - fixed argv
        wall = time.monotonic() - started
        (folder / "run.json").write_text(
            json.dumps({"wall_s": round(wall, 1), "exit_code": code}) + "\n", encoding="utf-8"
        )
        print(f"== run {number}: exit code {code}, {wall:.0f} s")
        folders.append(folder)
    return folders


def fresh_clone(target: Path) -> Path:
    """A clone of the committed HEAD of this repository (nothing of var/, models/, caches)."""
    if target.exists() and any(target.iterdir()):
        raise SystemExit(f"{target} exists and is not empty: give a new folder to --fresh-clone")
    git = shutil.which("git") or "/usr/bin/git"
    head = subprocess.check_output([git, "rev-parse", "HEAD"], cwd=ROOT, text=True).strip()
    subprocess.check_call([git, "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)])  # noqa: S603
    subprocess.check_call([git, "checkout", "--quiet", head], cwd=target)  # noqa: S603
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("junit", nargs="*", type=Path, help="runs to compare: XML files or folders")
    parser.add_argument("--runs", type=int, default=0, help="run the suite this many times first")
    parser.add_argument(
        "--fresh-clone", type=Path, help="clone HEAD into this new folder and run .ci/run there"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report path (no suffix)")
    args = parser.parse_args(argv)

    sources: list[Path] = list(args.junit)
    if args.runs:
        if args.fresh_clone is not None:
            checkout = fresh_clone(args.fresh_clone.resolve())
            command = ["bash", ".ci/run"]
        else:
            checkout, command = ROOT, ["make", "--no-print-directory", "test"]
        sources += run_suite(
            args.runs, checkout / "var" / "junit", checkout=checkout, command=command
        )
    if len(sources) < 2:
        parser.error("give at least two runs (XML files or folders), or --runs N with N >= 2")
    try:
        runs = [load_run(source, f"run {i}") for i, source in enumerate(sources, start=1)]
    except RunError as exc:
        print(f"cannot compare: {exc}", file=sys.stderr)
        return 2
    result = compare(runs)
    json_path, md_path = write_reports(result, args.out)
    for run in runs:
        print(f"{run.label}: {len(run.outcomes)} tests, {run.counts()}")
    if result.identical:
        print(f"identical: every test has the same outcome in all {len(runs)} runs")
    else:
        print(f"{len(result.differing)} test(s) differ between runs:")
        for test_id, outcomes in result.differing.items():
            print(f"  {test_id}: {' / '.join(outcomes)}")
    if result.failing_everywhere:
        print(f"{len(result.failing_everywhere)} test(s) failed in every run")
    print(f"written to {json_path} and {md_path}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
