"""The console's per-app resources, opened by the router's lifespan (see ``bot.console.web``).

One :class:`ConsoleState` per gateway app: the database sessions, the read-only engine on
Rasa's tracker store, the session keys, the teacher, and the background tasks (the tracker
import every ``CONSOLE_IMPORT_INTERVAL_S``, the local SMTP catcher when ``LOCAL_SMTP_PORT`` is
set). The chat route reads it too (live handoffs), through ``request.state.console``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.console.auth import SessionKeys, session_secret
from bot.console.mailcatcher import start_catcher
from bot.console.reporting import ImportReport, import_events, tracker_engine
from bot.console.teaching import Teacher
from bot.db.session import make_engine, session_factory
from bot.stores import store_ids

logger = logging.getLogger(__name__)


@dataclass
class ConsoleState:
    """What the console's routes share."""

    settings: Settings
    sessions: sessionmaker[Session]
    tracker: Engine
    keys: SessionKeys
    teacher: Teacher
    training_tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # One import at a time in this process; the shutdown waits for the one in flight.
    import_lock: threading.Lock = field(default_factory=threading.Lock)

    def import_now(self) -> ImportReport:
        """One import pass of new tracker events (blocking: call it in a thread)."""
        with self.import_lock:
            return import_events(
                self.sessions,
                self.tracker,
                stores=store_ids(),
                default_store=self.settings.default_store,
            )


async def _import_loop(state: ConsoleState) -> None:
    delay = state.settings.console_import_interval_s
    while True:
        try:
            await asyncio.to_thread(state.import_now)
            delay = state.settings.console_import_interval_s
        except SQLAlchemyError as exc:
            # A database not migrated yet, or gone for a moment: try again later, quietly.
            logger.debug("Tracker import failed: %s", exc)
            delay = min(delay * 2, 60.0)
        except Exception:
            logger.exception("Tracker import failed")
            delay = min(delay * 2, 60.0)
        await asyncio.sleep(delay)


@contextlib.asynccontextmanager
async def console_resources(settings: Settings) -> AsyncIterator[ConsoleState]:
    """Opens the console's resources and runs its background tasks while the app runs."""
    engine = make_engine(
        settings.database_url, statement_timeout_s=settings.database_statement_timeout_s
    )
    tracker = tracker_engine(settings.tracker_store_url)
    state = ConsoleState(
        settings=settings,
        sessions=session_factory(engine),
        tracker=tracker,
        keys=SessionKeys(session_secret(settings)),
        teacher=Teacher(training_file=settings.console_training_file),
    )
    catcher = None
    if settings.local_smtp_port:
        catcher = start_catcher(state.sessions, settings.local_smtp_port)
    importer = asyncio.get_running_loop().create_task(_import_loop(state), name="console-import")
    try:
        yield state
    finally:
        importer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await importer
        # A cancelled task does not stop its thread: wait for the import in flight, if any,
        # before the engines it uses are disposed.
        await asyncio.to_thread(state.import_lock.acquire)
        for task in list(state.training_tasks):
            task.cancel()
        if catcher is not None:
            catcher.stop()
        tracker.dispose()
        engine.dispose()
