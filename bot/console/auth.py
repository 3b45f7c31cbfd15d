"""Console accounts: argon2 password hashes, server-side sessions, CSRF tokens, login throttling.

A session cookie holds a random token (never stored): the table keeps its HMAC under the
console's session secret, so neither a copy of the database nor a guessed row id gives a
working cookie, and logout deletes the row on every gateway at once. The CSRF token of a
session is another HMAC of the same token: a form from another site cannot know it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db.console import ConsoleSession, ConsoleUser, ConsoleUserShop, LoginFailure, Role
from bot.db.mailbox import utcnow

logger = logging.getLogger(__name__)

SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
# argon2id with the library's current defaults (RFC 9106 "low memory" profile).
_HASHER = PasswordHasher()
# Compared against when the account does not exist, so the answer takes as long either way.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")
MIN_PASSWORD_LENGTH = 10

ROLE_RANK = {Role.AGENT: 0, Role.EDITOR: 1, Role.ADMIN: 2}


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters are in the string)."""
    return _HASHER.hash(password)


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must have at least {MIN_PASSWORD_LENGTH} characters."
    return None


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the hash (a missing account is checked against a dummy)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Agent:
    """The logged-in account, as every console page sees it."""

    id: int
    email: str
    name: str
    role: Role
    shops: frozenset[str]
    csrf_token: str

    def has_role(self, role: Role) -> bool:
        """Whether this account's role includes ``role``."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def can_see(self, store_id: str) -> bool:
        """Whether this account is bound to ``store_id``."""
        return store_id in self.shops


class SessionKeys:
    """Derives the stored hash and the CSRF token of a session token."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def token_hash(self, token: str) -> str:
        """What the session table stores for ``token``."""
        return hmac.new(self._key, b"session:" + token.encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, token: str) -> str:
        """The CSRF token of the session ``token``."""
        return hmac.new(self._key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()

    def login_csrf(self, nonce: str) -> str:
        """The login form's CSRF token for the nonce in its cookie (no session yet)."""
        return hmac.new(self._key, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def session_secret(settings: Settings) -> str:
    """The configured session secret; a random one per process in the local profile."""
    if settings.console_session_secret:
        return settings.console_session_secret
    # Settings' own validation refuses production without one; this is the local profile.
    logger.info("CONSOLE_SESSION_SECRET unset: console logins last until the gateway stops")
    return secrets.token_urlsafe(32)


def tokens_equal(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a token from a request with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def create_session(session: Session, keys: SessionKeys, user: ConsoleUser, *, hours: float) -> str:
    """Opens a session for ``user``; returns the cookie's token (the caller commits)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ConsoleSession(
            token_hash=keys.token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    )
    user.last_login_at = now
    # Expired sessions of everyone go at each login: the table never grows without bound.
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    return token


def load_agent(session: Session, keys: SessionKeys, token: str | None) -> Agent | None:
    """The account of a valid, unexpired session token of an active account, else None."""
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == keys.token_hash(token))
    ).first()
    if row is None:
        return None
    console_session, user = row
    expires = console_session.expires_at
    if expires.tzinfo is None:  # SQLite returns naive datetimes (stored in UTC)
        expires = expires.replace(tzinfo=dt.UTC)
    if expires < utcnow() or not user.active:
        return None
    shops = session.scalars(
        select(ConsoleUserShop.store_id).where(ConsoleUserShop.user_id == user.id)
    ).all()
    return Agent(
        id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        shops=frozenset(shops),
        csrf_token=keys.csrf_token(token),
    )


def end_session(session: Session, keys: SessionKeys, token: str) -> None:
    """Deletes the session of ``token`` (logout); the caller commits."""
    session.execute(
        delete(ConsoleSession).where(ConsoleSession.token_hash == keys.token_hash(token))
    )


def throttled(session: Session, settings: Settings, *, email: str, ip: str) -> bool:
    """Whether too many logins failed lately for this account or from this client."""
    since = utcnow() - dt.timedelta(seconds=settings.console_login_window_s)
    by_email = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.email == email, LoginFailure.at >= since)
    )
    if (by_email or 0) >= settings.console_login_max_failures:
        return True
    by_ip = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.ip == ip, LoginFailure.at >= since)
    )
    return (by_ip or 0) >= 4 * settings.console_login_max_failures


def record_failure(session: Session, *, email: str, ip: str) -> None:
    """Counts one failed login (the caller commits)."""
    session.add(LoginFailure(email=email[:254], ip=ip[:64]))


def authenticate(session: Session, email: str, password: str) -> ConsoleUser | None:
    """The active account with this e-mail address and password, else None."""
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == email.strip().lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
