"""Rasa 3.6 looks up an event's class by walking every Event subclass, for each event: fixed.

`Event.resolve_by_type(type_name)` calls `all_subclasses(Event)` (a recursive walk of the
class tree with an `inspect.isabstract` check per class) and scans the list, once for every
event it deserialises. A turn deserialises the whole conversation (the tracker store loads
it), so this was about 3.5% of the Rasa server's CPU per turn under load (py-spy,
`make bench`, README "Performance").

:func:`install` replaces it with a lookup in a table built from the same walk, in the same
order (the first class with a type name wins, as in Rasa's scan). A type name the table does
not know triggers one new walk (an Event subclass imported later is found), then Rasa's own
answers for unknown names: `None` for the old "topic" events, the `default`, or the same
`ValueError`.

Written for Rasa 3.6 (its `Event.resolve_by_type`, `rasa/shared/core/events.py`): on another
version :func:`install` leaves Rasa's own method with a warning (only slower: the lookup is
Rasa's), since the unknown-name answers reproduced here may have changed.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment.
"""

from __future__ import annotations

import logging
import threading

import rasa.shared.utils.common
from rasa.shared.core.events import Event

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `Event.resolve_by_type` this reproduces (read it before widening).
KNOWN_RASA_PREFIX = "3.6."

_lock = threading.Lock()
_by_type_name: dict[str, type[Event]] = {}


def _refresh() -> None:
    table: dict[str, type[Event]] = {}
    for cls in rasa.shared.utils.common.all_subclasses(Event):
        table.setdefault(cls.type_name, cls)
    with _lock:
        _by_type_name.clear()
        _by_type_name.update(table)


def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """`Event.resolve_by_type` with a table instead of a class-tree walk per call.

    Raises:
        ValueError: the type name is unknown and there is no default (as Rasa raises it).
    """
    found = _by_type_name.get(type_name)
    if found is None:
        _refresh()
        found = _by_type_name.get(type_name)
    if found is not None:
        return found
    if type_name == "topic":
        return None  # backwards compatibility to support old TopicSet evts (as Rasa)
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


#: What `Event.resolve_by_type` becomes (one object: installing twice sets the same one).
resolve_by_type_static = staticmethod(resolve_by_type)


def install() -> bool:
    """Replaces Rasa's `Event.resolve_by_type` (a static method); returns False (and changes
    nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "an event's class is found by Rasa's own walk of every Event subclass.",
        [(Event, "resolve_by_type", resolve_by_type_static)],
    )
