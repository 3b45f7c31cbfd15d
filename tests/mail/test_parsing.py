"""Decoding inbound mail: transfer encodings, charsets, HTML-only mail, the JSON form."""

from __future__ import annotations

import base64
import quopri
from typing import Any

import pytest

from bot.errors import MalformedMailError
from bot.mail import parsing
from bot.mail.parsing import (
    MAX_HEADER_CHARS,
    decode_bytes,
    html_to_text,
    message_from_json,
    read_mail,
)
from tests.mail.helpers import BTOMIC_SUPPORT, OM_SUPPORT, make_mail

HEADERS = (
    "From: =?iso-8859-1?q?Ren=E9e_L=E9ger?= <Renee.Leger@Example.FR>\r\n"
    f"To: {OM_SUPPORT}\r\n"
    "Subject: =?utf-8?b?UsOpZi4gOiBjb21tYW5kZQ==?=\r\n"
    "Message-ID: <abc@example.fr>\r\n"
    "MIME-Version: 1.0\r\n"
)


def raw_mail(content_headers: str, body: bytes) -> bytes:
    return (HEADERS + content_headers + "\r\n").encode("ascii") + body


def test_quoted_printable_utf8() -> None:
    text = "Où est ma commande ? Merci d'avance, Renée — à bientôt €"
    body = quopri.encodestring(text.encode("utf-8"))
    parsed = read_mail(
        raw_mail(
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n",
            body,
        )
    )
    assert parsed.text == text
    assert parsed.sender == "renee.leger@example.fr"
    assert parsed.sender_name == "Renée Léger"
    assert parsed.subject == "Réf. : commande"
    assert parsed.message_id == "<abc@example.fr>"


def test_base64_iso_8859_1() -> None:
    text = "Bonjour, je n'ai pas reçu mon colis. Où est-il ?"
    body = base64.encodebytes(text.encode("iso-8859-1"))
    parsed = read_mail(
        raw_mail(
            "Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: base64\r\n",
            body,
        )
    )
    assert parsed.text.strip() == text


def test_windows_1252_bytes_labelled_iso_8859_1_are_read_as_windows_1252() -> None:
    # Outlook's curly apostrophe (0x92), euro (0x80) and dash (0x96) under a latin-1 label.
    body = "J\x92ai payé 50 \x80 \x96 où est ma commande ?".encode("latin-1")
    parsed = read_mail(
        raw_mail(
            "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n",
            body,
        )
    )
    assert parsed.text == "J’ai payé 50 € – où est ma commande ?"


def test_windows_1252_declared() -> None:
    body = quopri.encodestring("L’été dernier… “merci”".encode("cp1252"))
    parsed = read_mail(
        raw_mail(
            "Content-Type: text/plain; charset=windows-1252\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n",
            body,
        )
    )
    assert parsed.text == "L’été dernier… “merci”"


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("café".encode(), None, "café"),  # no label: UTF-8 first
        ("café".encode("cp1252"), None, "café"),  # no label, not UTF-8: cp1252
        ("café".encode(), "x-unknown-charset", "café"),  # unknown label
        ("café".encode("cp1252"), "utf-8", "café"),  # wrong label
        ("café".encode(), "us-ascii", "cafÃ©"),  # ascii label read as cp1252 (browsers do)
        (b"\x81\x8d", "windows-1252", "\x81\x8d"),  # bytes cp1252 leaves undefined: latin-1
    ],
)
def test_decode_bytes_never_fails(data: bytes, label: str | None, expected: str) -> None:
    assert decode_bytes(data, label) == expected


def test_multipart_alternative_prefers_the_plain_part() -> None:
    raw = make_mail(body="Texte brut ?", html="<p>Texte <b>HTML</b> ?</p>")
    assert read_mail(raw).text.strip() == "Texte brut ?"


def test_empty_plain_part_falls_back_to_html() -> None:
    raw = make_mail(body="\n", html="<p>Seulement en HTML ?</p>")
    assert read_mail(raw).text.strip() == "Seulement en HTML ?"


def test_html_only_mail_is_turned_into_text() -> None:
    html = (
        "<html><head><style>p {color: red}</style><title>x</title></head><body>"
        "<div>Bonjour,</div><div><br></div><p>O&ugrave; est ma commande&nbsp;OM-104233&#8239;?"
        "</p><script>alert(1)</script>"
        '<div class="gmail_quote">Le lun., Service a écrit :<blockquote>Ancien message'
        "</blockquote></div></body></html>"
    )
    parsed = read_mail(make_mail(body="", html=html))
    # Every kind of space (here a narrow no-break one) becomes a plain space.
    assert parsed.text == "Bonjour,\n\nOù est ma commande OM-104233 ?"


def test_html_to_text_drops_outlook_reply_history() -> None:
    html = (
        '<p>Ma question&nbsp;?</p><div id="divRplyFwdMsg"><b>De :</b> Service</div>'
        "<div>Ancien texte</div>"
    )
    assert html_to_text(html) == "Ma question ?"


