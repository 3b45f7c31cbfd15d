"""Retraining from the console: a candidate is trained and evaluated in the background, its
figures are shown beside the current model's, and an admin switches it in (Rasa's PUT /model).

The training and evaluation commands themselves (`rasa train`, `scripts/evaluate_nlu.py`, a
few minutes) are replaced here by a stand-in that writes what they write: this test is about
the console's job, report and switch. `make model` and `make evaluate` run the real commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.console import training
from bot.db.console import TrainingRun, TrainingState
from tests.api.servers import FakeRasa
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of, login

CANDIDATE_REPORT = {
    "examples": 934,
    "by_language": {
        "fr": {"macro_f1": 0.9612},
        "en": {"macro_f1": 0.9555},
        "all": {"accuracy": 0.9411, "fallback_rate": 0.031},
    },
    "out_of_scope": {"recall": 0.9667},
}


def test_train_evaluate_compare_and_switch(
    make_console: MakeConsole,
    console_env: ConsoleEnv,
    fake_rasa: FakeRasa,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands: list[list[str]] = []

    def stand_in(argv: list[str], log: list[str]) -> None:
        commands.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        if "train" in argv:
            (out / "candidate.tar.gz").write_bytes(b"a trained model")
        else:
            (out / "evaluation.json").write_text(json.dumps(CANDIDATE_REPORT), encoding="utf-8")
        log.append("ok")

    monkeypatch.setattr(training, "_run", stand_in)
    monkeypatch.setattr(training, "candidates_dir", lambda: tmp_path / "candidates")
    served = tmp_path / "models" / "bot.tar.gz"
    served.parent.mkdir()
    served.write_bytes(b"the current model")
    monkeypatch.setattr(training, "CURRENT_MODEL", served)

    client = make_console()
    login(client, "admin@shops.example")
    page = client.get("/console/teaching")
    current = training.current_figures()
    assert current is not None and f"{100 * current.macro_f1_fr:.1f} %" in page.text
    started = client.post("/console/training", data={"csrf_token": csrf_of(page.text)})
    assert started.status_code == 303
    deadline = time.monotonic() + 30
    while True:
        with console_env.sessions() as session:
            run = session.scalar(select(TrainingRun))
            if run is not None and run.state != TrainingState.RUNNING:
                break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run.state == TrainingState.SUCCEEDED, run.log
    # The same commands as `make model` and `make evaluate`, on the candidate.
    assert commands[0][1:4] == ["-m", "rasa", "train"] and "data" in commands[0]
    assert commands[1][1] == "scripts/evaluate_nlu.py"
    assert str(tmp_path / "candidates" / f"run-{run.id}" / "candidate.tar.gz") in commands[1]

    page = client.get("/console/teaching")
    row = page.text.split(f"candidate #{run.id}")[1].split("</tr>")[0]
    assert "96.1 %" in row and "95.5 %" in row and "94.1 %" in row and "96.7 %" in row
    assert "Switch to this model" in row
    switched = client.post(
        f"/console/training/{run.id}/switch", data={"csrf_token": csrf_of(page.text)}
    )
    assert "in%20service" in switched.headers["location"]
    assert served.read_bytes() == b"a trained model"
    assert served.with_suffix(".previous.tar.gz").read_bytes() == b"the current model"
    (put,) = [r for r in fake_rasa.received if r.method == "PUT"]
    assert put.path.startswith("/model") and put.body == {"model_file": str(served)}


def test_only_admins_train(make_console: MakeConsole) -> None:
    client = make_console()
    login(client, "om.editor@om.example")
    page = client.get("/console/teaching")
    assert page.status_code == 200 and "Train and evaluate" not in page.text
    assert (
        client.post("/console/training", data={"csrf_token": csrf_of(page.text)}).status_code == 403
    )
