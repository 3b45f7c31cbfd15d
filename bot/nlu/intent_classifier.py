"""Intent classifier for long, noisy, mixed customer messages: TF-IDF + logistic regression.

`TfidfIntentClassifier` reads the message text itself (through `bot.nlu.normalise`: lower
case, accents folded, chat abbreviations expanded, order numbers / e-mails / numbers replaced
by placeholders) and scores it with

* TF-IDF of words and word pairs, and TF-IDF of character n-grams inside word bounds
  (`char_wb`, 2-5: typos, missing accents, "livraizon"), both with sublinear term frequency
  and L2 normalisation, so a long e-mail weighs no more than a short chat line;
* a multinomial logistic regression whose probabilities are the intent ranking (what the
  FallbackClassifier's thresholds compare).

Why not Rasa's CountVectorsFeaturizer + LogisticRegressionClassifier: raw counts grow with
the message's length, and the cross-validation on the training data and both test sets
measured this weighting behind a plain TF-IDF baseline (issue 11, `reports/`). No TensorFlow:
the component trains in seconds and loads in milliseconds.

The options (n-gram ranges, `C`, class weights) were chosen by seeded cross-validation on
the training data (`scripts/tune_classifier.py`, `reports/classifier_cross_validation.md`).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import source_fingerprint
from bot.nlu.normalise import normalise

logger = logging.getLogger(__name__)

DEFAULTS: Dict[str, Any] = {
    "word_ngrams": [1, 2],
    "char_ngrams": [2, 5],
    "C": 10.0,
    "class_weight": None,
    "max_iter": 3000,
    "ranking_length": 10,
    # Vocabulary options of both vectorisers (scikit-learn's defaults).
    "min_df": 1,
    "max_df": 1.0,
    "binary": False,
    # The word block's features multiplied by this (1: as the characters'), as if the words
    # had their own C (C x weight squared).
    "word_weight": 1.0,
    # Training-time composition (:func:`compose`): shares of the request examples copied once
    # more in a customer's shape, labelled with the request's intent. 0: none.
    "compose_greeting": 0.0,
    "compose_closing": 0.0,
    "compose_context": 0.0,
    "compose_pairs": 0.0,
    "compose_mixed_closings": 0.0,
    "compose_weight": 1.0,
    "compose_seed": 13,
    # Pretrained French word vectors (bot.nlu.word_vectors): path of the folded table
    # (scripts/build_word_vectors.py), None: no vector block. A message not read as English
    # gets the mean of its words' vectors (IDF-weighted when vector_idf), L2-normalised and
    # multiplied by vector_weight, beside the TF-IDF blocks. Tried on issue 11 and not kept
    # (reports/word_vectors_cross_validation.md).
    "word_vectors": None,
    "vector_weight": 1.0,
    "vector_idf": True,
}

#: Conversation moves, not requests: never given a greeting, a closing or a context.
CONVERSATION_INTENTS = frozenset(
    {
        "greet",
        "thank",
        "goodbye",
        "affirm",
        "deny",
        "stop",
        "inform",
        "bot_challenge",
        "switch_language",
    }
)


def build_model(config: Dict[str, Any]) -> Any:
    """The scikit-learn pipeline of a configuration (texts must be normalised first)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    options = {**DEFAULTS, **config}
    parts = []
    if options["word_ngrams"]:
        parts.append(
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
                    lowercase=False,
                    ngram_range=tuple(options["word_ngrams"]),
                    sublinear_tf=True,
                    min_df=options["min_df"],
                    max_df=options["max_df"],
                    binary=bool(options["binary"]),
                ),
            )
        )
    if options["char_ngrams"]:
        parts.append(
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    lowercase=False,
                    ngram_range=tuple(options["char_ngrams"]),
                    sublinear_tf=True,
                    min_df=options["min_df"],
                    max_df=options["max_df"],
                    binary=bool(options["binary"]),
                ),
            )
        )
    if options["word_vectors"]:
        from bot.nlu.word_vectors import WordVectorBlock

        parts.append(
            (
                "vectors",
                WordVectorBlock(
                    table=str(options["word_vectors"]),
                    weight=float(options["vector_weight"]),
                    idf=bool(options["vector_idf"]),
                ),
            )
        )
    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    parts,
                    transformer_weights=None
                    if float(options["word_weight"]) == 1.0
                    else {"words": float(options["word_weight"])},
                ),
            ),
            (
                "classifier",
                LogisticRegression(
                    C=float(options["C"]),
                    class_weight=options["class_weight"],
                    max_iter=int(options["max_iter"]),
                    random_state=42,
                ),
            ),
        ]
    )


