"""Outbound mail through the SMTP server of ``SMTP_URL``.

URL forms (user and password are URL-encoded; the port defaults by scheme):

==========================================  ==========================================
``smtp://host:2525``                        plain SMTP (a local relay, the tests)
``smtp+starttls://user:pass@host:587``      submission with STARTTLS, then AUTH
``smtp://user:pass@host:587?starttls=1``    the same, as the configuration comment writes it
``smtps://user:pass@host:465``              implicit TLS (also ``smtp+ssl://``)
==========================================  ==========================================

Every failure (refused connection, timeout, TLS, authentication, a refused recipient or
message) is one :class:`~bot.errors.MailDeliveryError`: the caller puts the inbox row back for
a retry, so nothing is lost.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from bot.errors import ConfigurationError, MailDeliveryError

logger = logging.getLogger(__name__)

Security = Literal["plain", "starttls", "tls"]
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
    "smtp+ssl": ("tls", 465),
    "smtp+tls": ("tls", 465),
}
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail."""

    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Reads an ``SMTP_URL``.

        Raises:
            ConfigurationError: an unknown scheme, no host or a bad port.
        """
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigurationError(f"SMTP_URL scheme {scheme!r} is not one of {sorted(_SCHEMES)}")
        security, default_port = _SCHEMES[scheme]
        query = {key.lower(): values[-1].lower() for key, values in parse_qs(parts.query).items()}
        if security == "plain" and query.get("starttls") in _TRUE:
            security, default_port = "starttls", 587
        if security == "plain" and (query.get("ssl") in _TRUE or query.get("tls") in _TRUE):
            security, default_port = "tls", 465
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise ConfigurationError(f"SMTP_URL has an invalid port: {exc}") from exc
        if not parts.hostname:
            raise ConfigurationError("SMTP_URL has no host")
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def describe(self) -> str:
        """The server for log lines (never the password)."""
        return f"{self.security} {self.host}:{self.port}"


class SmtpSender:
    """Sends messages through one SMTP server, one connection per message.

    One connection per message keeps the worker simple and stateless; the volume of a
    support mailbox is a few messages a minute at most.
    """

    def __init__(self, config: SmtpConfig, *, timeout_s: float) -> None:
        """Creates a sender for ``config``; ``timeout_s`` bounds each network operation."""
        self.config = config
        self.timeout_s = timeout_s

    def send(self, message: EmailMessage) -> None:
        """Sends ``message`` to its To/Cc recipients, from its From address.

        Raises:
            MailDeliveryError: the message was not accepted by the server.
        """
        config = self.config
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if config.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=self.timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=self.timeout_s)
            with smtp:
                if config.security == "starttls":
                    smtp.starttls(context=context)
                if config.username:
                    smtp.login(config.username, config.password or "")
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailDeliveryError(
                f"SMTP server {config.describe()} did not take the message: {exc}"
            ) from exc
        if refused:
            # Some recipients refused, others accepted: the accepted ones have it, so it
            # is not retried (that would duplicate it for them).
            logger.warning(
                "SMTP server %s refused %d recipient(s) of %s",
                config.describe(),
                len(refused),
                message.get("Message-ID"),
            )
        logger.info("Sent %s through %s", message.get("Message-ID"), config.describe())
