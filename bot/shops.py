"""The registry of shops: one folder per shop under ``data/stores/``, and nothing else.

A shop is the folder ``data/stores/<shop id>/`` holding ``facts.yml`` (its identity and the
facts of its FAQ, each with the FAQ's words), ``faq.fr.txt`` (the FAQ page they quote) and
``texts.yml`` (its answers), optionally ``demo.yml`` (its demo page and demo catalogue) and
``demo_orders.yml`` (its demo orders). No code lists the shops: every part that needs them (the
NLU component that tags each message with its store, the gateway, the mail routing, the demo
data, the answer service) asks this module. Which shop answers when a channel names none is
``DEFAULT_STORE``, else ``default_store`` in ``data/stores/_common/registry.yml``, else the
first shop.

A store id is checked once, where a message enters (:func:`resolve_store`: the gateway's chat,
the mail intake's recipient, Rasa's REST channel, ``make shell``'s ``--store``), and travels as
the message's ``store`` metadata, which the NLU component turns into the ``store`` slot.
Past that point nothing chooses another shop: the answer service and the actions read the
slot through :func:`checked_store`, which returns it as it is, or raises
:class:`~bot.errors.UnknownStoreError` when a value that is not a shop got through (a channel
that skipped the check, a shop folder removed): they then answer with the apology that names
no shop and log the error.

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
    "DEMO_FILE",
    "DEMO_ORDERS_FILE",
    "FACTS_FILE",
    "FAQ_FILE",
    "REGISTRY_TTL_S",
    "TEXTS_FILE",
    "checked_store",
    "configured_default",
    "default_store",
    "read_shop_yaml",
    "resolve_store",
    "shop_dir",
    "shop_ids",
    "shop_words",
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
DEMO_FILE = "demo.yml"
DEMO_ORDERS_FILE = "demo_orders.yml"
#: The folder of what is no shop's own (shared texts, the registry's settings): no shop.
COMMON_DIR = "_common"
#: The registry's settings in the common folder: ``default_store``.
REGISTRY_FILE = "registry.yml"
#: Seconds the list of shop folders is kept before the folder is looked at again.
REGISTRY_TTL_S = 2.0

_lock = threading.Lock()
_cache: dict[Path, tuple[float, tuple[str, ...]]] = {}
_default_cache: dict[Path, tuple[float, str | None]] = {}
#: Per folder of shops: (time looked, facts.yml stamps, words).
_words_cache: dict[Path, tuple[float, tuple[tuple[str, float], ...], frozenset[str]]] = {}
#: The identity key of ``facts.yml`` listing the names customers use for the shop and its
#: brands ("OM SYSTEM", "Olympus"): no language's words (bot.nlu.langid, other_languages).
BRAND_WORDS_KEY = "brand_words"


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


def _words_of(name: str) -> set[str]:
    words: set[str] = set()
    for word in name.lower().split():
        words.add(word)
        words.update(part for part in word.split("-") if part)
    return words


def shop_words(directory: Path | None = None) -> frozenset[str]:
    """The words that name a shop or its brands, lower-cased: evidence of no language.

    Each shop's id and the names of its ``brand_words`` (``facts.yml``), whole and word by
    word, hyphenated parts too ("om-system", "om", "system", "olympus"). The language
    detectors (:mod:`bot.nlu.langid`, :mod:`bot.nlu.other_languages`) skip them, so no code
    lists the shops' names and a new shop's name is known without a retrain. Read again when
    the shops or their ``facts.yml`` change (looked at most every :data:`REGISTRY_TTL_S`).

    Raises:
        ConfigurationError: a ``facts.yml`` cannot be read, or its ``brand_words`` is not a
            list of names.
    """
    from bot.errors import ConfigurationError

    folder = directory or stores_dir()
    now = time.monotonic()
    with _lock:
        cached = _words_cache.get(folder)
    if cached is not None and now - cached[0] < REGISTRY_TTL_S:
        return cached[2]
    ids = shop_ids(folder)
    stamps = tuple(
        (store_id, (shop_dir(store_id, folder) / FACTS_FILE).stat().st_mtime) for store_id in ids
    )
    if cached is not None and cached[1] == stamps:
        words = cached[2]
    else:
        found: set[str] = set()
        for store_id in ids:
            found |= _words_of(store_id)
            names = read_shop_yaml(store_id, FACTS_FILE, folder).get(BRAND_WORDS_KEY) or []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigurationError(
                    f"{shop_dir(store_id, folder) / FACTS_FILE}: {BRAND_WORDS_KEY} must be a "
                    "list of names"
                )
            for name in names:
                found |= _words_of(name)
        words = frozenset(found)
    with _lock:
        _words_cache[folder] = (now, stamps, words)
    return words


def read_shop_yaml(store_id: str, name: str, directory: Path | None = None) -> dict[str, Any]:
    """A YAML file of a shop folder (or of ``_common``) as plain data; empty when it is absent.

    Raises:
        ConfigurationError: the file cannot be read or is not a mapping.
    """
    import yaml  # PyYAML: both environments have it

    from bot.errors import ConfigurationError

    path = shop_dir(store_id, directory) / name
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: not a mapping")
    return data


def default_store(directory: Path | None = None) -> str:
    """The shop that answers when neither the channel nor ``DEFAULT_STORE`` names one.

    ``default_store`` of ``_common/registry.yml``, else the first shop of the registry.

    Raises:
        UnknownStoreError: there is no shop, or the file names one that is not a shop.
    """
    ids = shop_ids(directory)
    if not ids:
        raise UnknownStoreError(
            f"no shop folder with a {FACTS_FILE} in {directory or stores_dir()}"
        )
    folder = directory or stores_dir()
    now = time.monotonic()
    with _lock:
        cached = _default_cache.get(folder)
    if cached is not None and now - cached[0] < REGISTRY_TTL_S:
        configured = cached[1]
    else:
        settings = read_shop_yaml(COMMON_DIR, REGISTRY_FILE, folder)
        configured = _normalise(settings.get("default_store"))
        with _lock:
            _default_cache[folder] = (now, configured)
    if configured is None:
        return ids[0]
    if configured not in ids:
        raise UnknownStoreError(
            f"{COMMON_DIR}/{REGISTRY_FILE} names the default store {configured!r}, "
            f"which is not a shop: {ids}"
        )
    return configured


def _normalise(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def configured_default(environ: Mapping[str, str] | None = None) -> str:
    """The deployment's default shop as configured: ``DEFAULT_STORE``, else :func:`default_store`.

    Not checked against the registry (:func:`resolve_store` does that).

    Args:
        environ: where ``DEFAULT_STORE`` is read (default: ``os.environ``).
    """
    env = os.environ if environ is None else environ
    return _normalise(env.get("DEFAULT_STORE")) or default_store()


def checked_store(value: Any) -> str:
    """The conversation's shop as its entry checked it (the ``store`` slot), returned as it is.

    What the answer service and the actions call to read the ``store`` slot: they trust the
    value :func:`resolve_store` chose where the message entered, and never pick another shop.
    A value that is not a shop of the registry is a bug of the path it came through (or a
    shop folder removed during the conversation): said loudly instead of answered for
    another shop.

    Raises:
        UnknownStoreError: ``value`` is not the id of a shop (None included), with what to fix.
    """
    ids = shop_ids()
    if isinstance(value, str) and value in ids:
        return value
    raise UnknownStoreError(
        f"the conversation's store {value!r} is not a shop of {stores_dir()} {ids}: the channel "
        "it came through did not check it (bot.shops.resolve_store), or its folder was removed"
    )


def resolve_store(
    requested: Any,
    default: str | None = None,
    *,
    known: tuple[str, ...] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The shop a message is for: ``requested`` when it is a known shop, else the default.

    The one check of a store id coming from outside, made where it enters: the widget's
    attribute (the gateway), the mailbox alias (the mail intake), the metadata of a message
    posted to Rasa's REST channel, the environment and command lines of the processes.
    Channel data can carry anything (an old widget, a typo), and the customer must still get
    an answer, so an unknown id falls back to the default with a warning instead of failing.
    Code past the entry reads the checked value (:func:`checked_store`) and does not call this.

    Args:
        requested: the id as received; surrounding spaces and case are ignored; None, empty
            or not a string means "not said".
        default: the deployment's default shop; None reads ``DEFAULT_STORE`` from
            ``environ`` (``os.environ``), else :func:`default_store`.
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
        default = configured_default(environ)
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