#: The word vector table's copy in the trained model (`TfidfIntentClassifier.persist`).
VECTOR_TABLE_FILE = "word_vectors.npz"


def vector_block(model: Any) -> Any:
    """The pipeline's word vector block (`bot.nlu.word_vectors.WordVectorBlock`), or None."""
    steps = dict(getattr(model, "steps", []))
    features = steps.get("features")
    parts = dict(getattr(features, "transformer_list", []))
    return parts.get("vectors")


def compose(
    texts: Sequence[str], intents: Sequence[str], config: Dict[str, Any]
) -> Tuple[List[str], List[str], List[float]]:
    """The training examples plus copies in the shapes real customers write, and their weights.

    Built only from the examples given (in cross-validation: the training folds), with a
    seeded generator, so the same examples always give the same copies. For a share of the
    request examples (every intent but :data:`CONVERSATION_INTENTS`), one copy each, labelled
    with the request's intent and weighted `compose_weight` (the originals weigh 1):

    * `compose_greeting`: a greeting example before it ("bonjour, " + request);
    * `compose_closing`: a thanks or goodbye example after it (request + ", merci d'avance");
    * `compose_context`: an `inform` example before it (an order number, an e-mail, a country:
      "commande OM-104233, " + request);
    * `compose_pairs`: another example of the same intent before it (context first);
    * `compose_mixed_closings`: a share of the `affirm` examples followed by a `thank` example,
      labelled thank ("d'accord, merci").

    Greetings, closings and contexts are taken in the request's language when `bot.nlu.langid`
    tells it (else from either language).
    """
    import random

    from bot.nlu import langid

    options = {**DEFAULTS, **config}
    out_texts, out_intents = list(texts), list(intents)
    weights = [1.0] * len(out_texts)
    shares = {
        key: float(options[key] or 0.0)
        for key in (
            "compose_greeting",
            "compose_closing",
            "compose_context",
            "compose_pairs",
            "compose_mixed_closings",
        )
    }
    if not any(shares.values()):
        return out_texts, out_intents, weights
    rng = random.Random(int(options["compose_seed"]))  # noqa: S311 - reproducible copies, no secret
    language = {t: langid.language_of(t)[0] for t in set(texts)}

    def pools(names: Sequence[str]) -> Dict[Any, List[str]]:
        chosen = [t for t, i in zip(texts, intents, strict=True) if i in names]
        by_language: Dict[Any, List[str]] = {None: chosen}
        for t in chosen:
            if language[t]:
                by_language.setdefault(language[t], []).append(t)
        return by_language

    def pick(pool: Dict[Any, List[str]], text: str) -> Optional[str]:
        candidates = pool.get(language[text]) or pool[None]
        return rng.choice(candidates) if candidates else None

    greetings, closings = pools(["greet"]), pools(["thank", "goodbye"])
    contexts, thanks = pools(["inform"]), pools(["thank"])
    by_intent: Dict[str, Dict[Any, List[str]]] = {}
    weight = float(options["compose_weight"])

    def add(text: Optional[str], intent: str) -> None:
        if text:
            out_texts.append(text)
            out_intents.append(intent)
            weights.append(weight)

    for text, intent in zip(texts, intents, strict=True):
        if intent in CONVERSATION_INTENTS:
            if intent == "affirm" and rng.random() < shares["compose_mixed_closings"]:
                closing = pick(thanks, text)
                add(closing and f"{text}, {closing}", "thank")
            continue
        if rng.random() < shares["compose_greeting"]:
            greeting = pick(greetings, text)
            add(greeting and f"{greeting}, {text}", intent)
        if rng.random() < shares["compose_closing"]:
            closing = pick(closings, text)
            add(closing and f"{text} {closing}", intent)
        if rng.random() < shares["compose_context"]:
            context = pick(contexts, text)
            add(context and f"{context}. {text}", intent)
        if rng.random() < shares["compose_pairs"]:
            if intent not in by_intent:
                by_intent[intent] = pools([intent])
            other = pick(by_intent[intent], text)
            add(other and other != text and f"{other}. {text}", intent)
    return out_texts, out_intents, weights


def fit_model(config: Dict[str, Any], texts: Sequence[str], intents: Sequence[str]) -> Any:
    """The pipeline of `config` fitted on raw texts (composed copies added, then normalised)."""
    options = {**DEFAULTS, **config}
    texts, intents, weights = compose(texts, intents, options)
    model = build_model(options)
    fit_options = {}
    if any(w != 1.0 for w in weights):
        fit_options["classifier__sample_weight"] = weights
    model.fit([normalise(t) for t in texts], list(intents), **fit_options)
    return model


