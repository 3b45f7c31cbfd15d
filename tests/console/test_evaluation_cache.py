"""The cache of model evaluations (bot/console/evaluation_cache.py): its key changes with every
input of the evaluation, and a training run reuses a stored evaluation only under the same key.

The key is what keeps the cache honest (tests/console/test_console_training.py reuses the
evaluations of earlier runs through it): any input left out of it would let a stale report
stand for a model or a test set that changed.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bot.console import evaluation_cache, training
from bot.console.evaluation_cache import INPUTS, evaluation_key

METADATA = {
    "domain": {"intents": ["greet"]},
    "predict_schema": {
        "nodes": {
            "run_classifier": {
                "config": {"C": 300},
                "resource": {"name": "train_classifier", "output_fingerprint": "1111"},
            }
        }
    },
    "trained_at": "2026-12-07T10:00:00",
    "model_id": "aaaa",
    "assistant_id": "shop-support-assistant",
    "training_type": "BOTH",
}
COMPONENT = ("components/train_TfidfIntentClassifier0/model.pkl", b"weights-1")


def write_model(
    path: Path, metadata: dict[str, Any], files: dict[str, bytes], mtime: int = 0
) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in {"metadata.json": json.dumps(metadata).encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            archive.addfile(info, io.BytesIO(data))
    return path


def project(root: Path) -> Path:
    """A project with one file in each input of the evaluation."""
    for relative in INPUTS:
        path = root / relative
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{relative} v1\n", encoding="utf-8")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "one.yml").write_text(f"{relative} v1\n", encoding="utf-8")
    (root / "python").write_text("", encoding="utf-8")
    return root


def key_of(root: Path, model: Path, **changes: Any) -> str | None:
    options: dict[str, Any] = {
        "root": root,
        "interpreter": root / "python",
        "arguments": ["scripts/compare_with_peer.py", "--skip-cv"],
        "environ": {},
    }
    options.update(changes)
    return evaluation_key(model, **options)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return project(tmp_path / "project")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model.tar.gz", METADATA, dict([COMPONENT]))


def test_the_same_inputs_give_the_same_key_and_a_retrained_identical_model_too(
    root: Path, model: Path, tmp_path: Path
) -> None:
    key = key_of(root, model)
    assert key is not None and key == key_of(root, model)
    # Trained again from the same data: another time, id and archive dates, same contents.
    again = write_model(
        tmp_path / "again.tar.gz",
        {
            **METADATA,
            "trained_at": "2026-12-08T11:00:00",
            "model_id": "bbbb",
            # Rasa's random id of each trained resource (the files are compared themselves).
            "predict_schema": {
                "nodes": {
                    "run_classifier": {
                        "config": {"C": 300},
                        "resource": {"name": "train_classifier", "output_fingerprint": "2222"},
                    }
                }
            },
        },
        dict([COMPONENT]),
        mtime=1_800_000_000,
    )
    assert model.read_bytes() != again.read_bytes()
    assert key_of(root, again) == key


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"files": {COMPONENT[0]: b"weights-2"}}, id="a component's bytes"),
        pytest.param(
            {"files": {**dict([COMPONENT]), "components/x/extra": b"1"}}, id="a file added"
        ),
        pytest.param({"metadata": {"domain": {"intents": ["greet", "bye"]}}}, id="the domain"),
        pytest.param({"metadata": {"training_type": "NLU"}}, id="another metadata field"),
        pytest.param(
            {
                "metadata": {
                    "predict_schema": {
                        "nodes": {
                            "run_classifier": {
                                "config": {"C": 10},
                                "resource": {
                                    "name": "train_classifier",
                                    "output_fingerprint": "1111",
                                },
                            }
                        }
                    }
                }
            },
            id="a component's configuration",
        ),
    ],
)
def test_any_change_to_the_model_changes_the_key(
    root: Path, model: Path, tmp_path: Path, change: dict[str, Any]
) -> None:
    other = write_model(
        tmp_path / "other.tar.gz",
        {**METADATA, **change.get("metadata", {})},
        change.get("files", dict([COMPONENT])),
    )
    assert key_of(root, other) != key_of(root, model)


@pytest.mark.parametrize("relative", INPUTS)
def test_any_change_to_an_input_changes_the_key(root: Path, model: Path, relative: str) -> None:
    before = key_of(root, model)
    path = root / relative
    target = path if path.is_file() else path / "one.yml"
    target.write_text(target.read_text(encoding="utf-8") + "changed\n", encoding="utf-8")
    changed = key_of(root, model)
    assert changed != before
    if path.is_dir():  # a file added to a folder, or renamed
        (path / "two.yml").write_text("new\n", encoding="utf-8")
        added = key_of(root, model)
        assert added not in (before, changed)
        (path / "two.yml").rename(path / "three.yml")
        assert key_of(root, model) not in (before, changed, added)


def test_the_interpreter_arguments_and_environment_are_in_the_key(
    root: Path, model: Path, tmp_path: Path
) -> None:
    key = key_of(root, model)
    other_python = tmp_path / "python3.12"
    other_python.write_text("", encoding="utf-8")
    assert key_of(root, model, interpreter=other_python) != key
    assert key_of(root, model, arguments=["scripts/compare_with_peer.py"]) != key
    assert key_of(root, model, environ={"DEFAULT_STORE": "btomic"}) != key
    stores = tmp_path / "stores"
    (stores / "btomic").mkdir(parents=True)
    (stores / "btomic" / "facts.yml").write_text("a: 1\n", encoding="utf-8")
    with_stores = key_of(root, model, environ={"STORES_DIR": str(stores)})
    assert with_stores != key
    (stores / "btomic" / "facts.yml").write_text("a: 2\n", encoding="utf-8")
    assert key_of(root, model, environ={"STORES_DIR": str(stores)}) != with_stores


def test_no_key_for_a_model_that_cannot_be_read(root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not an archive")
    assert key_of(root, broken) is None
    assert key_of(root, tmp_path / "missing.tar.gz") is None


def test_a_training_run_reuses_an_evaluation_only_under_the_same_key(
    root: Path, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """training._evaluate runs the script on a miss, stores its reports, restores them on a
    hit (naming the model evaluated now), and runs it again once any input changed: the
    figures then are the new run's, never the stored ones."""
    runs: list[list[str]] = []

    def fake_run(argv: list[str], log: list[str]) -> None:
        runs.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        for _key, _label, name in training.TEST_SETS:
            report = {"model": argv[argv.index("--model") + 1], "examples": 600 + len(runs)}
            (out / f"{name}.json").write_text(json.dumps(report), encoding="utf-8")
            (out / f"{name}.md").write_text(f"run {len(runs)}\n", encoding="utf-8")
        log.append(f"$ {' '.join(argv[1:])}")

    monkeypatch.setattr(training, "_run", fake_run)
    monkeypatch.setattr(training, "PROJECT_ROOT", root)
    monkeypatch.setattr(training, "RASA_PYTHON", root / "python")
    monkeypatch.setattr(training, "EVALUATION_CACHE_DIR", tmp_path / "cache")

    log: list[str] = []
    first = training._evaluate(model, tmp_path / "first", log)
    assert len(runs) == 1 and first["clean"]["examples"] == 601

    copy = tmp_path / "copy.tar.gz"
    copy.write_bytes(model.read_bytes())
    log = []
    second = training._evaluate(copy, tmp_path / "second", log)
    assert len(runs) == 1, "the same model and inputs: the stored evaluation"
    assert second["clean"]["examples"] == 601 and second["clean"]["model"] == str(copy)
    assert f"compare_with_peer.py --skip-cv --model {copy}" in log[0] and "not run again" in log[0]
    assert (tmp_path / "second" / "evaluation.md").read_text(encoding="utf-8") == "run 1\n"

    test_set = root / "tests" / "nlu" / "one.yml"
    test_set.write_text("another test set\n", encoding="utf-8")
    third = training._evaluate(copy, tmp_path / "third", [])
    assert len(runs) == 2 and third["clean"]["examples"] == 602

    assert evaluation_cache.restore(tmp_path / "cache", "0" * 64, tmp_path / "x", model) is False
