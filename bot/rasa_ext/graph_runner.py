"""Rasa 3.6 runs its model graph through dask's scheduler for every message: replaced.

`DaskGraphRunner.run` (twice per turn: the NLU pipeline, then the policies) hands a graph of
about ten nodes to `dask.get`, dask's synchronous scheduler: it orders the graph
(`dask.order`), builds its bookkeeping of dependencies and dependents, a queue, a cache with
reference counts, and calls every node through several layers of callbacks. For a graph this
small that machinery cost about 5 % of the Rasa server's CPU under load (py-spy at 8
conversations: dask's own frames, the nodes' work excluded).

:func:`install` replaces `DaskGraphRunner.run` with the same method in which `dask.get` is
:func:`run_graph`: each target's node is computed once, after the nodes it needs (depth
first), with dask's own task semantics for what a graph value is (`(callable, *args)` is a
task whose args that name a node get that node's result; lists are walked; anything else is
a literal: Rasa's inputs `(name, value)`). Errors are raised as they come out of the node, as
dask's synchronous scheduler raises them. Rasa's nodes are independent calls joined only
through their results, so the order of two nodes neither needs is free. A cycle (which Rasa's
graph validation refuses before a model is ever used) raises `RuntimeError` as dask does.

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner

from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `DaskGraphRunner.run` this module knows (read before widening).
KNOWN_RASA_PREFIX = "3.6."


def _is_task(value: Any) -> bool:
    return type(value) is tuple and bool(value) and callable(value[0])


def run_graph(graph: Mapping[Hashable, Any], targets: Sequence[Hashable]) -> list[Any]:
    """`dask.get(graph, targets)` for a list of targets: the targets' results, in order."""
    cache: dict[Hashable, Any] = {}
    running: set[Hashable] = set()

    def compute(key: Hashable) -> Any:
        if key in cache:
            return cache[key]
        if key in running:
            raise RuntimeError(f"Cycle detected in the graph at {key!r}")
        running.add(key)
        result = evaluate(graph[key])
        running.discard(key)
        cache[key] = result
        return result

    def evaluate(value: Any) -> Any:
        if isinstance(value, list):
            return [evaluate(item) for item in value]
        if _is_task(value):
            return value[0](*[evaluate(arg) for arg in value[1:]])
        try:
            is_key = value in graph
        except TypeError:  # unhashable: a literal
            return value
        return compute(value) if is_key else value

    return [compute(target) for target in targets]


def run(
    self: DaskGraphRunner,
    inputs: dict[str, Any] | None = None,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    """Rasa's `DaskGraphRunner.run`, with :func:`run_graph` instead of `dask.get`."""
    run_targets = targets if targets else self._graph_schema.target_names
    minimal_schema = self._graph_schema.minimal_graph_schema(run_targets)
    graph = self._build_dask_graph(minimal_schema)
    if inputs:
        self._add_inputs_to_graph(inputs, graph)
    logger.debug(
        "Running graph with inputs: %s, targets: %s and %s.",
        inputs,
        targets,
        self._execution_context,
    )
    try:
        return dict(run_graph(graph, run_targets))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


def install() -> bool:
    """Replaces Rasa's method; returns False (and changes nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "its graph runner is left as it is.",
        [(DaskGraphRunner, "run", run)],
    )
