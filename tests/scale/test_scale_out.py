"""Scale-out, proven on real servers: 2 Rasa servers, 2 action servers and 2 answer services
behind nginx.

The tests run in file order on one stack (see conftest.py); the last ones kill or freeze
servers.

* continuity: a conversation's turns land on alternate Rasa servers and it keeps its slots,
  its language and its form: the order-status form started on one server ends on the other;
* the lock store: two messages of one conversation sent at the same instant to the two
  servers are processed one after the other (PostgreSQL shows whole turns, each once);
* concurrency: 50 conversations at once through nginx, each a full order-status lookup;
* e-mail: two gateways drain one inbox and each mail is answered exactly once;
* failure: in the middle of a load, an action server killed, one of an action server's Sanic
  workers killed, an action server frozen (SIGSTOP: it accepts connections and never
  answers), an answer service killed, a Rasa server killed, then a Rasa server frozen; every
  conversation finishes, nothing a customer said is lost or stored twice, and the supervisor
  brings the server back. The lost turns (0) and the worst turn time are reported at the end
  of the run.

Every loop is bounded (a fixed number of conversations and turns, a timeout on each call and
on each wait) and all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.db.mailbox import InboxMessage, InboxState
from bot.db.models import Order, OrderStatus, Shipment
from devstack.stack import Service, ServiceState
from tests.mail.helpers import OM_SUPPORT, make_mail
from tests.processes import alive, cmdline
from tests.scale.conftest import (
    FIGURES,
    WEBHOOK_SECRET,
    Scaled,
    Turn,
    check_turns_stored_once_in_order,
    new_sender,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

OM = {"store": "om-system"}
TRACKING = "JD014600003828461025"
# How long a whole load (all conversations) may take before the test gives up.
LOAD_TIMEOUT_S = 420.0


@dataclass
class Conversation:
    """A scripted customer: what they say, in order, and what the last answer must contain."""

    sender: str
    metadata: dict[str, Any]
    messages: list[str]
    expected_last: list[str]
    turns: list[Turn] = field(default_factory=list)

    def problems(self) -> list[str]:
        """What went wrong for this customer, as readable lines (empty: all fine)."""
        found = []
        for turn in self.turns:
            if turn.error or turn.status != 200 or not turn.answer:
                found.append(f"{self.sender} {turn.text!r}: {turn.status} {turn.error!r}")
        if len(self.turns) != len(self.messages):
            found.append(f"{self.sender}: only {len(self.turns)} of {len(self.messages)} turns")
        elif not all(part in self.turns[-1].answer for part in self.expected_last):
            found.append(
                f"{self.sender}: last answer {self.turns[-1].answer!r} lacks {self.expected_last}"
            )
        return found


def order_lookups(scaled: Scaled, count: int, *, greet: bool = False) -> list[Conversation]:
    """`count` order-status lookups of different orders of both shops (in French and in
    English), each shipped or delivered: every answer must hold that order's tracking number.

    `greet` adds a greeting first: three turns, so that a server killed in mid-load
    interrupts conversations at every stage.
    """
    engine = create_engine(scaled.orders_url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(Order.number, Order.store_id, Order.customer_email, Shipment.tracking_number)
                .join(Shipment, Shipment.order_id == Order.id)
                .where(Order.status.in_([OrderStatus.SHIPPED, OrderStatus.DELIVERED]))
                .order_by(Order.number)
            ).all()
    finally:
        engine.dispose()
    assert len(rows) >= count, f"only {len(rows)} shipped or delivered orders in the demo data"
    conversations = []
    for index, (number, store, email, tracking) in enumerate(rows[:count]):
        french = index % 2 == 0
        question = (
            f"Bonjour, où en est ma commande {number} ?"
            if french
            else f"Hello, where is my order {number}?"
        )
        greeting = ["Bonjour" if french else "Hello"] if greet else []
        conversations.append(
            Conversation(
                sender=new_sender("load"),
                metadata={"store": store},
                messages=[*greeting, question, email],
                expected_last=[number, tracking],
            )
        )
    return conversations


async def run_load(
    scaled: Scaled,
    conversations: Sequence[Conversation],
    *,
    after_turns: int | None = None,
    action: Callable[[], None] | None = None,
) -> float:
    """Runs every conversation at once (each one turn after the other); returns the seconds.

    When `after_turns` turns in total have been answered, `action` runs (in a thread, so the
    other conversations go on meanwhile): that is how a server is killed in mid-load.
    """
    answered = 0
    triggered: asyncio.Task[None] | None = None

    async def one(conversation: Conversation, client: httpx.AsyncClient) -> None:
        nonlocal answered, triggered
        for message in conversation.messages:
            turn = await scaled.say_async(
                client, conversation.sender, message, conversation.metadata
            )
            conversation.turns.append(turn)
            answered += 1
            due = after_turns is not None and answered >= after_turns
            if action is not None and triggered is None and due:
                triggered = asyncio.create_task(asyncio.to_thread(action))
            if turn.status != 200:
                return

    limits = httpx.Limits(max_connections=len(conversations) + 10)
    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits) as client:
        await asyncio.wait_for(
            asyncio.gather(*(one(c, client) for c in conversations)), timeout=LOAD_TIMEOUT_S
        )
    if triggered is not None:
        await triggered
    return time.monotonic() - started


def assert_all_answered_and_stored_once(
    scaled: Scaled, conversations: Sequence[Conversation]
) -> None:
    """Every customer got every answer right, and PostgreSQL holds every turn exactly once."""
    problems = [line for c in conversations for line in c.problems()]
    assert not problems, "\n".join(problems)
    stored = scaled.stored_events([c.sender for c in conversations])
    stored_problems = [
        f"{c.sender}: {line}"
        for c in conversations
        for line in check_turns_stored_once_in_order(stored[c.sender], c.messages)
    ]
    assert not stored_problems, "\n".join(stored_problems)


def upstream_counts(conversations: Sequence[Conversation]) -> Counter[str]:
    return Counter(turn.upstream for c in conversations for turn in c.turns)


# --- the deployment ------------------------------------------------------------------------------


def test_the_rasa_api_needs_the_token_and_nginx_alternates(scaled: Scaled) -> None:
    url = f"{scaled.rasa_url}/status"
    assert httpx.get(url, timeout=10).status_code == 401
    upstreams = []
    for _ in range(4):
        response = httpx.get(url, params={"token": scaled.token}, timeout=10)
        assert response.status_code == 200 and response.json()["model_file"]
        upstreams.append(response.headers["X-Upstream"])
    rasa = {f"127.0.0.1:{port}" for port in scaled.stack.config.rasa_ports}
    assert set(upstreams) == rasa
    assert all(a != b for a, b in zip(upstreams, upstreams[1:], strict=False)), upstreams


def test_the_gateway_reaches_rasa_with_its_token(scaled: Scaled) -> None:
    for gateway in scaled.stack.gateway_urls:
        ready = httpx.get(f"{gateway}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text


# --- continuity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "question", "answer_words"),
    [
        ("en", "Where is my order OM-104233?", ["Your order OM-104233", "tracking number"]),
        ("fr", "Bonjour, où en est ma commande OM-104233 ?", ["Votre commande OM-104233"]),
    ],
)
def test_a_conversation_moves_between_servers_and_keeps_its_form_and_language(
    scaled: Scaled, language: str, question: str, answer_words: list[str]
) -> None:
    sender = new_sender("continuity")
    asked = scaled.say(sender, question, OM)
    assert asked.status == 200 and ("e-mail" in asked.answer), asked
    form = scaled.tracker(sender)
    assert form["active_loop"].get("name") == "order_lookup_form"
    assert form["slots"]["language"] == language

    answered = scaled.say(sender, "marie.dupont@example.fr", OM)
    # nginx sent the second turn to the other Rasa server: the form and the language came
    # from the shared tracker store, not from the memory of the server that started them.
    assert asked.upstream and answered.upstream and asked.upstream != answered.upstream
    assert TRACKING in answered.answer
    for words in answer_words:
        assert words in answered.answer, answered.answer
    tracker = scaled.tracker(sender)
    assert tracker["slots"]["language"] == language
    assert tracker["slots"]["store"] == "om-system"
    # The form checked the proof given on the second server against the order asked on the
    # first one.
    assert tracker["slots"]["verified_order"] == "OM-104233"
    assert tracker["slots"]["verified_proof"] == "marie.dupont@example.fr"
    assert not tracker["active_loop"].get("name"), tracker["active_loop"]

    # A third turn, on the first server again, still knows the verified order.
    refund_question = "where is my refund?" if language == "en" else "Où en est mon remboursement ?"
    refund = scaled.say(sender, refund_question, OM)
    assert refund.upstream == asked.upstream
    assert "OM-104233" in refund.answer, refund.answer


# --- the lock store ------------------------------------------------------------------------------


def test_two_messages_of_one_conversation_at_once_on_two_servers_are_serialised(
    scaled: Scaled,
) -> None:
    rasa_1, rasa_2 = (service.base_url for service in scaled.stack.rasa_services)
    senders = [new_sender("lock") for _ in range(8)]
    first, second = (
        "Quels moyens de paiement acceptez-vous ?",
        "Combien coûtent les frais de port ?",
    )
    for sender in senders:
        assert scaled.say(sender, "Bonjour", OM).status == 200

    async def both_at_once() -> list[tuple[Turn, Turn]]:
        async with httpx.AsyncClient() as client:
            pairs = [
                asyncio.gather(
                    scaled.say_async(client, sender, first, OM, base_url=rasa_1),
                    scaled.say_async(client, sender, second, OM, base_url=rasa_2),
                )
                for sender in senders
            ]
            return [tuple(pair) for pair in await asyncio.gather(*pairs)]  # type: ignore[misc]

    results = asyncio.run(both_at_once())
    for one, two in results:
        assert one.status == 200 and "Klarna" in one.answer, one
        assert two.status == 200 and two.answer, two
    stored = scaled.stored_events(senders)
    for sender in senders:
        user_texts = [e["text"] for e in stored[sender] if e["event"] == "user"]
        # Either order is right (they were sent at the same instant); each exactly once.
        order = user_texts[1:]
        assert sorted(order) == sorted([first, second]), user_texts
        assert check_turns_stored_once_in_order(stored[sender], ["Bonjour", *order]) == []


# --- concurrency ---------------------------------------------------------------------------------


def test_fifty_conversations_at_once_all_get_their_own_order(scaled: Scaled) -> None:
    conversations = order_lookups(scaled, 50)
    elapsed = asyncio.run(run_load(scaled, conversations))
    assert_all_answered_and_stored_once(scaled, conversations)
    served = upstream_counts(conversations)
    assert len(served) == 2 and min(served.values()) >= 30, served
    print(f"\n50 conversations, 100 turns in {elapsed:.1f} s; served by {dict(served)}")


# --- e-mail with two gateways --------------------------------------------------------------------


def test_two_gateways_drain_one_inbox_and_answer_each_mail_once(scaled: Scaled) -> None:
    gateways = scaled.stack.gateway_urls
    assert len(gateways) == 2
    ids = [f"<scale-{index}-{new_sender('m')}@example.fr>" for index in range(12)]
    already = len(scaled.smtp.received)

    def deliver(index: int, message_id: str) -> int:
        raw = make_mail(
            # A different customer each time: the per-sender reply limit stays out of the way.
            sender=f"Client {index} <client-{uuid.uuid4().hex[:10]}@example.fr>",
            to=OM_SUPPORT,
            subject="Paiement",
            body="Bonjour,\n\nQuels moyens de paiement acceptez-vous ?\n\nMerci",
            message_id=message_id,
        )
        response = httpx.post(
            f"{gateways[index % 2]}/email/inbound",
            content=raw,
            headers={"Content-Type": "message/rfc822", "X-Webhook-Secret": WEBHOOK_SECRET},
            timeout=30,
        )
        return response.status_code

    async def deliver_all() -> list[int]:
        return list(
            await asyncio.gather(*(asyncio.to_thread(deliver, i, mid) for i, mid in enumerate(ids)))
        )

    assert asyncio.run(deliver_all()) == [202] * len(ids)

    engine = create_engine(scaled.orders_url)
    final = {InboxState.REPLIED, InboxState.SKIPPED, InboxState.HANDOFF, InboxState.FAILED}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with Session(engine) as session:
                rows = session.scalars(
                    select(InboxMessage).where(InboxMessage.message_id.in_(ids))
                ).all()
                states = {row.message_id: row.state for row in rows}
            if len(states) == len(ids) and set(states.values()) <= final:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert set(states.values()) == {InboxState.REPLIED}, states
    # Give a reply sent twice the time to arrive before counting.
    time.sleep(2)
    replies = Counter(mail.message["In-Reply-To"] for mail in scaled.smtp.received[already:])
    assert replies == Counter({message_id: 1 for message_id in ids}), replies


# --- failures ------------------------------------------------------------------------------------


def _nginx_error_log(scaled: Scaled, since: int = 0) -> str:
    """nginx's error log, from byte `since` (:func:`_nginx_error_log_size` before a test)."""
    path = scaled.stack.config.work_dir / "nginx" / "nginx-error.log"
    if not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(since)
        return log.read().decode("utf-8", errors="replace")


