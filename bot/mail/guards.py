"""When the e-mail channel must not answer automatically.

Two kinds of guard:

* loop guards (:func:`no_reply_reason`): the message comes from a robot (an out-of-office
  reply, a bounce, a newsletter, a no-reply address, our own mailbox). Answering would start
  a mail loop or spam a list, so the message is skipped (RFC 3834, section 2);
* a human is needed (:func:`is_complaint`): an angry complaint or a legal threat gets a
  person, not a canned answer. Low NLU confidence and explicit handoff requests are decided
  by the processor from the NLU result.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from email.message import Message

from bot.mail.parsing import header_text

# Local parts of robot senders: bounces, list servers and the no-reply family.
_ROBOT_LOCAL_PART = re.compile(
    r"^(?:mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|ne[-_.]?pas[-_.]?repondre|"
    r"bounces?|listserv|majordomo|auto[-_.]?reply|autoresponder)(?:[-+._].*)?$"
    r"|^.*[-_.+]no[-_.]?reply$",
    re.IGNORECASE,
)
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
# Out-of-office replies from servers that set none of the headers above (older Exchange,
# some webmails) still say so in the subject.
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?reply|autoreply|auto|out of (?:the )?office|"
    r"réponse automatique|reponse automatique|absence(?: du bureau)?|absent|"
    r"abwesenheitsnotiz|automatische antwort)\s*[:\-]",
    re.IGNORECASE,
)

# Words of an angry complaint or a legal threat, accents folded, in both languages.
COMPLAINT_WORDS = (
    # French
    "inadmissible",
    "inacceptable",
    "scandale",
    "scandaleux",
    "scandaleuse",
    "honteux",
    "honteuse",
    "une honte",
    "avocat",
    "avocats",
    "plainte",
    "porter plainte",
    "tribunal",
    "mise en demeure",
    "arnaque",
    "arnaqueur",
    "arnaqueurs",
    "escroc",
    "escrocs",
    "escroquerie",
    "voleurs",
    "furieux",
    "furieuse",
    "lamentable",
    "inadmissibles",
    "dgccrf",
    "litige",
    "proces",
    "honte",
    # English
    "furious",
    "lawyer",
    "lawyers",
    "attorney",
    "unacceptable",
    "worst",
    "scam",
    "scammers",
    "fraud",
    "disgrace",
    "disgraceful",
    "outrageous",
    "appalling",
    "disgusted",
    "sue",
    "legal action",
    "complaint",
    "small claims",
    "ripped off",
    "rip-off",
    "rip off",
    "thieves",
    "ridiculous",
)
_COMPLAINT = re.compile(r"\b(?:" + "|".join(re.escape(word) for word in COMPLAINT_WORDS) + r")\b")


def fold(text: str) -> str:
    """Lower case without accents (``"Inadmissible, Procès"`` -> ``"inadmissible, proces"``)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def is_robot_address(address: str) -> bool:
    """Whether the address belongs to a bounce handler, a list server or a no-reply mailbox."""
    local_part = address.rsplit("@", 1)[0]
    return bool(_ROBOT_LOCAL_PART.match(local_part))


def no_reply_reason(message: Message, *, sender: str, own_addresses: Collection[str]) -> str | None:
    """Why a message must not get an automatic reply, None when it may.

    Args:
        message: the parsed inbound message (its headers are read).
        sender: the From address, lower-cased.
        own_addresses: our mailboxes, lower-cased (a message from one of them would loop).

    Returns:
        A short reason (stored on the inbox row), or None.
    """
    auto_submitted = header_text(message, "Auto-Submitted")
    if auto_submitted and auto_submitted.split(";")[0].strip().lower() != "no":
        return "auto_submitted"
    precedence = (header_text(message, "Precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"precedence_{precedence}"
    if any(header_text(message, name) for name in _LIST_HEADERS):
        return "mailing_list"
    if any(header_text(message, name) is not None for name in _AUTOREPLY_HEADERS):
        return "autoreply_header"
    return_path = header_text(message, "Return-Path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        # The null reverse-path is how bounces and other notifications are sent.
        return "null_return_path"
    if message.get_content_type() == "multipart/report":
        return "delivery_report"
    if sender in own_addresses:
        return "own_address"
    if is_robot_address(sender):
        return "robot_sender"
    if _AUTO_SUBJECT.match(header_text(message, "Subject") or ""):
        return "auto_reply_subject"
    return None


def is_complaint(text: str) -> bool:
    """Whether the text is an angry complaint or a legal threat (a human must answer)."""
    return bool(_COMPLAINT.search(fold(text)))