def predict_proba(model: Any, texts: Sequence[str]) -> Any:
    """`model.predict_proba(texts)` of a pipeline of :func:`build_model`, the same numbers faster.

    Two costs of scikit-learn's own path, measured per message (bench/parse_cpu.py): the
    logistic regression computes ``X @ coef_.T``, and with ``coef_`` in C order (as fitted or
    loaded) that transposed view is copied into a new array at every call (33 x 39,663
    weights: 2.4 ms); kept in Fortran order, ``coef_.T`` is used as it is (0.05 ms). And the
    FeatureUnion hands its two vectorisers to joblib even with one job (0.3 ms). Same arrays,
    same arithmetic, in the same order: the probabilities are equal, not merely close
    (tests/rasa_env/test_intent_classifier.py). Any other model goes through its own method.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    steps = dict(model.steps) if isinstance(model, Pipeline) else {}
    features, classifier = steps.get("features"), steps.get("classifier")
    if (
        len(steps) != 2
        or not isinstance(features, FeatureUnion)
        or not isinstance(classifier, LogisticRegression)
        or features.transformer_weights
        or any(isinstance(part, str) for _name, part in features.transformer_list)
    ):
        return model.predict_proba(texts)
    import numpy as np
    import scipy.sparse

    if not classifier.coef_.flags.f_contiguous:
        classifier.coef_ = np.asfortranarray(classifier.coef_)
    parts = [part.transform(texts) for _name, part in features.transformer_list]
    return classifier.predict_proba(scipy.sparse.hstack(parts).tocsr())


def rankings(model: Any, texts: Sequence[str], length: int = 10) -> List[List[Dict[str, Any]]]:
    """Intent rankings (name, confidence), best first, of raw texts."""
    probabilities = predict_proba(model, [normalise(t) for t in texts])
    classes = [str(c) for c in model.classes_]
    out = []
    for row in probabilities:
        ranked = sorted(zip(classes, row, strict=True), key=lambda item: -item[1])
        out.append([{"name": n, "confidence": float(c)} for n, c in ranked[: max(1, length)]])
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(IntentClassifier, GraphComponent):
    """Word + character TF-IDF logistic regression over normalised text."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config."""
        return dict(DEFAULTS)

    @staticmethod
    def required_packages() -> List[Text]:
        """Packages whose versions enter the training cache fingerprint."""
        return ["sklearn", "skops"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrains when the normalisation changes, not only this class's source."""
        modules = ["bot.nlu.intent_classifier", "bot.nlu.normalise"]
        if config.get("word_vectors"):
            modules.append("bot.nlu.word_vectors")
        return source_fingerprint(*modules)

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
    ) -> None:
        """Creates the component (untrained when `model` is None)."""
        self.component_config = {**DEFAULTS, **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfIntentClassifier:
        """Creates a new untrained component."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the pipeline on the intent examples and persists it."""
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("No intent examples: %s is left untrained.", type(self).__name__)
            return self._resource
        self._model = fit_model(
            self.component_config,
            [e.get(TEXT) for e in examples],
            [e.get(INTENT) for e in examples],
        )
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets `intent` and `intent_ranking` on each message."""
        if self._model is None:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        ranked = rankings(self._model, texts, int(self.component_config["ranking_length"]))
        for message, ranking in zip(messages, ranked, strict=True):
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Writes the fitted pipeline with skops (no pickle)."""
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(self._model, directory / "intent_model.skops")
            block = vector_block(self._model)
            if block is not None:
                # The model carries its word vector table: it runs without var/.
                import shutil

                from bot.nlu.word_vectors import resolve

                shutil.copyfile(resolve(block.table), directory / VECTOR_TABLE_FILE)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfIntentClassifier:
        """Loads the fitted pipeline (an untrained component when there is none)."""
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as directory:
                path = directory / "intent_model.skops"
                untrusted = sio.get_untrusted_types(file=path)
                unexpected = [
                    t
                    for t in untrusted
                    if not t.startswith(("sklearn.", "numpy.", "scipy.sparse."))
                    and t != "bot.nlu.word_vectors.WordVectorBlock"
                ]
                if unexpected:
                    raise ValueError(f"unexpected types in {path}: {unexpected}")
                model = sio.load(path, trusted=untrusted)
                block = vector_block(model)
                if block is not None:
                    from bot.nlu.word_vectors import WordVectors, register_table

                    register_table(
                        block.table, WordVectors.from_file(directory / VECTOR_TABLE_FILE)
                    )
        except (ValueError, FileNotFoundError) as error:
            logger.warning("No trained intent model loaded (%s).", error)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)
