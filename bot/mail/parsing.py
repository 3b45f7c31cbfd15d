"""Inbound mail: from raw bytes (or a webhook's JSON form) to a :class:`ParsedMail`.

Mail in the wild is messy, so decoding is lenient where it can be and strict only where an
answer would be impossible:

* the body is the ``text/plain`` alternative, else the HTML one turned into text, with the
  transfer encoding (quoted-printable, base64, 8bit) undone and the declared charset applied;
  a charset label of ``iso-8859-1`` / ``us-ascii`` is read as ``windows-1252`` (as browsers do:
  Outlook labels its cp1252 curly quotes and euro signs so) and an unknown or wrong label falls
  back to UTF-8, then cp1252, never to an exception;
* a message without a header section, without a usable ``From`` address or without any text
  is a :class:`~bot.errors.MalformedMailError`: there is nobody or nothing to answer.

Webhook services that parse the mail themselves post a JSON form (``from``, ``to``,
``subject``, ``text``, ``html``, ``headers``); :func:`message_from_json` turns it back into an
RFC 5322 message, so the inbox stores one format and the rest of the pipeline reads one format.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import MalformedMailError

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit, and the inbox column's size
# Longer ids (legal, absurd) are replaced by a digest: the inbox column holds 998 characters.
_MAX_MESSAGE_ID_LENGTH = 998
# Headers that tell which of our mailboxes a message was delivered to, most specific first.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")
# --- caps on headers: every header a mail can send is hostile --------------------------
#
# The standard library's header parser (email.headerregistry, what policy.default runs on each
# access to a header) is quadratic on some values: 16,000 characters of '"' in a To header take
# 14 s, of ';' in a Content-Type 3 s, 20,000 recipients 9 s, and it runs again on every access
# and when a message is written out. So (measured in tests/hostile/test_text_processing.py):
#: A header value longer than this makes the mail "over the caps" (handed to a person), and is
#: cut to it before anything reads it; a JSON form's value longer than this is dropped. No mail
#: to a shop's support needs more (RFC 5322 folds at 998).
MAX_HEADER_CHARS = 16_000
#: A mail naming more recipients (To + Cc) than this is no mail to a support address: over the
#: caps (a JSON form: malformed). Only the first ones are read.
MAX_RECIPIENTS = 100
#: The standard library's parser of structured headers (addresses, Content-Type, Message-ID,
#: Date...) never sees more than this many characters of one value: under 0.1 s whatever they
#: are. Recipient lists are read by the linear email.utils parser instead.
MAX_PARSED_HEADER_CHARS = 1_000
#: A message with more header fields than this is over the caps (each access to a header scans
#: them all).
MAX_HEADER_FIELDS = 500
# Structural headers of a JSON form that must not be copied onto the rebuilt message: the body
# is rebuilt from `text`/`html`, with its own MIME structure.
_STRUCTURAL_HEADERS = frozenset(
    {"content-type", "content-transfer-encoding", "mime-version", "content-length"}
)
# Charset labels whose bytes 0x80-0x9f are, in real mail, almost always windows-1252.
_READ_AS_CP1252 = frozenset({"ascii", "latin-1", "iso8859-1"})
# Headers read as address lists with email.utils.getaddresses (linear), not the registry.
_RECIPIENT_LIST_HEADERS = frozenset(name.lower() for name in (*RECIPIENT_HEADERS, "Bcc"))
# Message ids, read as written (a linear pattern finds the <id>s), not by the registry.
_READ_RAW = frozenset({"message-id", "in-reply-to", "references"})
_REGISTRY = HeaderRegistry()


def _is_structured(name: str) -> bool:
    return not issubclass(_REGISTRY[name], UnstructuredHeader)


class BoundedPolicy(EmailPolicy):
    """``policy.default`` whose header parser never sees more than the caps of a value.

    Structured headers are cut at :data:`MAX_PARSED_HEADER_CHARS`, the others at
    :data:`MAX_HEADER_CHARS`, before the header registry parses them, so reading any header of
    any part of a hostile mail costs at most a few milliseconds. The raw values
    (``raw_items()``) and the stored bytes stay whole.
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        """The parsed header, from at most the caps' characters of ``value``."""
        if isinstance(value, str):
            cap = MAX_PARSED_HEADER_CHARS if _is_structured(name) else MAX_HEADER_CHARS
            if len(value) > cap:
                value = value[:cap]
        return super().header_fetch_parse(name, value)


