"""Many writing actions at once against one database, from several processes (actions/once.py).

As under ``make bench``'s 32 concurrent conversations: two OS processes (action-server
workers), each running its share of 32 calls at once on one event loop with the default
thread pool, as the action server does: proof checks with the right and the wrong proof,
handoffs, and resends of the same message arriving in both processes at once. On a SQLite
file and on PostgreSQL. Every call must get its real answer (never the apology that ends in
the contact route), and the rows must be exactly the calls' effects: one attempt counted
and one remembered response per distinct message, one ticket per handoff message.

Before the writing step (main at 008149a) the call's write transaction was opened by its
first statement and held through the whole action: on SQLite the holder waited for a pool
thread that the other calls, blocked on the write lock, kept; most calls failed with
"database is locked" after the lock wait. On PostgreSQL the same happened to the checks of
one order (its advisory lock), ending with the statement timeout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from bot.db.action_memory import RememberedResponse
from bot.db.mailbox import Handoff
from bot.db.models import Order
from bot.db.session import get_sessionmaker
from bot.db.verification import VerificationAttempt, VerificationOutcome

PROCESSES = 2
RIGHT, WRONG, HANDOFF = "right", "wrong", "handoff"
WRONG_PROOF = "nobody@example.org"
#: Seconds a worker process waits for the start signal or the parent for a result: a bound on
#: a hung run, not a timed assertion.
PATIENCE_S = 120.0


@dataclass(frozen=True)
class Job:
    """One action call: what it is, its conversation and message, and the order it names."""

    kind: str
    sender: str
    message_id: str
    number: str = ""
    proof: str = ""


def _calls(orders: list[tuple[str, str]]) -> list[list[Job]]:
    """32 calls shared by the processes: 14 right proofs (10 of them of one order, as the
    bench's conversations check the same two orders), 6 wrong ones and 4 handoffs (one message
    each), and 2 wrong proofs and 2 handoffs each sent twice, once in each process."""

    def new(kind: str, number: str = "", proof: str = "") -> Job:
        return Job(
            kind, f"web-om-system-{uuid.uuid4().hex}", f"web:{uuid.uuid4().hex}:0", number, proof
        )

    right = [new(RIGHT, *orders[0]) for _ in range(10)]
    right += [new(RIGHT, number, email) for number, email in orders[1:5]]
    wrong = [new(WRONG, number, WRONG_PROOF) for number, _ in orders[5:11]]
    handoffs = [new(HANDOFF) for _ in range(4)]
    resent = [new(WRONG, number, WRONG_PROOF) for number, _ in orders[11:13]]
    resent += [new(HANDOFF) for _ in range(2)]
    singles = right + wrong + handoffs
    shares: list[list[Job]] = [[] for _ in range(PROCESSES)]
    for index, job in enumerate(singles):
        shares[index % PROCESSES].append(job)
    for share in shares:
        share.extend(resent)  # the same message in every process at once
    return shares


async def _run(job: Job) -> dict[str, Any]:
    from actions.handoff import ActionHumanHandoff
    from actions.orders import FORM_NAME, ValidateOrderLookupForm
    from tests.actions.conftest import DOMAIN, entity, make_tracker

    metadata = {"store": "om-system", "channel": "web", "message_id": job.message_id}
    dispatcher = CollectingDispatcher()
    if job.kind == HANDOFF:
        tracker = make_tracker(
            intent="human_handoff", text="I want a person", metadata=metadata, sender_id=job.sender
        )
        events = await ActionHumanHandoff().run(dispatcher, tracker, DOMAIN)
    else:
        tracker = make_tracker(
            active_loop=FORM_NAME,
            entities=[entity("email", job.proof)],
            candidates={"order_number": job.number},
            metadata=metadata,
            sender_id=job.sender,
        )
        events = await ValidateOrderLookupForm().run(dispatcher, tracker, DOMAIN)
    return {"job": job, "events": events, "messages": dispatcher.messages}


def _worker(
    url: str, jobs: list[Job], ready: Any, go: Any, results: multiprocessing.Queue[Any]
) -> None:
    """One action-server worker: its calls all at once on one event loop."""
    os.environ["DATABASE_URL"] = url
    from bot.config import get_settings

    get_settings.cache_clear()
    import actions.handoff  # noqa: F401 - imported before the start, as in the server
    import actions.orders  # noqa: F401

    ready.set()
    if not go.wait(PATIENCE_S):
        return

    async def all_at_once() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(_run(job) for job in jobs)))

    try:
        results.put(asyncio.run(all_at_once()))
    except BaseException as error:  # the parent reports it
        results.put(repr(error))


def _count(model: Any, *where: Any) -> int:
    with get_sessionmaker()() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _run_in_processes(url: str, shares: list[list[Job]]) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    results: multiprocessing.Queue[Any] = context.Queue()
    readies = [context.Event() for _ in shares]
    processes = [
        context.Process(target=_worker, args=(url, share, ready, go, results))
        for share, ready in zip(shares, readies, strict=True)
    ]
    for process in processes:
        process.start()
    try:
        assert all(ready.wait(PATIENCE_S) for ready in readies), "a worker did not start"
        go.set()
        outcomes: list[dict[str, Any]] = []
        for _ in processes:
            got = results.get(timeout=PATIENCE_S)
            assert not isinstance(got, str), f"a worker failed: {got}"
            outcomes.extend(got)
        return outcomes
    except queue.Empty:
        pytest.fail("a worker did not answer")
    finally:
        for process in processes:
            process.join(PATIENCE_S)
            if process.is_alive():
                process.kill()


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _responses(messages: list[dict[str, Any]]) -> list[str | None]:
    # A message without a domain response is a text: the apology of a failed action.
    return [m.get("response") for m in messages]


def test_32_writing_actions_at_once_from_two_processes_each_get_their_answer(backend) -> None:
    with get_sessionmaker()() as session:
        orders = [
            (number, email)
            for number, email in session.execute(
                select(Order.number, Order.customer_email).order_by(Order.number).limit(13)
            )
        ]
    assert len(orders) == 13
    shares = _calls(orders)
    assert sum(map(len, shares)) == 32
    outcomes = _run_in_processes(backend, shares)
    assert len(outcomes) == 32

    by_message: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        job: Job = outcome["job"]
        by_message.setdefault(job.message_id, []).append(outcome)
        slots, said = _slots(outcome["events"]), _responses(outcome["messages"])
        if job.kind == RIGHT:
            assert said == [] and slots["verified_order"] == job.number, outcome
        elif job.kind == WRONG:
            assert said == ["utter_order_not_found"] and slots["lookup_failures"] == 1.0, outcome
            assert "verified_order" not in slots
        else:
            assert said == ["utter_human_handoff_ask_email"], outcome
            assert slots["handoff_requested"] is True
    # A message sent to both processes at once: both answered alike, its effects once.
    assert len(by_message) == 28
    for copies in by_message.values():
        assert all(c["events"] == copies[0]["events"] for c in copies)
        assert all(c["messages"] == copies[0]["messages"] for c in copies)

    senders = {job.sender for share in shares for job in share}
    assert _count(RememberedResponse, RememberedResponse.conversation_id.in_(senders)) == 28
    attempts = VerificationAttempt.conversation_id.in_(senders)
    verified = VerificationAttempt.outcome == VerificationOutcome.VERIFIED
    failed = VerificationAttempt.outcome == VerificationOutcome.FAILED
    assert _count(VerificationAttempt, attempts, verified) == 14
    assert _count(VerificationAttempt, attempts, failed) == 8
    assert _count(VerificationAttempt, attempts) == 22  # nothing refused or counted twice
    assert _count(Handoff, Handoff.conversation_id.in_(senders)) == 6
