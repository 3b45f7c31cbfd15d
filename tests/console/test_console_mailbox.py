"""E-mail out of the box: `make run` gives the gateway a local SMTP catcher when SMTP_URL is
unset; the catcher (a real aiosmtpd server in the gateway) keeps every mail for the demo
mailbox, where a visitor writes to a shop and reads the replies. `python -m bot.mail.worker
--once` in the local profile sends to the same catcher (or runs one for its pass)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from bot.config import PROJECT_ROOT, Settings
from bot.db.console import DemoMail
from bot.db.mailbox import InboxMessage
from bot.mail.intake import accept_raw
from bot.mail.smtp import SmtpConfig, SmtpSender
from devstack.stack import LOCAL_SMTP_PORT, free_port, local_mail, port_is_free
from tests.conftest import LiveStack
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of
from tests.mail.helpers import BTOMIC_SUPPORT, SmtpServer, make_mail


def test_make_run_gives_the_gateway_a_catcher_only_without_smtp_url() -> None:
    local = Settings(_env_file=None)  # type: ignore[call-arg]
    assert local_mail(local) == {
        "SMTP_URL": f"smtp://127.0.0.1:{LOCAL_SMTP_PORT}",
        "LOCAL_SMTP_PORT": str(LOCAL_SMTP_PORT),
    }
    chosen = Settings(_env_file=None, local_smtp_port=2626)  # type: ignore[call-arg]
    assert local_mail(chosen)["SMTP_URL"] == "smtp://127.0.0.1:2626"
    configured = Settings(_env_file=None, smtp_url="smtp://mail.example.com:25")  # type: ignore[call-arg]
    assert local_mail(configured) == {}


def test_a_visitor_writes_to_a_shop_and_reads_the_reply(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    port = free_port()
    client = make_console(local_smtp_port=port, smtp_url=f"smtp://127.0.0.1:{port}")
    page = client.get("/mailbox")
    assert page.status_code == 200
    address = re.search(r"You are <strong>([^<]+)</strong>", page.text).group(1)  # type: ignore[union-attr]
    sent = client.post(
        "/mailbox",
        data={
            "csrf_token": csrf_of(page.text),
            "store": "btomic",
            "subject": "Straps",
            "text": "Do you sell straps?",
        },
    )
    assert sent.status_code == 303 and "Sent" in sent.headers["location"]
    with console_env.sessions() as session:
        (row,) = session.scalars(select(InboxMessage).where(InboxMessage.sender == address))
        assert (
            row.store_id == "btomic"
        )  # to BTOMIC's support address, as the webhook would store it

    # Any mail the gateway sends goes through the catcher (a real SMTP conversation).
    reply = EmailMessage()
    reply["From"] = "BTOMIC <service@btomic.com>"
    reply["To"] = address
    reply["Subject"] = "Re: Straps"
    reply.set_content("Yes: 22 mm leather straps.")
    SmtpSender(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}"), timeout_s=10).send(reply)
    deadline = time.monotonic() + 10
    while "22 mm leather straps" not in (inbox := client.get("/mailbox").text):
        assert time.monotonic() < deadline, "the caught mail never showed in the mailbox"
        time.sleep(0.2)
    assert "Re: Straps" in inbox


def test_a_refused_mail_comes_back_filled_in(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    """An expired form or a missing shop loses nothing: the page returns with the message."""
    port = free_port()
    client = make_console(local_smtp_port=port, smtp_url=f"smtp://127.0.0.1:{port}")
    assert client.get("/mailbox").status_code == 200
    draft = {"store": "btomic", "subject": "Bracelet", "text": "Vendez-vous des bracelets <cuir> ?"}
    expired = client.post("/mailbox", data={**draft, "csrf_token": "stale"})
    assert expired.status_code == 403
    assert "the form had expired" in expired.text
    assert '<option value="btomic" selected>' in expired.text
    assert 'value="Bracelet"' in expired.text
    assert "Vendez-vous des bracelets &lt;cuir&gt; ?</textarea>" in expired.text
    no_shop = client.post(
        "/mailbox", data={**draft, "store": "nowhere", "csrf_token": csrf_of(expired.text)}
    )
    assert no_shop.status_code == 400 and "choose a shop" in no_shop.text
    assert "Vendez-vous des bracelets &lt;cuir&gt; ?</textarea>" in no_shop.text
    with console_env.sessions() as session:
        assert session.scalars(select(InboxMessage)).all() == []
    # Sent again from the returned page, it goes.
    sent = client.post("/mailbox", data={**draft, "csrf_token": csrf_of(no_shop.text)})
    assert sent.status_code == 303 and "Sent" in sent.headers["location"]


def test_no_demo_mailbox_without_the_catcher(make_console: MakeConsole) -> None:
    client = make_console()
    assert client.get("/mailbox").status_code == 404


def _worker_once(env: dict[str, str], live_stack: LiveStack) -> subprocess.CompletedProcess[str]:
    """`python -m bot.mail.worker --once` in the local profile, without SMTP_URL."""
    rasa_token = getattr(live_stack, "rasa_token", None) or os.environ.get("RASA_TOKEN")
    token = {"RASA_TOKEN": rasa_token} if rasa_token else {}
    return subprocess.run(
        [sys.executable, "-m", "bot.mail.worker", "--once"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "BOT_PROFILE": "local",
            "SMTP_URL": "",
            **token,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )


def _store_question(console_env: ConsoleEnv, message_id: str) -> None:
    settings = Settings(_env_file=None, database_url=console_env.database_url)  # type: ignore[call-arg]
    with console_env.sessions() as session:
        accept_raw(
            session=session,
            raw=make_mail(
                sender="Alex Martin <alex.martin@example.com>",
                to=BTOMIC_SUPPORT,
                subject="Payment",
                body="Hello,\n\nWhich payment methods do you accept?\n\nAlex",
                message_id=message_id,
            ),
            settings=settings,
        )
        session.commit()


@pytest.mark.e2e
def test_the_worker_command_without_smtp_url_keeps_the_reply_in_the_demo_mailbox(
    console_env: ConsoleEnv, live_stack: LiveStack
) -> None:
    """No gateway runs the catcher: the command runs one for its pass (real Rasa, real SMTP)."""
    _store_question(console_env, "<once-local@example.com>")
    port = free_port()
    result = _worker_once(
        {
            "DATABASE_URL": console_env.database_url,
            **live_stack.gateway_env,
            "LOCAL_SMTP_PORT": str(port),
        },
        live_stack,
    )
    assert result.returncode == 0, result.stderr
    assert "Processed 1 message(s); replied=1." in result.stdout
    assert f"local SMTP catcher on 127.0.0.1:{port}" in result.stdout
    with console_env.sessions() as session:
        (mail,) = session.scalars(select(DemoMail))
    assert mail.rcpt_to == ",alex.martin@example.com,"
    assert mail.subject == "Re: Payment"
    assert "PayPal" in mail.raw.decode("utf-8", "replace")
    assert port_is_free(port)  # the command's catcher is gone with it


@pytest.mark.e2e
def test_the_worker_command_sends_through_the_running_catcher(
    console_env: ConsoleEnv, live_stack: LiveStack
) -> None:
    """`make run`'s gateway holds the catcher's port: the command's mail goes to it."""
    _store_question(console_env, "<once-running@example.com>")
    running = SmtpServer().start()  # stands where make run's gateway listens
    try:
        result = _worker_once(
            {
                "DATABASE_URL": console_env.database_url,
                **live_stack.gateway_env,
                "LOCAL_SMTP_PORT": str(running.port),
            },
            live_stack,
        )
    finally:
        running.stop()
    assert result.returncode == 0, result.stderr
    assert "Processed 1 message(s); replied=1." in result.stdout
    (reply,) = running.received
    assert reply.rcpt_tos == ["alex.martin@example.com"]
    assert "PayPal" in reply.text
    with console_env.sessions() as session:
        assert session.scalars(select(DemoMail)).all() == []  # not caught twice