#: The policy inbound mail is parsed with (every reader of a stored mail uses it).
INBOUND_POLICY = BoundedPolicy()
#: For writing a message that carries an inbound mail (a forward): SMTP's line ends, the
#: inbound headers written as they came instead of being parsed again to be folded, and the
#: same caps (the generator reads the carried mail's headers with the policy it writes with).
FORWARD_POLICY = INBOUND_POLICY.clone(linesep="\r\n", refold_source="none")


@dataclass(frozen=True)
class ParsedMail:
    """What the pipeline needs from an inbound message.

    Attributes:
        message: the parsed message (headers for the loop guards, the original to forward).
        sender: the From address, lower-cased.
        sender_name: the From display name ("" when none).
        recipients: every address the message was delivered to (see RECIPIENT_HEADERS),
            lower-cased, in header order.
        subject: the decoded subject ("" when none).
        message_id: the Message-ID header with its angle brackets, None when absent or unusable.
        in_reply_to: the In-Reply-To message id, None when absent.
        references: the References message ids, oldest first.
        date: the Date header as written, None when absent.
        text: the decoded body text (quoted history and signature still in).
        over_caps: why the mail's headers are over the caps (too many recipients, header
            fields or characters), None when they are not: such a mail goes to a person.
    """

    message: EmailMessage
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: str | None
    text: str
    over_caps: str | None = None

    @property
    def thread_root(self) -> str | None:
        """The first message of the thread: the oldest reference, else this message."""
        if self.references:
            return self.references[0]
        return self.in_reply_to or self.message_id


def parse_bytes(raw: bytes) -> EmailMessage:
    """Parses raw RFC 5322 bytes (CRLF or LF line ends) into a message.

    Raises:
        MalformedMailError: the bytes have no header section at all.
    """
    try:
        message = BytesParser(policy=INBOUND_POLICY).parsebytes(raw)
    except Exception as exc:  # noqa: BLE001 - the parser's failures are not documented
        raise MalformedMailError(f"The body is not an RFC 5322 message: {exc}") from exc
    if not isinstance(message, EmailMessage) or not message.keys():
        raise MalformedMailError(
            "The body is not an RFC 5322 message: no header section was found."
        )
    return message


def read_mail(raw: bytes) -> ParsedMail:
    """Parses and checks an inbound message.

    Args:
        raw: the message as received.

    Returns:
        The parsed mail.

    Raises:
        MalformedMailError: no header section, no usable From address, or no text body.
    """
    message = parse_bytes(raw)
    return read_message(message)


def read_message(message: EmailMessage) -> ParsedMail:
    """Reads an already parsed message into a :class:`ParsedMail`.

    Raises:
        MalformedMailError: no usable From address, or no text body.
    """
    sender_name, sender = from_address(message)
    text = body_text(message)
    if not text.strip():
        raise MalformedMailError("The message has no text body.")
    return ParsedMail(
        message=message,
        sender=sender,
        sender_name=sender_name,
        recipients=recipient_addresses(message),
        subject=header_text(message, "Subject") or "",
        message_id=message_id_of(message),
        in_reply_to=first_message_id(header_text(message, "In-Reply-To")),
        references=tuple(_MSG_ID.findall(header_text(message, "References") or "")),
        date=header_text(message, "Date"),
        text=text,
        over_caps=over_caps(message),
    )


# --- headers ---------------------------------------------------------------------------


def header_text(message: Message, name: str) -> str | None:
    """A header's decoded value, None when absent.

    A header the parser cannot decode (bad RFC 2047, broken address syntax) is returned as
    written instead of raising: a loop guard must still be able to read it.
    """
    if name.lower() in _READ_RAW:
        raw = _raw_values(message, name)
        return raw[0][:MAX_HEADER_CHARS] if raw else None
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - header parsing errors vary by header class
        value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    return " ".join(str(value).split())


def is_address(value: str) -> bool:
    """Whether ``value`` looks like a deliverable ``local@domain`` address (RFC 5321 length)."""
    return len(value) <= _MAX_ADDRESS_LENGTH and bool(_ADDRESS.match(value))


