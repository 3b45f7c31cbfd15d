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
_HEADER_FROM = re.compile(r"^\s*\*?(?:de|from)\s*\*?\s*:\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(?:envoyé|envoye|sent|date|à|a|to|objet|subject|cc)\s*\*?\s*:", re.IGNORECASE
)
_SIGNATURE_DASHES = re.compile(r"^\s*--\s*$")
_MOBILE = re.compile(
    r"^\s*(?:envoyé|envoye)\s+(?:de|depuis)\s+(?:mon|ma|my)\s+.{1,40}$"
    r"|^\s*sent\s+from\s+(?:my\s+)?.{1,40}$"
    r"|^\s*(?:get|obtenir|télécharger|telecharger)\s+outlook\s+(?:for|pour)\s+.{1,20}$",
    re.IGNORECASE,
)
_SIGN_OFFS = (
    r"cordialement|bien cordialement|très cordialement|tres cordialement|bien à vous|"
    r"bien a vous|sincères salutations|sinceres salutations|salutations distinguées|"
    r"meilleures salutations|salutations|bonne journée|bonne journee|bonne soirée|"
    r"merci d'avance|merci par avance|merci beaucoup|merci|"
    r"best regards|kind regards|warm regards|warmest regards|regards|best wishes|best|"
    r"cheers|sincerely|yours sincerely|yours faithfully|many thanks|thanks in advance|"
    r"thank you in advance|thanks|thank you"
)
# The sign-off alone on its line, possibly followed by a short name ("Cordialement, Marie").
# The name must be capitalised words: "Merci de me dire où est ma commande" is no sign-off.
_SIGN_OFF = re.compile(
    rf"^\s*(?i:{_SIGN_OFFS})[\s,.!-]*(?:[A-ZÀ-Ý][\w'.-]*(?:\s+[A-ZÀ-Ý][\w'.-]*){{0,3}})?[\s.!]*$"
)
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
        if _SIGNATURE_DASHES.match(line) or _MOBILE.match(line):
            return index
        if _SIGN_OFF.match(line) and index > 0:
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
