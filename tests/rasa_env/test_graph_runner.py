"""bot.rasa_ext.graph_runner runs Rasa's model graph as dask did, without dask's scheduler.

A small graph checks dask's semantics one by one against `dask.get`; then the project's
trained model (models/bot.tar.gz, which `make test` builds first) parses messages and
predicts the next action with Rasa's runner and with this one: the same results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import dask
import pytest
from rasa.engine.runner.dask import DaskGraphRunner

from bot.rasa_ext import graph_runner


def _graph(calls: list[str]) -> dict[str, Any]:
    def node(name: str) -> Any:
        def run(*inputs: Any) -> tuple[str, Any]:
            calls.append(name)
            return (name, [name, *inputs])

        return run

    return {
        "__message__": ("__message__", ["Bonjour"]),  # an input as Rasa adds it: a literal
        "a": (node("a"), "__message__"),
        "b": (node("b"), "a"),
        "c": (node("c"), "a", "not a node", ["a", "b"]),  # a diamond, a literal, a list
        "d": (node("d"), "c", "b"),
    }


def test_results_equal_dasks_and_each_node_runs_once() -> None:
    dask_calls: list[str] = []
    expected = dask.get(_graph(dask_calls), ["d", "b"])
    calls: list[str] = []
    got = graph_runner.run_graph(_graph(calls), ["d", "b"])
    assert list(got) == list(expected)
    assert sorted(calls) == sorted(dask_calls) == ["a", "b", "c", "d"]
    assert calls.index("a") < calls.index("b") < calls.index("c") < calls.index("d")


def test_a_node_error_comes_out_as_it_was_raised() -> None:
    def broken(*_: Any) -> None:
        raise ValueError("no model")

    graph = {"x": ("x", 1), "y": (broken, "x")}
    with pytest.raises(ValueError, match="no model"):
        dask.get(graph, ["y"])
    with pytest.raises(ValueError, match="no model"):
        graph_runner.run_graph(graph, ["y"])


def test_a_cycle_is_a_runtime_error_as_in_dask() -> None:
    graph = {"p": (lambda x: x, "q"), "q": (lambda x: x, "p")}
    with pytest.raises(RuntimeError):
        dask.get(graph, ["p"])
    with pytest.raises(RuntimeError):
        graph_runner.run_graph(graph, ["p"])


@pytest.fixture
def rasa_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    original = DaskGraphRunner.run
    monkeypatch.setattr(DaskGraphRunner, "run", original)
    yield original


MESSAGES = [
    "Bonjour",
    "où en est ma commande OM-104233, marie.dupont@example.fr",
    "How long is the warranty on your watches?",
    "Wo ist meine Bestellung OM-104233?",
    "livrez-vous en Suisse et combien coûte la livraison ?",
    "ok",
    "Merci, bonne journée",
]


async def _conversation(agent: Any, sender: str) -> list[Any]:
    """Each message parsed, logged, and the next action predicted (both graphs of a turn)."""
    from rasa.core.channels.channel import UserMessage

    out: list[Any] = []
    for text in MESSAGES:
        metadata = {"store": "om-system"}
        parsed = await agent.processor.parse_message(UserMessage(text, metadata=metadata))
        await agent.processor.log_message(UserMessage(text, sender_id=sender, metadata=metadata))
        prediction = await agent.processor.predict_next_for_sender_id(sender)
        out.append((parsed, prediction["scores"][:3], prediction.get("policy")))
    return out


def test_the_models_parses_and_predictions_are_the_same(agent: Any, rasa_runner: Any) -> None:
    expected = asyncio.run(_conversation(agent, "graph-runner-rasa"))
    assert graph_runner.install()
    assert DaskGraphRunner.run is graph_runner.run
    got = asyncio.run(_conversation(agent, "graph-runner-ours"))
    assert got == expected
    assert {parsed["intent"]["name"] for parsed, _scores, _policy in got} >= {"greet"}