def _addresses(value: str | None) -> list[tuple[str, str]]:
    """The (name, lower-cased address) pairs of an address list, from at most
    :data:`MAX_HEADER_CHARS` of it (email.utils' parser: linear, unlike the registry's)."""
    if not value:
        return []
    try:
        pairs = getaddresses([value[:MAX_HEADER_CHARS]])
    except RecursionError:  # thousands of nested '(' or ':'
        return []
    return [(name, addr.strip().lower()) for name, addr in pairs if addr]


def _raw_values(message: Message, name: str) -> list[str]:
    """The values of every ``name`` header as written (never parsed), unfolded."""
    wanted = name.lower()
    return [
        " ".join(str(value).split()) for key, value in message.raw_items() if key.lower() == wanted
    ]


def over_caps(message: Message) -> str | None:
    """Why a message's headers are over the caps, None when they are not.

    Linear in the size of the header section: the raw values are measured, and the recipients
    counted with the linear parser.
    """
    items = list(message.raw_items())
    if len(items) > MAX_HEADER_FIELDS:
        return f"{len(items)} header fields (at most {MAX_HEADER_FIELDS})"
    for name, value in items:
        size = len(str(value))
        if size > MAX_HEADER_CHARS:
            return f"a {name[:40]} header of {size} characters (at most {MAX_HEADER_CHARS})"
        if (
            size > MAX_PARSED_HEADER_CHARS
            and name.lower() not in _RECIPIENT_LIST_HEADERS | _READ_RAW
            and _is_structured(name)
        ):
            return f"a {name[:40]} header of {size} characters (at most {MAX_PARSED_HEADER_CHARS})"
    recipients = sum(
        len(_addresses(value)) for name in ("To", "Cc") for value in _raw_values(message, name)
    )
    if recipients > MAX_RECIPIENTS:
        return f"{recipients} recipients (at most {MAX_RECIPIENTS})"
    return None


def from_address(message: Message) -> tuple[str, str]:
    """The (display name, lower-cased address) of the From header.

    Raises:
        MalformedMailError: no From header, or no usable address in it.
    """
    raw_from = header_text(message, "From")
    if not raw_from:
        raise MalformedMailError("The message has no From header.")
    for name, address in _addresses(raw_from):
        if is_address(address):
            return name, address
    raise MalformedMailError(f"The From header has no usable address: {raw_from[:200]!r}.")


def recipient_addresses(message: Message) -> tuple[str, ...]:
    """Every address of RECIPIENT_HEADERS, lower-cased, without duplicates: the first
    :data:`MAX_RECIPIENTS`, read from the raw values with the linear address parser."""
    seen: dict[str, None] = {}
    for name in RECIPIENT_HEADERS:
        for value in _raw_values(message, name):
            for _display, address in _addresses(value):
                if is_address(address):
                    seen.setdefault(address, None)
                    if len(seen) >= MAX_RECIPIENTS:
                        return tuple(seen)
    return tuple(seen)


def first_message_id(value: str | None) -> str | None:
    """The first ``<id>`` of a header value, None when there is none."""
    if not value:
        return None
    match = _MSG_ID.search(value)
    if match is None:
        return None
    found = match.group(0)
    if len(found) > _MAX_MESSAGE_ID_LENGTH:
        return content_digest_id(found.encode("utf-8", errors="replace"))
    return found


def message_id_of(message: Message) -> str | None:
    """The message's own Message-ID (``<...>``), None when absent or unusable."""
    return first_message_id(header_text(message, "Message-ID"))


def content_digest_id(content: bytes) -> str:
    """A stable Message-ID for a message that has none, from a digest of its content.

    The same content posted twice gets the same id, so a webhook's retry of a message
    without a Message-ID is still recognised as a duplicate.
    """
    return f"<{hashlib.sha256(content).hexdigest()[:40]}@no-message-id.invalid>"


