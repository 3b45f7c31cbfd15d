"""A custom action call that fails never ends the turn in silence (bot/rasa_ext/action_failures.py).

The trained model (Rasa's Agent) runs real turns against a real aiohttp action server on the
loopback whose handler cuts the connection after reading the request (what the action server
killed mid-call does to Rasa). Stock Rasa 3.6 answers such a turn with no message at all; with
the fix the customer reads the notice in their language and the clients get the marker; a
read-only action is called again and answers; an action with effects is called once only; a
turn answered with the notice is processed again when the same message is sent again. Inside
the order lookup form the notice is the whole answer too (stock Rasa's form drops it and asks
again), and the form waits for the same value.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import REQUESTED_SLOT
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, FollowupAction, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_ext import action_failures, idempotency

DELIVERY_ACTION = "action_delivery_countries"  # read-only (actions/read_only.py)
QUESTIONS = {
    "fr": "Livrez-vous en Suisse ?",
    "en": "Do you deliver to Switzerland?",
}
HANDOFF_ACTION = "action_human_handoff"  # records a handoff: never called twice
HANDOFF_ASKS = {
    "fr": "Je veux parler à un conseiller",
    "en": "I want to talk to a human",
}
ANSWER = "We deliver there."
VALIDATION = "validate_order_lookup_form"  # counts failed proofs: never called twice


@pytest.fixture
def stock_rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rasa's own `RemoteAction.run`, form methods and `handle_message` during the test, put
    back after it."""
    monkeypatch.setattr(RemoteAction, "run", action_failures.RASA_RUN)
    monkeypatch.setattr(FormAction, "validate", action_failures.RASA_FORM_VALIDATE)
    monkeypatch.setattr(FormAction, "request_next_slot", action_failures.RASA_REQUEST_NEXT_SLOT)
    monkeypatch.setattr(MessageProcessor, "handle_message", MessageProcessor.handle_message)
    yield


class ActionServer:
    """An action server on the loopback: cuts the first ``cuts`` calls and the calls numbered
    in ``cut_calls`` (from 1), answers the others."""

    def __init__(self, cuts: int, cut_calls: frozenset[int] = frozenset()) -> None:
        self.cuts = cuts
        self.cut_calls = cut_calls
        self.calls: list[str] = []
        #: Where each turn's calls start in ``calls``.
        self.turn_starts: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(body["next_action"])
        if len(self.calls) <= self.cuts or len(self.calls) in self.cut_calls:
            assert request.transport is not None
            request.transport.abort()  # killed mid-call: no answer, the connection reset
            await asyncio.sleep(3600)
        return web.json_response({"events": [], "responses": [{"text": ANSWER}]})

    async def __aenter__(self) -> ActionServer:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def _turns(
    agent: Any,
    server: ActionServer,
    texts: list[tuple[str, str | None]],
    states: list[tuple[str | None, Any]] | None = None,
) -> list[list[dict[str, Any]]]:
    """Sends each (text, message_id) in one new conversation; the REST messages of each turn
    (and, into ``states``, the form active and the slot it waits for after each turn)."""
    endpoint = EndpointConfig(url=server.url)
    agent.action_endpoint = endpoint
    agent.processor.action_endpoint = endpoint
    sender = f"failures-{uuid.uuid4().hex}"
    answers = []
    for text, message_id in texts:
        channel = CollectingOutputChannel()
        metadata = {"message_id": message_id} if message_id else {}
        server.turn_starts.append(len(server.calls))
        await agent.handle_message(UserMessage(text, channel, sender, metadata=metadata))
        answers.append(list(channel.messages))
        if states is not None:
            tracker = await agent.tracker_store.retrieve(sender)
            states.append((tracker.active_loop_name, tracker.get_slot(REQUESTED_SLOT)))
    return answers


def _run(agent: Any, cuts: int, texts: list[tuple[str, str | None]]) -> tuple[Any, list[str]]:
    """The messages of each turn, and the action calls the server got."""
    answers, calls, _ = _run_turns(agent, cuts, texts)
    return answers, calls


