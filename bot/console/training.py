"""Retraining from the console: train a candidate, evaluate it, let an admin switch it in.

A run trains a candidate model from the current training data (the reviewed examples
included, wherever ``CONSOLE_TRAINING_FILE`` is) into ``var/candidates/``, with the same
command as ``make model``, then evaluates it, and the model in service, on both test sets with
the same script as ``make evaluate`` (``scripts/compare_with_peer.py``, without the
cross-validation): the console shows the figures side by side, measured the same way at the
same time. The admin's
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
from bot.console import evaluation_cache
from bot.db.console import TrainingRun, TrainingState
from bot.db.mailbox import utcnow

logger = logging.getLogger(__name__)

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
CANDIDATES_DIR = VAR_DIR / "candidates"
#: Evaluations already made, by a key of all they depend on (bot/console/evaluation_cache.py).
EVALUATION_CACHE_DIR = VAR_DIR / "cache" / "evaluations"
REPORTS_DIR = PROJECT_ROOT / "reports"
CURRENT_MODEL = PROJECT_ROOT / "models" / "bot.tar.gz"
CONFIG = PROJECT_ROOT / "config.yml"
TIMEOUT_S = 3600
#: The test sets of ``make evaluate`` (``scripts/compare_with_peer.py``): key, label, report.
TEST_SETS = (
    ("clean", "held-out set (tests/nlu)", "evaluation"),
    ("realistic", "realistic set (tests/nlu_realistic)", "evaluation_realistic"),
)


@dataclass(frozen=True)
class Figures:
    """The summary of one ``make evaluate`` report the console shows."""

    examples: int
    accuracy: float | None
    confident_wrong: float | None
    macro_f1_fr: float | None
    macro_f1_en: float | None
    fallback_rate: float | None
    out_of_scope_recall: float | None


@dataclass(frozen=True)
class SetComparison:
    """One test set: the candidate's figures and the model in service's, measured together."""

    label: str
    candidate: Figures | None
    current: Figures | None


def comparison_of(evaluation: str | None) -> list[SetComparison]:
    """The figures a run stored: ``{"candidate": {set: report}, "current": {set: report}}``."""
    if not evaluation:
        return []
    try:
        document = json.loads(evaluation)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    if "by_language" in document:  # a run of the first version stored one report alone
        return [SetComparison(TEST_SETS[0][1], figures_of(document), None)]
    candidate = document.get("candidate") or {}
    current = document.get("current") or {}
    return [
        SetComparison(label, figures_of(candidate.get(key)), figures_of(current.get(key)))
        for key, label, _name in TEST_SETS
        if key in candidate or key in current
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def figures_of(report: dict[str, Any] | None) -> Figures | None:
    """The summary of an ``evaluation.json`` document."""
    if not report or not isinstance(report, dict):
        return None
    by_language = report.get("by_language") or {}
    all_ = by_language.get("all") or {}
    return Figures(
        examples=int(report.get("examples") or 0),
        accuracy=_number(all_.get("accuracy")),
        confident_wrong=_number(all_.get("confident_wrong")),
        macro_f1_fr=_number((by_language.get("fr") or {}).get("macro_f1")),
        macro_f1_en=_number((by_language.get("en") or {}).get("macro_f1")),
        fallback_rate=_number(all_.get("fallback_rate")),
        out_of_scope_recall=_number((report.get("out_of_scope") or {}).get("recall")),
    )


def current_figures(folder: Path = REPORTS_DIR) -> list[tuple[str, Figures | None]]:
    """The figures of the model in service as the last ``make evaluate`` wrote them."""
    found = []
    for _key, label, name in TEST_SETS:
        try:
            report = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            report = None
        found.append((label, figures_of(report)))
    return found


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


def _evaluate(model: Path, out: Path, log: list[str]) -> dict[str, Any]:
    """``make evaluate``'s measurement of ``model`` on both test sets (its script, without the
    cross-validation, which measures the training data rather than a model)."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [
        str(RASA_PYTHON),
        "scripts/compare_with_peer.py",
        "--skip-cv",
        "--model",
        str(model),
        "--out",
        str(out),
    ]
    # The key: the model's contents and every input of the script (not the paths it writes).
    cache_key = evaluation_cache.evaluation_key(
        model, root=PROJECT_ROOT, interpreter=RASA_PYTHON, arguments=argv[1:3]
    )
    cache = EVALUATION_CACHE_DIR
    if cache_key is not None and evaluation_cache.restore(cache, cache_key, out, model):
        log.append(
            f"$ {' '.join(argv[1:])}\n(not run again: the reports of an evaluation of the same "
            f"model contents with the same test sets, data, code and Rasa environment, key "
            f"{cache_key[:16]}, from {cache})"
        )
    else:
        _run(argv, log)
        if cache_key is not None:
            names = [name for _key, _label, name in TEST_SETS]
            evaluation_cache.store(
                cache,
                cache_key,
                [
                    out / f"{n}.{suffix}"
                    for n in names
                    for suffix in ("json", "md")
                    if (out / f"{n}.{suffix}").exists()
                ],
            )
    reports: dict[str, Any] = {}
    for key, _label, name in TEST_SETS:
        path = out / f"{name}.json"
        if path.exists():
            reports[key] = json.loads(path.read_text(encoding="utf-8"))
    if not reports:
        raise RuntimeError(f"the evaluation wrote no report in {out}")
    return reports


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
        document: dict[str, Any] = {"candidate": _evaluate(model, out / "candidate", log)}
        if current_model.exists():
            document["current"] = _evaluate(current_model, out / "current", log)
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
