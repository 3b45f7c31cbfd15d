"""Retraining from the console, for real: an editor teaches a message the model gets wrong, an
admin trains a candidate (the project's `rasa train`: about 2 minutes, then 2 for each model's
evaluation, on a busy machine), which is evaluated with `make evaluate`'s script beside the
model in service on both test sets; the figures on the page are the ones the evaluations
wrote; switching it in makes the live Rasa server load it (`PUT /model`), and the taught
message is then understood.

The candidate and the "served" model live in the test's folder; the live Rasa server gets the
session's model back at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.console import training
from bot.console.reporting import import_events, tracker_engine
from bot.db.console import ReportMessage, TrainingRun, TrainingState
from bot.stores import store_ids
from tests.conftest import LiveStack, new_sender
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of, login

pytestmark = pytest.mark.e2e

# A French way to ask about payment that the training data does not have (slang: "douiller",
# to pay); the model in service does not take it for payment_methods (checked first, so the
# test means something). "je paie comment moi" was it until the French word vectors, which
# read it right.
TAUGHT = "je douille comment moi"
INTENT = "payment_methods"
TRAINING_TIMEOUT_S = 40 * 60  # a loaded 2-core machine; a quiet one takes about 2 minutes


def _rasa(live_stack: LiveStack) -> httpx.Client:
    token = getattr(live_stack, "rasa_token", None)
    return httpx.Client(
        base_url=live_stack.rasa_url, params={"token": token} if token else None, timeout=120
    )


def _top_intent(rasa: httpx.Client, text: str) -> str:
    response = rasa.post("/model/parse", json={"text": text, "metadata": {"store": "om-system"}})
    response.raise_for_status()
    intent: str = response.json()["intent"]["name"]
    return intent


@pytest.fixture
def served_model(
    live_stack: LiveStack,
    trained_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """A copy of the session's model as "the model in service"; the live Rasa gets the
    session's model back afterwards, whatever the test did."""
    served = tmp_path / "models" / "bot.tar.gz"
    served.parent.mkdir()
    shutil.copy2(trained_model, served)
    monkeypatch.setattr(training, "CURRENT_MODEL", served)
    monkeypatch.setattr(training, "candidates_dir", lambda: tmp_path / "candidates")
    try:
        yield served
    finally:
        with _rasa(live_stack) as rasa:
            rasa.put("/model", json={"model_file": str(trained_model)}).raise_for_status()


def _percent(value: Any) -> str:
    return f"{100 * value:.1f} %"


def _figures_cells(report: dict[str, Any]) -> list[str]:
    """The cells the page shows for an evaluation.json, in the page's order."""
    by_language = report["by_language"]
    return [
        str(report["examples"]),
        _percent(by_language["all"]["accuracy"]),
        _percent(by_language["all"]["confident_wrong"]),
        _percent(by_language["fr"]["macro_f1"]),
        _percent(by_language["en"]["macro_f1"]),
        _percent(by_language["all"]["fallback_rate"]),
        _percent(report["out_of_scope"]["recall"]),
    ]