def _run_turns(
    agent: Any,
    cuts: int,
    texts: list[tuple[str, str | None]],
    cut_calls: frozenset[int] = frozenset(),
    states: list[tuple[str | None, Any]] | None = None,
) -> tuple[Any, list[str], list[list[str]]]:
    """The messages of each turn, the action calls, and the calls of each turn."""

    async def scenario() -> tuple[Any, list[str], list[list[str]]]:
        async with ActionServer(cuts, cut_calls) as server:
            answers = await _turns(agent, server, texts, states)
            ends = [*server.turn_starts[1:], len(server.calls)]
            per_turn = [server.calls[a:b] for a, b in zip(server.turn_starts, ends, strict=True)]
            return answers, server.calls, per_turn

    return asyncio.run(scenario())


def test_stock_rasa_answers_a_cut_action_call_with_silence(agent: Any, stock_rasa: None) -> None:
    (answer,), calls = _run(agent, cuts=1, texts=[(QUESTIONS["en"], None)])
    assert calls == [DELIVERY_ACTION]
    assert answer == []  # a 200 with no message: what the customer got


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_cut_action_with_effects_is_answered_send_it_again(
    agent: Any, stock_rasa: None, lang: str
) -> None:
    assert action_failures.install()
    (answer,), calls = _run(agent, cuts=1, texts=[(HANDOFF_ASKS[lang], None)])
    assert calls == [HANDOFF_ACTION]  # it writes: called once, never again
    texts = [message["text"] for message in answer if "text" in message]
    assert texts == [action_failures.NOTICE[lang]]
    markers = [message["custom"] for message in answer if "custom" in message]
    assert markers == [{action_failures.TURN_FAILED_KEY: HANDOFF_ACTION}]


def test_a_cut_form_validation_is_answered_send_it_again_and_the_form_goes_on(
    agent: Any, stock_rasa: None
) -> None:
    """The order lookup's validation (it counts failed proofs: never called twice) cut inside
    Rasa's form: the notice only; the customer's next message reaches the form again."""
    assert action_failures.install()
    answers, _, per_turn = _run_turns(
        agent,
        cuts=1,
        texts=[("Où est ma commande OM-104233 ?", None), ("marie.dupont@example.fr", None)],
    )
    failed, following = answers
    assert per_turn[0] == ["validate_order_lookup_form"]
    assert [m.get("text") for m in failed if "text" in m] == [action_failures.NOTICE["fr"]]
    assert [m["custom"] for m in failed if "custom" in m] == [
        {action_failures.TURN_FAILED_KEY: "validate_order_lookup_form"}
    ]
    assert per_turn[1][0] == "validate_order_lookup_form"
    assert [m.get("text") for m in following] == [ANSWER]


def texts_of(answer: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in answer if "text" in m]


def markers_of(answer: list[dict[str, Any]]) -> list[Any]:
    return [m["custom"] for m in answer if "custom" in m]


#: The lookup started with a number (the form then waits for the proof), then the proof.
NUMBER_THEN_PROOF = [("Où est ma commande OM-104233 ?", "m-1"), ("marie.dupont@example.fr", "m-2")]
NUMBER_THEN_PROOF_EN = [
    ("Where is my order OM-104233?", "m-1"),
    ("My email is marie.dupont@example.fr", "m-2"),
]


