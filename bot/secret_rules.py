"""What a production secret must look like: set, long, random-looking, not a placeholder.

Standard library only: the Rasa environment (bot/rasa_ext/cli.py, for RASA_TOKEN) uses it as
well as the app environment (bot/config.py, the action server, the answer service).
"""

from __future__ import annotations

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
