"""Each mail in a killable child process: a mail that crashes, freezes or hangs its worker.

Real processes: :class:`IsolatedProcessor` starts ``python -m bot.mail.isolation`` with the
bot of ``tests/mail/troublesome.py``, which kills (SIGKILL), stops (SIGSTOP) or blocks its own
process on a word of the mail. The inbox is a real SQLite database, the replies and forwards
go to a real SMTP server. What must hold: the other mails are answered, the bad one is tried
``EMAIL_MAX_ATTEMPTS`` times and then handed over to a human (forwarded), no child is left
behind, and the parent (the gateway's worker) never notices more than a failed attempt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import PROJECT_ROOT, Settings
from bot.db.mailbox import Handoff, InboxMessage, InboxState
from bot.mail.intake import IntakeStatus, accept_raw
from bot.mail.isolation import IsolatedProcessor
from bot.mail.smtp import SmtpConfig, SmtpSender
from tests.mail.conftest import MakeSettings
from tests.mail.helpers import Rule, ScriptedBot, SmtpServer, make_mail
from tests.mail.troublesome import ANSWER
from tests.processes import alive

FACTORY = "tests.mail.troublesome:processor"
FORWARD_TO = "humans@shop.example"


def store(sessions: sessionmaker[Session], settings: Settings, word: str, n: int) -> int:
    raw = make_mail(
        sender=f"client{n}@example.fr",
        message_id=f"<m{n}@example.fr>",
        body=f"Bonjour,\n\nComment payer ma commande {word} ?\n\nClient",
    )
    with sessions() as session:
        result = accept_raw(session=session, raw=raw, settings=settings)
        session.commit()
    assert result.status is IntakeStatus.ACCEPTED
    return result.inbox_id


def wait_until_gone(pid: int, timeout_s: float = 30.0) -> None:
    """Waits for the process to end (polling /proc); fails the test after the timeout."""
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after {timeout_s} s"
        time.sleep(0.02)


def isolated(
    sessions: sessionmaker[Session], settings: Settings, smtp: SmtpServer
) -> IsolatedProcessor:
    return IsolatedProcessor(
        budget_s=settings.email_processing_budget_s,
        factory=FACTORY,
        sessions=sessions,
        settings=settings,
        bot=ScriptedBot(rules=[Rule("payer", "payment_methods", 0.95, ANSWER)]),
        sender=SmtpSender(SmtpConfig.from_url(smtp.url), timeout_s=5),
    )


@pytest.mark.parametrize("word", ["CRASH", "FREEZE", "HANG"])
def test_a_mail_that_kills_or_freezes_its_worker_ends_as_a_handoff(
    word: str,
    sessions: sessionmaker[Session],
    make_settings: MakeSettings,
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(
        email_max_attempts=2,
        # Far above a mail's real time (milliseconds), even on a loaded machine.
        email_processing_budget_s=8.0,
        email_handoff_forward_to=FORWARD_TO,
    )
    before = store(sessions, settings, "", 1)
    bad = store(sessions, settings, word, 2)
    after = store(sessions, settings, "", 3)

    with isolated(sessions, settings, smtp_server) as processor:
        first = processor.drain()
        # The bad mail's retry is due at once here (EMAIL_RETRY_DELAY_S=0), in the next pass.
        second = processor.drain()
        third = processor.drain()
        lost = list(processor.lost_children)
        last_child = processor.child_pid

    assert first.outcomes == {"replied": 2, "received": 1}
    assert second.outcomes == {"failed": 1}
    assert second.dead_lettered == 1
    assert third.outcomes == {} and third.dead_lettered == 0
    assert len(lost) == 2  # one child killed per attempt, each replaced
    assert not any(alive(pid) for pid in lost)
    assert last_child is None or not alive(last_child)  # stopped with the processor

    with sessions() as session:
        rows = {r.id: r for r in session.scalars(select(InboxMessage))}
        (handoff,) = session.scalars(select(Handoff)).all()
    assert rows[before].state is InboxState.REPLIED
    assert rows[after].state is InboxState.REPLIED
    failed = rows[bad]
    assert failed.state is InboxState.FAILED and failed.reason == "poison"
    assert failed.attempts == 2 and failed.dead_lettered_at is not None
    assert "interrupted" in (failed.last_error or "")
    assert handoff.inbox_message_id == bad and handoff.reason == "failed_poison"
    assert handoff.customer_address == "client2@example.fr" and handoff.forwarded
    answered = sorted(m.rcpt_tos[0] for m in smtp_server.received if FORWARD_TO not in m.rcpt_tos)
    assert answered == ["client1@example.fr", "client3@example.fr"]
    (forward,) = smtp_server.to(FORWARD_TO)
    assert forward.message["Reply-To"] == "client2@example.fr"
    assert "failed_poison" in forward.message["Subject"]
    attached = next(iter(forward.message.iter_attachments())).get_content()
    assert word in attached.get_body(preferencelist=("plain",)).get_content()


def test_the_child_is_killed_when_its_budget_runs_out_not_before(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings(email_max_attempts=3, email_processing_budget_s=6.0)
    good = store(sessions, settings, "", 1)
    with isolated(sessions, settings, smtp_server) as processor:
        assert processor.process(good) is InboxState.REPLIED
        child = processor.child_pid
        hung = store(sessions, settings, "HANG", 2)
        assert processor.process(hung) is InboxState.RECEIVED  # back for a retry
        assert processor.lost_children == [child]
        assert child is not None and not alive(child)
    with sessions() as session:
        row = session.get(InboxMessage, hung)
        assert row is not None
        assert row.attempts == 1 and "no answer within 6 s" in (row.last_error or "")


def test_a_child_killed_from_outside_between_mails_is_replaced(
    sessions: sessionmaker[Session], make_settings: MakeSettings, smtp_server: SmtpServer
) -> None:
    settings = make_settings()
    first = store(sessions, settings, "", 1)
    second = store(sessions, settings, "", 2)
    with isolated(sessions, settings, smtp_server) as processor:
        assert processor.process(first) is InboxState.REPLIED
        child = processor.child_pid
        assert child is not None
        os.kill(child, signal.SIGKILL)
        wait_until_gone(child)
        # Its threads too: the kernel lets the parent collect it only then.
        deadline = time.monotonic() + 30
        while not processor.child_exited():
            assert time.monotonic() < deadline, "the killed child was never collected"
            time.sleep(0.02)
        # The next mail finds the child dead and starts another: that mail is not to blame.
        assert processor.process(second) is InboxState.REPLIED
        assert processor.child_pid not in (None, child)
        assert processor.lost_children == [child]
    assert len(smtp_server.received) == 2
    with sessions() as session:
        row = session.get(InboxMessage, second)
        assert row is not None and row.attempts == 1


def test_the_child_dies_with_its_parent(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a gateway killed with SIGKILL leaves no mail child behind."""
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'from bot.mail.isolation import die_with_parent; import time; "
        "die_with_parent(); print(1, flush=True); time.sleep(600)'], stdout=subprocess.PIPE)\n"
        "child.stdout.readline()\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert alive(child_pid)
        parent.kill()
        parent.wait()
        wait_until_gone(child_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
