"""RulePolicy's rule lookup, remembered for the conversation states it has already seen.

Rasa 3.6's `RulePolicy._get_possible_keys` finds the rules that apply to a conversation by
checking every rule key (211 + 37 in this project's model) against each of the last states,
twice a turn (the policies run twice: after the user's message and after each action): about
13 % of the Rasa server's CPU at 8 conversations (py-spy). Its answer depends only on the keys
of the lookup and on the states; conversations of a support bot go through the same few states
again and again.

:func:`get_possible_keys` keeps the answer in a bounded table (least recently used out) keyed
on exactly what the lookup reads: the lookup's keys, in order, and the last states, frozen, as
far back as its longest rule (further back, Rasa's lookup finds every rule applicable without
reading the state; RulePolicy gives it the whole conversation). States never seen run Rasa's
own lookup. The answer is the very set Rasa's lookup built for those
keys and states, rebuilt once per older state as Rasa's lookup does (same set, same order), so
the same rule wins.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `RulePolicy._get_possible_keys` this module keeps answers of.
KNOWN_RASA_PREFIX = "3.6."
#: Answers kept at most (a few kB each at most; the least recently used goes first).
MAX_ENTRIES = 4096
#: Rasa's own method (for the tests' comparison, and to see whether the fix is installed).
RASA_GET_POSSIBLE_KEYS: Callable[[RulePolicy, dict[str, str], list[Any]], set[str]] = (
    RulePolicy._get_possible_keys
)

_answers: OrderedDict[Hashable, set[str]] = OrderedDict()
_lock = threading.Lock()
#: The lookups (their keys) whose longest rule is known: the model's two; more while training.
MAX_LOOKUPS = 16
_longest: dict[tuple[str, ...], int] = {}


def frozen(value: Any) -> Hashable:
    """A hashable copy of a state's value (dicts, lists, tuples of hashable leaves)."""
    if isinstance(value, dict):
        return ("d", tuple(sorted(((k, frozen(v)) for k, v in value.items()), key=_first)))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(frozen(item) for item in value))
    hash(value)  # anything else must be hashable as it is (str, numbers, None, bool)
    return (type(value).__name__, value)


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def longest_rule(keys: tuple[str, ...]) -> int:
    """The number of states of the lookup's longest rule (at least 1)."""
    with _lock:
        longest = _longest.get(keys)
    if longest is None:
        longest = max([1, *(len(json.loads(key)) for key in keys)])
        with _lock:
            if len(_longest) >= MAX_LOOKUPS:
                _longest.clear()
            _longest[keys] = longest
    return longest


def get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
    """Rasa 3.6's `RulePolicy._get_possible_keys`, remembering its answers."""
    keys = tuple(lookup)
    # Rasa's lookup reads only the last `longest` states: further back, every rule applies.
    read = states[-longest_rule(keys) :]
    try:
        key = (type(self), keys, frozen(read))
    except TypeError:  # a state value that cannot be hashed: Rasa's lookup, not remembered
        return RASA_GET_POSSIBLE_KEYS(self, lookup, states)
    with _lock:
        answer = _answers.get(key)
        if answer is not None:
            _answers.move_to_end(key)
    if answer is None:
        answer = RASA_GET_POSSIBLE_KEYS(self, lookup, read)
        with _lock:
            _answers[key] = answer
            while len(_answers) > MAX_ENTRIES:
                _answers.popitem(last=False)
    # Rasa rebuilds the set once per earlier state too (every key kept): the same insertions,
    # so the same set in the same iteration order (the caller's `max` keeps the first of ties).
    # Callers only read the set (`max`, iteration), so the table's own may be returned.
    for _ in range(len(states) - len(read)):
        answer = set(iter(answer))
    return answer


def clear() -> None:
    """Forgets every remembered answer."""
    with _lock:
        _answers.clear()
        _longest.clear()


def install() -> bool:
    """Replaces Rasa's method; returns False (and changes nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "RulePolicy's rule lookup is not remembered.",
        [(RulePolicy, "_get_possible_keys", get_possible_keys)],
    )
