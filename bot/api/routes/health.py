"""Health of the gateway: liveness (`/health`) and readiness (`/health/ready`).

Readiness needs Rasa (`/status` with a loaded model) and the inbox database; it also reports
the e-mail inbox, so that an operator (or a monitoring probe) sees mail piling up or failing
long before a customer complains: the backlog (mails not finished yet), the age of the oldest
one, the mails being processed, the mails that failed in the last 24 hours, and those failed
mails not yet handed to a human (bot/mail/dead_letters.py; it should stay 0).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.api.deps import RasaClientDep
from bot.db.mailbox import utcnow
from bot.db.session import get_sessionmaker
from bot.errors import RasaUnavailableError
from bot.mail import inbox
from bot.rasa_client import RasaTimeoutError

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# A readiness probe must answer quickly even when Rasa hangs.
READY_TIMEOUT_S = 3.0


@router.get("/health")
def health() -> dict[str, str]:
    """Answers as long as the gateway process serves requests."""
    return {"status": "ok"}


def _mail_report(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        report = inbox.health(session=session, now=utcnow())
    return dataclasses.asdict(report)


@router.get("/health/ready", response_model=None)
async def ready(request: Request, rasa: RasaClientDep) -> JSONResponse:
    """200 when Rasa has a model and the inbox database answers, 503 (with the reasons)
    otherwise; the body reports the inbox (``mail``) either way when the database answers."""
    body: dict[str, Any] = {"status": "ok"}
    healthy = True
    try:
        status = await rasa.status(timeout_s=READY_TIMEOUT_S)
    except RasaTimeoutError:
        body["rasa"], healthy = "timeout", False
    except RasaUnavailableError as exc:
        logger.info("Rasa not ready: %s", exc)
        body["rasa"], healthy = "unreachable", False
    else:
        model_file = status.get("model_file")
        if isinstance(model_file, str) and model_file:
            body["rasa"], body["model_file"] = "ready", model_file
        else:
            body["rasa"], healthy = "no_model", False
    sessions: sessionmaker[Session] = (
        getattr(request.state, "mail_sessions", None) or get_sessionmaker()
    )
    try:
        body["mail"] = await run_in_threadpool(_mail_report, sessions)
    except SQLAlchemyError as exc:
        logger.warning("Inbox database not ready: %s", exc)
        body["mail"], healthy = {"database": "unreachable"}, False
    if healthy:
        return JSONResponse(body)
    body["status"] = "unavailable"
    return JSONResponse(body, status_code=503)
