"""Writes the one reply to a mail, and the forward of a mail left to a human.

The reply is a polite letter in the customer's language: a greeting, the bot's answers in the
order of the questions, a closing, the store's support team signature (``support_team`` in
``data/stores/<store>/facts.yml``), a line saying an assistant wrote it, then the customer's text
quoted. Every sentence of that frame is a text (``part_mail_...`` of
``data/stores/_common/texts.yml``, which a shop may word its own way), live and checked like
the answers. Its headers make it a proper, loop-safe automatic reply (RFC 3834 and RFC 5322):
``In-Reply-To``/``References`` keep the thread, ``Auto-Submitted: auto-replied`` tells other
robots not to answer it, and the ``Subject`` gets exactly one ``Re:``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime

from bot.answers.library import render_part
from bot.errors import ConfigurationError
from bot.i18n import Lang, format_date
from bot.mail.parsing import FORWARD_POLICY, ParsedMail, display_address
from bot.stores import StorePolicy

# Any run of reply/forward prefixes a mailer may have put before the subject, in the
# languages customers write in: "Re:", "RE :", "Réf. :", "AW:", "TR:", "Fwd:", "Re[2]:".
_REPLY_PREFIXES = re.compile(
    r"^\s*(?:(?:re|ré|ref|réf|aw|sv|vs|antw|tr|fw|fwd|wg)\s*(?:\[\d+\]|\(\d+\))?\s*\.?\s*:\s*)+",
    re.IGNORECASE,
)
# A long thread's References header is cut to its first and latest ids (RFC 5322 3.6.4
# allows it; some servers refuse headers longer than a few kilobytes).
_MAX_REFERENCES = 20

logger = logging.getLogger(__name__)


def _text(lang: Lang, key: str, store_id: str | None = None, **values: str) -> str:
    """The frame's sentence ``part_mail_<key>`` in the shop's wording (its texts.yml, else the
    common texts, ``data/stores/_common/texts.yml``), typeset there and checked like any text.

    A shop text that cannot be rendered (a file broken by hand) is logged and the common
    wording is used: the customer's reply still goes out.
    """
    name = f"part_mail_{key}"
    if store_id is not None:
        try:
            return render_part(name, store_id, lang, values)
        except ConfigurationError:
            logger.exception("Cannot render %s for %s; using the common wording", name, store_id)
    return render_part(name, None, lang, values)


def reply_subject(subject: str, lang: Lang, store_id: str | None = None) -> str:
    """``"Re: <subject>"`` with any earlier reply/forward prefixes folded into that one."""
    bare = _REPLY_PREFIXES.sub("", subject).strip()
    return f"Re: {bare or _text(lang, 'no_subject', store_id)}"


def _quote_header(parsed: ParsedMail, lang: Lang, store_id: str) -> str:
    sender = parsed.sender_name or parsed.sender
    when: dt.datetime | None = None
    if parsed.date:
        try:
            when = parsedate_to_datetime(parsed.date)
        except (TypeError, ValueError, IndexError):
            when = None
    if when is None:
        return _text(lang, "wrote", store_id, sender=sender)
    return _text(lang, "wrote_on", store_id, date=format_date(when.date(), lang), sender=sender)


def compose_body(
    *,
    lang: Lang,
    store: StorePolicy,
    answers: Sequence[str],
    parsed: ParsedMail,
    customer_text: str,
    rest_handed_over: bool = False,
) -> str:
    """The text of the reply.

    Args:
        lang: the customer's language.
        store: the store answering (its support team signs).
        answers: the bot's answer to each question, in order; identical answers (two
            questions with one answer) appear once.
        parsed: the inbound mail (for the quotation header).
        customer_text: what the customer wrote, quoted at the end.
        rest_handed_over: part of the mail was left to a person: the reply says so after
            the answers.
    """
    unique: list[str] = []
    for answer in answers:
        if answer.strip() and answer.strip() not in unique:
            unique.append(answer.strip())
    quoted = "\n".join(f"> {line}".rstrip() for line in customer_text.strip().split("\n"))
    shop = store.id
    paragraphs = [
        _text(lang, "greeting", shop),
        *unique,
        *([_text(lang, "rest_handed_over", shop)] if rest_handed_over else []),
        _text(lang, "closing", shop),
        _text(lang, "regards", shop),
        f"-- \n{_text(lang, 'automatic', shop)}",
        f"{_quote_header(parsed, lang, shop)}\n{quoted}",
    ]
    return "\n\n".join(paragraphs) + "\n"


def new_message_id(address: str) -> str:
    """A new, globally unique Message-ID in the domain of ``address``.

    Shorter than :func:`email.utils.make_msgid`'s, so the header fits on one line: a folded
    Message-ID is legal but some mail clients then fail to thread the reply.
    """
    return f"<{uuid.uuid4().hex}@{address.rsplit('@', 1)[1]}>"


def _references(parsed: ParsedMail) -> list[str]:
    chain = list(parsed.references)
    if parsed.message_id and parsed.message_id not in chain:
        chain.append(parsed.message_id)
    if len(chain) > _MAX_REFERENCES:
        chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
    return chain


def build_reply(
    *,
    parsed: ParsedMail,
    store: StorePolicy,
    lang: Lang,
    body: str,
    now: dt.datetime,
) -> EmailMessage:
    """The reply message, ready for SMTP.

    The reply goes to the From address only, never to a Reply-To: the From address is what
    the order lookups took as proof, so an order's details can only reach that mailbox.
    """
    support = store.contact.email
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = display_address(store.display_name.in_language(lang), support)
    message["To"] = display_address(parsed.sender_name, parsed.sender)
    message["Subject"] = reply_subject(parsed.subject, lang, store.id)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(support)
    if parsed.message_id:
        message["In-Reply-To"] = parsed.message_id
    references = _references(parsed)
    if references:
        message["References"] = " ".join(references)
    # RFC 3834: marks the message as an automatic reply, so that well-behaved robots
    # (out-of-office, other assistants) do not answer it.
    message["Auto-Submitted"] = "auto-replied"
    # Exchange/Outlook: do not send out-of-office or read receipts back to this message.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(body)
    # After set_content(), which drops every Content-* header set before it.
    message["Content-Language"] = lang
    return message


#: RFC 5321's limit on a line, CRLF included: SMTP servers refuse longer lines ("500 Line too
#: long"), so an original with one cannot travel as a message/rfc822 part.
SMTP_MAX_LINE = 1000


def fits_smtp(raw: bytes) -> bool:
    """Whether every line of ``raw`` fits SMTP's line limit (linear)."""
    return all(len(line) <= SMTP_MAX_LINE - 2 for line in raw.replace(b"\r\n", b"\n").split(b"\n"))


