"""The e-mail channel end to end: raw mails to `/email/inbound`, replies counted by a local SMTP
server."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx

from bench.machine import tree_rss
from bench.stats import log
from bench.targets import Target
from bench.workload import MAIL_QUESTIONS, WEBHOOK_SECRET
from devstack.stack import (
    Stack,
    free_port,
    gateway_service,
)


class _CountingSmtpHandler:
    """aiosmtpd handler: records when each message arrived (its own thread calls it)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.in_reply_to: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = bytes(envelope.original_content or envelope.content)
        header = re.search(rb"^In-Reply-To:\s*(\S+)", content, re.MULTILINE | re.IGNORECASE)
        with self._lock:
            self.arrivals.append(time.perf_counter())
            self.in_reply_to.append(header.group(1).decode() if header else "")
        return "250 2.0.0 OK"

    def replies_to(self, message_ids: set[str]) -> list[float]:
        """Arrival times of the replies to `message_ids`."""
        with self._lock:
            return [
                t
                for t, ref in zip(self.arrivals, self.in_reply_to, strict=True)
                if ref in message_ids
            ]


def bench_mail_message(index: int, run_id: str) -> tuple[str, bytes]:
    """One inbound support mail from a sender of its own (the daily reply limit is per sender)."""
    to, body = MAIL_QUESTIONS[index % len(MAIL_QUESTIONS)]
    message = EmailMessage()
    message["From"] = f"Customer {index} <customer.{run_id}.{index}@example.com>"
    message["To"] = to
    message["Subject"] = "Question"
    message["Date"] = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message_id = make_msgid(idstring=f"bench{index}", domain="example.com")
    message["Message-ID"] = message_id
    message.set_content(body)
    return message_id, message.as_bytes()


def inbox_states(database_url: str, message_ids: set[str]) -> Counter[str]:
    """The inbox state of each benchmark mail."""
    from sqlalchemy import select

    from bot.db.mailbox import InboxMessage
    from bot.db.session import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(InboxMessage.message_id, InboxMessage.state).where(
                    InboxMessage.message_id.in_(message_ids)
                )
            ).all()
    finally:
        engine.dispose()
    return Counter(str(getattr(state, "value", state)) for _, state in rows)


def bench_mail(target: Target, count: int, timeout_s: float) -> dict[str, Any]:
    """Mails per second from the webhook to the SMTP server, end to end.

    A gateway of its own is started with SMTP_URL pointing at an aiosmtpd server run here
    (the chat gateway has no SMTP server, and a running one's settings are not ours to
    change), on the same Rasa server, with the inbox in the benchmark's database. One mail is
    answered first as a warm-up; then `count` mails are posted as fast as the webhook takes
    them, and the clock stops when the SMTP server has received the last reply.
    """
    from aiosmtpd.controller import Controller

    handler = _CountingSmtpHandler()
    smtp_port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    gateway = gateway_service(
        port=free_port(),
        name="mail gateway",
        env={
            "DATABASE_URL": target.database_url,
            "RASA_URL": target.rasa_url,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "EMAIL_WORKER_ENABLED": "true",
            "EMAIL_WORKER_POLL_S": "0.5",
            "DEFAULT_STORE": "om-system",
        },
    )
    stack = Stack([gateway], log_dir=target.work / "log")
    run_id = uuid.uuid4().hex[:8]
    webhook_errors: Counter[int] = Counter()
    try:
        stack.start()
        with httpx.Client(base_url=gateway.base_url, timeout=30.0) as client:

            def post(raw: bytes) -> int:
                # A mail provider retries a webhook that answered 5xx; so does the benchmark,
                # and it counts the retries (each one is a failure of the gateway to report).
                for attempt in range(4):
                    response = client.post(
                        "/email/inbound",
                        content=raw,
                        headers={
                            "Content-Type": "message/rfc822",
                            "X-Webhook-Secret": WEBHOOK_SECRET,
                        },
                    )
                    if response.status_code < 500 or attempt == 3:
                        break
                    webhook_errors[response.status_code] += 1
                    log(f"  webhook answered {response.status_code}: {response.text[:120]}; retry")
                    time.sleep(0.5 * (attempt + 1))
                return response.status_code

            def wait_for(ids: set[str], deadline: float) -> list[float]:
                while time.perf_counter() < deadline:
                    replies = handler.replies_to(ids)
                    if len(replies) >= len(ids):
                        return replies
                    time.sleep(0.05)
                return handler.replies_to(ids)

            warm_id, warm_raw = bench_mail_message(0, f"{run_id}w")
            post(warm_raw)
            wait_for({warm_id}, time.perf_counter() + timeout_s)

            mails = [bench_mail_message(i, run_id) for i in range(count)]
            ids = {message_id for message_id, _ in mails}
            started = time.perf_counter()
            accepted = {message_id for message_id, raw in mails if post(raw) == 202}
            posted = time.perf_counter()
            # A mail the webhook refused will never be answered: wait for the others only.
            replies = wait_for(accepted, started + timeout_s)
        states = inbox_states(target.database_url, ids)
        memory = tree_rss(gateway.process.pid) if gateway.process else None
    finally:
        stack.stop()
        controller.stop()
    last = max(replies) if replies else None
    elapsed = (last - started) if last is not None else None
    return {
        "mails": count,
        "replies_received": len(replies),
        "webhook_accepted": len(accepted),
        "webhook_5xx_retried": {str(k): v for k, v in webhook_errors.items()},
        "post_all_s": round(posted - started, 3),
        "inbox_to_last_reply_s": round(elapsed, 3) if elapsed is not None else None,
        "mails_per_s": round(len(replies) / elapsed, 2) if elapsed else None,
        "inbox_states": dict(states),
        "errors": count - len(replies),
        "mail_gateway_memory": memory,
    }
