"""SMTP_URL forms, and sending through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.errors import ConfigurationError, MailDeliveryError
from bot.mail.smtp import SmtpConfig, SmtpSender
from devstack.stack import free_port
from tests.mail.helpers import SmtpServer


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", SmtpConfig("127.0.0.1", 2525, "plain")),
        ("smtp://mail.example.com", SmtpConfig("mail.example.com", 25, "plain")),
        (
            "smtp+starttls://user:p%40ss@mail.example.com:587",
            SmtpConfig("mail.example.com", 587, "starttls", "user", "p@ss"),
        ),
        (
            "smtp://user:secret@mail.example.com:587?starttls=1",
            SmtpConfig("mail.example.com", 587, "starttls", "user", "secret"),
        ),
        (
            "smtp://u%2Bx:pw@mail.example.com?starttls=true",
            SmtpConfig("mail.example.com", 587, "starttls", "u+x", "pw"),
        ),
        ("smtps://u:pw@mail.example.com", SmtpConfig("mail.example.com", 465, "tls", "u", "pw")),
        ("smtp+ssl://mail.example.com:2465", SmtpConfig("mail.example.com", 2465, "tls")),
    ],
)
def test_smtp_url_forms(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.com", "scheme"),
        ("smtp://", "no host"),
        ("smtp://mail.example.com:notaport", "port"),
    ],
)
def test_bad_smtp_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SmtpConfig.from_url(url)


def test_describe_never_shows_the_password() -> None:
    assert "secret" not in SmtpConfig.from_url("smtp://u:secret@h:25").describe()


def message(to: str = "marie@example.fr") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "service@btomic.com"
    mail["To"] = to
    mail["Subject"] = "Re: test"
    mail["Message-ID"] = "<t1@btomic.com>"
    mail.set_content("Bonjour, réponse accentuée.")
    return mail


def test_sends_to_a_real_server(smtp_server: SmtpServer) -> None:
    SmtpSender(SmtpConfig.from_url(smtp_server.url), timeout_s=5).send(message())
    (received,) = smtp_server.received
    assert received.mail_from == "service@btomic.com"
    assert received.rcpt_tos == ["marie@example.fr"]
    assert received.text == "Bonjour, réponse accentuée.\n"


def test_refusal_is_a_delivery_error(smtp_server: SmtpServer) -> None:
    smtp_server.refuse_next(1)
    with pytest.raises(MailDeliveryError, match="451"):
        SmtpSender(SmtpConfig.from_url(smtp_server.url), timeout_s=5).send(message())


def test_nobody_listening_is_a_delivery_error() -> None:
    config = SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(MailDeliveryError, match="did not take the message"):
        SmtpSender(config, timeout_s=2).send(message())


class _Authenticator:
    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"bot", b"s3cret")
        return AuthResult(success=ok)


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


@pytest.fixture
def auth_server() -> Iterator[tuple[int, _Sink]]:
    sink = _Sink()
    port = free_port()
    # Plain-text AUTH is only for this test server on the loopback interface.
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=_Authenticator(),
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


# aiosmtpd warns that AUTH without TLS is unsafe: true, and fine for a loopback test server.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_login_with_the_url_credentials(auth_server: tuple[int, _Sink]) -> None:
    port, sink = auth_server
    SmtpSender(SmtpConfig.from_url(f"smtp://bot:s3cret@127.0.0.1:{port}"), timeout_s=5).send(
        message()
    )
    assert sink.count == 1
    with pytest.raises(MailDeliveryError):
        SmtpSender(SmtpConfig.from_url(f"smtp://bot:wrong@127.0.0.1:{port}"), timeout_s=5).send(
            message()
        )
    assert sink.count == 1