def build_forward(
    *,
    original: EmailMessage | None,
    original_raw: bytes,
    store: StorePolicy,
    forward_to: str,
    reason: str,
    customer: str | None,
    excerpt: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """The forward of a mail left to a human: a short note with the original attached.

    ``Reply-To`` is the customer, so the agent's answer goes straight to them. The original
    (``original_raw``, as stored) is attached as a message (``message/rfc822``) when SMTP can
    carry it, else as the file ``original.eml``, base64 (a header or body line longer than
    SMTP's limit, or ``original`` None: a mail the parser cannot rebuild, MIME nested past its
    stack), so the person gets every byte of it either way.
    """
    support = store.contact.email
    subject = " ".join(((original.get("Subject") if original is not None else None) or "").split())
    # The original's headers are written as they came, never parsed again to be folded
    # (the standard library's parser is quadratic on some values: bot/mail/parsing.py).
    message = EmailMessage(policy=FORWARD_POLICY)
    message["From"] = display_address(f"{store.name} assistant", support)
    message["To"] = forward_to
    if customer:
        message["Reply-To"] = customer
    message["Subject"] = f"[{store.name}] handoff ({reason}): {subject}".strip()
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(support)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(
        "The assistant did not answer this mail automatically.\n\n"
        f"Store: {store.name} ({store.id})\n"
        f"Reason: {reason}\n"
        f"Customer: {customer or 'unknown'}\n\n"
        f"{excerpt or ''}\n\n"
        "The original message is attached.\n"
    )
    if original is not None and fits_smtp(original_raw):
        message.add_attachment(original)
    else:
        message.add_attachment(
            original_raw,
            maintype="application",
            subtype="octet-stream",
            filename="original.eml",
        )
    return message
