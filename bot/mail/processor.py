"""Processing one stored inbound mail, from claim to reply (or skip, or handoff).

The steps of :meth:`MailProcessor.process`, each ending in a committed state:

1. claim the row (``received`` -> ``processing``, conditional, see :mod:`bot.mail.inbox`);
2. if a reply was already composed by an earlier attempt, go to 5;
3. decide (:class:`bot.mail.deciding.MailReader`): a malformed message is ``failed``; a
   robot's message (loop guards) or a sender over
   the daily limit is ``skipped``; an angry complaint, an explicit handoff request, a question
   the NLU is not sure about or that is out of scope, or a mail with no new text goes to a
   human (``handoff``, forwarded when ``EMAIL_HANDOFF_FORWARD_TO`` is set);
4. ask the bot each question through Rasa's REST channel, in one conversation per thread and
   sender, and compose one reply; store it (so a retry sends the same message);
5. send it: ``replied``. An SMTP or Rasa failure puts the row back for a later attempt
   (``attempts`` + 1), up to ``EMAIL_MAX_ATTEMPTS``, then ``failed``: nothing is lost.

Every ``failed`` row then becomes a handoff, forwarded when ``EMAIL_HANDOFF_FORWARD_TO`` is set
(:mod:`bot.mail.dead_letters`, at the end of each :meth:`MailProcessor.drain`). A row is
claimed at most ``EMAIL_MAX_ATTEMPTS`` times: one whose processing killed or froze its worker
that often fails as ``poison`` (the gateway runs each mail in a child process with a time
budget, :mod:`bot.mail.isolation`).

The processor is synchronous (httpx, smtplib, a SQLAlchemy session per step); the gateway runs
it in a worker thread so the event loop keeps serving requests.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.mailbox import HandoffChannel, InboxMessage, InboxState, utcnow
from bot.errors import MailDeliveryError, MalformedMailError, RasaUnavailableError
from bot.handoffs import excerpt_of, record_handoff
from bot.mail import dead_letters, inbox
from bot.mail.compose import build_forward, build_reply, compose_body
from bot.mail.deciding import BotClient, Decision, MailReader
from bot.mail.parsing import ParsedMail, read_mail
from bot.mail.routing import own_addresses
from bot.stores import StorePolicy, load_store

logger = logging.getLogger(__name__)


class MailSender(Protocol):
    """Sends one message (an :class:`bot.mail.smtp.SmtpSender`, or a fake in unit tests)."""

    def send(self, message: EmailMessage) -> None:
        """Sends ``message``; raises MailDeliveryError when it was not accepted."""


@dataclass
class DrainReport:
    """What one pass over the inbox did: final states reached, by state."""

    outcomes: dict[str, int] = field(default_factory=dict)
    requeued: int = 0
    # Failed rows handed over to a human by this pass (bot/mail/dead_letters.py).
    dead_lettered: int = 0

    def count(self, state: InboxState | None) -> None:
        """Counts one processed row."""
        key = state.value if state is not None else "not_claimed"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    @property
    def processed(self) -> int:
        """Rows claimed by this pass."""
        return sum(v for k, v in self.outcomes.items() if k != "not_claimed")


class MailProcessor:
    """Turns stored inbound mails into replies, skips or handoffs."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        bot: BotClient,
        sender: MailSender,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        """Creates a processor.

        Args:
            sessions: session factory of the database holding the inbox.
            settings: thresholds, limits and addresses.
            bot: the Rasa client.
            sender: the SMTP sender (replies and forwards).
            clock: the current time (tests pin it).
        """
        self._sessions = sessions
        self._settings = settings
        self._sender = sender
        self._clock = clock
        self._reader = MailReader(
            sessions=sessions,
            settings=settings,
            bot=bot,
            clock=clock,
            own_addresses=own_addresses(settings),
        )

    # --- the inbox -------------------------------------------------------------------------

    def drain(
        self, *, limit: int = 50, should_stop: Callable[[], bool] = lambda: False
    ) -> DrainReport:
        """Processes the due messages once: abandoned claims first, then the oldest rows.

        Args:
            limit: at most this many rows in this pass.
            should_stop: checked between rows (a stopping gateway).
        """
        report = DrainReport()
        with self._sessions() as session:
            requeued, taken = inbox.release_abandoned(
                session=session, now=self._clock(), lease_s=self._settings.email_processing_lease_s
            )
            session.commit()
        report.requeued = requeued
        if requeued:
            logger.warning("Put %d abandoned inbox row(s) back for processing", requeued)
        for claim in taken:
            report.count(self._abandoned_during_send(claim))
        with self._sessions() as session:
            poisoned = inbox.fail_exhausted(
                session=session,
                now=self._clock(),
                max_attempts=self._settings.email_max_attempts,
            )
            session.commit()
        if poisoned:
            logger.error(
                "%d inbox row(s) killed or froze their worker %d times: failed (poison)",
                poisoned,
                self._settings.email_max_attempts,
            )
        with self._sessions() as session:
            ids = inbox.due_ids(session=session, now=self._clock(), limit=limit)
        for inbox_id in ids:
            if should_stop():
                break
            report.count(self.process(inbox_id))
        report.dead_lettered = self.hand_over_failed()
        return report

    def hand_over_failed(self) -> int:
        """Hands every failed row no one handed over yet to a human; returns how many."""
        return dead_letters.hand_over_failed(
            sessions=self._sessions,
            settings=self._settings,
            sender=self._sender,
            clock=self._clock,
        )

    def process(self, inbox_id: int) -> InboxState | None:
        """Processes one row if this worker can claim it.

        Returns:
            The state the row is left in, or None when another worker had claimed it (or it
            had all its attempts).
        """
        with self._sessions() as session:
            claim = inbox.claim(
                session=session,
                inbox_id=inbox_id,
                now=self._clock(),
                max_attempts=self._settings.email_max_attempts,
            )
            session.commit()
        if claim is None:
            return None
        return self.run_claimed(claim)

    def run_claimed(self, claim: inbox.Claim) -> InboxState:
        """Processes a row this worker claimed (what :mod:`bot.mail.isolation` runs in a
        child process)."""
        try:
            return self._process_claimed(claim)
        except Exception as exc:
            # A bug or an unexpected outage must not leave the row `processing` until the
            # lease runs out: it goes back for a retry like any other failure.
            logger.exception("Processing inbox row %s failed unexpectedly", claim.inbox_id)
            return self._retry(claim, f"{type(exc).__name__}: {exc}")

    def interrupted(self, claim: inbox.Claim, why: str) -> InboxState | None:
        """Settles a claimed row whose processing was killed (crashed or over its budget).

        Returns:
            The row's new state, or None when the processing had settled it before dying.
        """
        with self._sessions() as session:
            found = session.execute(
                select(InboxMessage.send_started_at).where(
                    InboxMessage.id == claim.inbox_id,
                    InboxMessage.state == InboxState.PROCESSING,
                    InboxMessage.claimed_at == claim.claimed_at,
                )
            ).one_or_none()
        if found is None:
            return None
        if found.send_started_at is not None:
            # The reply may have gone out: a human checks rather than risk a second one.
            return self._abandoned_during_send(claim)
        return self._retry(claim, why, reason="poison")

    def _load(self, claim: inbox.Claim) -> InboxMessage:
        with self._sessions() as session:
            row = session.get(InboxMessage, claim.inbox_id)
            if row is None:
                raise LookupError(f"inbox row {claim.inbox_id} disappeared")
            session.expunge(row)
            return row

    def _process_claimed(self, claim: inbox.Claim) -> InboxState:
        row = self._load(claim)
        if row.reply_raw is not None:
            # An earlier attempt composed the reply and could not send it: send the very same
            # message, without asking the bot again.
            reply = BytesParser(policy=policy.SMTP).parsebytes(row.reply_raw)
            assert isinstance(reply, EmailMessage)
            return self._send_reply(claim, reply)
        try:
            parsed = read_mail(row.raw)
        except MalformedMailError as exc:
            return self._finish(claim, InboxState.FAILED, reason="malformed", error=str(exc))
        store = load_store(row.store_id)
        try:
            decision = self._reader.decide(row, parsed, store)
        except RasaUnavailableError as exc:
            logger.warning("Rasa unavailable for inbox row %s: %s", claim.inbox_id, exc)
            return self._retry(claim, str(exc))
        if decision.state is InboxState.SKIPPED:
            logger.info("Inbox row %s skipped: %s", claim.inbox_id, decision.reason)
            return self._finish(claim, InboxState.SKIPPED, reason=decision.reason)
        if decision.state is InboxState.HANDOFF:
            return self._hand_off(claim, row, parsed, store, decision)
        now = self._clock()
        body = compose_body(
            lang=decision.lang,
            store=store,
            answers=decision.answers,
            parsed=parsed,
            customer_text=decision.customer_text,
            rest_handed_over=decision.handoff_reason is not None,
        )
        reply = build_reply(parsed=parsed, store=store, lang=decision.lang, body=body, now=now)
        forwarded = False
        if decision.handoff_reason is not None:
            forwarded, error = self._forward(
                row, parsed, store, decision, f"partly_answered: {decision.handoff_reason}"
            )
            if error is not None:
                return self._retry(claim, error)
        with self._sessions() as session:
            kept = inbox.update_claimed(
                session=session,
                claim=claim,
                reply_raw=reply.as_bytes(),
                reply_message_id=reply["Message-ID"],
                conversation_id=decision.conversation_id,
            )
            if kept and decision.handoff_reason is not None:
                # In the transaction that stores the reply: a retry sends the stored reply
                # and never records this handoff twice.
                record_handoff(
                    session=session,
                    channel=HandoffChannel.EMAIL,
                    conversation_id=decision.conversation_id or row.message_id,
                    store_id=store.id,
                    customer_address=parsed.sender,
                    reason=f"partly_answered: {decision.handoff_reason}",
                    excerpt=decision.customer_text,
                    forwarded=forwarded,
                    inbox_message_id=row.id,
                    language=decision.lang,
                )
            session.commit()
        if not kept:
            logger.warning("Lost the claim on inbox row %s before sending", claim.inbox_id)
            return InboxState.PROCESSING
        return self._send_reply(claim, reply)

    # --- outcomes --------------------------------------------------------------------------

    def _finish(
        self,
        claim: inbox.Claim,
        state: InboxState,
        *,
        reason: str | None = None,
        error: str | None = None,
    ) -> InboxState:
        with self._sessions() as session:
            inbox.finish(
                session=session,
                claim=claim,
                state=state,
                now=self._clock(),
                reason=reason,
                error=error,
            )
            session.commit()
        return state

    def _retry(self, claim: inbox.Claim, error: str, *, reason: str | None = None) -> InboxState:
        with self._sessions() as session:
            row = session.get(InboxMessage, claim.inbox_id)
            attempts = row.attempts if row is not None else self._settings.email_max_attempts
            state = inbox.retry_later(
                session=session,
                claim=claim,
                attempts=attempts,
                error=error,
                now=self._clock(),
                max_attempts=self._settings.email_max_attempts,
                first_delay_s=self._settings.email_retry_delay_s,
                reason=reason,
            )
            session.commit()
        if state is InboxState.FAILED:
            logger.error(
                "Inbox row %s failed after %d attempts: %s", claim.inbox_id, attempts, error
            )
        return state

    def _send_reply(self, claim: inbox.Claim, reply: EmailMessage) -> InboxState:
        with self._sessions() as session:
            kept = inbox.update_claimed(session=session, claim=claim, send_started_at=self._clock())
            session.commit()
        if not kept:
            logger.warning("Lost the claim on inbox row %s before sending", claim.inbox_id)
            return InboxState.PROCESSING
        try:
            self._sender.send(reply)
        except MailDeliveryError as exc:
            logger.warning("Reply to inbox row %s not sent: %s", claim.inbox_id, exc)
            return self._retry(claim, str(exc))
        logger.info("Inbox row %s answered with %s", claim.inbox_id, reply["Message-ID"])
        try:
            return self._finish(claim, InboxState.REPLIED)
        except SQLAlchemyError:
            # Sent but not recorded: no retry (it would send the reply again). The row stays
            # `processing` with send_started_at set, so after the lease a human checks it.
            logger.exception("Reply to inbox row %s sent but not recorded", claim.inbox_id)
            return InboxState.PROCESSING

    def _forward(
        self,
        row: InboxMessage,
        parsed: ParsedMail,
        store: StorePolicy,
        decision: Decision,
        reason: str,
    ) -> tuple[bool, str | None]:
        """Forwards the mail to ``EMAIL_HANDOFF_FORWARD_TO`` when it is set.

        Returns:
            Whether it was forwarded, and the error to retry the row with when sending failed
            (out of attempts, no retry: the handoff row alone puts the mail in front of a
            human).
        """
        forward_to = self._settings.email_handoff_forward_to
        if not forward_to:
            return False, None
        forward = build_forward(
            original=parsed.message,
            original_raw=row.raw,
            store=store,
            forward_to=forward_to,
            reason=reason,
            customer=parsed.sender,
            excerpt=excerpt_of(decision.customer_text),
            now=self._clock(),
        )
        try:
            self._sender.send(forward)
        except MailDeliveryError as exc:
            if row.attempts < self._settings.email_max_attempts:
                logger.warning("Handoff forward of inbox row %s not sent: %s", row.id, exc)
                return False, str(exc)
            logger.error("Handoff forward of inbox row %s given up: %s", row.id, exc)
            return False, None
        return True, None

    def _hand_off(
        self,
        claim: inbox.Claim,
        row: InboxMessage,
        parsed: ParsedMail,
        store: StorePolicy,
        decision: Decision,
    ) -> InboxState:
        reason = decision.reason or "handoff"
        forwarded, error = self._forward(row, parsed, store, decision, reason)
        if error is not None:
            return self._retry(claim, error)
        with self._sessions() as session:
            done = inbox.finish(
                session=session,
                claim=claim,
                state=InboxState.HANDOFF,
                now=self._clock(),
                reason=reason,
            )
            if done:
                record_handoff(
                    session=session,
                    channel=HandoffChannel.EMAIL,
                    conversation_id=decision.conversation_id or row.message_id,
                    store_id=store.id,
                    customer_address=parsed.sender,
                    reason=reason,
                    excerpt=decision.customer_text,
                    forwarded=forwarded,
                    inbox_message_id=row.id,
                )
            session.commit()
        logger.info("Inbox row %s handed over to a human: %s", row.id, reason)
        return InboxState.HANDOFF

    def _abandoned_during_send(self, claim: inbox.Claim) -> InboxState:
        """A row a crashed worker left while sending: maybe answered, so a human checks."""
        row = self._load(claim)
        with self._sessions() as session:
            done = inbox.finish(
                session=session,
                claim=claim,
                state=InboxState.HANDOFF,
                now=self._clock(),
                reason="interrupted_send",
            )
            if done:
                record_handoff(
                    session=session,
                    channel=HandoffChannel.EMAIL,
                    conversation_id=row.conversation_id or row.message_id,
                    store_id=row.store_id,
                    customer_address=row.sender,
                    reason="interrupted_send",
                    excerpt=None,
                    inbox_message_id=row.id,
                )
            session.commit()
        logger.warning(
            "Inbox row %s was abandoned while its reply was being sent; handed to a human",
            row.id,
        )
        return InboxState.HANDOFF
