"""Drains the inbox: the gateway's background task, and ``python -m bot.mail.worker``.

In the gateway, :func:`running_worker` starts a :class:`MailWorker` for the app's lifespan: an
asyncio task that looks at the inbox every ``EMAIL_WORKER_POLL_S`` seconds, or at once when
the webhook stored a new mail (:meth:`MailWorker.wake`). The processing itself is synchronous
and runs in a worker thread, so the gateway keeps serving requests meanwhile.

Several gateways (or a gateway and the command) may drain the same inbox: each row is claimed
by a conditional UPDATE, so every mail is processed, and answered, once.

For operations::

    python -m bot.mail.worker --once   # process what is due now, print a summary, exit
    python -m bot.mail.worker          # run until Ctrl-C (a gateway with the worker disabled)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings, SettingsError, get_settings
from bot.db.session import get_sessionmaker, make_engine, session_factory
from bot.errors import ConfigurationError
from bot.mail.isolation import IsolatedProcessor
from bot.mail.processor import DrainReport, MailProcessor
from bot.mail.smtp import SmtpConfig, SmtpSender
from bot.rasa_client import BlockingRasaClient

# The local SMTP catcher's port when LOCAL_SMTP_PORT is not set (`make run` uses the same).
LOCAL_SMTP_PORT = 2525

logger = logging.getLogger(__name__)

# Longest pause after repeated database errors (a database that is down or not migrated).
_MAX_ERROR_BACKOFF_S = 60.0


def _smtp_sender(settings: Settings) -> SmtpSender:
    smtp_url = settings.smtp_url or local_smtp_url(settings)
    if not smtp_url:
        raise ConfigurationError("SMTP_URL is not set: the e-mail worker cannot send replies")
    return SmtpSender(SmtpConfig.from_url(smtp_url), timeout_s=settings.smtp_timeout_s)


@contextlib.contextmanager
def mail_processor(
    settings: Settings, sessions: sessionmaker[Session] | None = None
) -> Iterator[MailProcessor]:
    """A processor wired to the configured database, Rasa server and SMTP server.

    Each mail is processed in a child process with a time budget
    (``EMAIL_PROCESSING_BUDGET_S``, :mod:`bot.mail.isolation`), stopped at the end of the block.

    Args:
        settings: the configuration.
        sessions: the inbox database's session factory; the process-wide one by default.

    Raises:
        ConfigurationError: ``SMTP_URL`` is not set (production profile) or not valid.
    """
    sender = _smtp_sender(settings)
    with (
        BlockingRasaClient.connect(
            settings.rasa_url, timeout_s=settings.rasa_timeout_s, token=settings.rasa_token
        ) as bot,
        IsolatedProcessor(
            budget_s=settings.email_processing_budget_s,
            sessions=sessions or get_sessionmaker(),
            settings=settings,
            bot=bot,
            sender=sender,
        ) as processor,
    ):
        yield processor


@contextlib.contextmanager
def processor_for_child(settings: Settings) -> Iterator[MailProcessor]:
    """The processor the mail child process runs (:mod:`bot.mail.isolation`): a plain one on
    its own connections to the database of ``settings``."""
    engine = make_engine(
        settings.database_url, statement_timeout_s=settings.database_statement_timeout_s
    )
    try:
        with BlockingRasaClient.connect(
            settings.rasa_url, timeout_s=settings.rasa_timeout_s, token=settings.rasa_token
        ) as bot:
            yield MailProcessor(
                sessions=session_factory(engine),
                settings=settings,
                bot=bot,
                sender=_smtp_sender(settings),
            )
    finally:
        engine.dispose()


class MailWorker:
    """Runs :meth:`MailProcessor.drain` in a loop until stopped."""

    def __init__(
        self, drain: Callable[[Callable[[], bool]], DrainReport], *, poll_s: float
    ) -> None:
        """Creates a worker.

        Args:
            drain: one pass over the inbox; receives a "should I stop?" callable.
            poll_s: seconds between passes when nothing wakes the worker.
        """
        self._drain = drain
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._stopping = threading.Event()  # read from the drain thread
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mail-worker")

    def wake(self) -> None:
        """Asks for a pass now (a new mail was stored)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stops after the row being processed, if any (a reply is never cut in half)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = self._poll_s
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                report = await asyncio.to_thread(self._drain, self._stopping.is_set)
            except SQLAlchemyError as exc:
                logger.error("E-mail worker cannot read the inbox: %s", exc)
                backoff = min(backoff * 2, _MAX_ERROR_BACKOFF_S)
            except Exception:
                logger.exception("E-mail worker pass failed")
                backoff = min(backoff * 2, _MAX_ERROR_BACKOFF_S)
            else:
                backoff = self._poll_s
                if report.processed or report.requeued or report.dead_lettered:
                    logger.info(
                        "E-mail worker pass: %s, %d failed mail(s) handed over",
                        report.outcomes,
                        report.dead_lettered,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, sessions: sessionmaker[Session] | None = None
) -> AsyncIterator[MailWorker | None]:
    """The gateway's worker for the duration of the block, None when it must not run.

    It does not run when ``EMAIL_WORKER_ENABLED`` is false (a separate worker process drains
    the inbox) or when ``SMTP_URL`` is unset (mail is stored and waits for a configured one).
    """
    if not settings.email_worker_enabled:
        logger.info("E-mail worker disabled (EMAIL_WORKER_ENABLED=false)")
        yield None
        return
    if not settings.smtp_url:
        logger.warning("E-mail worker not started: SMTP_URL is not set; inbound mail waits")
        yield None
        return
    with mail_processor(settings, sessions) as processor:
        worker = MailWorker(
            lambda should_stop: processor.drain(should_stop=should_stop),
            poll_s=settings.email_worker_poll_s,
        )
        worker.start()
        logger.info("E-mail worker started (poll every %.1f s)", settings.email_worker_poll_s)
        try:
            yield worker
        finally:
            await worker.stop()
            logger.info("E-mail worker stopped")


