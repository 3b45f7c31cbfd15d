"""State the tests of the live stack share must not leak from one test into the next.

The verification log (bot/verification.py) counts failed proofs per order across every
conversation of the demo database the whole session shares: a test that locks an order on
purpose (five wrong proofs: tests/api/test_widget_browser.py) must not leave it locked for
the next test, nor for a module fixture set up before that test's own clean-up (it happened:
the bench's module fixture got no order data for OM-104233 when it ran right after the widget
test). Here a test locks OM-104233 with the action server's own check, then the next module
fixture looks the order up through the real Rasa and action servers.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bot.config import Settings
from bot.db.session import make_engine, session_factory
from bot.verification import CheckResult, check_proof
from tests.conftest import LiveStack, texts

pytestmark = pytest.mark.e2e

ORDER, EMAIL, TRACKING = "OM-104233", "marie.dupont@example.fr", "JD014600003828461025"


def check(live_stack: LiveStack, email: str, client: str) -> CheckResult:
    settings = Settings(_env_file=None, database_url=live_stack.database_url)  # type: ignore[call-arg]
    engine = make_engine(live_stack.database_url)
    try:
        with session_factory(engine)() as session:
            return check_proof(
                session,
                settings,
                number=ORDER,
                email=email,
                postcode=None,
                prefer_store="om-system",
                client=client,
                channel="test",
                conversation=f"shared-state-{uuid.uuid4().hex[:8]}",
            ).result
    finally:
        engine.dispose()


def test_five_wrong_proofs_lock_the_order_for_everyone(live_stack: LiveStack) -> None:
    # Five wrong proofs from five different clients: the order's own limit.
    for n in range(5):
        assert check(live_stack, "someone.else@example.com", f"ip:198.51.100.{n}") is (
            CheckResult.FAILED
        )
    # Locked: even the right proof, from yet another client, is not checked any more.
    assert check(live_stack, EMAIL, "ip:198.51.100.99") is CheckResult.REFUSED


@pytest.fixture(scope="module")
def looked_up_in_a_module_fixture(live_stack: LiveStack) -> str:
    """An order lookup with the right proof, made while the module's fixtures are set up."""
    messages: list[dict[str, Any]] = live_stack.say(
        f"Where is my order {ORDER}? My e-mail is {EMAIL}", metadata={"store": "om-system"}
    )
    return texts(messages)


def test_the_next_module_fixture_finds_the_order_unlocked(
    looked_up_in_a_module_fixture: str,
) -> None:
    assert TRACKING in looked_up_in_a_module_fixture, looked_up_in_a_module_fixture
