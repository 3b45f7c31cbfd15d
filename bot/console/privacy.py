"""Privacy: retention purge, and a customer's export and erasure (GDPR articles 15, 17, 5(1)(e)).

A customer is named by an e-mail address or an order number (the order's e-mail address is
then included). What is stored about them: the conversations whose messages contain the
address or the number (Rasa's tracker store and the console's reporting copy), their inbound
mails, their handoffs with the agents' messages, teaching examples taken from their
conversations, demo mailbox messages, and the orders themselves. The export returns all of it;
the erasure deletes all of it but the orders, which are the shop's own records (accounting,
warranty) and are erased in the shop's order system.

Rasa offers no API to delete a conversation, so the tracker store's ``events`` rows are deleted
with SQL (the one place the console writes there); several Rasa servers share that store.

    python -m bot.console.privacy purge [--days N]     # RETENTION_DAYS by default (cron it)
    python -m bot.console.privacy export --email marie.dupont@example.fr > export.json
    python -m bot.console.privacy erase --order OM-104233
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.config import Settings, get_settings
from bot.console.audit import audit
from bot.console.reporting import TRACKER_EVENTS, as_utc, import_events, tracker_engine
from bot.db.console import (
    DemoMail,
    HandoffMessage,
    LoginFailure,
    ReportConversation,
    ReportMessage,
    TeachingExample,
)
from bot.db.mailbox import Handoff, InboxMessage, utcnow
from bot.db.models import Order
from bot.db.session import get_sessionmaker
from bot.stores import store_ids

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subject:
    """The customer a request is about: the identifiers to look for."""

    emails: tuple[str, ...]
    order_numbers: tuple[str, ...]

    @property
    def needles(self) -> tuple[str, ...]:
        """What to look for in message texts (lower case)."""
        return tuple(x.lower() for x in (*self.emails, *self.order_numbers))


def subject_of(session: Session, *, email: str | None, order: str | None) -> Subject:
    """The identifiers of a customer given by address or order number (both widened).

    Raises:
        ValueError: neither given, or not an address / order number.
    """
    emails: set[str] = set()
    orders: set[str] = set()
    if email:
        email = email.strip().lower()
        if "@" not in email:
            raise ValueError(f"{email!r} is not an e-mail address")
        emails.add(email)
        orders |= set(session.scalars(select(Order.number).where(Order.customer_email == email)))
    if order:
        number = order.strip().upper()
        if len(number) < 6:
            raise ValueError(f"{order!r} is not an order number")
        orders.add(number)
        emails |= set(session.scalars(select(Order.customer_email).where(Order.number == number)))
    if not emails and not orders:
        raise ValueError("give an e-mail address or an order number")
    return Subject(tuple(sorted(emails)), tuple(sorted(orders)))


def _conversations(session: Session, subject: Subject) -> list[ReportConversation]:
    text = func.lower(ReportMessage.text)
    ids = select(ReportMessage.conversation_id).where(
        or_(*(text.contains(needle, autoescape=True) for needle in subject.needles))
    )
    senders_of_mail = select(InboxMessage.conversation_id).where(
        InboxMessage.sender.in_(subject.emails)
    )
    senders_of_handoffs = select(Handoff.conversation_id).where(
        Handoff.customer_address.in_(subject.emails)
    )
    return list(
        session.scalars(
            select(ReportConversation)
            .where(
                or_(
                    ReportConversation.id.in_(ids),
                    ReportConversation.sender_id.in_(senders_of_mail),
                    ReportConversation.sender_id.in_(senders_of_handoffs),
                )
            )
            .order_by(ReportConversation.started_at)
        )
    )


def _handoffs(session: Session, subject: Subject, senders: Sequence[str]) -> list[Handoff]:
    return list(
        session.scalars(
            select(Handoff).where(
                or_(
                    Handoff.customer_address.in_(subject.emails),
                    Handoff.conversation_id.in_(senders),
                )
            )
        )
    )


def _demo_mail_clause(subject: Subject) -> Any:
    return or_(
        DemoMail.mail_from.in_(subject.emails),
        *(DemoMail.rcpt_to.contains(f",{email},", autoescape=True) for email in subject.emails),
    )


def export(session: Session, subject: Subject) -> dict[str, Any]:
    """Everything stored about the customer, as a JSON-ready document."""
    conversations = _conversations(session, subject)
    senders = [c.sender_id for c in conversations]
    handoffs = _handoffs(session, subject, senders)
    orders = session.scalars(
        select(Order)
        .where(
            or_(Order.number.in_(subject.order_numbers), Order.customer_email.in_(subject.emails))
        )
        .options(selectinload(Order.lines))
    ).all()
    mails = session.scalars(
        select(InboxMessage).where(InboxMessage.sender.in_(subject.emails))
    ).all()

    def when(value: dt.datetime | None) -> str | None:
        return as_utc(value).isoformat() if value else None

    return {
        "subject": {"emails": list(subject.emails), "order_numbers": list(subject.order_numbers)},
        "exported_at": utcnow().isoformat(),
        "orders": [
            {
                "number": o.number,
                "store": o.store_id,
                "email": o.customer_email,
                "postcode": o.postcode,
                "country": o.country,
                "status": o.status.value,
                "placed_on": o.placed_on.isoformat(),
                "lines": [{"name": line.name, "quantity": line.quantity} for line in o.lines],
            }
            for o in orders
        ],
        "conversations": [
            {
                "id": c.sender_id,
                "store": c.store_id,
                "channel": c.channel,
                "started_at": when(c.started_at),
                "messages": [
                    {"at": when(m.at), "author": m.author.value, "text": m.text}
                    for m in session.scalars(
                        select(ReportMessage)
                        .where(ReportMessage.conversation_id == c.id)
                        .order_by(ReportMessage.position)
                    )
                ],
            }
            for c in conversations
        ],
        "mails": [
            {
                "received_at": when(m.received_at),
                "store": m.store_id,
                "state": m.state.value,
                "message": m.raw.decode("utf-8", errors="replace"),
                "reply": m.reply_raw.decode("utf-8", errors="replace") if m.reply_raw else None,
            }
            for m in mails
        ],
        "handoffs": [
            {
                "id": h.id,
                "store": h.store_id,
                "channel": h.channel.value,
                "created_at": when(h.created_at),
                "status": h.status,
                "excerpt": h.excerpt,
                "messages": [
                    {"at": when(m.at), "author": m.author.value, "text": m.text}
                    for m in session.scalars(
                        select(HandoffMessage).where(HandoffMessage.handoff_id == h.id)
                    )
                ],
            }
            for h in handoffs
        ],
        "demo_mail": [
            {"received_at": when(m.received_at), "subject": m.subject}
            for m in session.scalars(select(DemoMail).where(_demo_mail_clause(subject)))
        ],
    }


@dataclass
class Erasure:
    """What an erasure or a purge deleted."""

    conversations: int = 0
    tracker_events: int = 0
    mails: int = 0
    handoffs: int = 0
    teaching_examples: int = 0
    demo_mail: int = 0
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console, the audit log and the command line."""
        return (
            f"{self.conversations} conversation(s) ({self.tracker_events} tracker events), "
            f"{self.mails} mail(s), {self.handoffs} handoff(s), "
            f"{self.teaching_examples} teaching example(s), {self.demo_mail} demo mail(s)"
        )