# --- body ------------------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decodes a body part's bytes by its declared charset, never failing.

    Args:
        data: the bytes, transfer encoding already undone.
        charset: the declared charset label, if any.

    Returns:
        The text: with the declared charset when it works (latin-1 and ASCII labels read as
        windows-1252), else UTF-8, else windows-1252, else latin-1 (which decodes any byte).
    """
    candidates: list[str] = []
    label = (charset or "").strip().strip('"').lower()
    try:
        canonical = codecs.lookup(label).name if label else ""
    except LookupError:
        logger.debug("Unknown charset label %r; trying UTF-8 and cp1252", label)
        canonical = ""
    if canonical in _READ_AS_CP1252:
        candidates.append("cp1252")
    elif canonical:
        candidates.append(canonical)
    candidates += ["utf-8", "cp1252", "latin-1"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError):
            # LookupError: a label naming a codec that is no text encoding ("base64", "zlib",
            # "rot13": a hostile mail's charset); UnicodeError: bytes it cannot decode.
            continue
    return data.decode("utf-8", errors="replace")  # unreachable: latin-1 decodes any byte


def part_text(part: Message) -> str:
    """A text part's content as a string (transfer encoding and charset undone)."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return decode_bytes(payload, part.get_content_charset())
    return ""


def body_text(message: EmailMessage) -> str:
    """The message's text: the plain alternative, else the HTML one as text, else "".

    A plain part that is empty (some mailers send an empty text/plain next to the HTML one)
    does not hide the HTML part.
    """
    for subtype in ("plain", "html"):
        try:
            part = message.get_body(preferencelist=(subtype,))
        except Exception:  # noqa: BLE001 - a broken MIME tree: try the other alternative
            logger.debug("get_body(%s) failed", subtype, exc_info=True)
            continue
        if part is None or part.get_content_maintype() != "text":
            continue
        text = part_text(part)
        if subtype == "html":
            text = html_to_text(text)
        text = normalise_newlines(text)
        if text.strip():
            return text
    return ""


def normalise_newlines(text: str) -> str:
    """LF line ends, no trailing spaces, no NUL or other control characters but tab/LF."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = "".join(ch for ch in text if ch in "\n\t" or ch >= " ")
    return "\n".join(line.rstrip() for line in text.split("\n"))


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML mail, block elements on their own lines.

    Quoted history is dropped here already: ``<blockquote>`` and Gmail's / Outlook's quote
    containers are where mailers put the previous messages.
    """

    _BLOCKS = frozenset(
        {
            "p",
            "div",
            "br",
            "tr",
            "li",
            "ul",
            "ol",
            "table",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr",
            "pre",
            "section",
            "article",
            "header",
            "footer",
            "address",
        }
    )
    _INVISIBLE = frozenset({"script", "style", "head", "title", "template"})
    _QUOTE_CLASSES = frozenset({"gmail_quote", "yahoo_quoted", "moz-cite-prefix", "gmail_extra"})
    _QUOTE_IDS = frozenset(
        {"divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"}
    )
    _VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0  # > 0 inside an invisible or quoted element
        self._stack: list[bool] = []  # per open element: does it start a skipped region?
        self._cut = False  # Outlook's reply header: everything after it is history

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name.lower(): (value or "") for name, value in attrs}
        classes = set(attributes.get("class", "").lower().split())
        element_id = attributes.get("id", "").lower()
        if element_id in {"divrplyfwdmsg", "appendonsend"}:
            self._cut = True
        skipped = (
            tag in self._INVISIBLE
            or tag == "blockquote"
            or bool(classes & self._QUOTE_CLASSES)
            or element_id in self._QUOTE_IDS
        )
        if tag in self._BLOCKS:
            self.parts.append("\n")
        if tag in self._VOID:
            return
        self._stack.append(skipped)
        if skipped:
            self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._VOID:
            return
        if self._stack:
            skipped = self._stack.pop()
            if skipped:
                self._skip_depth -= 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0 and not self._cut:
            self.parts.append(" ".join(data.split()) if not data.isspace() else " ")


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, one block per line, quoted history left out."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; keep what was read so far
        logger.debug("HTML body could not be fully parsed", exc_info=True)
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    # Collapse the runs of empty lines the nested blocks leave behind.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- the JSON form of inbound-parse webhooks ------------------------------------------


