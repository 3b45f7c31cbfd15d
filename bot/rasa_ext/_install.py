"""The one way a fix of bot/rasa_ext replaces Rasa's code: only on the Rasa it was written for.

Each fix module's ``install()`` names what it replaces and calls :func:`patch_rasa`:

* on a Rasa whose version does not start with the fix's ``KNOWN_RASA_PREFIX`` (the versions
  whose code the fix reproduces or wraps: read them before widening), nothing is replaced, a
  warning says what stays Rasa's own ("Rasa 3.7.0 is not 3.6.x: ...") and the answer is False;
* otherwise every attribute is set to the fix's version and the answer is True. Installing again
  sets the same objects again: a no-op, so the launcher, a benchmark and a test may each
  install without caring whether it was done (a test that put Rasa's own method back and
  installs again gets the fix again: there is no "installed" flag to go stale).

Every fix with an ``install()`` goes through it (ten in all, :data:`bot.rasa_ext.cli.FIXES`).
What a refusal means is each fix's choice, written in its ``install()``: all but one leave
Rasa's own code in place with the warning (slower, or Rasa's known failure, but Rasa's
behaviour); :mod:`bot.rasa_ext.constant_time_token` refuses to start instead (a security
property does not silently go away; :func:`refusal` gives its one-line message).
:func:`written_for` is the check itself. No fix has an uninstall: the tests put Rasa's
attributes back themselves. Not named ``install``, so that the launcher's test
(tests/rasa_env/test_launcher_fixes.py), which takes every module of bot/rasa_ext with an
``install()`` for a fix, does not take this one for one. Runs in the Rasa environment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import rasa

#: One replacement: (class or module, attribute name, the fix's object).
Patch = tuple[object, str, object]


def written_for(known_prefix: str) -> bool:
    """Whether the running Rasa's version starts with ``known_prefix`` (e.g. "3.6.")."""
    version: str = rasa.__version__
    return version.startswith(known_prefix)


def refusal(known_prefix: str, left_as_is: str) -> str:
    """The sentence a refused fix says: "Rasa 3.7.0 is not 3.6.x: " + ``left_as_is``."""
    return f"Rasa {rasa.__version__} is not {known_prefix}x: {left_as_is}"


def patch_rasa(
    logger: logging.Logger, known_prefix: str, left_as_is: str, patches: Iterable[Patch]
) -> bool:
    """Sets each patch's attribute if Rasa's version starts with ``known_prefix``.

    Returns False, having changed nothing, and logs ``left_as_is`` (what stays Rasa's own, as
    a sentence) as a warning on ``logger`` (the fix module's) on any other version.
    """
    if not written_for(known_prefix):
        logger.warning("%s", refusal(known_prefix, left_as_is))
        return False
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    return True
