"""Retraining from the console: train a candidate, evaluate it, let an admin switch it in.

A run trains a candidate model from the current training data (the reviewed examples
included, wherever ``CONSOLE_TRAINING_FILE`` is) into ``var/candidates/``, with the same
command as ``make model``, then evaluates it, and the model in service, on the held-out test
set with the same script as ``make evaluate`` (``scripts/evaluate_nlu.py``): the console shows
the two sets of figures side by side, measured the same way at the same time. The admin's
"switch" copies the candidate to ``models/bot.tar.gz`` and asks Rasa to load it
(``PUT /model``). In production the model is part of the Rasa image: there the candidate is a
file to review and build into the next image.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.config import PROJECT_ROOT, VAR_DIR
from bot.db.console import TrainingRun, TrainingState
from bot.db.mailbox import utcnow

logger = logging.getLogger(__name__)

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
CANDIDATES_DIR = VAR_DIR / "candidates"
CURRENT_REPORT = PROJECT_ROOT / "reports" / "evaluation.json"
CURRENT_MODEL = PROJECT_ROOT / "models" / "bot.tar.gz"
CONFIG = PROJECT_ROOT / "config.yml"
TIMEOUT_S = 3600


@dataclass(frozen=True)
class Figures:
    """The summary of one ``make evaluate`` report the console shows."""

    examples: int
    accuracy: float | None
    macro_f1_fr: float | None
    macro_f1_en: float | None
    fallback_rate: float | None
    out_of_scope_recall: float | None


@dataclass(frozen=True)
class Comparison:
    """A run's figures: its candidate's, and the model in service's on the same test set."""

    candidate: Figures | None
    current: Figures | None


def comparison_of(evaluation: str | None) -> Comparison:
    """The figures a run stored (``{"candidate": report, "current": report}``)."""
    if not evaluation:
        return Comparison(None, None)
    try:
        document = json.loads(evaluation)
    except ValueError:
        return Comparison(None, None)
    if not isinstance(document, dict):
        return Comparison(None, None)
    if "candidate" not in document:  # a run of the first version stored its report alone
        return Comparison(figures_of(document), None)
    return Comparison(figures_of(document.get("candidate")), figures_of(document.get("current")))


def figures_of(report: dict[str, Any] | None) -> Figures | None:
    """The summary of an ``evaluation.json`` document."""
    if not report:
        return None
    by_language = report.get("by_language") or {}

    def lang(code: str, key: str) -> float | None:
        value = (by_language.get(code) or {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    all_ = by_language.get("all") or {}
    accuracy = all_.get("accuracy")
    fallback = all_.get("fallback_rate")
    return Figures(
        examples=int(report.get("examples") or 0),
        accuracy=float(accuracy) if isinstance(accuracy, int | float) else None,
        macro_f1_fr=lang("fr", "macro_f1"),
        macro_f1_en=lang("en", "macro_f1"),
        fallback_rate=float(fallback) if isinstance(fallback, int | float) else None,
        out_of_scope_recall=(report.get("out_of_scope") or {}).get("recall"),
    )


def current_figures(path: Path = CURRENT_REPORT) -> Figures | None:
    """The figures of the model in service (the committed ``make evaluate`` report)."""
    try:
        return figures_of(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def abandoned(run: TrainingRun) -> bool:
    """Whether a run marked running started longer ago than any run can last."""
    started = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=UTC)
    return (utcnow() - started).total_seconds() > 2 * TIMEOUT_S


def candidates_dir() -> Path:
    """Where candidates are trained (a module-level setting tests point elsewhere)."""
    return CANDIDATES_DIR


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def readable(output: str) -> str:
    """A command's output without colour codes and Python's warnings (Rasa's libraries print
    screens of deprecation warnings that would hide the one line that matters)."""
    kept: list[str] = []
    in_warning = False
    for line in _ANSI.sub("", output).splitlines():
        if "Warning:" in line:
            in_warning = True
            continue
        if in_warning and line.startswith((" ", "\t")):
            continue
        in_warning = False
        if line.strip():
            kept.append(line)
    return "\n".join(kept)


def _run(argv: list[str], log: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(  # noqa: S603 - fixed argv
        argv,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    # Errors last: Rasa prints its error message on stdout, after the warnings on stderr.
    output = "\n".join(
        part for part in (readable(result.stderr)[-3000:], readable(result.stdout)[-3000:]) if part
    )
    log.append(f"$ {' '.join(argv[1:])}\n{output}")
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} exited with {result.returncode}")


def training_data(training_file: Path | None) -> list[str]:
    """What ``rasa train --data`` gets: ``data/``, plus the reviewed examples when they are
    kept outside it (``CONSOLE_TRAINING_FILE`` elsewhere)."""
    paths = ["data"]
    if training_file is not None and training_file.exists():
        inside = training_file.resolve().is_relative_to((PROJECT_ROOT / "data").resolve())
        if not inside:
            paths.append(str(training_file))
    return paths


def _evaluate(model: Path, out: Path, name: str, log: list[str]) -> dict[str, Any]:
    _run(
        [
            str(RASA_PYTHON),
            "scripts/evaluate_nlu.py",
            "--model",
            str(model),
            "--out",
            str(out),
            "--name",
            name,
        ],
        log,
    )
    report: dict[str, Any] = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    return report


def train_and_evaluate(
    sessions: sessionmaker[Session],
    run_id: int,
    training_file: Path | None = None,
    current_model: Path | None = None,
) -> None:
    """Runs in a worker thread: trains the candidate of ``run_id``, evaluates it and the model
    in service (``current_model``, ``models/bot.tar.gz`` by default)."""
    log: list[str] = []
    out = candidates_dir() / f"run-{run_id}"
    model = out / "candidate.tar.gz"
    current_model = current_model or CURRENT_MODEL
    state = TrainingState.FAILED
    evaluation: str | None = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        _run(
            [
                str(RASA_PYTHON),
                "-m",
                "rasa",
                "train",
                "--quiet",
                "--config",
                str(CONFIG),
                "--domain",
                "domain.yml",
                "--data",
                *training_data(training_file),
                "--out",
                str(out),
                "--fixed-model-name",
                "candidate",
            ],
            log,
        )
        log.append(f"trained in {time.monotonic() - started:.0f} s")
        document: dict[str, Any] = {"candidate": _evaluate(model, out, "candidate", log)}
        if current_model.exists():
            document["current"] = _evaluate(current_model, out, "current", log)
        evaluation = json.dumps(document)
        log.append(f"done in {time.monotonic() - started:.0f} s")
        state = TrainingState.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - any failure ends the run as failed, logged
        logger.exception("Training run %s failed", run_id)
        log.append(f"error: {exc}")
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        if run is not None:
            run.state = state
            run.finished_at = utcnow()
            run.model_path = str(model) if state is TrainingState.SUCCEEDED else None
            run.evaluation = evaluation
            run.log = "\n".join(log)[-20000:]
            session.commit()


def install_candidate(run: TrainingRun, target: Path | None = None) -> Path:
    """Copies the run's model over the served one (the previous one is kept beside it)."""
    target = target or CURRENT_MODEL
    if run.model_path is None or not Path(run.model_path).exists():
        raise FileNotFoundError("the candidate model is gone")
    if target.exists():
        shutil.copy2(target, target.with_suffix(".previous.tar.gz"))
    shutil.copy2(run.model_path, target)
    return target