class JsonMail(BaseModel):
    """The JSON form of a mail, as inbound-parse webhooks post it (SendGrid, Mailgun style).

    ``headers`` may be an object (``{"Message-ID": "<...>"}``), a list of ``[name, value]``
    pairs (Mailgun's ``message-headers``) or the raw header block as one string (SendGrid).
    Unknown fields are ignored.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    to: str | list[str] | None = None
    cc: str | list[str] | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] | list[tuple[str, str]] | str | None = None


def _header_pairs(
    headers: dict[str, str] | list[tuple[str, str]] | str | None,
) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    if isinstance(headers, list):
        return list(headers)
    block = BytesParser(policy=policy.compat32).parsebytes(
        headers.encode("utf-8", errors="replace") + b"\n\n", headersonly=True
    )
    return [(name, str(value)) for name, value in block.items()]


def _joined(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    return ", ".join(value) if isinstance(value, list) else value


def message_from_json(data: Mapping[str, Any]) -> tuple[bytes, str]:
    """Rebuilds an RFC 5322 message from a webhook's JSON form.

    Args:
        data: the decoded JSON object.

    Returns:
        The message bytes and its Message-ID (the form's, else a digest of the form).

    Raises:
        MalformedMailError: the form is not an object of the documented shape.
    """
    try:
        form = JsonMail.model_validate(data)
    except ValidationError as exc:
        raise MalformedMailError(f"The JSON form is not a mail: {exc.errors()[0]['msg']}") from exc
    entries = [
        entry
        for field_value in (form.to, form.cc)
        for entry in ([field_value] if isinstance(field_value, str) else field_value or [])
    ]
    # A list longer than the cap is refused before any entry is read; then each entry may
    # itself be a list of addresses ("a@x, b@y"), counted with the linear parser.
    count = len(entries)
    if count <= MAX_RECIPIENTS:
        count = sum(max(1, len(_addresses(entry))) for entry in entries)
    if count > MAX_RECIPIENTS:
        raise MalformedMailError(
            f"The JSON form names {count} recipients (at most {MAX_RECIPIENTS})."
        )
    message = EmailMessage(policy=policy.default)
    for name, value in _header_pairs(form.headers):
        if name.lower() in _STRUCTURAL_HEADERS:
            continue
        _set_header(message, name, value)
    top_level: list[tuple[str, str | None]] = [
        ("From", form.from_),
        ("To", _joined(form.to)),
        ("Cc", _joined(form.cc)),
        ("Subject", form.subject),
    ]
    for name, field_value in top_level:
        if field_value is not None:
            del message[name]
            _set_header(message, name, field_value)
    message_id = message_id_of(message)
    if message_id is None:
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        message_id = content_digest_id(canonical.encode("utf-8"))
        del message["Message-ID"]
        message["Message-ID"] = message_id
    text, html = form.text or "", form.html or ""
    if text and html:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text)
    try:
        raw = message.as_bytes()
    except Exception as exc:  # noqa: BLE001 - e.g. an address header policy cannot fold
        raise MalformedMailError(f"The JSON form cannot be turned into a message: {exc}") from exc
    return raw, message_id


def _set_header(message: EmailMessage, name: str, value: str) -> None:
    if name.lower() in _RECIPIENT_LIST_HEADERS:
        # Rewritten from the linear parser's reading: the registry would parse the value as
        # sent (quadratic on some values), the addresses alone are what routing needs.
        value = ", ".join(address for _name, address in _addresses(value) if is_address(address))
        if not value:
            return
    cap = MAX_PARSED_HEADER_CHARS if _is_structured(name) else MAX_HEADER_CHARS
    if len(value) > cap:
        logger.warning("Dropped the %s header of a JSON mail: %d characters", name, len(value))
        return
    try:
        message[name] = value
    except Exception as exc:  # noqa: BLE001 - the header parser's failures are not documented
        # A CR/LF in a value (header injection) or an unparseable structured header (the
        # standard library raises ValueError, TypeError, even IndexError on a lone '"'): the
        # header is dropped, the message is still usable.
        logger.warning("Dropped the %s header of a JSON mail: %s", name, exc)


def display_address(name: str, address: str) -> str:
    """``"Name <address>"`` with the name encoded as the headers need."""
    username, _, domain = address.partition("@")
    return str(Address(display_name=name, username=username, domain=domain))
