"""Actions with effects run once per customer message, on the real stack (actions/once.py).

Real Rasa, action server, answer service and gateway; a proxy between Rasa and the action
server (tests/api/servers.py) lets the action run and commit, then drops its answer: the call
was cut on its way back, as when the action server dies after its writes. Rasa answers the turn
"send it again" (bot/rasa_ext/action_failures.py); the customer's resend (same
``client_message_id``, as the widget sends it) is answered, and the effects are there once: one
failed proof counted, one handoff ticket. A check cut while the order lookup form waits for
the proof is answered the same way (the notice alone, not the form's help text), and its resend
with the lookup's answer. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.api.routes.chat import web_sender
from bot.db.action_memory import RememberedResponse
from bot.db.mailbox import Handoff
from bot.db.session import make_engine
from bot.db.verification import VerificationAttempt, VerificationOutcome
from tests.api.servers import CuttingActionProxy
from tests.bot.db.conftest import BACKENDS, postgres_base_url, postgres_schema
from tests.conftest import LiveStack, load_demo_database, running_stack_behind_cutting_proxy

pytestmark = pytest.mark.e2e

NOTICE_FR = "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le, s'il vous plaît."


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest,
    trained_model: Any,
    demo_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveStack, CuttingActionProxy]]:
    """A stack of its own (the shared one must not lose a call), on each back-end."""
    with (
        _database(request.param, demo_database_url) as url,
        running_stack_behind_cutting_proxy(
            tmp_path_factory.mktemp(f"once-{request.param}"),
            model=trained_model,
            database_url=url,
        ) as stack_and_proxy,
    ):
        yield stack_and_proxy


class _database:
    def __init__(self, backend: str, sqlite_url: str) -> None:
        self.backend, self.sqlite_url = backend, sqlite_url
        self._schema: Any = None

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            return self.sqlite_url
        self._schema = postgres_schema(postgres_base_url())
        url: str = self._schema.__enter__()
        load_demo_database(url)
        return url

    def __exit__(self, *exc: object) -> None:
        if self._schema is not None:
            self._schema.__exit__(*exc)


def count(url: str, statement: Any) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.scalar(statement) or 0)
    finally:
        engine.dispose()


def send(live: LiveStack, sender_id: str, text: str, message_id: str) -> dict[str, Any]:
    """One message through the gateway, as the widget sends it (its id on each resend)."""
    response = httpx.post(
        f"{live.gateway_url}/api/chat",
        json={
            "sender_id": sender_id,
            "message": text,
            "store": "om-system",
            "client_message_id": message_id,
        },
        timeout=120,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def asks_to_resend(body: dict[str, Any]) -> bool:
    """The gateway's "send it again" answer: the notice alone (no question, no help text
    before or after it), the text to be resent."""
    texts = [m.get("text") for m in body["messages"] if m.get("text")]
    return body["resend"] is True and texts == [NOTICE_FR]


def said(body: dict[str, Any]) -> str:
    return " ".join(" ".join(str(m.get("text") or "").split()) for m in body["messages"])


def new_id() -> str:
    return "m" + uuid.uuid4().hex


def failed_proofs(live: LiveStack, conversation: str) -> int:
    return count(
        live.database_url,
        select(func.count())
        .select_from(VerificationAttempt)
        .where(
            VerificationAttempt.conversation_id == conversation,
            VerificationAttempt.outcome == VerificationOutcome.FAILED,
        ),
    )


NOT_FOUND = "Je n'ai trouvé aucune commande correspondant à ces informations."
#: The start of the lookup's help text (utter_lookup_help), which stock Rasa's form showed
#: instead of the notice.
LOOKUP_HELP = "Pour retrouver votre commande"


def test_a_cut_wrong_proof_is_counted_once_after_the_resend(
    stack: tuple[LiveStack, CuttingActionProxy],
) -> None:
    """The number and a wrong proof in one message: the check runs, its answer is cut, the
    customer reads "send it again" and resends: answered, and the failure counted once."""
    live, proxy = stack
    sender_id = f"once{uuid.uuid4().hex[:12]}"
    conversation = web_sender("om-system", sender_id)
    # One request (not cut into parts by the gateway): the form starts with both values.
    text = "Ma commande OM-104233 avec l'adresse personne@example.org, où en est-elle ?"
    message_id = new_id()
    proxy.cut_after = "validate_order_lookup_form"
    cut = send(live, sender_id, text, message_id)
    assert proxy.cuts[-1:] == ["validate_order_lookup_form"] and proxy.cut_after is None
    assert asks_to_resend(cut), cut
    assert failed_proofs(live, conversation) == 1  # the check ran before its answer was cut

    calls = proxy.calls.count("validate_order_lookup_form")
    again = send(live, sender_id, text, message_id)  # the customer's resend, same id
    assert again["resend"] is False, said(again)
    assert NOTICE_FR not in str(again) and NOT_FOUND in said(again), said(again)
    assert proxy.calls.count("validate_order_lookup_form") > calls  # called again...
    assert failed_proofs(live, conversation) == 1  # ...and counted once (main: 2)
    # Rasa stored the cut turn and the answered resend, under the one message id.
    users = [e for e in live.tracker(conversation)["events"] if e["event"] == "user"]
    assert [e["metadata"]["message_id"] for e in users] == [f"web:{message_id}:0"] * 2


def test_a_proof_check_cut_while_the_form_waits_asks_to_resend_then_answers_once(
    stack: tuple[LiveStack, CuttingActionProxy],
) -> None:
    """The form waits for the proof; the check's answer is cut. The customer reads the notice
    alone (main before the fix: Rasa's form rejected the turn, dropped the notice, showed the
    lookup's help text and called the check again in the same turn); the resend, same id, is
    answered with the lookup's answer, once, and the failure counted once."""
    live, proxy = stack
    sender_id = f"once{uuid.uuid4().hex[:12]}"
    conversation = web_sender("om-system", sender_id)
    asked = send(live, sender_id, "Où en est ma commande OM-104233 ?", new_id())
    assert not asked["resend"] and "mail" in said(asked).lower(), said(asked)
    calls = proxy.calls.count("validate_order_lookup_form")
    proxy.cut_after = "validate_order_lookup_form"
    message_id = new_id()
    cut = send(live, sender_id, "personne@example.org", message_id)
    assert proxy.cuts[-1:] == ["validate_order_lookup_form"] and proxy.cut_after is None
    assert asks_to_resend(cut), said(cut)
    assert LOOKUP_HELP not in said(cut) and NOT_FOUND not in said(cut), said(cut)
    assert cut["failed_parts"] == [0]
    assert proxy.calls.count("validate_order_lookup_form") == calls + 1, proxy.calls  # once
    assert failed_proofs(live, conversation) == 1  # the check ran before its answer was cut

    again = send(live, sender_id, "personne@example.org", message_id)  # the resend, same id
    assert again["resend"] is False and NOTICE_FR not in said(again), said(again)
    assert said(again).count(NOT_FOUND) == 1, said(again)
    assert LOOKUP_HELP not in said(again), said(again)
    assert proxy.calls.count("validate_order_lookup_form") == calls + 2, proxy.calls
    assert failed_proofs(live, conversation) == 1  # counted once (before eacdab7: 2)
    tracker = live.tracker(conversation)
    assert tracker["active_loop"].get("name") == "order_lookup_form"  # asks for both again
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [e["metadata"]["message_id"] for e in users[-2:]] == [f"web:{message_id}:0"] * 2


def test_a_cut_handoff_creates_one_ticket_after_the_resend(
    stack: tuple[LiveStack, CuttingActionProxy],
) -> None:
    live, proxy = stack
    sender_id = f"once{uuid.uuid4().hex[:12]}"
    conversation = web_sender("om-system", sender_id)
    tickets = (
        select(func.count()).select_from(Handoff).where(Handoff.conversation_id == conversation)
    )
    message_id = new_id()
    proxy.cut_after = "action_human_handoff"
    cut = send(live, sender_id, "Je veux parler à un conseiller humain", message_id)
    assert proxy.cuts[-1:] == ["action_human_handoff"] and proxy.cut_after is None
    assert asks_to_resend(cut), cut
    assert count(live.database_url, tickets) == 1  # recorded before the answer was cut

    again = send(live, sender_id, "Je veux parler à un conseiller humain", message_id)
    assert again["resend"] is False and NOTICE_FR not in said(again), said(again)
    assert "adresse" in said(again).lower(), said(again)  # the handoff asks for an address
    assert proxy.calls.count("action_human_handoff") == 2
    assert count(live.database_url, tickets) == 1  # one ticket (main: 2)
    remembered = (
        select(func.count())
        .select_from(RememberedResponse)
        .where(
            RememberedResponse.conversation_id == conversation,
            RememberedResponse.action == "action_human_handoff",
        )
    )
    assert count(live.database_url, remembered) == 1
    # A new message asking again is a new handoff request: it runs (no id shared).
    other = send(live, sender_id, "Je veux parler à un conseiller humain", new_id())
    assert other["resend"] is False
    assert proxy.calls.count("action_human_handoff") == 3
