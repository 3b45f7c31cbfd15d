"""Retraining from the console: train a candidate, evaluate it, let an admin switch it in.

A run trains a candidate model from the current training data (the reviewed examples
included) into ``var/candidates/``, with the same command as ``make model``, then evaluates it
on the held-out test set with the same script as ``make evaluate``
(``scripts/evaluate_nlu.py``). The console shows its figures beside the current model's
(``reports/evaluation.json``); the admin's "switch" copies it to ``models/bot.tar.gz`` and
asks Rasa to load it (``PUT /model``). In production the model is part of the Rasa image:
there the candidate is a file to review and build into the next image.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
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
    log.append(f"$ {' '.join(argv[1:])}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    if result.returncode != 0:
        raise RuntimeError(f"{argv[1:3]} exited with {result.returncode}")


def train_and_evaluate(sessions: sessionmaker[Session], run_id: int) -> None:
    """Runs in a worker thread: trains the candidate of ``run_id`` and evaluates it."""
    log: list[str] = []
    out = candidates_dir() / f"run-{run_id}"
    model = out / "candidate.tar.gz"
    state = TrainingState.FAILED
    evaluation: str | None = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        _run(
            [
                str(RASA_PYTHON),
                "-m",
                "rasa",
                "train",
                "--quiet",
                "--config",
                "config.yml",
                "--domain",
                "domain.yml",
                "--data",
                "data",
                "--out",
                str(out),
                "--fixed-model-name",
                "candidate",
            ],
            log,
        )
        _run(
            [
                str(RASA_PYTHON),
                "scripts/evaluate_nlu.py",
                "--model",
                str(model),
                "--out",
                str(out),
            ],
            log,
        )
        evaluation = (out / "evaluation.json").read_text(encoding="utf-8")
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
