"""The console's audit log: one row per thing a person did."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.console.auth import Agent
from bot.db.console import AuditEntry

logger = logging.getLogger(__name__)


def audit(
    session: Session,
    actor: Agent | str,
    action: str,
    *,
    store_id: str | None = None,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Adds an audit entry (the caller commits, with the change it records).

    Args:
        session: the session that also writes the change.
        actor: the logged-in account, or a description (``"cli"``, an e-mail that failed).
        action: what was done (``login``, ``handoff.take``, ``privacy.erase``...).
        store_id: the shop concerned, if any.
        target: what it was done to (a handoff id, a conversation id, an account).
        detail: more, without personal data beyond what the target already says.
    """
    user_id = actor.id if isinstance(actor, Agent) else None
    name = actor.email if isinstance(actor, Agent) else actor
    session.add(
        AuditEntry(
            user_id=user_id,
            actor=name[:254],
            action=action[:64],
            store_id=store_id,
            target=target[:255] if target else None,
            detail=detail,
        )
    )
    logger.info("audit: %s %s store=%s target=%s", name, action, store_id, target)
