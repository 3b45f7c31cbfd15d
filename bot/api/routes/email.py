"""The support e-mail webhook: ``POST /email/inbound``.

The mail provider (or a local MTA pipe, or an inbound-parse service) posts each message sent
to a store's support address, either raw (``Content-Type: message/rfc822``) or as the JSON form
inbound-parse services use (``application/json``: from, to, subject, text, html, headers).
The route only authenticates, stores and answers; the reply is written and sent by the worker
this router starts in the gateway's lifespan (see :mod:`bot.mail.worker`), so the provider
never waits for Rasa or SMTP and a crash loses nothing.

Answers: ``202 accepted`` (stored, will be processed), ``200 duplicate`` (this Message-ID is
already stored: nothing more happens), ``400`` with a JSON error for an unusable message
(stored anyway, as ``failed``), ``401`` for a wrong or missing ``X-Webhook-Secret`` when one is
configured, ``413`` for a message larger than ``EMAIL_MAX_BYTES``, ``415`` for another body
type.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.api.deps import SettingsDep
from bot.api.errors import error_response
from bot.config import Settings, get_settings
from bot.db.session import get_sessionmaker, make_engine, session_factory
from bot.mail.intake import IntakeResult, IntakeStatus, accept_json, accept_raw
from bot.mail.worker import MailWorker, running_worker

logger = logging.getLogger(__name__)

RAW_TYPES = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})
JSON_TYPES = frozenset({"application/json"})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Opens the inbox database and runs the inbox worker while the gateway runs.

    The database is the one of the settings the app was created with (``app.state.settings``,
    set by ``create_app``), so a test app with its own settings uses its own inbox.
    """
    settings: Settings = getattr(app.state, "settings", None) or get_settings()
    engine = make_engine(
        settings.database_url, statement_timeout_s=settings.database_statement_timeout_s
    )
    sessions = session_factory(engine)
    try:
        async with running_worker(settings, sessions) as worker:
            yield {"mail_sessions": sessions, "mail_worker": worker}
    finally:
        engine.dispose()


router = APIRouter(prefix="/email", tags=["email"], lifespan=lifespan)


def get_mail_session(request: Request) -> Iterator[Session]:
    """A session on the inbox database, closed after the request (the route commits)."""
    # The lifespan's factory; the process-wide one if the app runs without its lifespan.
    sessions: sessionmaker[Session] = (
        getattr(request.state, "mail_sessions", None) or get_sessionmaker()
    )
    with sessions() as session:
        yield session


MailSessionDep = Annotated[Session, Depends(get_mail_session)]

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "message/rfc822": {
                "schema": {"type": "string", "format": "binary"},
                "example": "From: Marie <marie.dupont@example.fr>\r\nTo: eshop.support@"
                "om-digitalsolutions.com\r\nSubject: Commande\r\nMessage-ID: <1@example.fr>"
                "\r\n\r\nBonjour, où en est ma commande OM-104233 ?\r\n",
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string"},
                        "to": {"type": "string"},
                        "subject": {"type": "string"},
                        "text": {"type": "string"},
                        "html": {"type": "string"},
                        "headers": {
                            "description": "object, list of [name, value] pairs, or the raw "
                            "header block (Message-ID, In-Reply-To, References...)",
                        },
                    },
                    "required": ["from"],
                }
            },
        },
    }
}


def _error(code: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return error_response(code, error, detail=detail, **extra)


def _secret_ok(settings: Settings, given: str | None) -> bool:
    expected = settings.email_webhook_secret
    if not expected:
        return True
    # Constant-time comparison: the answer time must not tell how much of a guess was right.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@router.post(
    "/inbound",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_BODY_DOC,
    responses={
        200: {"description": "Already stored (same Message-ID): nothing more is done."},
        400: {"description": "Not a usable message (stored as failed)."},
        401: {"description": "Missing or wrong X-Webhook-Secret."},
        413: {"description": "Larger than EMAIL_MAX_BYTES."},
        415: {"description": "Neither message/rfc822 nor application/json."},
        503: {"description": "The database is unavailable: nothing stored, send it again."},
    },
)
async def inbound(
    request: Request,
    settings: SettingsDep,
    session: MailSessionDep,
    x_webhook_secret: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Stores one inbound support mail; the worker answers it (or not) afterwards."""
    if not _secret_ok(settings, x_webhook_secret):
        logger.warning("Inbound mail refused: missing or wrong X-Webhook-Secret")
        return _error(401, "unauthorized", "Missing or wrong X-Webhook-Secret header.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in RAW_TYPES | JSON_TYPES:
        return _error(
            415,
            "unsupported_media_type",
            "Send the message as message/rfc822 (raw) or application/json (parsed form).",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.email_max_bytes:
        return _error(413, "too_large", f"The message exceeds {settings.email_max_bytes} bytes.")
    body = await _read_at_most(request, settings.email_max_bytes)
    if body is None:
        return _error(413, "too_large", f"The message exceeds {settings.email_max_bytes} bytes.")
    if not body.strip():
        return _error(400, "malformed_message", "The request body is empty.")

    try:
        result = await run_in_threadpool(
            _store, session, body, settings, as_json=content_type in JSON_TYPES
        )
    except OperationalError as exc:
        # The database is busy or down (SQLite's write lock held past the timeout by the
        # worker under load, a PostgreSQL restart): nothing was stored, so the provider must
        # send the mail again, which a 503 tells it to do (every inbound-parse service retries).
        logger.warning("Inbound mail not stored (database unavailable, retry asked): %s", exc)
        session.rollback()
        return _error(
            503,
            "temporarily_unavailable",
            "The mail could not be stored now: send it again later.",
            retry_after_s=30,
        )
    if result.status is IntakeStatus.MALFORMED:
        return _error(
            400,
            "malformed_message",
            result.error or "The message is not usable.",
            id=result.inbox_id,
            message_id=result.message_id,
            status=result.status.value,
        )
    content = {
        "status": result.status.value,
        "id": result.inbox_id,
        "message_id": result.message_id,
    }
    if result.status is IntakeStatus.DUPLICATE:
        return JSONResponse(status_code=200, content=content)
    worker: MailWorker | None = getattr(request.state, "mail_worker", None)
    if worker is not None:
        worker.wake()
    return JSONResponse(status_code=202, content={**content, "store": result.store_id})


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    # Streamed, so a chunked upload without Content-Length cannot fill the memory first.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _store(session: Session, body: bytes, settings: Settings, *, as_json: bool) -> IntakeResult:
    # Runs in the thread pool: SQLAlchemy sessions are synchronous.
    if as_json:
        result = accept_json(session=session, body=body, settings=settings)
    else:
        result = accept_raw(session=session, raw=body, settings=settings)
    session.commit()
    return result
