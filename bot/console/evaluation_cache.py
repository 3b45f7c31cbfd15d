"""A cache of ``make evaluate``'s measurement of a model, keyed by everything it depends on.

The console's training run evaluates the candidate and the model in service on both test sets
(``scripts/compare_with_peer.py --skip-cv``, a few minutes each on a busy machine). The model in
service is usually the same file run after run, and a candidate trained again from the same
data comes out of Rasa's training cache component for component: measuring it again gives the
same figures. The reports are therefore kept under ``var/cache/evaluations/<key>/`` and reused
when the key is the same.

The key is a SHA-256 of every input of the measurement, so a reused report is always the one
the script would write now:

* the model archive: each file of it, name and bytes, except the fields of its
  ``metadata.json`` that differ between two trainings of the same model (``trained_at``,
  ``model_id``, and the random ``output_fingerprint`` Rasa gives each trained resource in the
  graph schemas); the rest of the metadata (domain, schemas, ...) counts;
* the test sets (``tests/nlu/``, ``tests/nlu_realistic/``), the evaluation scripts
  (``scripts/compare_with_peer.py``, ``scripts/evaluate_nlu.py``), the training data
  (``data/``: the peer is trained on it and the shops' facts are read by the NLU), the
  project's code the model runs (``bot/``), ``config.yml`` and ``domain.yml``;
* the Rasa environment (``requirements/rasa.lock``, the interpreter's real path), the script's
  arguments, and the variables the NLU reads (``DEFAULT_STORE``, ``STORES_DIR`` and that
  folder's files).

A file the key cannot read makes no key: the evaluation then runs as without a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Bumped when what is stored changes, so older entries are never read.
FORMAT = "evaluation-cache-1"
#: What the evaluation reads, relative to the project: folders are taken whole.
INPUTS = (
    "tests/nlu",
    "tests/nlu_realistic",
    "scripts/compare_with_peer.py",
    "scripts/evaluate_nlu.py",
    "data",
    "bot",
    "config.yml",
    "domain.yml",
    "requirements/rasa.lock",
)
#: Variables of the environment the model's components read (bot/nlu).
ENV_INPUTS = ("DEFAULT_STORE", "STORES_DIR")
#: metadata.json fields that differ between two trainings of one model: its time and id, and
#: (anywhere in its graph schemas) the random id Rasa gives each trained resource, whose files
#: are part of the key themselves.
VOLATILE_METADATA = ("trained_at", "model_id")
VOLATILE_SCHEMA_FIELDS = ("output_fingerprint",)
_SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not _SKIPPED_PARTS.intersection(p.parts) and p.suffix != ".pyc"
    )


def _hash_tree(digest: hashlib._Hash, root: Path, relative: str) -> None:
    base = root / relative
    digest.update(f"input {relative} {'dir' if base.is_dir() else 'file'}\n".encode())
    for path in _files(base):
        digest.update(f"{path.relative_to(root)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_volatile(item)
            for key, item in value.items()
            if key not in VOLATILE_SCHEMA_FIELDS
        }
    if isinstance(value, list):
        return [_without_volatile(item) for item in value]
    return value


def model_digest(model: Path) -> str:
    """The SHA-256 of a Rasa model archive's contents, its training time and id left out."""
    digest = hashlib.sha256()
    with tarfile.open(model, "r:*") as archive:
        members = sorted(
            (m for m in archive.getmembers() if m.isfile()), key=lambda member: member.name
        )
        for member in members:
            extracted = archive.extractfile(member)
            assert extracted is not None
            data = extracted.read()
            if Path(member.name).name == "metadata.json":
                metadata = json.loads(data)
                for field in VOLATILE_METADATA:
                    metadata.pop(field, None)
                data = json.dumps(_without_volatile(metadata), sort_keys=True).encode()
            digest.update(f"{member.name}\n{len(data)}\n".encode())
            digest.update(data)
    return digest.hexdigest()


def evaluation_key(
    model: Path,
    *,
    root: Path,
    interpreter: Path,
    arguments: Sequence[str],
    environ: Mapping[str, str] | None = None,
    inputs: Iterable[str] = INPUTS,
) -> str | None:
    """The key of one evaluation of ``model`` (None when an input cannot be read)."""
    environ = os.environ if environ is None else environ
    digest = hashlib.sha256(f"{FORMAT}\n".encode())
    try:
        digest.update(f"model {model_digest(model)}\n".encode())
        for relative in inputs:
            _hash_tree(digest, root, relative)
        digest.update(f"interpreter {interpreter.resolve()}\n".encode())
        digest.update(("arguments " + json.dumps(list(arguments)) + "\n").encode())
        for name in ENV_INPUTS:
            digest.update(f"env {name}={environ.get(name, '')!r}\n".encode())
        stores = environ.get("STORES_DIR")
        if stores:
            stores_path = Path(stores) if Path(stores).is_absolute() else root / stores
            digest.update(b"stores folder\n")
            for path in _files(stores_path):
                digest.update(f"{path.relative_to(stores_path)}\n".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    except (OSError, ValueError, tarfile.TarError):
        return None
    return digest.hexdigest()


def restore(cache_dir: Path, key: str, out: Path, model: Path) -> bool:
    """Copies the reports stored under ``key`` into ``out`` (True), or finds none (False).

    The ``model`` field of each JSON report names ``model``, the file evaluated now.
    """
    entry = cache_dir / key
    if not (entry / "complete").exists():
        return False
    out.mkdir(parents=True, exist_ok=True)
    for stored in sorted(entry.iterdir()):
        if stored.name == "complete":
            continue
        target = out / stored.name
        if stored.suffix == ".json":
            document = json.loads(stored.read_text(encoding="utf-8"))
            if isinstance(document, dict) and "model" in document:
                document["model"] = str(model)
            target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        else:
            shutil.copy2(stored, target)
    return True


def store(cache_dir: Path, key: str, reports: Iterable[Path]) -> None:
    """Keeps ``reports`` under ``key`` (written whole or not at all)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    entry = cache_dir / key
    if (entry / "complete").exists():
        return
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_dir))
    try:
        for report in reports:
            shutil.copy2(report, staging / report.name)
        (staging / "complete").write_text(key + "\n", encoding="utf-8")
        with contextlib.suppress(OSError):  # another run stored it meanwhile
            staging.rename(entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