def _delete_tracker(tracker: Engine | None, senders: Sequence[str]) -> int:
    if tracker is None or not senders:
        return 0
    deleted = 0
    with tracker.begin() as connection:
        for start in range(0, len(senders), 500):
            chunk = senders[start : start + 500]
            result = connection.execute(
                delete(TRACKER_EVENTS).where(TRACKER_EVENTS.c.sender_id.in_(chunk))
            )
            deleted += result.rowcount or 0
    return deleted


def erase(session: Session, subject: Subject, tracker: Engine | None) -> Erasure:
    """Deletes everything stored about the customer but the orders (the caller commits)."""
    result = Erasure()
    conversations = _conversations(session, subject)
    senders = [c.sender_id for c in conversations]
    handoffs = _handoffs(session, subject, senders)
    senders = sorted({*senders, *(h.conversation_id for h in handoffs)})
    mail_senders = session.scalars(
        select(InboxMessage.conversation_id).where(
            InboxMessage.sender.in_(subject.emails), InboxMessage.conversation_id.is_not(None)
        )
    ).all()
    senders = sorted({*senders, *(s for s in mail_senders if s)})
    result.tracker_events = _delete_tracker(tracker, senders)
    result.conversations = _rowcount(
        session.execute(delete(ReportConversation).where(ReportConversation.sender_id.in_(senders)))
    )
    result.handoffs = _rowcount(
        session.execute(delete(Handoff).where(Handoff.id.in_([h.id for h in handoffs])))
    )
    result.mails = _rowcount(
        session.execute(delete(InboxMessage).where(InboxMessage.sender.in_(subject.emails)))
    )
    result.teaching_examples = _rowcount(
        session.execute(
            delete(TeachingExample).where(TeachingExample.source_sender_id.in_(senders))
        )
    )
    result.demo_mail = _rowcount(
        session.execute(delete(DemoMail).where(_demo_mail_clause(subject)))
    )
    if subject.order_numbers:
        result.kept.append(
            f"orders {', '.join(subject.order_numbers)} (the shop's records: erase them in the "
            "shop's order system)"
        )
    return result


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge(
    session: Session, tracker: Engine | None, *, days: int, now: dt.datetime | None = None
) -> Erasure:
    """Deletes transcripts, mails, handoffs and demo mail older than ``days`` (caller commits)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    result = Erasure()
    old = session.scalars(
        select(ReportConversation.sender_id).where(ReportConversation.last_at < cutoff)
    ).all()
    stale = list(old)
    if tracker is not None:
        with tracker.connect() as connection:
            stale += [
                str(sender)
                for (sender,) in connection.execute(
                    select(TRACKER_EVENTS.c.sender_id)
                    .group_by(TRACKER_EVENTS.c.sender_id)
                    .having(func.max(TRACKER_EVENTS.c.timestamp) < cutoff.timestamp())
                )
            ]
    senders = sorted(set(stale))
    result.tracker_events = _delete_tracker(tracker, senders)
    result.conversations = _rowcount(
        session.execute(delete(ReportConversation).where(ReportConversation.sender_id.in_(senders)))
    )
    result.handoffs = _rowcount(session.execute(delete(Handoff).where(Handoff.created_at < cutoff)))
    result.mails = _rowcount(
        session.execute(delete(InboxMessage).where(InboxMessage.received_at < cutoff))
    )
    result.demo_mail = _rowcount(
        session.execute(delete(DemoMail).where(DemoMail.received_at < cutoff))
    )
    session.execute(delete(LoginFailure).where(LoginFailure.at < cutoff))
    return result


def _refresh(sessions: sessionmaker[Session], tracker: Engine, settings: Settings) -> None:
    # The reporting copy must be current before looking for a customer's conversations.
    import_events(sessions, tracker, stores=store_ids(), default_store=settings.default_store)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``purge``, ``export``, ``erase``."""
    parser = argparse.ArgumentParser(prog="python -m bot.console.privacy")
    sub = parser.add_subparsers(dest="command", required=True)
    purge_parser = sub.add_parser("purge", help="delete what is older than the retention")
    purge_parser.add_argument("--days", type=int, help="default: RETENTION_DAYS")
    for name in ("export", "erase"):
        command = sub.add_parser(name)
        who = command.add_mutually_exclusive_group(required=True)
        who.add_argument("--email")
        who.add_argument("--order")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    sessions = get_sessionmaker()
    reader = tracker_engine(settings.tracker_store_url)
    writer = tracker_engine(settings.tracker_store_url, read_only=False)
    try:
        _refresh(sessions, reader, settings)
        with sessions() as session:
            if args.command == "purge":
                days = args.days or settings.retention_days
                if not days:
                    print("error: set RETENTION_DAYS or give --days", file=sys.stderr)
                    return 2
                purged = purge(session, writer, days=days)
                audit(session, "cli", "privacy.purge", detail=f"{days} days: {purged.summary()}")
                session.commit()
                print(f"Purged what was older than {days} days: {purged.summary()}.")
                return 0
            subject = subject_of(session, email=args.email, order=args.order)
            if args.command == "export":
                json.dump(export(session, subject), sys.stdout, ensure_ascii=False, indent=2)
                audit(session, "cli", "privacy.export")
                session.commit()
                print()
                return 0
            erased = erase(session, subject, writer)
            audit(session, "cli", "privacy.erase", detail=erased.summary())
            session.commit()
            print(f"Erased {erased.summary()}.")
            for kept in erased.kept:
                print(f"Kept: {kept}.")
            return 0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        reader.dispose()
        writer.dispose()


if __name__ == "__main__":
    sys.exit(main())
