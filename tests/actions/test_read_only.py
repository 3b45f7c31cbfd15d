"""The read-only actions (actions/read_only.py) write nothing; every action is classified.

Rasa calls a read-only action again when its call was cut (bot/rasa_ext/action_failures.py):
a write added to one would then happen twice. Each read-only action runs here, as the action
server runs it, on a set of conversations that reach its database reads (a verified order, a
wrong proof, a locked lookup, a country, an order number...), against the real SQLite demo
database; every row of every table is compared before and after. The same comparison sees
the writes of the writing actions (so it can fail), and an action in neither list fails.
Each writing action, run twice for one message (same conversation and ``message_id``: the
customer's resend after a cut answer), changes rows the first time only (actions/once.py).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.read_only import READ_ONLY_ACTIONS, WRITING_ACTIONS
from tests.actions.conftest import entity, make_tracker

MARIE = "marie.dupont@example.fr"
FORM = "order_lookup_form"


def executor() -> ActionExecutor:
    """The actions as the action server registers them (`--actions actions`)."""
    found = ActionExecutor()
    found.register_package("actions")
    return found


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite database."""
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(connection.execute(f'SELECT * FROM "{table}"'), key=repr)
            for table in tables
        }


def conversations() -> list[Tracker]:
    """Conversations that reach each read-only action's reads, in both languages."""
    verified = {"verified_order": "OM-104233", "verified_proof": MARIE}
    found: list[Tracker] = []
    for language in ("fr", "en"):
        base = {"language": language}
        found += [
            make_tracker(base, text="hello", intent="greet"),
            make_tracker(base, text="how can I pay?", intent="payment_methods"),
            make_tracker(base, text="returns?", intent="return_policy"),
            make_tracker(
                base,
                text="do you deliver to Switzerland?",
                intent="delivery_countries",
                entities=[entity("country", "Switzerland")],
            ),
            make_tracker(
                base,
                text="OM-104233",
                intent="inform",
                entities=[entity("order_number", "OM-104233")],
            ),
            make_tracker(
                {**base, **verified, "order_number": "OM-104233", "lookup_purpose": "status"},
                text="where is my order?",
                intent="order_status",
            ),
            make_tracker(
                {**base, **verified, "order_number": "OM-104233", "lookup_purpose": "refund"},
                text="where is my refund?",
                intent="refund_status",
            ),
            make_tracker(
                {
                    **base,
                    "order_number": "OM-104233",
                    "verified_order": "OM-104233",
                    "verified_proof": "wrong@example.com",
                },
                text="where is my order?",
                intent="order_status",
            ),
            make_tracker({**base, "lookup_locked": True}, text="order?", intent="order_status"),
            make_tracker(
                base,
                text="Wo ist meine Rückerstattung OM-104233?",
                intent="other_language",
                entities=[entity("order_number", "OM-104233")],
            ),
            make_tracker(base, text="blorp", intent="nlu_fallback"),
        ]
    return found


def test_every_action_is_read_only_or_writing_not_both() -> None:
    names = set(executor().actions)
    assert names == READ_ONLY_ACTIONS | set(WRITING_ACTIONS), (
        "classify each action in actions/read_only.py"
    )
    assert not READ_ONLY_ACTIONS & set(WRITING_ACTIONS)


@pytest.mark.parametrize("name", sorted(READ_ONLY_ACTIONS))
async def test_a_read_only_action_changes_no_row(
    name: str, demo_database: str, domain: dict[str, Any]
) -> None:
    run = executor().actions[name]
    before = snapshot(demo_database)
    answered = 0
    for tracker in conversations():
        dispatcher = CollectingDispatcher()
        await run(dispatcher, tracker, domain)
        answered += bool(dispatcher.messages)
        assert snapshot(demo_database) == before, f"{name} wrote to the database"
    assert answered > 0  # it ran its work, not only an early return


async def test_the_comparison_sees_the_writing_actions_writes(
    demo_database: str, domain: dict[str, Any]
) -> None:
    actions = executor().actions
    before = snapshot(demo_database)
    wrong_proof = make_tracker(
        active_loop=FORM,
        text="OM-104233 wrong@example.com",
        intent="inform",
        entities=[entity("order_number", "OM-104233"), entity("email", "wrong@example.com")],
        candidates={"order_number": "OM-104233"},
    )
    await actions["validate_order_lookup_form"](CollectingDispatcher(), wrong_proof, domain)
    counted = snapshot(demo_database)
    assert counted["verification_attempts"] != before["verification_attempts"]
    handoff = make_tracker(
        text="I want to talk to a human",
        intent="human_handoff",
        metadata={"store": "btomic", "channel": "web"},
        sender_id="web-read-only-canary",
    )
    await actions["action_human_handoff"](CollectingDispatcher(), handoff, domain)
    assert snapshot(demo_database)["handoffs"] != counted["handoffs"]


def writing_call(name: str, sender: str) -> Tracker:
    """A message that makes the writing action ``name`` write, with a message id."""
    metadata = {"store": "btomic", "channel": "web", "message_id": f"web:{name}:0"}
    if name == "validate_order_lookup_form":
        return make_tracker(
            active_loop=FORM,
            text="OM-104233 wrong@example.com",
            entities=[entity("order_number", "OM-104233"), entity("email", "wrong@example.com")],
            candidates={"order_number": "OM-104233"},
            metadata=metadata,
            sender_id=sender,
        )
    if name == "action_human_handoff":
        return make_tracker(
            text="I want to talk to a human",
            intent="human_handoff",
            metadata=metadata,
            sender_id=sender,
        )
    assert name == "action_save_handoff_email", f"no writing call for {name}"
    return make_tracker(
        text="marie@example.fr",
        entities=[entity("email", "marie@example.fr")],
        metadata=metadata,
        sender_id=sender,
    )


@pytest.mark.parametrize("name", sorted(WRITING_ACTIONS))
async def test_a_writing_action_writes_once_per_message(
    name: str, demo_database: str, domain: dict[str, Any]
) -> None:
    actions = executor().actions
    sender = f"web-once-{name}"
    if name == "action_save_handoff_email":  # its handoff first (another message)
        handoff = make_tracker(intent="human_handoff", sender_id=sender)
        await actions["action_human_handoff"](CollectingDispatcher(), handoff, domain)
    before = snapshot(demo_database)
    first, again = CollectingDispatcher(), CollectingDispatcher()
    events = await actions[name](first, writing_call(name, sender), domain)
    written = snapshot(demo_database)
    assert written != before  # it wrote (and remembered its answer)
    assert await actions[name](again, writing_call(name, sender), domain) == events
    assert again.messages == first.messages
    assert snapshot(demo_database) == written, f"{name} wrote twice for one message"
