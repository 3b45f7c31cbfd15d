"""Personal data masked in the console's lists: e-mail addresses, order numbers, postcodes.

Lists (inbox, conversation search, top unanswered messages) show masked text; a transcript
opened by an agent of the shop shows the words as written (the agent needs them to help).
The patterns are simple and linear (no nested quantifiers): they run on customer text.
"""

from __future__ import annotations

import re

MASK = "•"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}")
# OM-104233, BT 200517, om104233, and bare six-digit order numbers.
_ORDER = re.compile(r"\b(?:[A-Za-z]{2}[ -]?)?\d{6}\b")
# UK (SW1A 1AA, M1 1AE), Japanese (150-0001), and 4-5 digit postcodes.
_UK_POSTCODE = re.compile(r"\b[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}\b")
_JP_POSTCODE = re.compile(r"\b\d{3}-\d{4}\b")
_DIGIT_POSTCODE = re.compile(r"\b\d{4,5}\b")


def _mask_email(match: re.Match[str]) -> str:
    local, _, domain = match.group(0).partition("@")
    return f"{local[0]}{MASK * 3}@{domain}"


def _mask_order(match: re.Match[str]) -> str:
    text = match.group(0)
    return text[:-6] + MASK * 4 + text[-2:]


def mask_personal_data(text: str | None) -> str:
    """``text`` with e-mail addresses, order numbers and postcodes masked."""
    if not text:
        return ""
    masked = _EMAIL.sub(_mask_email, text)
    masked = _ORDER.sub(_mask_order, masked)
    masked = _UK_POSTCODE.sub(MASK * 5, masked)
    masked = _JP_POSTCODE.sub(MASK * 5, masked)
    return _DIGIT_POSTCODE.sub(MASK * 5, masked)


def mask_address(address: str | None) -> str:
    """An e-mail address with its local part masked (``m•••@example.fr``)."""
    if not address or "@" not in address:
        return address or ""
    return _EMAIL.sub(_mask_email, address)