def local_smtp_url(settings: Settings) -> str | None:
    """Where mail goes in the local profile without ``SMTP_URL``: the local SMTP catcher.

    ``make run`` gives its gateway the same address (``LOCAL_SMTP_PORT``, 2525 by default), so
    the command and the gateway's worker send to the same demo mailbox. None in production.
    """
    if settings.smtp_url or settings.bot_profile != "local":
        return None
    return f"smtp://127.0.0.1:{settings.local_smtp_port or LOCAL_SMTP_PORT}"


@contextlib.contextmanager
def local_catcher(settings: Settings) -> Iterator[str | None]:
    """For the command: the local SMTP catcher, started here when no gateway runs one.

    Yields a line saying where the mail went (None when ``SMTP_URL`` is set). When ``make run``
    is running, its gateway's catcher already listens on the port and gets the mail; otherwise
    this process runs one (aiosmtpd, storing into the demo mailbox's table of the configured
    database) for as long as the command runs, so the replies are in ``/mailbox`` next time.
    """
    url = local_smtp_url(settings)
    if url is None:
        yield None
        return
    port = settings.local_smtp_port or LOCAL_SMTP_PORT
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            running = True
    except OSError:
        running = False
    if running:
        yield f"Mail sent through the local SMTP catcher on 127.0.0.1:{port} (make run's gateway)."
        return
    from bot.console.mailcatcher import start_catcher  # the gateway's catcher, run here

    catcher = start_catcher(get_sessionmaker(), port)
    try:
        yield (
            f"Mail kept in the demo mailbox (local SMTP catcher on 127.0.0.1:{port}, SMTP_URL "
            "unset): see /mailbox when `make run` is running."
        )
    finally:
        catcher.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: drain the inbox once (``--once``) or until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.mail.worker",
        description="Process the stored inbound support e-mails "
        "(DATABASE_URL, RASA_URL, SMTP_URL).",
    )
    parser.add_argument("--once", action="store_true", help="one pass, print a summary, exit")
    parser.add_argument("--limit", type=int, default=100, help="most rows per pass (default 100)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = get_settings()
    except SettingsError as exc:
        # e.g. BOT_PROFILE=production without SMTP_URL: one line naming it, no traceback.
        print(exc.code, file=sys.stderr)
        return 2
    try:
        with local_catcher(settings) as where, mail_processor(settings) as processor:
            if args.once:
                report = processor.drain(limit=args.limit)
                summary = ", ".join(f"{k}={v}" for k, v in sorted(report.outcomes.items()))
                print(f"Processed {report.processed} message(s); {summary or 'nothing due'}.")
                if report.dead_lettered:
                    print(f"Handed {report.dead_lettered} failed message(s) over to a human.")
                if where and report.processed:
                    print(where)
                return 0
            worker = MailWorker(
                lambda should_stop: processor.drain(limit=args.limit, should_stop=should_stop),
                poll_s=settings.email_worker_poll_s,
            )

            async def until_stopped() -> None:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                # SIGTERM (a process manager) and SIGINT (Ctrl-C) end the loop after the row
                # being processed, instead of killing the process in the middle of a reply.
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, stop.set)
                worker.start()
                logger.info(
                    "E-mail worker running (poll every %.1f s); stop with SIGTERM or Ctrl-C",
                    settings.email_worker_poll_s,
                )
                try:
                    await stop.wait()
                finally:
                    await worker.stop()

            asyncio.run(until_stopped())
            return 0
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: cannot use the inbox database: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
