"""RulePolicy's remembered rule lookup (bot/rasa_ext/rule_lookup.py) predicts what Rasa's does.

With the trained model (models/bot.tar.gz): the model's own RulePolicy predicts the next action
at every step of every story and rule of data/ (forms, loops, slots included), once with Rasa's
lookup and twice with the remembered one (the second time from the table): same predictions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext import rule_lookup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rasa_lookup() -> Iterator[None]:
    """Rasa's own method and an empty table during the test; what was installed, after."""
    installed = RulePolicy._get_possible_keys
    RulePolicy._get_possible_keys = rule_lookup.RASA_GET_POSSIBLE_KEYS
    rule_lookup.clear()
    try:
        yield
    finally:
        RulePolicy._get_possible_keys = installed
        rule_lookup.clear()


def rule_policy_of(agent: Any) -> RulePolicy:
    runner = agent.processor.graph_runner
    policies = [
        node._component
        for node in runner._instantiated_nodes.values()
        if isinstance(getattr(node, "_component", None), RulePolicy)
    ]
    assert len(policies) == 1, policies
    return policies[0]


def story_steps(agent: Any) -> list[DialogueStateTracker]:
    """Every point of data/'s stories and rules where an action is predicted."""
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        config_path=str(ROOT / "config.yml"),
        domain_path=str(ROOT / "domain.yml"),
        training_data_paths=[str(ROOT / "data")],
    )
    domain = agent.domain
    trackers = TrainingDataGenerator(
        importer.get_stories(), domain, augmentation_factor=0
    ).generate()
    steps = []
    for tracker in trackers:
        events = list(tracker.events)
        for index, event in enumerate(events):
            if isinstance(event, ActionExecuted) and index > 0:
                steps.append(
                    DialogueStateTracker.from_events(
                        tracker.sender_id, events[:index], domain.slots
                    )
                )
    return steps


def predictions(agent: Any, steps: list[DialogueStateTracker]) -> list[Any]:
    policy = rule_policy_of(agent)
    rule_only_data = policy._get_rule_only_data()
    out = []
    for tracker in steps:
        prediction = policy.predict_action_probabilities(
            tracker, agent.domain, rule_only_data=rule_only_data
        )
        out.append(
            (
                prediction.probabilities,
                prediction.policy_name,
                [e.as_dict() for e in prediction.events],
                [e.as_dict() for e in prediction.optional_events],
                prediction.is_no_user_prediction,
                prediction.action_metadata,
            )
        )
    return out


def test_the_models_rule_predictions_are_rasas(agent: Any, rasa_lookup: None) -> None:
    steps = story_steps(agent)
    expected = predictions(agent, steps)
    assert rule_lookup.install()
    first = predictions(agent, steps)
    remembered = len(rule_lookup._answers)
    second = predictions(agent, steps)

    assert first == expected
    assert second == expected
    # Not a vacuous comparison: many steps, rules predicted, states remembered and reused.
    assert len(steps) > 100
    rule_predicted = [p for p in expected if max(p[0]) == 1.0 or max(p[0]) > 0.9]
    assert len(rule_predicted) > 50
    assert 0 < remembered <= len(rule_lookup._answers) < 2 * len(steps)
    assert len(rule_lookup._answers) == remembered  # the second pass added nothing


def test_the_table_is_bounded(monkeypatch: pytest.MonkeyPatch, rasa_lookup: None) -> None:
    monkeypatch.setattr(rule_lookup, "MAX_ENTRIES", 3)
    policy = RulePolicy.__new__(RulePolicy)
    lookup = {'[{"prev_action": {"action_name": "action_listen"}}]': "utter_x"}
    for index in range(5):
        states = [
            {"user": {"intent": f"i{index}"}, "prev_action": {"action_name": "action_listen"}}
        ]
        assert rule_lookup.get_possible_keys(policy, lookup, states) == (
            rule_lookup.RASA_GET_POSSIBLE_KEYS(policy, lookup, states)
        )
    assert len(rule_lookup._answers) == 3


def test_states_that_differ_only_in_type_are_not_confused() -> None:
    assert rule_lookup.frozen({"slots": {"a": (1.0,)}}) != rule_lookup.frozen(
        {"slots": {"a": [1.0]}}
    )
    assert rule_lookup.frozen({"a": True}) != rule_lookup.frozen({"a": 1})
    assert rule_lookup.frozen({"b": 1, "a": 2}) == rule_lookup.frozen({"a": 2, "b": 1})


def test_an_unknown_rasa_keeps_rasas_lookup(
    rasa_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    assert not rule_lookup.install()
    assert RulePolicy._get_possible_keys is rule_lookup.RASA_GET_POSSIBLE_KEYS


def test_each_lookup_answers_rasas_set_in_rasas_order(agent: Any, rasa_lookup: None) -> None:
    """Every lookup of the predictions above: the same keys, iterated in the same order."""
    steps = story_steps(agent)
    compared: list[tuple[bool, int, int]] = []

    def checked(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        ours = rule_lookup.get_possible_keys(self, lookup, states)
        rasas = rule_lookup.RASA_GET_POSSIBLE_KEYS(self, lookup, states)
        compared.append((list(ours) == list(rasas), len(states), len(rasas)))
        return ours

    RulePolicy._get_possible_keys = checked  # restored by the fixture
    predictions(agent, steps)
    predictions(agent, steps)

    assert compared and all(same for same, _states, _found in compared)
    longest = rule_lookup.longest_rule(tuple(rule_policy_of(agent).lookup["rules"]))
    # Histories longer than the longest rule (only its last states are keyed), with matches.
    assert any(states > longest and found > 0 for _same, states, found in compared)
