"""Rasa 3.6 validates each action server and NLG answer with a schema it re-checks: fixed.

`RemoteAction._validate_action_result` calls `jsonschema.validate(result, schema)`, and
`jsonschema.validate` first checks the *schema itself* against the JSON Schema meta-schema,
then builds a validator, then validates the answer. The schema (Rasa's events schema) is a
constant, but checking it is the expensive part: about 40-60 ms of CPU on this project's
2-core machine, at every custom action call, on the Rasa server's only event loop. Profiled
under load (`make bench`, README "Performance"), it was close to half of the Rasa server's
CPU time per turn: the first limit on throughput.

:func:`install` replaces that method with one that checks the schema once, keeps the
validator, and validates each answer exactly as `jsonschema.validate` does (same error:
`best_match` of the errors, with Rasa's own explanation appended). Nothing else changes.

The answer service (Rasa's NLG endpoint, bot/answers/service.py) renders every text the bot
sends, and `CallbackNaturalLanguageGenerator.validate_response` calls `jsonschema.validate` on
each of its answers the same way: 6 % of the Rasa server's CPU under load (py-spy, 8
conversations). :func:`install` gives it a validator compiled once too, with Rasa's own
`RasaException` and message.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment
(Python 3.10, rasa 3.6, jsonschema 4.17).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

# The app environment type-checks this package but has no jsonschema stubs (Rasa's does not
# need them): untyped on purpose.
from jsonschema import ValidationError  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from rasa.core.actions.action import RemoteAction
from rasa.core.nlg.callback import CallbackNaturalLanguageGenerator, nlg_response_format_spec
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.exceptions import RasaException

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `_validate_action_result` this module knows (read before widening).
KNOWN_RASA_PREFIX = "3.6."


def _compiled(schema: dict[str, Any]) -> Any:
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def action_response_validator() -> Any:
    """The validator of Rasa's action response schema, its schema checked once."""
    return _compiled(RemoteAction.action_response_format_spec())


@functools.lru_cache(maxsize=1)
def nlg_response_validator() -> Any:
    """The validator of Rasa's NLG response schema, its schema checked once."""
    return _compiled(nlg_response_format_spec())


def validate_nlg_response(content: Any) -> bool:
    """Rasa's `CallbackNaturalLanguageGenerator.validate_response`, with the compiled validator.

    Raises:
        RasaException: the answer does not match the schema (Rasa's own message).
    """
    if content is None or content == "":
        return True  # the endpoint did not want to respond with anything (as Rasa)
    error = best_match(nlg_response_validator().iter_errors(content))
    if error is None:
        return True
    raise RasaException(
        f"{error.message}. Failed to validate NLG response from API, make sure "
        f"your response from the NLG endpoint is valid. "
        f"For more information about the format please consult the "
        f"`nlg_response_format_spec` function from this same module: "
        f"https://github.com/RasaHQ/rasa/blob/main/rasa/core/nlg/callback.py"
    )


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's `RemoteAction._validate_action_result`, with the compiled validator.

    Raises:
        ValidationError: the answer does not match the schema (as Rasa raises it).
    """
    error = best_match(action_response_validator().iter_errors(result))
    if error is None:
        return True
    # The same explanation Rasa appends.
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> bool:
    """Replaces Rasa's method; returns False (and changes nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "its action response validation is left as it is.",
        [
            (RemoteAction, "_validate_action_result", validate_action_result),
            (
                CallbackNaturalLanguageGenerator,
                "validate_response",
                staticmethod(validate_nlg_response),
            ),
        ],
    )


__all__ = [
    "ValidationError",
    "action_response_validator",
    "install",
    "nlg_response_validator",
    "validate_action_result",
    "validate_nlg_response",
]