def _nginx_error_log_size(scaled: Scaled) -> int:
    path = scaled.stack.config.work_dir / "nginx" / "nginx-error.log"
    return path.stat().st_size if path.exists() else 0


def _sanic_worker(service: Service) -> int:
    """The Sanic worker serving an action server's requests: the last process its manager
    spawned (the others are multiprocessing's helpers)."""
    spawned = [pid for pid in service.workers if "spawn_main" in cmdline(pid)]
    assert spawned, f"{service.name} has no Sanic worker: {sorted(service.workers)}"
    return max(spawned)


def _in_mid_load(
    scaled: Scaled,
    conversations: list[Conversation],
    hurt: Callable[[], None],
) -> tuple[float, float]:
    """Runs the load and calls `hurt` a third of the way; returns (seconds, time of harm)."""
    hurt_at = 0.0

    def action() -> None:
        nonlocal hurt_at
        hurt()
        hurt_at = time.monotonic()

    total_turns = sum(len(c.messages) for c in conversations)
    elapsed = asyncio.run(
        run_load(scaled, conversations, after_turns=total_turns // 3, action=action)
    )
    assert hurt_at, "the load ended before the harm"
    return elapsed, hurt_at


def _back(victim: Service, old_pid: int, since: float) -> float:
    """Waits for the supervisor to restart `victim`; returns when it was ready again."""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while not (
        victim.process is not None
        and victim.process.pid != old_pid
        and victim.state is ServiceState.RUNNING
        and victim.ready_at > since
    ):
        assert time.monotonic() < deadline, f"the supervisor did not bring {victim.name} back"
        time.sleep(0.5)
    return victim.ready_at


def _in_rotation(scaled: Scaled, victim: Service) -> None:
    """Waits until nginx sends requests to `victim` again. A server that failed stays out of
    nginx's rotation for fail_timeout, even once restarted: the next test's failure must find
    every server there (two servers of a kind down at once is a double fault, not what these
    tests measure)."""
    stack = scaled.stack
    if victim in stack.rasa_services:
        url = f"{stack.rasa_url}/"  # Rasa's greeting, no token needed
    elif victim in stack.action_services:
        url = f"{stack.actions_url}/health"
    else:
        url = f"{stack.answers_url}/health"
    address = f"127.0.0.1:{victim.port}"
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while True:
        try:
            response = httpx.get(url, timeout=30)
            served_by = response.headers.get("X-Upstream", "").split(", ")[-1]
            if response.status_code == 200 and served_by == address:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"nginx never sent a request to {victim.name} again"
        time.sleep(0.2)


def _report(what: str, conversations: Sequence[Conversation], elapsed: float) -> None:
    turns = [t for c in conversations for t in c.turns]
    # A turn is lost when the customer got no answer (error, or never sent after one).
    lost = sum(len(c.messages) - sum(t.status == 200 for t in c.turns) for c in conversations)
    worst = max(t.finished_at - t.started_at for t in turns)
    FIGURES.append(
        f"{what}: {len(conversations)} conversations, {len(turns)} turns in {elapsed:.1f} s, "
        f"lost turns {lost}, worst turn {worst:.1f} s"
    )


def test_an_action_server_killed_in_mid_load_loses_nothing(scaled: Scaled) -> None:
    victim = scaled.stack.action_services[1]
    old_pid = victim.process.pid if victim.process else 0
    conversations = order_lookups(scaled, 20, greet=True)
    elapsed, killed_at = _in_mid_load(scaled, conversations, lambda: scaled.stack.kill(victim))
    assert_all_answered_and_stored_once(scaled, conversations)
    assert f"127.0.0.1:{victim.port}" in _nginx_error_log(scaled)
    _report("action server killed (SIGKILL) in mid-load", conversations, elapsed)
    # The supervisor restarts it: two action servers again for the next tests.
    _back(victim, old_pid, killed_at)
    _in_rotation(scaled, victim)


def test_an_action_server_worker_killed_in_mid_load_loses_nothing(scaled: Scaled) -> None:
    """Sanic's manager keeps the port of a dead worker and does not replace it: the server
    accepts connections and never answers. The supervisor sees the worker gone and restarts
    the whole server at once; nginx retries what it had on the other one."""
    victim = scaled.stack.action_services[0]
    old_pid = victim.process.pid if victim.process else 0
    worker = _sanic_worker(victim)
    conversations = order_lookups(scaled, 20, greet=True)
    elapsed, killed_at = _in_mid_load(
        scaled, conversations, lambda: os.kill(worker, signal.SIGKILL)
    )
    assert_all_answered_and_stored_once(scaled, conversations)
    _report("an action server's Sanic worker killed (SIGKILL) in mid-load", conversations, elapsed)
    _back(victim, old_pid, killed_at)
    _in_rotation(scaled, victim)
    assert not alive(old_pid), "the old main process was left holding the port"


def test_a_frozen_action_server_loses_nothing_and_is_replaced(scaled: Scaled) -> None:
    """SIGSTOP to every process of an action server: nginx gives up on it after its action
    read timeout (half the lock lifetime) and calls the other one; the supervisor kills and
    restarts it after half the lock lifetime without a health answer."""
    victim = scaled.stack.action_services[1]
    old_pid = victim.process.pid if victim.process else 0
    log_from = _nginx_error_log_size(scaled)
    conversations = order_lookups(scaled, 20, greet=True)
    elapsed, frozen_at = _in_mid_load(scaled, conversations, lambda: scaled.stack.freeze(victim))
    assert_all_answered_and_stored_once(scaled, conversations)
    # Calls were sent to it, and retried on the other server.
    assert f"127.0.0.1:{victim.port}/webhook" in _nginx_error_log(scaled, log_from)
    _report("action server frozen (SIGSTOP) in mid-load", conversations, elapsed)
    _back(victim, old_pid, frozen_at)
    _in_rotation(scaled, victim)


def test_an_answer_service_killed_in_mid_load_loses_nothing(scaled: Scaled) -> None:
    """Every text Rasa sends comes from an answer service (Rasa's NLG endpoint), through
    nginx: with two of them, a dead one costs no answer."""
    victim = scaled.stack.answer_services[0]
    old_pid = victim.process.pid if victim.process else 0
    log_from = _nginx_error_log_size(scaled)
    conversations = order_lookups(scaled, 20, greet=True)
    elapsed, killed_at = _in_mid_load(scaled, conversations, lambda: scaled.stack.kill(victim))
    assert_all_answered_and_stored_once(scaled, conversations)
    assert f"127.0.0.1:{victim.port}/nlg" in _nginx_error_log(scaled, log_from)
    _report("answer service killed (SIGKILL) in mid-load", conversations, elapsed)
    _back(victim, old_pid, killed_at)
    _in_rotation(scaled, victim)


def test_a_rasa_server_killed_in_mid_load_loses_nothing(scaled: Scaled) -> None:
    victim = scaled.stack.rasa_services[1]
    old_pid = victim.process.pid if victim.process else 0
    survivor = f"127.0.0.1:{scaled.stack.rasa_services[0].port}"
    dead = f"127.0.0.1:{victim.port}"
    conversations = order_lookups(scaled, 20, greet=True)
    elapsed, killed_at = _in_mid_load(scaled, conversations, lambda: scaled.stack.kill(victim))
    assert_all_answered_and_stored_once(scaled, conversations)
    back_at = _back(victim, old_pid, killed_at)
    _in_rotation(scaled, victim)
    # The balancer noticed: it logged the dead server, and every turn answered after the
    # kill (and before the supervisor brought the server back) came from the survivor
    # (`a, b` in X-Upstream: tried a, answered by b).
    assert dead in _nginx_error_log(scaled)
    after = [
        t.upstream
        for c in conversations
        for t in c.turns
        if killed_at < t.finished_at and t.started_at < back_at
    ]
    assert after and all(u.split(", ")[-1] == survivor for u in after), after
    # Conversations that began on the dead server went on, on the survivor, from the shared
    # tracker store: their form, started there, ended here with the right tracking number.
    moved = [
        c
        for c in conversations
        if dead in c.turns[0].upstream and c.turns[-1].upstream.split(", ")[-1] == survivor
    ]
    assert moved, [[t.upstream for t in c.turns] for c in conversations]
    _report("Rasa server killed (SIGKILL) in mid-load", conversations, elapsed)


def test_a_frozen_rasa_server_costs_a_turn_about_the_lock_lifetime_and_is_replaced(
    scaled: Scaled,
) -> None:
    """SIGSTOP: the server accepts connections and never answers. The supervisor, seeing its
    health check unanswered for half the lock lifetime, kills it: its connections close,
    nginx sends their turns to the other server at once, which takes each conversation's lock
    once the frozen server's ticket expired (a lock lifetime after the turn began), and
    restarts it. nginx's own read timeout (TICKET_LOCK_LIFETIME + 10 s) is never reached."""
    victim = scaled.stack.rasa_services[0]
    old_pid = victim.process.pid if victim.process else 0
    log_from = _nginx_error_log_size(scaled)
    conversations = order_lookups(scaled, 20, greet=True)
    elapsed, frozen_at = _in_mid_load(scaled, conversations, lambda: scaled.stack.freeze(victim))
    assert_all_answered_and_stored_once(scaled, conversations)
    _report(
        f"Rasa server frozen (SIGSTOP) in mid-load, TICKET_LOCK_LIFETIME="
        f"{scaled.stack.config.lock_lifetime_s} s",
        conversations,
        elapsed,
    )
    # Retried elsewhere: the frozen server is named in the turns that waited for it.
    frozen = f"127.0.0.1:{victim.port}"
    retried = [t for c in conversations for t in c.turns if t.upstream.startswith(frozen + ",")]
    assert retried, "no turn was sent to the frozen server"
    # Retried because the supervisor killed it, not because nginx's read timeout ran out.
    timed_out = [
        line
        for line in _nginx_error_log(scaled, log_from).splitlines()
        if "timed out" in line and f"{frozen}/" in line
    ]
    assert not timed_out, timed_out
    assert victim.crashes and victim.crashes[-1] > frozen_at
    _back(victim, old_pid, frozen_at)
    _in_rotation(scaled, victim)
