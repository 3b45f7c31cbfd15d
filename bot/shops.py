"""The registry of shops: one folder per shop under ``data/stores/``, and nothing else.

A shop is the folder ``data/stores/<shop id>/`` holding ``facts.yml`` (its identity and the
facts of its FAQ, each with the FAQ's words), ``faq.fr.txt`` (the FAQ page they quote) and
``texts.yml`` (its answers). No code lists the shops: every part that needs them (the settings'
default store, the NLU component that tags each message with its store, the gateway, the mail
routing, the demo data, the answer service) asks this module.

The module needs only the standard library and PyYAML, so both environments import it: the
Rasa environment (``bot.nlu``) as well as the app environment. The folder list is read again
after :data:`REGISTRY_TTL_S` seconds, so a shop folder added to a running deployment is known
without a restart.

``STORES_DIR`` in the environment points the registry at another folder (tests use a copy of
``data/stores`` with a made-up shop added).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.errors import UnknownStoreError

__all__ = [
    "DEFAULT_STORES_DIR",
    "FALLBACK_DEFAULT_STORE",
    "FACTS_FILE",
    "FAQ_FILE",
    "REGISTRY_TTL_S",
    "TEXTS_FILE",
    "resolve_store",
    "shop_dir",
    "shop_ids",
    "stores_dir",
]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORES_DIR = PROJECT_ROOT / "data" / "stores"
STORES_DIR_ENV_VAR = "STORES_DIR"
#: The files of a shop folder.
FACTS_FILE = "facts.yml"
FAQ_FILE = "faq.fr.txt"
TEXTS_FILE = "texts.yml"
#: The default shop when DEFAULT_STORE is not set (Settings.default_store's default too).
FALLBACK_DEFAULT_STORE = "om-system"
#: Seconds the list of shop folders is kept before the folder is looked at again.
REGISTRY_TTL_S = 2.0

_lock = threading.Lock()
_cache: dict[Path, tuple[float, tuple[str, ...]]] = {}


def stores_dir() -> Path:
    """The folder of shop folders: ``$STORES_DIR``, else ``data/stores`` of the repository."""
    configured = os.environ.get(STORES_DIR_ENV_VAR, "").strip()
    return Path(configured) if configured else DEFAULT_STORES_DIR


def shop_dir(store_id: str, directory: Path | None = None) -> Path:
    """The folder of one shop (it may not exist: see :func:`shop_ids`)."""
    return (directory or stores_dir()) / store_id


def _scan(directory: Path) -> tuple[str, ...]:
    if not directory.is_dir():
        return ()
    return tuple(
        sorted(
            entry.name
            for entry in directory.iterdir()
            if entry.is_dir()
            and not entry.name.startswith((".", "_"))
            and (entry / FACTS_FILE).is_file()
        )
    )


def shop_ids(directory: Path | None = None, *, fresh: bool = False) -> tuple[str, ...]:
    """The ids of every shop: the folders of ``directory`` holding a ``facts.yml``, sorted.

    Args:
        directory: the folder of shop folders (default: :func:`stores_dir`).
        fresh: read the folder now instead of a list up to :data:`REGISTRY_TTL_S` old.
    """
    folder = directory or stores_dir()
    now = time.monotonic()
    with _lock:
        cached = _cache.get(folder)
        if cached is not None and not fresh and now - cached[0] < REGISTRY_TTL_S:
            return cached[1]
    ids = _scan(folder)
    with _lock:
        _cache[folder] = (now, ids)
    return ids


def _normalise(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def resolve_store(
    requested: Any,
    default: str | None = None,
    *,
    known: tuple[str, ...] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The shop a message is for: ``requested`` when it is a known shop, else the default.

    The one place where a store id coming from outside (widget attribute, message metadata,
    slot, mailbox alias, environment) is checked. Channel data can carry anything (an old
    widget, a typo), and the customer must still get an answer, so an unknown id falls back
    to the default with a warning instead of failing.

    Args:
        requested: the id as received; surrounding spaces and case are ignored; None, empty
            or not a string means "not said".
        default: the deployment's default shop; None reads ``DEFAULT_STORE`` from
            ``environ`` (``os.environ``), else the first shop of the registry.
        known: the shop ids (default: :func:`shop_ids`).
        environ: where ``DEFAULT_STORE`` is read when ``default`` is None.

    Raises:
        UnknownStoreError: there is no shop at all, or the default itself is not a shop (a
            deployment error, said at once rather than answered for the wrong shop).
    """
    ids = known if known is not None else shop_ids()
    if not ids:
        raise UnknownStoreError(f"no shop folder with a {FACTS_FILE} in {stores_dir()}")
    if default is None:
        env = os.environ if environ is None else environ
        default = _normalise(env.get("DEFAULT_STORE")) or FALLBACK_DEFAULT_STORE
    fallback = _normalise(default) or ""
    if fallback not in ids:
        raise UnknownStoreError(
            f"the default store {default!r} is not a shop of {stores_dir()}: {ids}"
        )
    candidate = _normalise(requested)
    if candidate is None:
        if requested is not None and not (isinstance(requested, str) and not requested.strip()):
            logger.warning("Ignoring a non-text store %r; using %r", requested, fallback)
        return fallback
    if candidate in ids:
        return candidate
    logger.warning("Unknown store %r; answering as the default store %r", requested, fallback)
    return fallback
