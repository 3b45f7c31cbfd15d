"""bot/rasa_ext/preload.py: importing skops before Rasa changes what it costs, not what it
trusts. Its default trusted type names are computed by looking each ufunc up among the
modules loaded; the names must be the same whether Rasa, TensorFlow and the project's NLU
components were loaded first (as before the preload) or not (as `bot.rasa_ext.cli` now
does): the intent classifier refuses a model whose types are not all trusted ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

NAMES = """
import json, sys
if sys.argv[1] == "late":
    import rasa.core.agent, bot.nlu.tokenizer, bot.nlu.intent_classifier
else:
    from bot.rasa_ext.preload import preload
    preload()
from skops.io import _trusted_types as t
print(json.dumps({name: sorted(map(str, getattr(t, name))) for name in dir(t)
                  if name.endswith("_TYPE_NAMES")}))
"""


def trusted_names(order: str) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", NAMES, order],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return names


def test_skops_trusts_the_same_types_when_imported_before_rasa() -> None:
    early, late = trusted_names("early"), trusted_names("late")
    assert early == late
    # Not vacuous: the ufunc lists are the ones computed by the module walk.
    assert len(early["SCIPY_UFUNC_TYPE_NAMES"]) > 100
    assert len(early["NUMPY_UFUNC_TYPE_NAMES"]) > 50
    assert len(early["SKLEARN_ESTIMATOR_TYPE_NAMES"]) > 100
