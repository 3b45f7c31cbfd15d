"""Conversation review on real conversations: customers talk to the real Rasa and action
servers (`live_stack`), the console imports Rasa's tracker store, and each conversation gets
the outcome a person reading it would give it (answered, clarified, out of scope, lookup
failed, handed off), with the intent and confidence of each message, its personal data masked
in the list, and the filters finding it. The analytics tests check the figures on seeded
conversations in the same format; this checks that format is what Rasa really writes."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.console.reporting import import_events, tracker_engine
from bot.db.console import ReportConversation, ReportMessage
from bot.stores import store_ids
from tests.conftest import LiveStack, new_sender, texts
from tests.console.conftest import ConsoleEnv, MakeConsole, login

pytestmark = pytest.mark.e2e

# (key, store, language, messages, expected outcome)
CONVERSATIONS = [
    ("answered", "om-system", "fr", ["Quels moyens de paiement acceptez-vous ?"], "answered"),
    ("clarified", "om-system", "fr", ["renseignement commande"], "clarified"),
    ("out_of_scope", "btomic", "en", ["Do you sell bicycles?"], "out_of_scope"),
    (
        "lookup_failed",
        "btomic",
        "en",
        ["Where is my order BT-200517?", "nobody.here@example.org"],
        "lookup_failed",
    ),
    ("handed_off", "btomic", "en", ["I'd like to talk to a person"], "handed_off"),
    (
        "verified",
        "om-system",
        "fr",
        ["Où en est ma commande OM-104233 ? marie.dupont@example.fr"],
        "answered",
    ),
]


@pytest.fixture(scope="module")
def talked(live_stack: LiveStack) -> dict[str, str]:
    """The conversations, held once through the real servers: key -> sender id."""
    senders = {}
    for key, store, _language, messages, _outcome in CONVERSATIONS:
        sender = f"web-{store}-{new_sender()}"
        for message in messages:
            answer = live_stack.say(message, sender=sender, metadata={"store": store})
            assert texts(answer), (key, message)
        senders[key] = sender
    return senders


@pytest.fixture
def console(
    talked: dict[str, str],
    live_stack: LiveStack,
    console_env: ConsoleEnv,
    make_console: MakeConsole,
) -> Iterator[TestClient]:
    reader = tracker_engine(live_stack.tracker_url)
    try:
        import_events(console_env.sessions, reader, stores=store_ids(), default_store="om-system")
    finally:
        reader.dispose()
    client = make_console()
    login(client, "admin@shops.example")
    yield client


def test_each_real_conversation_gets_its_outcome_and_figures(
    console: TestClient, console_env: ConsoleEnv, talked: dict[str, str]
) -> None:
    with console_env.sessions() as session:
        rows = {
            row.sender_id: row
            for row in session.scalars(
                select(ReportConversation).where(
                    ReportConversation.sender_id.in_(list(talked.values()))
                )
            )
        }
        for key, store, language, messages, outcome in CONVERSATIONS:
            row = rows[talked[key]]
            assert (row.outcome, row.store_id, row.language, row.channel) == (
                outcome,
                store,
                language,
                "web",
            ), key
            assert row.customer_messages == len(messages), key
        assert rows[talked["clarified"]].clarified == 1
        assert rows[talked["out_of_scope"]].out_of_scope == 1
        assert rows[talked["lookup_failed"]].lookups_failed == 1
        assert rows[talked["handed_off"]].handed_off
        assert rows[talked["verified"]].lookups_verified == 1
        assert not rows[talked["answered"]].handed_off
        # Each customer message with the intent understood and its confidence.
        first = session.scalars(
            select(ReportMessage)
            .where(ReportMessage.conversation_id == rows[talked["answered"]].id)
            .order_by(ReportMessage.id)
        ).first()
        assert first is not None and first.intent == "payment_methods"
        assert first.confidence is not None and 0.5 < first.confidence <= 1.0


def test_the_review_filters_find_them_and_the_lists_mask_personal_data(
    console: TestClient, talked: dict[str, str]
) -> None:
    for key, store, language, _messages, outcome in CONVERSATIONS:
        listing = console.get(
            f"/console/conversations?outcome={outcome}&store={store}&language={language}"
            "&channel=web"
        ).text
        assert quote(talked[key], safe="") in listing or talked[key] in listing, key
        for other, *_rest, other_outcome in CONVERSATIONS:
            if other_outcome != outcome:
                assert talked[other] not in listing, (key, other)
    everything = console.get("/console/conversations?channel=web").text
    # Order numbers, e-mail addresses are masked in the list (the verified order's message).
    assert "marie.dupont@example.fr" not in everything and "OM-104233" not in everything
    transcript = console.get(f"/console/conversations/{talked['verified']}").text
    # The transcript is the full record, for the people allowed to open it.
    assert "OM-104233" in transcript
    assert "intent <strong>order_status</strong>" in transcript
