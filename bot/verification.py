"""Proof-of-ownership checks with limits that hold across conversations, channels and servers.

The chat's three-failure lock lives in one conversation: ``/restart`` or a new conversation
reset it. The limits here live in the orders database (``verification_attempts``, shared by
every action server), keyed by what an attacker cannot change at will:

* **per order**: after ``VERIFICATION_MAX_FAILURES`` (5) failed proofs on one order number
  within ``VERIFICATION_WINDOW_S`` (an hour), from any mix of conversations, clients and
  channels, that order is not checked at all, even with the right proof, for
  ``VERIFICATION_COOLDOWN_S`` (an hour) after the last of those failures;
* **per client** (the web client's address as the gateway saw it behind its trusted proxies,
  the e-mail sender): after ``VERIFICATION_CLIENT_MAX_FAILURES`` (20) failures on any orders in
  the window, that client's checks are refused for the cool-down.

The order key is the number's six digits, whether or not such an order exists: a refusal
says nothing about existence. A refused check is answered like three failures in one
conversation (stop, offer a person, give the contact route). Every check is a row of the
audit log (outcome, order digits, client, channel, conversation; never the proof), and is
logged at INFO without the proof.

Concurrent checks of one order are serialised (SQLite: the database's write lock, taken by
the first statement, ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock on
the order key), so five failures means five, not five per server. The action server keeps
that transaction short: it reads the order beforehand (``memo``, in a reading session,
bot/db/action_memory.py) and runs only the limits' reads and the attempt's row under the lock.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db.action_memory import REHEARSAL
from bot.db.mailbox import utcnow
from bot.db.verification import VerificationAttempt, VerificationOutcome
from bot.order_lookup import find_verified_order

logger = logging.getLogger(__name__)

__all__ = ["Check", "CheckResult", "check_proof", "client_key", "order_key"]

_SIX_DIGITS = re.compile(r"[0-9]{6}")
# Failure timestamps read for one key: far more than any limit, bounded anyway.
_MAX_ROWS = 500


class CheckResult(enum.StrEnum):
    """The answer of :func:`check_proof`."""

    VERIFIED = "verified"
    FAILED = "failed"
    REFUSED = "refused"


@dataclass(frozen=True)
class Check:
    """What :func:`check_proof` found: the outcome and, when verified, the canonical number."""

    result: CheckResult
    number: str | None = None


def order_key(number: str) -> str:
    """The key an order's failures are counted under: its six digits ("OM-104233" -> "104233").

    Args:
        number: an order number as normalised by :func:`bot.orders.normalise_order_number`.
    """
    found = _SIX_DIGITS.search(number)
    return found.group(0) if found else number.strip().upper()[:32]


def client_key(
    *, channel: str, client: str | None, sender_email: str | None, conversation: str
) -> str:
    """The key a client's failures are counted under.

    Args:
        channel: ``web``, ``email``, ``shell``...
        client: the client's address from the gateway (the message metadata ``client``).
        sender_email: the e-mail channel's sender address.
        conversation: the conversation id, when nothing better identifies the client.
    """
    if sender_email:
        return f"email:{sender_email.strip().lower()}"[:300]
    if client:
        return f"ip:{client.strip()}"[:300]
    return f"conversation:{conversation}"[:300]


def loggable_client(client: str) -> str:
    """A :func:`client_key` as the log shows it: an e-mail address (which can be the proof of
    an order) replaced by the start of its SHA-256, so lines of one sender still match."""
    kind, _, value = client.partition(":")
    if kind == "email":
        return "email:sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]
    return client


def _serialise(session: Session, key: str) -> None:
    # PostgreSQL: one check of this order at a time (released at commit). SQLite's write lock
    # already serialises the whole transaction (BEGIN IMMEDIATE, bot.db.session). A rehearsal
    # (bot/db/action_memory.py) writes nothing: its writing step takes the lock.
    if session.info.get(REHEARSAL):
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(key.encode()) - 2**31}
        )


def _failure_times(
    session: Session, column: str, key: str, since: dt.datetime
) -> list[dt.datetime]:
    attribute = getattr(VerificationAttempt, column)
    rows = session.scalars(
        select(VerificationAttempt.at)
        .where(
            attribute == key,
            VerificationAttempt.outcome == VerificationOutcome.FAILED,
            VerificationAttempt.at >= since,
        )
        .order_by(VerificationAttempt.at)
        .limit(_MAX_ROWS)
    ).all()
    return [at if at.tzinfo else at.replace(tzinfo=dt.UTC) for at in rows]


def locked_until(
    times: Sequence[dt.datetime], *, limit: int, window: dt.timedelta, cooldown: dt.timedelta
) -> dt.datetime | None:
    """The end of the latest lock: ``limit`` failures within ``window`` lock until the last
    of them plus ``cooldown``. None when these failures never reached the limit.

    Args:
        times: failure times, oldest first.
        limit: failures that lock.
        window: the span they must fall in.
        cooldown: how long the lock lasts after the failure that reached the limit.
    """
    end: dt.datetime | None = None
    for first in range(len(times) - limit + 1):
        last = times[first + limit - 1]
        if last - times[first] <= window:
            end = max(end, last + cooldown) if end else last + cooldown
    return end


def check_proof(
    session: Session,
    settings: Settings,
    *,
    number: str,
    email: str | None,
    postcode: str | None,
    prefer_store: str | None,
    client: str,
    channel: str,
    conversation: str,
    now: dt.datetime | None = None,
    commit: bool = True,
    memo: dict[str, str | None] | None = None,
) -> Check:
    """Checks a proof of ownership within the limits, and records the attempt (commits).

    Args:
        session: a session of the orders database (committed here unless ``commit`` is False).
        settings: the limits.
        number: the normalised order number.
        email: the e-mail address given as proof, or None.
        postcode: the postcode given as proof, or None.
        prefer_store: the conversation's store (digits alone: tried first).
        client: :func:`client_key` of the customer.
        channel: for the audit log.
        conversation: for the audit log.
        now: the current time (tests).
        commit: False: the attempt is added to the session (not flushed), the caller commits
            (the action server commits it with the action's remembered response:
            bot/db/action_memory.py).
        memo: a dict kept by the caller across calls for the same number and proof: the order
            match found by the first call is stored in it and not read again by the next
            (the action server's rehearsal reads the order outside the write lock; its
            writing step runs the check again under the lock). The limits are read each time.

    Returns:
        REFUSED (nothing checked: a limit is reached), FAILED or VERIFIED with the number.
    """
    now = now or utcnow()
    key = order_key(number)
    window = dt.timedelta(seconds=settings.verification_window_s)
    cooldown = dt.timedelta(seconds=settings.verification_cooldown_s)
    since = now - window - cooldown
    _serialise(session, key)
    ends = [
        locked_until(
            _failure_times(session, "order_key", key, since),
            limit=settings.verification_max_failures,
            window=window,
            cooldown=cooldown,
        ),
        locked_until(
            _failure_times(session, "client_key", client, since),
            limit=settings.verification_client_max_failures,
            window=window,
            cooldown=cooldown,
        ),
    ]
    if any(end is not None and end > now for end in ends):
        outcome, verified = VerificationOutcome.REFUSED, None
    else:
        if memo is not None and "number" in memo:
            verified = memo["number"]
        else:
            order = find_verified_order(
                session=session,
                number=number,
                email=email,
                postcode=postcode,
                prefer_store=prefer_store,
            )
            verified = order.number if order is not None else None
            if memo is not None:
                memo["number"] = verified
        outcome = VerificationOutcome.VERIFIED if verified else VerificationOutcome.FAILED
    session.add(
        VerificationAttempt(
            at=now,
            order_key=key,
            client_key=client,
            channel=channel[:16],
            conversation_id=conversation[:255],
            outcome=outcome,
        )
    )
    if commit:
        session.commit()
    if session.info.get(REHEARSAL):
        # A rehearsal (bot/db/action_memory.py) records nothing: its run under the lock logs.
        return Check(CheckResult(outcome.value), verified)
    # The audit line: never the proof, never whether the number exists. An e-mail sender's
    # address can be the proof itself: the line names it by a digest only.
    logger.info(
        "Verification of order %s from %s (%s, %s): %s",
        key,
        loggable_client(client),
        channel,
        conversation,
        outcome.value,
    )
    return Check(CheckResult(outcome.value), verified)


def recent_failures(session: Session, *, key: str, since: dt.datetime) -> int:
    """Failed checks of an order (its :func:`order_key`) since a time (for the console/tests)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(VerificationAttempt)
            .where(
                VerificationAttempt.order_key == key,
                VerificationAttempt.outcome == VerificationOutcome.FAILED,
                VerificationAttempt.at >= since,
            )
        )
        or 0
    )
