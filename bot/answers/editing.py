"""Changing a shop's texts or facts safely: check, save with history, revert.

The API an editor builds on (the support console's answer editor, issue 16, and the command
line below). Every save is checked first with :func:`bot.answers.library.check_shop` on the
new version together with the rest of the shop (the other file, the common texts, the FAQ page
for the facts' quotes): a refused edit changes nothing and comes back with one sentence per
problem. A saved edit is live on the next turn everywhere the files are read (within
:data:`bot.shops.REGISTRY_TTL_S` seconds): the answer service and the action servers read
them again when they change. The previous version of the file is kept in
``var/answers-history/<shop>/`` (``<UTC time>-<texts|facts>.yml``), and :func:`revert` puts one
back, checked like any edit.

Command line::

    python -m bot.answers check            # every shop; exit 1 with the problems
    python -m bot.answers render btomic utter_greet en
    python -m bot.answers history btomic
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from bot.answers.library import (
    COMMON_DIR,
    check_shop,
    clear_caches,
    common_texts,
    parse_texts,
    shop_facts,
    shop_texts,
    texts_path,
)
from bot.config import VAR_DIR
from bot.errors import ConfigurationError, UnknownStoreError
from bot.shops import shop_ids, stores_dir
from bot.stores import StoreFile, StorePolicy, facts_path, faq_path, read_store_file

__all__ = [
    "EditRefused",
    "Version",
    "check_all",
    "check_facts_text",
    "check_texts_text",
    "history",
    "revert",
    "save_facts",
    "save_texts",
]

Kind = Literal["texts", "facts"]
HISTORY_DIR = VAR_DIR / "answers-history"
_STAMP = re.compile(r"^(\d{8}T\d{6}\d{6}Z)-(texts|facts)\.yml$")


class EditRefused(ConfigurationError):
    """An edit that would break an answer; :attr:`problems` says why, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Version:
    """A former version of a shop's file, kept when it was replaced."""

    id: str
    kind: Kind
    saved_at: dt.datetime
    path: Path


def _normalise_quote(text: str) -> str:
    text = text.replace("\u2011", "-").replace("\u2019", "'")
    return " ".join(text.split())


def _quote_problems(store_id: str, stored: StoreFile) -> list[str]:
    """Every FAQ quote of the facts must be in the shop's FAQ page (its exact words)."""
    path = faq_path(store_id)
    try:
        faq = _normalise_quote(path.read_text(encoding="utf-8"))
    except OSError:
        return [f"{store_id}: no FAQ page {path.name} to check the quotes against"]
    return [
        f"{store_id}: the quote of {fact} is not in {path.name}: {quote[:80]!r}"
        for fact, quotes in stored.sources.items()
        for quote in quotes
        if _normalise_quote(quote) not in faq
    ]


