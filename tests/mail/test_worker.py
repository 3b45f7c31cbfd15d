"""The inbox worker: its asyncio loop, and the `python -m bot.mail.worker` command."""

from __future__ import annotations

import asyncio
import os
import queue
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.config import PROJECT_ROOT
from bot.db.mailbox import InboxMessage, InboxState
from bot.mail.intake import accept_raw
from bot.mail.processor import DrainReport
from bot.mail.worker import MailWorker
from devstack.stack import free_port
from tests.mail.conftest import MakeSettings
from tests.mail.helpers import SmtpServer, make_mail


async def test_worker_polls_wakes_up_and_stops() -> None:
    passes: queue.Queue[float] = queue.Queue()

    def drain(should_stop: Callable[[], bool]) -> DrainReport:
        passes.put(time.monotonic())
        return DrainReport()

    # An hour between polls: any second pass within the test can only come from wake().
    worker = MailWorker(drain, poll_s=3600.0)
    worker.start()
    await asyncio.to_thread(passes.get, timeout=60)  # the first pass, at start
    assert passes.empty()  # then it waits...
    worker.wake()
    await asyncio.to_thread(passes.get, timeout=60)  # ...unless woken up
    await asyncio.wait_for(worker.stop(), timeout=60)
    assert passes.empty()  # stopping runs no further pass


async def test_worker_survives_a_failing_pass() -> None:
    failures: queue.Queue[int] = queue.Queue()
    calls = 0

    def drain(should_stop: Callable[[], bool]) -> DrainReport:
        nonlocal calls
        calls += 1
        failures.put(calls)
        raise RuntimeError("database down")

    worker = MailWorker(drain, poll_s=0.01)
    worker.start()
    # The loop goes on after a failed pass: a second pass comes (after the back-off).
    assert await asyncio.to_thread(failures.get, timeout=60) == 1
    assert await asyncio.to_thread(failures.get, timeout=60) == 2
    await asyncio.wait_for(worker.stop(), timeout=60)


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.mail.worker", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_once_command_drains_the_inbox(
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    inbox_url: str,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    with sessions() as session:
        robot = accept_raw(
            session=session,
            raw=make_mail(headers={"Auto-Submitted": "auto-replied"}),
            settings=settings,
        )
        customer = accept_raw(session=session, raw=make_mail(message_id="<c@x>"), settings=settings)
        session.commit()
    env = {
        "DATABASE_URL": inbox_url,
        "SMTP_URL": smtp_server.url,
        "RASA_URL": f"http://127.0.0.1:{free_port()}",  # down: the customer's mail waits
        "EMAIL_RETRY_DELAY_S": "3600",
    }

    result = run_worker(env, "--once")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Processed 2 message(s); received=1, skipped=1."
    with sessions() as session:
        skipped = session.get(InboxMessage, robot.inbox_id)
        assert skipped is not None and skipped.state is InboxState.SKIPPED
        waiting = session.get(InboxMessage, customer.inbox_id)
        assert waiting is not None and waiting.state is InboxState.RECEIVED
        assert waiting.attempts == 1 and "Rasa" in (waiting.last_error or "")
    assert smtp_server.received == []


def test_once_command_without_smtp_url_in_production_says_so() -> None:
    # In the local profile the command uses the local SMTP catcher instead
    # (tests/console/test_console_mailbox.py).
    secret = secrets.token_hex(24)
    result = run_worker(
        {
            "BOT_PROFILE": "production",
            "DATABASE_URL": "postgresql+psycopg2://shop@127.0.0.1:9/orders",
            "RASA_TOKEN": secret,
            "EMAIL_WEBHOOK_SECRET": secret,
            "CONSOLE_SESSION_SECRET": secret,
            "SMTP_URL": "",
        },
        "--once",
    )
    assert result.returncode == 2, result.stderr
    # Refused by the production profile's settings check, in one sentence, no traceback.
    assert "SMTP_URL must be set" in result.stderr
    assert "Traceback" not in result.stderr


def test_long_running_worker_stops_cleanly_on_sigterm(inbox_url: str) -> None:
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "bot.mail.worker", "-v"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATABASE_URL": inbox_url,
            "SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
            "EMAIL_WORKER_POLL_S": "0.2",
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # until the signal handlers are installed
            if "E-mail worker running" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
