"""E-mail out of the box: `make run` gives the gateway a local SMTP catcher when SMTP_URL is
unset; the catcher (a real aiosmtpd server in the gateway) keeps every mail for the demo
mailbox, where a visitor writes to a shop and reads the replies."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

from sqlalchemy import select

from bot.config import Settings
from bot.db.mailbox import InboxMessage
from bot.mail.smtp import SmtpConfig, SmtpSender
from bot.stack import LOCAL_SMTP_PORT, free_port, local_mail
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of


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


def test_no_demo_mailbox_without_the_catcher(make_console: MakeConsole) -> None:
    client = make_console()
    assert client.get("/mailbox").status_code == 404
