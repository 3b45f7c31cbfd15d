"""What a production secret must look like: set, long, random-looking, not a placeholder.

Standard library only: the Rasa environment (bot/rasa_ext/cli.py, for RASA_TOKEN) uses it as
well as the app environment (bot/config.py, the action server, the answer service).
"""

from __future__ import annotations

import logging
import re
import secrets

#: The shortest secret the production profile accepts (secrets.token_urlsafe(24) gives 32).
MIN_SECRET_CHARS = 32
# Fewer distinct characters than this over 32+ is no random string ("aaaa...", "abab...").
MIN_DISTINCT_CHARS = 8
# Words of the examples and placeholders people leave in place (lower case, compared with the
# secret lowered and without "-", "_" and spaces).
PLACEHOLDER_WORDS = (
    "changeme",
    "change",
    "replaceme",
    "placeholder",
    "example",
    "secret",
    "password",
    "yourtoken",
    "fixme",
    "dummy",
    "default",
    "insecure",
)
HOW_TO_MAKE_ONE = 'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def is_placeholder(value: str) -> bool:
    """Whether `value` looks like an example left in place (`change-me`, `<your token>`...)."""
    squashed = "".join(ch for ch in value.lower() if ch not in "-_ .")
    if any(word in squashed for word in PLACEHOLDER_WORDS):
        return True
    return value.strip().startswith(("<", "${", "{{"))


def secret_problem(
    name: str, value: str | None, *, min_chars: int = MIN_SECRET_CHARS
) -> str | None:
    """One sentence naming `name` when `value` is no usable production secret, else None."""
    wanted = f"a random string of {min_chars} characters or more ({HOW_TO_MAKE_ONE})"
    if value is None or not value.strip():
        return f"{name} must be set to {wanted}"
    if is_placeholder(value):
        return f"{name} is a placeholder: set it to {wanted}"
    if len(value) < min_chars:
        return f"{name} is too short ({len(value)} characters): set it to {wanted}"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        distinct = len(set(value))
        return f"{name} is not random ({distinct} distinct characters): set it to {wanted}"
    return None


def password_problem(name: str, password: str | None) -> str | None:
    """A password inside a URL (database, SMTP): only refused when it is a placeholder."""
    if password and is_placeholder(password):
        return f"the password in {name} is a placeholder (change-me): set the real one"
    return None


def generate_secret() -> str:
    """A fresh random secret that :func:`secret_problem` accepts (one run's local secrets)."""
    while True:
        value = secrets.token_urlsafe(32)
        if secret_problem("generated", value) is None:
            return value


# A token in a URL's query (`?token=...`, Rasa's API and NLG endpoint): what follows `=` up to
# the next `&`, quote, space or bracket. Linear time: one character class, no nesting.
_TOKEN_IN_QUERY = re.compile(
    r"([?&](?:token|auth_token|access_token)=)[^&\s'\"<>()\[\]]+", re.IGNORECASE
)
REDACTED = "***"


def redact(text: str) -> str:
    """`text` with every token of a URL's query replaced by ``***`` (error texts, log lines)."""
    return _TOKEN_IN_QUERY.sub(rf"\g<1>{REDACTED}", text)


class RedactTokens(logging.Filter):
    """Rewrites a log record's message without the tokens of the URLs in it.

    httpx logs every request at INFO ("HTTP Request: POST http://...?token=..."); the mail
    worker's child logs at INFO into the gateway's log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACTING = RedactTokens()
#: The loggers that write request URLs: httpx's and its transport's.
URL_LOGGERS = ("httpx", "httpcore")


def redact_url_logs() -> None:
    """Makes the HTTP clients' loggers redact tokens (idempotent; call where a client with a
    token is made)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTING not in logger.filters:
            logger.addFilter(_REDACTING)
