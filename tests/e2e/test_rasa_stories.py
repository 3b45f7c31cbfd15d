"""Rasa's own story test: every test story must be predicted exactly.

Runs `rasa test core --fail-on-prediction-errors` in the Rasa environment on the model that
`make test` trained, so each rule and story of the bot is checked by Rasa itself, with the
user messages parsed by the real NLU pipeline.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.config import PROJECT_ROOT
from devstack.stack import RASA_BIN

STORIES = PROJECT_ROOT / "tests" / "stories"


def test_every_test_story_is_predicted_without_error(trained_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "DEFAULT_STORE": "om-system",
        # Test stories cannot annotate the whole-message language/store entities.
        "SHOP_NLU_CONTEXT_ENTITIES": "0",
    }
    result = subprocess.run(
        [
            str(RASA_BIN),
            "test",
            "core",
            "--model",
            str(trained_model),
            "--stories",
            str(STORIES),
            "--fail-on-prediction-errors",
            "--out",
            str(out),
            "--no-plot",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    failed = out / "failed_test_stories.yml"
    details = (
        failed.read_text("utf-8")
        if failed.exists()
        else result.stdout[-4000:] + result.stderr[-4000:]
    )
    assert result.returncode == 0, f"rasa test core failed:\n{details}"
    report = out / "story_report.json"
    assert report.exists(), "rasa test core wrote no report"
