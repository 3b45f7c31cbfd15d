"""Order numbers as customers write them, with the shops' prefixes read from their data.

Pure standard library plus PyYAML: the Rasa component `bot.nlu.entities.ShopEntityExtractor`
uses it in the Rasa environment, the e-mail channel (`bot.mail.questions`) in the app one.

The prefixes are the shops' set-up (`order_prefix` in `data/stores/<store>/facts.yml`), never
a list in the code: a third shop with its own prefix is recognised as soon as its folder exists
(the shop registry, `bot.shops`, looks at the folder again every few seconds: no restart).

Shapes, in the order they are looked for:

* prefixed: the prefix in any case, then nothing, a space, or a dash/underscore/dot/colon
  (with spaces around), then 6 digits, possibly grouped 3 + 3: "OM-104233", "om 104233",
  "OM104233", "bt – 200517", "OM 104 233" -> "OM-104233";
* announced: "#", "n°", "nº", "no.", "nr", "num.", "numéro"/"numero"/"number" (+ ":"), then
  6 digits: "#104233", "n° 104233", "no. 104233" -> "104233";
* bare: 6 digits standing alone ("commande 104233", "(104233)"), only when the message has
  neither a prefixed nor an announced number: "104233" (the lookup tries the conversation's
  shop first, then the others: `bot.orders.candidate_numbers`).

Every pattern is linear: bounded repetitions and no nested quantifiers.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from bot.shops import FACTS_FILE, REGISTRY_TTL_S, shop_ids, stores_dir

# (start, end, canonical value)
Found = Tuple[int, int, str]

# Separators between prefix and digits: dashes, underscore, dot, colon, "#", with spaces.
_SPACE = r"[ \t\u00a0\u202f]"
_SEPARATOR = rf"(?:{_SPACE}{{0,2}}[-\u2010\u2011\u2013\u2014_.:#/]{_SPACE}{{0,2}}|{_SPACE}{{1,2}})?"
# 6 digits, or 3 + 3 with one (no-break) space: "104233", "104 233".
_DIGITS = r"(\d{3})[ \u00a0\u202f]?(\d{3})(?!\d)"
# Words announcing a number: "#", "n°", "nº", "no.", "nr", "num", "numéro", "number".
_ANNOUNCED = re.compile(
    r"(?:(?<![\w#])#|(?<!\w)(?:n\s?[°º]|no\.|nr\.?|num\.|num[ée]ro|number))"
    r"[ \t\u00a0\u202f]{0,2}:?[ \t\u00a0\u202f]{0,2}" + _DIGITS,
    re.IGNORECASE,
)
# Six digits standing alone: not part of a longer number, a decimal or a hyphenated code.
_BARE = re.compile(r"(?<![\w.,/+-])(\d{6})(?![\w]|[.,/-]\d)")


def read_prefixes(directory: Optional[Path] = None) -> Tuple[str, ...]:
    """The `order_prefix` of every shop folder in `directory`, in the registry's order.

    Args:
        directory: a folder of `<store id>/facts.yml` shop folders (default: the registry's,
            `data/stores/`).

    Returns:
        The upper-case prefixes ("BT", "OM"...).

    Raises:
        ValueError: no store file declares a prefix.
    """
    folder = directory or stores_dir()
    prefixes: List[str] = []
    for store_id in shop_ids(folder, fresh=True):
        prefix = _file_prefix(folder / store_id / FACTS_FILE)
        if prefix:
            prefixes.append(prefix)
    if not prefixes:
        raise ValueError(f"no store file in {directory} declares an order_prefix")
    return tuple(prefixes)


# facts.yml path -> (modification time in ns, size, its upper-case prefix or None).
_file_prefixes: Dict[Path, Tuple[int, int, Optional[str]]] = {}


def _file_prefix(path: Path) -> Optional[str]:
    """The `order_prefix` of one facts file, parsed again only when the file changed.

    A facts file holds the shop's FAQ quotes: parsing it costs about 0.1 s of CPU (PyYAML),
    which the Rasa server paid every `REGISTRY_TTL_S` seconds on its event loop (measured by
    bench/parse_cpu.py). Its modification time and size are cheap to look at.
    """
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _file_prefixes.get(path)
    if cached is not None and cached[:2] == stamp:
        return cached[2]
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    prefix = data.get("order_prefix") if isinstance(data, dict) else None
    value = prefix.strip().upper() if isinstance(prefix, str) and prefix.strip() else None
    with _lock:
        _file_prefixes[path] = (*stamp, value)
    return value


@functools.lru_cache(maxsize=8)
def _prefixed_pattern(prefixes: Tuple[str, ...]) -> "re.Pattern[str]":
    # Longest prefix first, so a prefix that starts another one never cuts it short.
    alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])({alternatives}){_SEPARATOR}{_DIGITS}", re.IGNORECASE)


_lock = threading.Lock()
_cached: Dict[Path, Tuple[float, Tuple[str, ...]]] = {}


def store_prefixes() -> Tuple[str, ...]:
    """The prefixes of the registry's shops, read again after `bot.shops.REGISTRY_TTL_S` s."""
    folder = stores_dir()
    now = time.monotonic()
    with _lock:
        cached = _cached.get(folder)
    if cached is not None and now - cached[0] < REGISTRY_TTL_S:
        return cached[1]
    prefixes = read_prefixes(folder)
    with _lock:
        _cached[folder] = (now, prefixes)
    return prefixes


def find_order_numbers(text: str, prefixes: Optional[Tuple[str, ...]] = None) -> List[Found]:
    """The order numbers written in a text, as `(start, end, value)` in text order.

    Args:
        text: a customer's message.
        prefixes: the shops' prefixes; by default those of `data/stores/`.

    Returns:
        Prefixed numbers as "OM-104233", announced or bare digits as "104233". Bare digits
        are returned only when there is no prefixed or announced number. Spans may overlap
        only across these groups' alternatives, never within the returned list.
    """
    if not text:
        return []
    prefix_re = _prefixed_pattern(prefixes if prefixes is not None else store_prefixes())
    found: List[Found] = []
    for match in prefix_re.finditer(text):
        value = f"{match.group(1).upper()}-{match.group(2)}{match.group(3)}"
        found.append((match.start(), match.end(), value))
    for match in _ANNOUNCED.finditer(text):
        if not any(match.start() < end and match.end() > start for start, end, _v in found):
            # "#104233" is one token; after a word ("n° 104233") the number is the digits.
            start = match.start() if text[match.start()] == "#" else match.start(1)
            found.append((start, match.end(), match.group(1) + match.group(2)))
    if not found:
        found = [(m.start(), m.end(), m.group(1)) for m in _BARE.finditer(text)]
    return sorted(found)