def test_stock_rasa_drops_the_notice_of_a_validation_cut_while_the_form_waits(
    agent: Any, stock_rasa: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defect the form part of the fix is for: with only the notice (RemoteAction.run),
    Rasa's form rejects the turn (the notice dropped), runs again after the help text and calls
    the validation a second time for the same message."""
    assert action_failures.install()
    # Rasa's own form methods again (install replaced them).
    monkeypatch.setattr(FormAction, "validate", action_failures.RASA_FORM_VALIDATE)
    monkeypatch.setattr(FormAction, "request_next_slot", action_failures.RASA_REQUEST_NEXT_SLOT)
    answers, _, per_turn = _run_turns(agent, 0, NUMBER_THEN_PROOF, cut_calls=frozenset({2}))
    assert per_turn[1] == [VALIDATION, VALIDATION]
    assert texts_of(answers[1]) == [ANSWER]  # the second call's answer; no notice
    assert markers_of(answers[1]) == []


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_validation_cut_while_the_form_waits_is_answered_with_the_notice_alone(
    agent: Any, stock_rasa: None, lang: str
) -> None:
    """The proof's validation cut: the notice (in the conversation's language) and its marker
    only, the validation called once; the form still waits for the proof, and the resend (same
    id) is validated and answered."""
    assert action_failures.install()
    assert idempotency.install()
    texts = NUMBER_THEN_PROOF if lang == "fr" else NUMBER_THEN_PROOF_EN
    states: list[tuple[str | None, Any]] = []
    answers, _, per_turn = _run_turns(
        agent, 0, [*texts, texts[1]], cut_calls=frozenset({2}), states=states
    )
    asked, failed, resent = answers
    assert states[0] == ("order_lookup_form", "order_proof")
    assert per_turn[1] == [VALIDATION]  # once, nothing after it
    assert texts_of(failed) == [action_failures.NOTICE[lang]]
    assert markers_of(failed) == [{action_failures.TURN_FAILED_KEY: VALIDATION}]
    assert states[1] == ("order_lookup_form", "order_proof")  # waiting for the same value
    assert per_turn[2][0] == VALIDATION
    assert texts_of(resent)[:1] == [ANSWER] and markers_of(resent) == []


def test_a_validation_cut_when_the_form_starts_asks_nothing_after_the_notice(
    agent: Any, stock_rasa: None
) -> None:
    """No number yet: stock Rasa's form would call action_ask_order_number after the notice.
    The notice alone; the form waits for the number, and the next message is its answer."""
    assert action_failures.install()
    states: list[tuple[str | None, Any]] = []
    answers, _, per_turn = _run_turns(
        agent,
        1,
        [("Où en est ma commande ?", None), ("OM-104233", None)],
        states=states,
    )
    failed, following = answers
    assert per_turn[0] == [VALIDATION]
    assert texts_of(failed) == [action_failures.NOTICE["fr"]]
    assert states[0] == ("order_lookup_form", "order_number")
    assert per_turn[1][0] == VALIDATION
    assert texts_of(following)[:1] == [ANSWER]


def test_only_the_notice_counts_as_a_failed_validation() -> None:
    notice = action_failures.notice_events(VALIDATION, _Tracker("en"))
    assert action_failures.answered_with_notice(notice)
    assert action_failures.answered_with_notice([SlotSet("order_proof", "x"), *notice])
    assert not action_failures.answered_with_notice([BotUttered(ANSWER), SlotSet("x", 1)])
    assert not action_failures.answered_with_notice([BotUttered(ANSWER, data={"custom": {}})])
    assert not action_failures.answered_with_notice(
        [ActionExecuted(VALIDATION), FollowupAction("action_listen")]
    )
    assert not action_failures.answered_with_notice([])


class _Tracker:
    def __init__(self, language: str) -> None:
        self.language = language

    def get_slot(self, name: str) -> Any:
        return self.language if name == "language" else None


def test_the_registry_resends_the_delivery_question_not_the_handoff() -> None:
    assert DELIVERY_ACTION in action_failures.READ_ONLY_ACTIONS
    assert HANDOFF_ACTION not in action_failures.READ_ONLY_ACTIONS


def test_the_notices_follow_french_typography() -> None:
    french = action_failures.NOTICE["fr"]
    for mark in "?!;:":
        for index, char in enumerate(french):
            if char == mark:
                assert french[index - 1] == "\u00a0", f"no no-break space before {mark!r}"
    assert ":" in french


def test_a_cut_read_only_action_is_called_again_and_answers(agent: Any, stock_rasa: None) -> None:
    assert action_failures.install()
    (answer,), calls = _run(agent, cuts=1, texts=[(QUESTIONS["en"], None)])
    assert calls == [DELIVERY_ACTION, DELIVERY_ACTION]
    assert [message.get("text") for message in answer] == [ANSWER]


def test_a_read_only_action_failing_past_the_wait_gets_the_notice(
    agent: Any, stock_rasa: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert action_failures.install()
    monkeypatch.setattr(action_failures, "RESEND_WAIT_S", 0.0)  # no time left: no resend
    (answer,), calls = _run(agent, cuts=5, texts=[(QUESTIONS["en"], None)])
    assert calls == [DELIVERY_ACTION]
    assert [message.get("text") for message in answer if "text" in message] == [
        action_failures.NOTICE["en"]
    ]


def test_the_same_message_sent_again_after_the_notice_is_processed_again(
    agent: Any, stock_rasa: None
) -> None:
    assert action_failures.install()
    assert idempotency.install()
    ask = HANDOFF_ASKS["en"]
    answers, _, per_turn = _run_turns(
        agent, cuts=1, texts=[(ask, "m-1"), (ask, "m-1"), (ask, "m-1")]
    )
    failed, resent, repeated = answers
    assert [m.get("text") for m in failed if "text" in m] == [action_failures.NOTICE["en"]]
    assert per_turn[0] == [HANDOFF_ACTION]  # and nothing after it: the turn ended
    # Sent again after the notice (the customer's resend): processed, the action run, answered.
    assert per_turn[1][0] == HANDOFF_ACTION
    assert resent and resent[0].get("text") == ANSWER
    assert not any(action_failures.is_failed_turn_message(m) for m in resent)
    # Sent once more after an answer: that answer again, nothing run.
    assert repeated == resent
    assert per_turn[2] == []


def test_an_unknown_rasa_version_is_left_alone(
    stock_rasa: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    assert not action_failures.install()
    assert RemoteAction.run is action_failures.RASA_RUN


def _next_slot_events(agent: Any, tracker_events: list[Any], events_so_far: list[Any]) -> Any:
    """What the fix's `request_next_slot` returns for the lookup form on such a tracker."""
    domain = agent.domain
    tracker = DialogueStateTracker.from_events("direct", tracker_events, slots=domain.slots)
    form = FormAction("order_lookup_form", None)
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return asyncio.run(
        action_failures.request_next_slot(
            form, tracker, domain, CollectingOutputChannel(), nlg, events_so_far
        )
    )


