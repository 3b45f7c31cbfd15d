"""Keeps only what the customer wrote this time: no quoted history, no signature.

A reply carries the whole thread below it and a signature (often a phone's "Envoyé de mon
iPhone"); asking the bot about those lines would answer old questions or a phone model. The
rules are deliberately conservative: an attribution line must end with "a écrit :" /
"wrote:", a "De :/From:" line only starts a header block when a "Envoyé :/Sent:/À :/To:/
Objet :/Subject:" line follows it, and a sign-off ("Cordialement") only ends the text when
little follows it, so a question written after a polite phrase is kept.
"""

from __future__ import annotations

import re

_ATTRIBUTION_START = re.compile(r"^\s*(?:le|on)\b", re.IGNORECASE)
# "Le lun. 3 févr. 2025 à 10:12, Marie Dupont <marie@example.fr> a écrit :" (possibly
# wrapped over up to three lines) / "On Mon, Feb 3, 2025 at 10:12 AM Marie <...> wrote:".
_ATTRIBUTION = re.compile(
    r"^\s*(?:le|on)\b.{0,300}?(?:a\s+écrit|a\s+ecrit|wrote)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|message d'origine|message original|"
    r"forwarded message|message transféré|message transfere|mail d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
# "(?:\s*\*)?\s*" rather than "\s*\*?\s*": two adjacent runs of spaces are quadratic to backtrack.
_HEADER_FROM = re.compile(r"^\s*\*?(?:de|from)(?:\s*\*)?\s*:\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(?:envoyé|envoye|sent|date|à|a|to|objet|subject|cc)(?:\s*\*)?\s*:", re.IGNORECASE
)
_SIGNATURE_DASHES = re.compile(r"^\s*--\s*$")
_MOBILE = re.compile(
    r"^\s*(?:envoyé|envoye)\s+(?:de|depuis)\s+(?:mon|ma|my)\s+.{1,40}$"
    r"|^\s*sent\s+from\s+(?:my\s+)?.{1,40}$"
    r"|^\s*(?:get|obtenir|télécharger|telecharger)\s+outlook\s+(?:for|pour)\s+.{1,20}$",
    re.IGNORECASE,
)
_SIGN_OFFS = tuple(
    sorted(
        (
            "cordialement",
            "bien cordialement",
            "très cordialement",
            "tres cordialement",
            "bien à vous",
            "bien a vous",
            "sincères salutations",
            "sinceres salutations",
            "salutations distinguées",
            "meilleures salutations",
            "salutations",
            "bonne journée",
            "bonne journee",
            "bonne soirée",
            "merci d'avance",
            "merci par avance",
            "merci beaucoup",
            "merci",
            "best regards",
            "kind regards",
            "warm regards",
            "warmest regards",
            "regards",
            "best wishes",
            "best",
            "cheers",
            "sincerely",
            "yours sincerely",
            "yours faithfully",
            "many thanks",
            "thanks in advance",
            "thank you in advance",
            "thanks",
            "thank you",
        ),
        key=len,
        reverse=True,
    )
)
# A word of the short name that may follow a sign-off ("Cordialement, Marie"): capitalised,
# so "Merci de me dire où est ma commande" is no sign-off. No nested or overlapping
# quantifier (each piece of the line is cut with str methods first): linear in the line.
_NAME_WORD = re.compile(r"[A-ZÀ-Ý][\w'.-]*")
_LEADING_PUNCTUATION = re.compile(r"[\s,.!-]*")
_MAX_NAME_WORDS = 4


def is_sign_off(line: str) -> bool:
    """Whether ``line`` is a sign-off alone, possibly followed by a short name.

    "Cordialement", "Merci d'avance !", "Best regards, Marie Dupont." are; "Merci de me
    dire où est ma commande" is not. Linear in the length of the line.
    """
    stripped = line.strip()
    lowered = stripped.lower()
    for sign_off in _SIGN_OFFS:
        if lowered.startswith(sign_off) and _name_only(stripped[len(sign_off) :]):
            return True
    return False


def _name_only(rest: str) -> bool:
    # Punctuation, then at most four capitalised words, then final dots or exclamation marks.
    if rest and rest[0].isalnum():
        return False  # "Merciii", "Bestow": the sign-off must end at a word boundary
    leading = _LEADING_PUNCTUATION.match(rest)
    start = leading.end() if leading else 0
    end = len(rest)
    while end > start and (rest[end - 1].isspace() or rest[end - 1] in ".!"):
        end -= 1
    words = rest[start:end].split()
    return len(words) <= _MAX_NAME_WORDS and all(_NAME_WORD.fullmatch(word) for word in words)


# A sign-off ends the text only when at most this many non-empty lines follow (a name, a
# title, a phone number...); otherwise it was a polite phrase in the middle of the text.
_MAX_SIGNATURE_LINES = 6
_MAX_SIGNATURE_LINE_LENGTH = 80


def _attribution_at(lines: list[str], index: int) -> bool:
    if not _ATTRIBUTION_START.match(lines[index]):
        return False
    for span in (1, 2, 3):
        if index + span > len(lines):
            break
        joined = " ".join(line.strip() for line in lines[index : index + span])
        if _ATTRIBUTION.match(joined):
            return True
    return False


def _header_block_at(lines: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()]
    return any(_HEADER_NEXT.match(line) for line in following[:4])


def quote_start(lines: list[str]) -> int:
    """Index of the first line of quoted history, ``len(lines)`` when there is none."""
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue  # no pattern matches a blank line: skipped at once (a mail of blank lines)
        if _SEPARATOR.match(line) or _attribution_at(lines, index):
            return index
        if _UNDERSCORES.match(line) and any(
            _HEADER_FROM.match(next_line) for next_line in lines[index + 1 : index + 3]
        ):
            return index
        if _header_block_at(lines, index):
            return index
    return len(lines)


def _looks_like_signature(lines: list[str]) -> bool:
    # A name, a title, a phone number: few short lines and no question among them.
    return len(lines) <= _MAX_SIGNATURE_LINES and all(
        "?" not in line and len(line.strip()) <= _MAX_SIGNATURE_LINE_LENGTH for line in lines
    )


def signature_start(lines: list[str]) -> int:
    """Index of the first line of the signature, ``len(lines)`` when there is none."""
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        if _SIGNATURE_DASHES.match(line) or _MOBILE.match(line):
            return index
        if index > 0 and is_sign_off(line):
            rest = [later for later in lines[index + 1 :] if later.strip()]
            if _looks_like_signature(rest):
                return index
    return len(lines)


def strip_quotes_and_signature(text: str) -> str:
    """The new text of a reply: quoted history, ``>`` lines and signature removed.

    Args:
        text: a decoded mail body (LF line ends).

    Returns:
        The remaining text, blank-line runs collapsed; "" when nothing new is left.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    lines = lines[: quote_start(lines)]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    lines = lines[: signature_start(lines)]
    cleaned = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", cleaned)
