"""skops, the intent classifier's serialiser, imported before Rasa and TensorFlow.

When ``skops.io`` is first imported it lists its default trusted types, finding the module of
each numpy and scipy ufunc the way pickle does (``whichmodule``: a walk over every module
loaded, for each of 300 ufuncs). After Rasa and TensorFlow (6,000 modules) that import takes
11 s of CPU; before them 2 s, with the same names (``tests/rasa_env/test_preload.py``). Every
Rasa server start and every model load (`Agent.load`) pays it once, so the processes that
load a model call :func:`preload` first: ``bot.rasa_ext.cli`` (every Rasa server of `make run`,
`make scale-demo`, the tests), the evaluation scripts and the Rasa-environment tests.
"""

from __future__ import annotations

import importlib


def preload() -> None:
    """Imports ``skops.io`` now, while few modules are loaded (nothing when it is missing)."""
    try:
        importlib.import_module("skops.io")
    except ImportError:  # pragma: no cover - the Rasa environment always has it
        return
