"""The project's exception hierarchy, documented in one place.

BotError
├── ConfigurationError      a setting or data file is missing or invalid
├── UnknownStoreError       a store id that is not configured
├── RasaUnavailableError    the Rasa server cannot be reached or timed out (gateway)
│   └── RasaTurnFailedError a custom action of the turn failed (answered "send it again")
└── MailError               an inbound mail cannot be parsed or a reply cannot be sent
    ├── MalformedMailError  the inbound message is not a usable RFC 5322 message
    └── MailDeliveryError   the SMTP server refused or could not be reached
"""

from __future__ import annotations


class BotError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigurationError(BotError):
    """A setting or a data file is missing or invalid."""


class UnknownStoreError(BotError):
    """A store id that is not configured."""


class RasaUnavailableError(BotError):
    """The Rasa server cannot be reached or did not answer in time."""


#: The key of the ``custom`` message that Rasa adds to a turn whose custom action failed (the
#: action server killed mid-call), after its "send the message again" notice; its value is the
#: action's name (bot/rasa_ext/action_failures.py, docs/contracts.md).
TURN_FAILED_KEY = "turn_failed"


class RasaTurnFailedError(RasaUnavailableError):
    """Rasa took the message but a custom action of its turn failed: nothing was answered
    (the e-mail worker retries the mail as when Rasa is unavailable)."""


class MailError(BotError):
    """An inbound mail cannot be handled or a reply cannot be sent."""


class MalformedMailError(MailError):
    """The inbound message is not a usable RFC 5322 message."""


class MailDeliveryError(MailError):
    """The SMTP server refused the reply or could not be reached."""
