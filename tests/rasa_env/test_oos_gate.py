"""The intent classifier's out_of_scope gate (option `oos_gate`, off in config.yml unless
chosen): bot.nlu.intent_classifier.fit_gate and apply_gate, and the Rasa component's
training, saving and loading of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.nlu.normalise import normalise

CLASSES = ["greet", "order_status", "out_of_scope", "thank"]

TEXTS = {
    "order_status": [
        "où est ma commande",
        "ma commande n'est pas arrivée",
        "colis pas reçu",
        "where is my order",
        "my parcel has not arrived",
    ],
    "out_of_scope": [
        "quel temps fait-il demain",
        "raconte une blague",
        "qui a gagné le match hier soir",
        "what is the weather tomorrow",
        "tell me a joke",
        "who won the match last night",
    ],
    "thank": ["merci", "merci beaucoup", "thanks a lot"],
    "greet": ["bonjour", "hello"],
}


def _inputs() -> tuple[list[str], list[str]]:
    return (
        [t for ts in TEXTS.values() for t in ts],
        [intent for intent, ts in TEXTS.items() for _ in ts],
    )


def test_the_gate_is_fitted_only_when_asked_and_with_both_sides() -> None:
    from bot.nlu.intent_classifier import fit_gate

    texts, intents = _inputs()
    assert fit_gate({}, texts, intents) is None
    requests = [(t, i) for t, i in zip(texts, intents, strict=True) if i != "out_of_scope"]
    assert fit_gate({"oos_gate": True}, [t for t, _ in requests], [i for _, i in requests]) is None


def test_the_gate_reads_out_of_scope_words_with_its_own_features() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    from bot.nlu.intent_classifier import fit_gate, predict_proba

    texts, intents = _inputs()
    gate = fit_gate({"oos_gate": True, "oos_gate_C": 10.0}, texts, intents)
    assert isinstance(gate.named_steps["words"], CountVectorizer)  # presence, not TF-IDF
    assert list(gate.classes_) == [False, True]
    messages = [
        normalise(m) for m in ["raconte une blague sur le match", "ma commande n'est pas arrivée"]
    ]
    oos = predict_proba(gate, messages)[:, 1]
    assert oos[0] > 0.5 > oos[1]


def row(**scores: float) -> Any:
    return np.array([scores.get(c, 0.0) for c in CLASSES])


def test_the_gate_overrides_only_a_very_confident_disagreement() -> None:
    from bot.nlu.intent_classifier import apply_gate

    options = {"oos_gate": True, "oos_gate_high": 0.95, "oos_gate_low": 0.05}
    out_of_scope = row(out_of_scope=0.6, order_status=0.3, thank=0.1)
    # Read as out_of_scope, the gate sure it is not: the other intents share the rest.
    moved = apply_gate(out_of_scope, 0.02, CLASSES, options)
    assert moved == pytest.approx(row(out_of_scope=0.02, order_status=0.735, thank=0.245))
    assert CLASSES[int(moved.argmax())] == "order_status"
    # Not sure enough: unchanged.
    assert np.array_equal(apply_gate(out_of_scope, 0.2, CLASSES, options), out_of_scope)
    # A request reading, the gate sure it is out of scope.
    request = row(order_status=0.7, out_of_scope=0.2, greet=0.1)
    moved = apply_gate(request, 0.97, CLASSES, options)
    assert CLASSES[int(moved.argmax())] == "out_of_scope"
    assert moved.sum() == pytest.approx(1.0)
    assert np.array_equal(apply_gate(request, 0.9, CLASSES, options), request)
    # Agreement, or a conversation move (a greeting, a thanks), is left alone.
    assert np.array_equal(apply_gate(out_of_scope, 0.99, CLASSES, options), out_of_scope)
    greeting = row(greet=0.8, out_of_scope=0.2)
    assert np.array_equal(apply_gate(greeting, 0.99, CLASSES, options), greeting)
    assert np.array_equal(apply_gate(request, 0.01, CLASSES, options), request)


def test_the_component_trains_saves_and_loads_its_gate(tmp_path: Path) -> None:
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.constants import INTENT, TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.intent_classifier import GATE_FILE, TfidfIntentClassifier

    texts, intents = _inputs()
    data = TrainingData(
        [Message(data={TEXT: t, INTENT: i}) for t, i in zip(texts, intents, strict=True)]
    )
    # The last one: out_of_scope by a hair for the classifier, a request for the gate.
    messages = ["raconte une blague sur le match", "merci", "qui a gagné ma commande"]

    def parse(component: TfidfIntentClassifier) -> list[Any]:
        parsed = component.process([Message(data={TEXT: m}) for m in messages])
        return [m.get("intent_ranking") for m in parsed]

    rankings = {}
    for gate in (False, True):
        (tmp_path / str(gate)).mkdir()
        storage = LocalModelStorage(tmp_path / str(gate))
        resource = Resource("intent_classifier")
        config = {
            "C": 300,
            "oos_gate": gate,
            "oos_gate_C": 100.0,
            "oos_gate_high": 0.7,
            "oos_gate_low": 0.3,
        }
        trained = TfidfIntentClassifier.create(config, storage, resource, None)  # type: ignore[arg-type]
        trained.train(data)
        with storage.read_from(resource) as directory:
            assert (Path(directory) / GATE_FILE).exists() is gate
        loaded = TfidfIntentClassifier.load(config, storage, resource, None)  # type: ignore[arg-type]
        assert parse(loaded) == parse(trained)
        rankings[gate] = parse(loaded)
    assert [r[0]["name"] for r in rankings[False]] == ["out_of_scope", "thank", "out_of_scope"]
    assert [r[0]["name"] for r in rankings[True]] == ["out_of_scope", "thank", "order_status"]