def test_after_the_notice_the_form_notes_the_slot_it_waits_for_and_asks_nothing(
    agent: Any,
) -> None:
    notice = action_failures.notice_events(VALIDATION, _Tracker("fr"))
    number = SlotSet("order_number", "OM-104233")
    # Starting in this turn, the number known: it waits for the proof, asked for nothing.
    started = [ActiveLoop("order_lookup_form"), *notice]
    assert _next_slot_events(agent, [number], started) == [SlotSet(REQUESTED_SLOT, "order_proof")]
    # Already waiting for a value: it keeps waiting for it.
    waiting = [ActiveLoop("order_lookup_form"), SlotSet(REQUESTED_SLOT, "order_proof"), number]
    assert _next_slot_events(agent, waiting, notice) == []
    # The validation noted the slot itself: that one.
    assert _next_slot_events(agent, [number], [*notice, SlotSet(REQUESTED_SLOT, "x")]) == []
    # Nothing left to ask: nothing noted (the form is not ended by a failed call).
    both = [number, SlotSet("order_proof", "a@example.org")]
    assert _next_slot_events(agent, both, started) == []
    # No notice: Rasa's own method (the proof asked for, requested_slot set).
    asked = _next_slot_events(agent, [number], [ActiveLoop("order_lookup_form")])
    assert SlotSet(REQUESTED_SLOT, "order_proof") in asked
