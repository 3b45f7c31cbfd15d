"""Data functions of the inbound e-mail inbox (``inbox_messages``).

Each takes the caller's session and never commits: the caller (the route, the processor)
decides where a transaction ends. The state changes that several workers may attempt at the
same time are conditional ``UPDATE`` statements whose row count says who won:

* :func:`claim` moves a row from ``received`` to ``processing`` only if it is still
  ``received``; the worker that gets row count 1 owns it, the other one moves on;
* every later change of a claimed row is made ``WHERE state = 'processing' AND claimed_at =
  <the claim's time>``, so a worker whose claim was taken over (see :func:`release_abandoned`)
  cannot overwrite the new owner's work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.mailbox import InboxMessage, InboxState


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one inbox row: the row and the time the claim was taken."""

    inbox_id: int
    claimed_at: dt.datetime


def find_by_message_id(*, session: Session, message_id: str) -> InboxMessage | None:
    """The stored message with this Message-ID, if any."""
    return session.scalars(
        select(InboxMessage).where(InboxMessage.message_id == message_id)
    ).one_or_none()


def add_message(
    *,
    session: Session,
    message_id: str,
    raw: bytes,
    store_id: str,
    sender: str | None,
    now: dt.datetime,
    state: InboxState = InboxState.RECEIVED,
    reason: str | None = None,
    error: str | None = None,
) -> tuple[InboxMessage, bool]:
    """Stores an inbound message unless one with the same Message-ID is already there.

    The insert runs in a savepoint: when a concurrent request stored the same Message-ID
    first, the unique constraint refuses ours and the caller's transaction goes on.

    Returns:
        The stored row (ours or the earlier one) and whether it was created now.
    """
    existing = find_by_message_id(session=session, message_id=message_id)
    if existing is not None:
        return existing, False
    row = InboxMessage(
        message_id=message_id,
        raw=raw,
        received_at=now,
        store_id=store_id,
        sender=sender,
        state=state,
        attempts=0,
        reason=reason,
        last_error=error,
        processed_at=now if state is not InboxState.RECEIVED else None,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        earlier = find_by_message_id(session=session, message_id=message_id)
        if earlier is None:
            raise
        return earlier, False
    return row, True


def due_ids(*, session: Session, now: dt.datetime, limit: int) -> list[int]:
    """Ids of the ``received`` rows whose retry time has come, oldest first."""
    query = (
        select(InboxMessage.id)
        .where(
            InboxMessage.state == InboxState.RECEIVED,
            (InboxMessage.next_attempt_at.is_(None)) | (InboxMessage.next_attempt_at <= now),
        )
        .order_by(InboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def claim(
    *, session: Session, inbox_id: int, now: dt.datetime, max_attempts: int | None = None
) -> Claim | None:
    """Takes a ``received`` row for processing (one more attempt).

    With ``max_attempts``, a row that already had that many attempts is not taken: a mail
    whose processing killed or froze its worker that often is not tried again (see
    :func:`fail_exhausted`, which fails it, and :mod:`bot.mail.dead_letters`).

    Returns:
        The claim, or None when another worker took the row first (or it is not due, or out
        of attempts).
    """
    condition = (InboxMessage.id == inbox_id) & (InboxMessage.state == InboxState.RECEIVED)
    if max_attempts is not None:
        condition &= InboxMessage.attempts < max_attempts
    result = session.execute(
        update(InboxMessage)
        .where(condition)
        .values(
            state=InboxState.PROCESSING,
            claimed_at=now,
            attempts=InboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return Claim(inbox_id=inbox_id, claimed_at=now) if _rowcount(result) == 1 else None


def fail_exhausted(*, session: Session, now: dt.datetime, max_attempts: int) -> int:
    """Fails the ``received`` rows that already had ``max_attempts`` attempts.

    Only a worker that died or froze in the middle of a mail leaves such a row (an ordinary
    failure fails the row at its last attempt): after the lease the row came back
    ``received`` (:func:`release_abandoned`), and a mail that keeps killing its worker must
    not be re-queued forever. It ends ``failed`` with the reason ``poison``, and becomes a
    handoff like any failed mail.

    Returns:
        How many rows were failed.
    """
    result = session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.state == InboxState.RECEIVED,
            InboxMessage.attempts >= max_attempts,
        )
        .values(state=InboxState.FAILED, reason="poison", processed_at=now, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def update_claimed(*, session: Session, claim: Claim, **values: Any) -> bool:
    """Changes a row the caller still holds; False when the claim was lost.

    Args:
        session: the caller's session.
        claim: the caller's claim.
        **values: the columns to set.
    """
    result = session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.id == claim.inbox_id,
            InboxMessage.state == InboxState.PROCESSING,
            InboxMessage.claimed_at == claim.claimed_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def finish(
    *,
    session: Session,
    claim: Claim,
    state: InboxState,
    now: dt.datetime,
    reason: str | None = None,
    error: str | None = None,
) -> bool:
    """Ends the processing of a claimed row in a final state.

    Returns:
        False when the claim was lost (nothing changed).
    """
    if state in (InboxState.RECEIVED, InboxState.PROCESSING):
        raise ValueError(f"{state} is not a final state")
    return update_claimed(
        session=session,
        claim=claim,
        state=state,
        reason=reason,
        last_error=error,
        processed_at=now,
    )


def retry_later(
    *,
    session: Session,
    claim: Claim,
    attempts: int,
    error: str,
    now: dt.datetime,
    max_attempts: int,
    first_delay_s: float,
    reason: str | None = None,
) -> InboxState:
    """Puts a claimed row back for a later attempt, or fails it after ``max_attempts``.

    ``reason`` is recorded when the row fails (``poison``: its processing was killed).

    The delay doubles at each attempt (``first_delay_s``, 2x, 4x...): a server that is down
    for an hour is not hammered, one that blinked is retried within a minute.

    Returns:
        ``received`` (will be retried) or ``failed``.
    """
    if attempts >= max_attempts:
        finish(
            session=session,
            claim=claim,
            state=InboxState.FAILED,
            now=now,
            reason=reason,
            error=error,
        )
        return InboxState.FAILED
    delay = first_delay_s * 2 ** max(0, attempts - 1)
    update_claimed(
        session=session,
        claim=claim,
        state=InboxState.RECEIVED,
        last_error=error,
        next_attempt_at=now + dt.timedelta(seconds=delay),
        claimed_at=None,
        send_started_at=None,
    )
    return InboxState.RECEIVED


def release_abandoned(
    *, session: Session, now: dt.datetime, lease_s: float
) -> tuple[int, list[Claim]]:
    """Finds the rows a crashed worker left ``processing`` for longer than the lease.

    A row whose reply was not being sent yet goes back to ``received`` (it is simply
    processed again). A row whose SMTP conversation had started may have been answered: it is
    returned as a claim taken over by the caller, who hands it to a human rather than risk a
    second reply.

    Returns:
        How many rows were put back, and the claims of the possibly-sent ones.
    """
    cutoff = now - dt.timedelta(seconds=lease_s)
    requeued = session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.state == InboxState.PROCESSING,
            InboxMessage.claimed_at < cutoff,
            InboxMessage.send_started_at.is_(None),
        )
        .values(state=InboxState.RECEIVED, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    stale = session.execute(
        select(InboxMessage.id, InboxMessage.claimed_at).where(
            InboxMessage.state == InboxState.PROCESSING,
            InboxMessage.claimed_at < cutoff,
            InboxMessage.send_started_at.is_not(None),
        )
    ).all()
    taken: list[Claim] = []
    for inbox_id, old_claimed_at in stale:
        # Take the stale claim over with a fresh one; the loser of a race gets row count 0.
        result = session.execute(
            update(InboxMessage)
            .where(
                InboxMessage.id == inbox_id,
                InboxMessage.state == InboxState.PROCESSING,
                InboxMessage.claimed_at == old_claimed_at,
            )
            .values(claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) == 1:
            taken.append(Claim(inbox_id=inbox_id, claimed_at=now))
    return _rowcount(requeued), taken


def replies_since(
    *, session: Session, sender: str, since: dt.datetime, before_id: int | None = None
) -> int:
    """How many automatic replies went to ``sender`` since ``since``.

    With ``before_id`` (the row being decided), the sender's older rows that another worker is
    processing right now count too: each may be about to reply. Two workers deciding two mails
    of one sender at once then cannot both take the last reply of the day: the older row gets
    it, the newer one sees it taken (a loop guard errs on the side of not replying).
    """
    replied = (InboxMessage.state == InboxState.REPLIED) & (InboxMessage.processed_at >= since)
    condition = replied
    if before_id is not None:
        condition = replied | (
            (InboxMessage.state == InboxState.PROCESSING) & (InboxMessage.id < before_id)
        )
    query = select(func.count(InboxMessage.id)).where(InboxMessage.sender == sender, condition)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class InboxHealth:
    """What `/health/ready` reports of the inbox."""

    # Mails not finished yet: waiting for a worker, for a retry, or being processed.
    backlog: int
    processing: int
    # Seconds since the oldest unfinished mail was received (None: nothing waits).
    oldest_waiting_s: float | None
    # Mails that ended `failed` in the last 24 hours, and those not handed to a human yet.
    failed_24h: int
    failed_not_handed_over: int


def health(*, session: Session, now: dt.datetime) -> InboxHealth:
    """The inbox's backlog, its oldest waiting mail and its failures (three small queries)."""
    waiting = InboxMessage.state.in_([InboxState.RECEIVED, InboxState.PROCESSING])
    backlog, processing, oldest = session.execute(
        select(
            func.count(InboxMessage.id),
            func.count(InboxMessage.id).filter(InboxMessage.state == InboxState.PROCESSING),
            func.min(InboxMessage.received_at),
        ).where(waiting)
    ).one()
    failed = InboxMessage.state == InboxState.FAILED
    failed_24h = session.scalar(
        select(func.count(InboxMessage.id)).where(
            failed, InboxMessage.processed_at >= now - dt.timedelta(days=1)
        )
    )
    not_handed_over = session.scalar(
        select(func.count(InboxMessage.id)).where(failed, InboxMessage.dead_lettered_at.is_(None))
    )
    oldest_s = None
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite gives naive datetimes back
            oldest = oldest.replace(tzinfo=dt.UTC)
        oldest_s = max(0.0, round((now - oldest).total_seconds(), 1))
    return InboxHealth(
        backlog=int(backlog or 0),
        processing=int(processing or 0),
        oldest_waiting_s=oldest_s,
        failed_24h=int(failed_24h or 0),
        failed_not_handed_over=int(not_handed_over or 0),
    )