def test_recipients_and_thread_headers() -> None:
    raw = make_mail(
        to=f"Other <other@example.com>, BTOMIC <{BTOMIC_SUPPORT.upper()}>",
        headers={
            "Cc": "copy@example.com",
            "In-Reply-To": "<p2@btomic.com>",
            "References": "<p1@example.com>   <p2@btomic.com>",
        },
    )
    parsed = read_mail(raw)
    assert parsed.recipients == ("other@example.com", BTOMIC_SUPPORT, "copy@example.com")
    assert parsed.in_reply_to == "<p2@btomic.com>"
    assert parsed.references == ("<p1@example.com>", "<p2@btomic.com>")
    assert parsed.thread_root == "<p1@example.com>"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"just some text, no headers", "no header section"),
        (b"\x00\xff\xfe binary garbage", "no header section"),
        (make_mail(sender=""), "no From header"),
        (b"From: <<<>>>\r\nSubject: x\r\n\r\nbody", "no usable address"),
        (b"From: nobody\r\nSubject: x\r\n\r\nbody", "no usable address"),
        (make_mail(body="   \n\n"), "no text body"),
    ],
)
def test_malformed_messages_are_refused_with_a_clear_reason(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedMailError, match=message):
        read_mail(raw)


def test_json_form_becomes_a_message() -> None:
    raw, message_id = message_from_json(
        {
            "from": "Marie Dupont <marie.dupont@example.fr>",
            "to": [OM_SUPPORT],
            "subject": "Commande",
            "text": "Où est ma commande ?",
            "html": "<p>Où est ma commande ?</p>",
            "headers": {
                "Message-ID": "<json1@example.fr>",
                "In-Reply-To": "<r@om>",
                "References": "<r@om>",
                "Content-Type": "text/html",  # structural: rebuilt, not copied
                "Auto-Submitted": "no",
            },
            "attachments": 0,  # unknown fields are ignored
        }
    )
    parsed = read_mail(raw)
    assert message_id == parsed.message_id == "<json1@example.fr>"
    assert parsed.sender == "marie.dupont@example.fr"
    assert parsed.recipients == (OM_SUPPORT,)
    assert parsed.text.strip() == "Où est ma commande ?"
    assert parsed.in_reply_to == "<r@om>"
    assert parsed.message["Auto-Submitted"] == "no"


def test_json_headers_as_a_raw_block_or_pairs() -> None:
    block = "Message-ID: <blk@x>\nList-Id: <news.example.com>\n"
    raw, message_id = message_from_json({"from": "a@x.fr", "text": "t", "headers": block})
    assert message_id == "<blk@x>"
    assert read_mail(raw).message["List-Id"] == "<news.example.com>"
    raw, message_id = message_from_json(
        {"from": "a@x.fr", "text": "t", "headers": [["Message-ID", "<pair@x>"]]}
    )
    assert message_id == "<pair@x>"


def test_json_form_without_message_id_gets_a_stable_one() -> None:
    form = {"from": "a@x.fr", "to": OM_SUPPORT, "text": "Bonjour ?"}
    first = message_from_json(form)[1]
    assert first == message_from_json(dict(reversed(list(form.items()))))[1]
    assert first != message_from_json({**form, "text": "Autre ?"})[1]
    assert first.endswith("@no-message-id.invalid>")


def test_json_header_injection_is_dropped() -> None:
    raw, _ = message_from_json(
        {"from": "a@x.fr", "text": "t", "headers": {"X-Evil": "a\r\nBcc: victim@x.fr"}}
    )
    assert b"victim" not in raw and b"X-Evil" not in raw


@pytest.mark.parametrize("form", [{"from": 3, "text": "t"}, {"headers": 42}])
def test_json_of_another_shape_is_malformed(form: dict[str, object]) -> None:
    with pytest.raises(MalformedMailError, match="JSON form"):
        message_from_json(form)


def test_absurdly_long_ids_and_addresses() -> None:
    long_id = "<" + "x" * 1200 + "@example.fr>"
    parsed = read_mail(make_mail(message_id=long_id))
    assert parsed.message_id is not None and len(parsed.message_id) < 100
    with pytest.raises(MalformedMailError, match="no usable address"):
        read_mail(make_mail(sender="a" * 250 + "@example.fr"))


@pytest.mark.parametrize("label", ["zlib", "base64", "rot13", "idna", "punycode", "hex"])
def test_a_charset_naming_a_codec_that_is_no_text_encoding_falls_back(label: str) -> None:
    # A hostile mail's label: Python knows these codecs, but they turn bytes into bytes.
    assert decode_bytes("Où est ma commande ?".encode(), label) == "Où est ma commande ?"


def test_a_json_form_with_thousands_of_recipients_is_malformed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by the hostile corpus: 50,000 addresses in "to" held the webhook for minutes
    # (the standard library parses about one address per millisecond). Refused on the list's
    # length, before any address is parsed: no parser is called, however fast the machine.
    parsed: list[str] = []
    for name in ("_addresses", "getaddresses"):
        real = getattr(parsing, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            parsed.append(_name)
            return _real(*args)

        monkeypatch.setattr(parsing, name, spy)
    form = {
        "from": "marie.dupont@example.fr",
        "to": [f"r{i}@x.com" for i in range(50_000)],
        "subject": "Q",
        "text": "Où est ma commande ?",
    }
    with pytest.raises(MalformedMailError, match="50000 recipients"):
        message_from_json(form)
    assert parsed == []
    # The spies do see a form under the cap (its addresses are parsed, then the mail built).
    message_from_json({**form, "to": form["to"][:3]})
    assert "_addresses" in parsed


def test_a_json_forms_huge_header_is_dropped() -> None:
    form = {
        "from": "marie.dupont@example.fr",
        "to": "eshop.support@om-digitalsolutions.com",
        "subject": "Q" * (MAX_HEADER_CHARS + 1),
        "text": "Où est ma commande ?",
    }
    raw, _message_id = message_from_json(form)
    assert b"QQQQ" not in raw
    assert b"eshop.support@om-digitalsolutions.com" in raw
