"""French typography for every text the bot sends, and a check for it.

French puts a space before ``? ! ; :`` and inside ``« »``. An ordinary space there lets the
chat widget or a mail client start a line with "?" or ":", and "8 h", "50 $ US" or
"+1 (347) 459-1491" can split across lines. The spaces must not break:

* U+202F (narrow no-break space) before ``? ! ;`` and inside ``« »``;
* U+00A0 (no-break space) before ``:``, in "8 h", before a currency sign ("50 $ US",
  "749,00 €") and inside phone numbers.

:func:`french_typography` applies these rules to a composed French text (idempotent: a text
already set is unchanged); :func:`typeset` does it for French only. :func:`typography_errors`
lists what is wrong in a text, for the tests and for whoever validates answer templates: it
works on any text, wherever it comes from (domain responses, composed answers, e-mail
templates, widget strings, web pages).
"""

from __future__ import annotations

import re

__all__ = ["NBSP", "NNBSP", "french_typography", "typeset", "typography_errors"]

NBSP = "\u00a0"  # no-break space
NNBSP = "\u202f"  # narrow no-break space
_ANY_SPACE = "[ \u00a0\u202f]"

# A mark used as punctuation: followed by a space, the end, or closing punctuation. "?" in a
# URL's query string ("?tracking-id=") or ":" in "https://" and "10:30" are left alone.
_AFTER_MARK = r"(?=\s|$|[»)\]\"'’.,])"
_HIGH_MARKS = re.compile(rf"(?<=[^\s({{\[«]){_ANY_SPACE}*([?!;]+){_AFTER_MARK}")
_COLON = re.compile(rf"(?<=[^\s({{\[«]){_ANY_SPACE}*:{_AFTER_MARK}")
_OPENING_QUOTE = re.compile(rf"«{_ANY_SPACE}*")
_CLOSING_QUOTE = re.compile(rf"{_ANY_SPACE}*»")
_HOURS = re.compile(rf"(\d){_ANY_SPACE}?h\b")
_CURRENCY = re.compile(rf"(\d){_ANY_SPACE}?([$€£])(?:{_ANY_SPACE}?(US)\b)?")
# "+1 (347) 459-1491", "+33 1 23 45 67 89": a "+", then digits, spaces, brackets, dashes.
_PHONE = re.compile(r"\+\d[\d ()\u00a0\u202f.-]{6,}\d")


def french_typography(text: str) -> str:
    """``text`` with French no-break spaces where a line must not break (idempotent).

    Args:
        text: a French text (a whole answer, a template, an interface string).

    Returns:
        The text with U+202F before ``? ! ;`` and inside ``« »``, U+00A0 before ``:``, in
        "8 h", before currency signs and inside phone numbers. Nothing else changes.
    """
    text = _HIGH_MARKS.sub(lambda m: NNBSP + m.group(1), text)
    text = _COLON.sub(NBSP + ":", text)
    text = _OPENING_QUOTE.sub("«" + NNBSP, text)
    text = _CLOSING_QUOTE.sub(NNBSP + "»", text)
    text = _HOURS.sub(lambda m: f"{m.group(1)}{NBSP}h", text)
    text = _CURRENCY.sub(
        lambda m: f"{m.group(1)}{NBSP}{m.group(2)}" + (f"{NBSP}US" if m.group(3) else ""), text
    )
    return _PHONE.sub(lambda m: re.sub("[ \u202f]", NBSP, m.group(0)), text)


def typeset(text: str, lang: str) -> str:
    """``text`` set for its language: French typography for ``"fr"``, unchanged otherwise."""
    return french_typography(text) if lang == "fr" else text


_MARK_BEFORE = re.compile(rf"(.)([?!;:]+){_AFTER_MARK}", re.DOTALL)
_ENGLISH_MARK_SPACE = re.compile(rf"[\u00a0\u202f]([?!;:]){_AFTER_MARK}")


def _excerpt(text: str, index: int) -> str:
    return text[max(0, index - 20) : index + 20].replace(NBSP, "⍽").replace(NNBSP, "·")


def typography_errors(text: str, lang: str = "fr") -> list[str]:
    """What breaks the rules of :func:`french_typography` in ``text`` (empty when none).

    For English, only French spacing before ``? ! ; :`` is an error.

    Args:
        text: the text as the customer will see it (after any markup is removed).
        lang: ``"fr"`` or ``"en"``.

    Returns:
        One message per fault, with an excerpt in which U+00A0 shows as "⍽" and U+202F as
        "·".
    """
    if lang != "fr":
        return [
            f"French spacing before {m.group(1)!r} in English: {_excerpt(text, m.start())!r}"
            for m in _ENGLISH_MARK_SPACE.finditer(text)
        ]
    errors: list[str] = []
    for match in _MARK_BEFORE.finditer(text):
        before, marks = match.group(1), match.group(2)
        if before in "({[«\n":
            continue  # a mark opening a line or a bracket is not punctuation after a word
        expected = NBSP if marks[0] == ":" else NNBSP
        if before != expected:
            name = "U+00A0" if expected == NBSP else "U+202F"
            errors.append(f"{name} needed before {marks[0]!r}: {_excerpt(text, match.start())!r}")
    for match in re.finditer(r"«(?!\u202f)", text):
        errors.append(f"U+202F needed after '«': {_excerpt(text, match.start())!r}")
    for match in re.finditer(r"(?<!\u202f)»", text):
        errors.append(f"U+202F needed before '»': {_excerpt(text, match.start())!r}")
    for match in re.finditer(r"\d[ \u202f]h\b", text):
        errors.append(f"U+00A0 needed in hours: {_excerpt(text, match.start())!r}")
    for match in re.finditer(r"\d(?:[ \u202f]?)[$€£]|[$€£] US\b", text):
        if NBSP not in match.group(0):
            errors.append(f"U+00A0 needed by a currency sign: {_excerpt(text, match.start())!r}")
    for match in _PHONE.finditer(text):
        if " " in match.group(0) or NNBSP in match.group(0):
            errors.append(f"U+00A0 needed inside a phone number: {match.group(0)!r}")
    return errors