def test_teach_train_evaluate_compare_and_switch_for_real(
    make_console: MakeConsole,
    console_env: ConsoleEnv,
    live_stack: LiveStack,
    served_model: Path,
    tmp_path: Path,
) -> None:
    with _rasa(live_stack) as rasa:
        before = rasa.get("/status").json()
        assert _top_intent(rasa, TAUGHT) != INTENT, "pick a message the model gets wrong"

    # A customer wrote it on the widget: the console imports the conversation from Rasa's
    # tracker store, an admin (also an editor) teaches it from the transcript.
    sender = f"web-om-system-{new_sender()}"
    live_stack.say(TAUGHT, sender=sender, metadata={"store": "om-system", "channel": "web"})
    reader = tracker_engine(live_stack.tracker_url)
    try:
        import_events(console_env.sessions, reader, stores=store_ids(), default_store="om-system")
    finally:
        reader.dispose()
    with console_env.sessions() as session:
        message_id = session.scalar(select(ReportMessage.id).where(ReportMessage.text == TAUGHT))
    assert message_id is not None

    token = getattr(live_stack, "rasa_token", None)  # Rasa's API token, when it needs one
    client = make_console(rasa_url=live_stack.rasa_url, **({"rasa_token": token} if token else {}))
    login(client, "admin@shops.example")
    transcript = client.get(f"/console/conversations/{sender}")
    taught = client.post(
        "/console/teach",
        data={"csrf_token": csrf_of(transcript.text), "message_id": message_id, "intent": INTENT},
    )
    assert "Saved%20as%20a%20training%20example" in taught.headers["location"]
    assert TAUGHT in console_env.training_file.read_text(encoding="utf-8")

    page = client.get("/console/teaching")
    started = client.post("/console/training", data={"csrf_token": csrf_of(page.text)})
    assert started.status_code == 303
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while True:
        with console_env.sessions() as session:
            run = session.scalar(select(TrainingRun))
            assert run is not None
            if run.state != TrainingState.RUNNING:
                break
        assert time.monotonic() < deadline, "the training run never finished"
        time.sleep(2)
    assert run.state == TrainingState.SUCCEEDED, run.log
    out = tmp_path / "candidates" / f"run-{run.id}"
    candidate = out / "candidate.tar.gz"
    # make evaluate's script, on the candidate and on the model in service.
    assert f"compare_with_peer.py --skip-cv --model {candidate}" in (run.log or "")
    assert f"compare_with_peer.py --skip-cv --model {served_model}" in (run.log or "")
    assert run.model_path == str(candidate) and candidate.stat().st_size > 100_000
    # The reviewed examples, kept outside data/ here, were part of the training data.
    assert f"--data data {console_env.training_file}" in (run.log or "")

    # The page shows what the evaluations wrote, each set's candidate row beside the served
    # model's (both test sets of `make evaluate`).
    page = client.get("/console/teaching")
    section = page.text.split(f'id="run-{run.id}"')[1].split("</tbody>")[0]
    rows = {
        (kind, label.strip("\xa0 ").replace("&nbsp;", "")): re.findall(r"<td>(.*?)</td>", cells)
        for kind, label, cells in re.findall(
            r'<tr class="(candidate|current)"><th scope="row">(.*?)</th>(.*?)</tr>', section, re.S
        )
    }
    for name, label in (
        ("evaluation", "held-out set (tests/nlu)"),
        ("evaluation_realistic", "realistic set (tests/nlu_realistic)"),
    ):
        reports = {
            who: json.loads((out / who / f"{name}.json").read_text(encoding="utf-8"))
            for who in ("candidate", "current")
        }
        assert reports["candidate"]["examples"] == reports["current"]["examples"] > 500
        assert rows[("candidate", f"candidate, {label}")][:7] == _figures_cells(
            reports["candidate"]
        )
        assert rows[("current", f"model in service then, {label}")][:7] == _figures_cells(
            reports["current"]
        )
    assert "Switch to this model" in section

    switched = client.post(
        f"/console/training/{run.id}/switch", data={"csrf_token": csrf_of(page.text)}
    )
    assert "in%20service" in switched.headers["location"]
    assert served_model.read_bytes() == candidate.read_bytes()
    assert served_model.with_suffix(".previous.tar.gz").exists()
    with _rasa(live_stack) as rasa:
        after = rasa.get("/status").json()
        assert after["model_file"] == served_model.name
        assert after["model_id"] != before["model_id"]
        # The live bot now understands what it was taught.
        assert _top_intent(rasa, TAUGHT) == INTENT


def test_only_admins_train(make_console: MakeConsole) -> None:
    client = make_console()
    login(client, "om.editor@om.example")
    page = client.get("/console/teaching")
    assert page.status_code == 200 and "Train and evaluate" not in page.text
    assert (
        client.post("/console/training", data={"csrf_token": csrf_of(page.text)}).status_code == 403
    )


def test_a_failed_training_is_shown_with_its_log(
    make_console: MakeConsole,
    console_env: ConsoleEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A training that cannot run (here: a configuration Rasa refuses) ends as failed, with
    Rasa's message on the page, and cannot be switched in."""
    monkeypatch.setattr(training, "candidates_dir", lambda: tmp_path / "candidates")
    bad_config = tmp_path / "config.yml"
    bad_config.write_text(
        "recipe: default.v1\nlanguage: fr\npipeline:\n  - name: NoSuchComponent\n"
    )
    monkeypatch.setattr(training, "CONFIG", bad_config)
    client = make_console()
    login(client, "admin@shops.example")
    page = client.get("/console/teaching")
    client.post("/console/training", data={"csrf_token": csrf_of(page.text)})
    deadline = time.monotonic() + 600
    while True:
        with console_env.sessions() as session:
            run = session.scalar(select(TrainingRun))
            assert run is not None
            if run.state != TrainingState.RUNNING:
                break
        assert time.monotonic() < deadline, "the training run never finished"
        time.sleep(1)
    assert run.state == TrainingState.FAILED
    page = client.get("/console/teaching")
    section = page.text.split(f'id="run-{run.id}"')[1].split("</tbody>")[0]
    assert "failed" in section and "NoSuchComponent" in section
    assert "Switch to this model" not in section
    refused = client.post(
        f"/console/training/{run.id}/switch", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 409