def _read_yaml_text(text: str, what: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EditRefused([f"{what} is not valid YAML: {exc}"]) from exc


def check_texts_text(store_id: str, text: str) -> list[str]:
    """The problems of a new ``texts.yml`` for the shop (``_common``: for every shop)."""
    target = texts_path(store_id)
    try:
        texts = parse_texts(_read_yaml_text(text, target.name), target)
    except ConfigurationError as exc:
        return exc.problems if isinstance(exc, EditRefused) else [str(exc)]
    if store_id == COMMON_DIR:
        return [p for shop in shop_ids() for p in check_shop(shop, common=texts)]
    if store_id not in shop_ids():
        return [f"unknown shop {store_id!r}"]
    return check_shop(store_id, texts=texts)


def check_facts_text(store_id: str, text: str) -> list[str]:
    """The problems of a new ``facts.yml`` for the shop: its shape, its quotes, the texts."""
    if store_id not in shop_ids():
        return [f"unknown shop {store_id!r}"]
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "facts.yml"
        path.write_text(text, encoding="utf-8")
        try:
            stored = read_store_file(path)
            policy = StorePolicy.model_validate(stored.facts)
        except ConfigurationError as exc:
            return [str(exc).replace(str(path), "facts.yml")]
        except ValueError as exc:  # pydantic's ValidationError
            return [f"facts.yml: {exc}"]
    if policy.id != store_id:
        return [f"facts.yml declares id {policy.id!r}; it must stay {store_id!r}"]
    return _quote_problems(store_id, stored) + check_shop(store_id, facts=stored)


def check_all() -> dict[str, list[str]]:
    """The problems of every shop as the files are now (empty lists when all is well)."""
    problems = {}
    for store_id in shop_ids(fresh=True):
        found = check_shop(store_id)
        try:
            found = _quote_problems(store_id, shop_facts(store_id)) + found
        except ConfigurationError as exc:
            found.append(str(exc))
        problems[store_id] = found
    return problems


def _target(store_id: str, kind: Kind) -> Path:
    if kind == "facts":
        return facts_path(store_id)
    return texts_path(store_id)


def _history_dir(store_id: str) -> Path:
    # ANSWERS_HISTORY_DIR: elsewhere than var/ (the console's tests keep theirs apart).
    root = os.environ.get("ANSWERS_HISTORY_DIR", "").strip()
    return (Path(root) if root else HISTORY_DIR) / store_id


def _write(store_id: str, kind: Kind, text: str) -> None:
    target = _target(store_id, kind)
    if target.exists():
        keep = _history_dir(store_id)
        keep.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        (keep / f"{stamp}-{kind}.yml").write_bytes(target.read_bytes())
    # Atomic: a reader sees the old file or the new one, never half of one.
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, target)
    clear_caches()


def _check_store(store_id: str, *, common_allowed: bool) -> None:
    if store_id == COMMON_DIR and common_allowed:
        return
    if store_id not in shop_ids(fresh=True):
        raise UnknownStoreError(f"unknown shop {store_id!r} (no folder in {stores_dir()})")


def save_texts(store_id: str, text: str) -> None:
    """Checks and saves a shop's ``texts.yml`` (``_common`` for the shared texts).

    Raises:
        EditRefused: the new texts would break an answer (nothing is written).
        UnknownStoreError: not a shop.
    """
    _check_store(store_id, common_allowed=True)
    problems = check_texts_text(store_id, text)
    if problems:
        raise EditRefused(problems)
    _write(store_id, "texts", text)


def save_facts(store_id: str, text: str) -> None:
    """Checks and saves a shop's ``facts.yml``.

    Raises:
        EditRefused: invalid facts, a quote not in the FAQ page, or a text that uses a fact
            the new version no longer has (nothing is written).
        UnknownStoreError: not a shop.
    """
    _check_store(store_id, common_allowed=False)
    problems = check_facts_text(store_id, text)
    if problems:
        raise EditRefused(problems)
    _write(store_id, "facts", text)


def history(store_id: str) -> list[Version]:
    """The former versions of the shop's files, newest first."""
    folder = _history_dir(store_id)
    versions = []
    for path in folder.glob("*.yml") if folder.is_dir() else ():
        match = _STAMP.match(path.name)
        if match is None:
            continue
        saved = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)
        kind: Kind = "texts" if match.group(2) == "texts" else "facts"
        versions.append(Version(id=path.stem, kind=kind, saved_at=saved, path=path))
    return sorted(versions, key=lambda version: version.id, reverse=True)


def revert(store_id: str, version_id: str) -> None:
    """Puts a former version back (checked like an edit; the current one joins the history).

    Raises:
        KeyError: no such version.
        EditRefused: the former version no longer fits (e.g. a fact it uses was removed since).
    """
    found = {version.id: version for version in history(store_id)}.get(version_id)
    if found is None:
        raise KeyError(f"no version {version_id!r} of {store_id}")
    text = found.path.read_text(encoding="utf-8")
    if found.kind == "texts":
        save_texts(store_id, text)
    else:
        save_facts(store_id, text)


def current_text(store_id: str, kind: Kind) -> str:
    """The file as it is now (for an editor to show)."""
    return _target(store_id, kind).read_text(encoding="utf-8")


__all__ += ["common_texts", "current_text", "shop_texts"]
