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
    # Sentence-aware reading at prediction (:func:`combine`; not used in training): None
    # reads the whole text only; "override" or "average" also score each sentence of a
    # message of two or more (`bot.nlu.sentences`) and combine.
    "sentences": None,
    # When the sentences are looked at: "social_or_low" (the whole text's best intent is a
    # greeting, thanks or goodbye, or its score is under `sentence_low`) or "always".
    "sentence_gate": "social_or_low",
    "sentence_low": 0.5,
    # "override": the request sentence's ranking replaces the whole text's when its best
    # score is at least the whole text's best plus this.
    "sentence_margin": 0.0,
    # A second in-scope / out_of_scope decision with features of its own (:func:`fit_gate`),
    # which overrides the classifier only when very confident (:func:`apply_gate`): an
    # out_of_scope reading gives way when its P(out_of_scope) is at most `oos_gate_low`, a
    # request reading does when it is at least `oos_gate_high`.
    "oos_gate": False,
    "oos_gate_C": 1.0,
    # "balanced": both sides weigh the same in the gate's fit (out_of_scope is about 5% of
    # the examples), so its probabilities are centred for symmetric bounds.
    "oos_gate_class_weight": None,
    "oos_gate_high": 0.95,
    "oos_gate_low": 0.05,
    # Pretrained French word vectors (bot.nlu.word_vectors): path of the folded table
    # (scripts/build_word_vectors.py), None: no vector block. A message not read as English
    # gets the mean of its words' vectors (IDF-weighted when vector_idf), L2-normalised and
    # multiplied by vector_weight, beside the TF-IDF blocks. Tried on issue 11 and not kept
    # (reports/word_vectors_cross_validation.md).
    "word_vectors": None,
    "vector_weight": 1.0,
    "vector_idf": True,
}

#: Options read at prediction only: variants differing only in these share a fitted model.
PREDICTION_OPTIONS = frozenset(
    {
        "ranking_length",
        "sentences",
        "sentence_gate",
        "sentence_low",
        "sentence_margin",
        "oos_gate_high",
        "oos_gate_low",
    }
)
#: Options of the out_of_scope gate's fit (:func:`fit_gate`), not of the classifier's.
GATE_OPTIONS = frozenset({"oos_gate", "oos_gate_C", "oos_gate_class_weight"})
OUT_OF_SCOPE = "out_of_scope"

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
#: What a customer says around a request: read as the message's intent only when no
#: sentence of it carries a request (sentence-aware reading, :func:`combine`).
SOCIAL_INTENTS = frozenset({"greet", "thank", "goodbye"})


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


def fit_gate(config: Dict[str, Any], texts: Sequence[str], intents: Sequence[str]) -> Any:
    """The out_of_scope gate of `config` fitted on raw texts, or None (option `oos_gate`).

    Its own features and model, not the classifier's TF-IDF: the presence (0/1) of each word
    and word pair of the normalised text, weighted by its naive Bayes log-count ratio between
    the out_of_scope examples and all the others (how much more often a word is seen out of
    scope than in the requests and conversation moves), then a binary logistic regression
    (NB-LR, Wang and Manning 2012). The ratios are folded into the regression's weights, so
    the saved gate is a plain scikit-learn pipeline (counts, then the regression).
    """
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    options = {**DEFAULTS, **config}
    labels = np.array([intent == OUT_OF_SCOPE for intent in intents])
    if not options["oos_gate"] or labels.all() or not labels.any():
        return None
    words = CountVectorizer(
        analyzer="word",
        token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
        lowercase=False,
        ngram_range=(1, 2),
        binary=True,
    )
    counts = words.fit_transform([normalise(t) for t in texts]).tocsr()
    out_of_scope = np.asarray(counts[labels].sum(axis=0)).ravel() + 1.0
    in_scope = np.asarray(counts[~labels].sum(axis=0)).ravel() + 1.0
    ratios = np.log((out_of_scope / out_of_scope.sum()) / (in_scope / in_scope.sum()))
    regression = LogisticRegression(
        C=float(options["oos_gate_C"]),
        class_weight=options["oos_gate_class_weight"],
        max_iter=3000,
    )
    regression.fit(counts.multiply(ratios).tocsr(), labels)
    regression.coef_ = np.asfortranarray(regression.coef_ * ratios)
    return Pipeline([("words", words), ("classifier", regression)])


def apply_gate(row: Any, oos: float, classes: Sequence[str], config: Dict[str, Any]) -> Any:
    """The classifier's probabilities `row`, overridden by the gate's P(out_of_scope) `oos`
    when they disagree and the gate is very confident: the best intent is out_of_scope and
    `oos` is at most `oos_gate_low`, or it is a request (:func:`is_request`) and `oos` is at
    least `oos_gate_high`. P(out_of_scope) then becomes `oos` and the other intents share the
    rest in their proportions. Otherwise `row` as it is."""
    options = {**DEFAULTS, **config}
    if OUT_OF_SCOPE not in classes:
        return row
    index = list(classes).index(OUT_OF_SCOPE)
    best = classes[int(row.argmax())]
    if not (
        (best == OUT_OF_SCOPE and oos <= float(options["oos_gate_low"]))
        or (is_request(best) and oos >= float(options["oos_gate_high"]))
    ):
        return row
    others = 1.0 - float(row[index])
    out = row * ((1.0 - oos) / others) if others > 0 else row.copy()
    out[index] = oos
    return out


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


SENTENCE_MODES = (None, "override", "average")
SENTENCE_GATES = ("social_or_low", "always")


def check_sentence_options(config: Dict[str, Any]) -> None:
    """Refuses a configuration whose sentence-aware reading options are not known values."""
    options = {**DEFAULTS, **config}
    if options["sentences"] not in SENTENCE_MODES:
        raise ValueError(
            f"unknown sentences mode {options['sentences']!r} (one of {SENTENCE_MODES})"
        )
    if options["sentence_gate"] not in SENTENCE_GATES:
        raise ValueError(
            f"unknown sentence_gate {options['sentence_gate']!r} (one of {SENTENCE_GATES})"
        )


def is_request(intent: str) -> bool:
    """An intent the bot answers as a request (not a conversation move, not out of scope)."""
    return intent not in CONVERSATION_INTENTS and intent != "out_of_scope"


def combine(whole: Any, sentences: Any, classes: Sequence[str], config: Dict[str, Any]) -> Any:
    """The probabilities of a message from its whole text's and its sentences' (option
    `sentences`; the whole text's when None, or when the message has one sentence).

    Real customers write a greeting, context, a signature and thanks around one request: the
    whole text may then read as a greeting or a thanks, or with a low score. When the gate
    holds (`sentence_gate`: the whole text's best intent is greet, thank or goodbye, or its
    score is under `sentence_low`; or "always"), the request sentence is the sentence whose
    best intent is a request (:func:`is_request`) with the highest score, and

    * "override": its probabilities replace the whole text's when its best score is at least
      the whole text's best plus `sentence_margin`;
    * "average": the mean of the whole text's probabilities and its.

    Without a request sentence the whole text's stand ("Merci. Bonne journée" is not read as
    a request).
    `whole` is a row of probabilities over `classes`, `sentences` one row per sentence.
    """
    options = {**DEFAULTS, **config}
    mode = options["sentences"]
    if not mode or sentences is None or len(sentences) < 2:
        return whole
    best = int(whole.argmax())
    gate = options["sentence_gate"]
    if gate == "social_or_low":
        if classes[best] not in SOCIAL_INTENTS and whole[best] >= float(options["sentence_low"]):
            return whole
    elif gate != "always":
        raise ValueError(f"unknown sentence_gate {gate!r}")
    request, score = None, -1.0
    for row in sentences:
        top = int(row.argmax())
        if is_request(classes[top]) and row[top] > score:
            request, score = row, float(row[top])
    if request is None:
        return whole
    if mode == "override":
        margin = float(options["sentence_margin"])
        return request if score >= whole[best] + margin else whole
    if mode == "average":
        return (whole + request) / 2.0
    raise ValueError(f"unknown sentences mode {mode!r}")


def rankings(
    model: Any,
    texts: Sequence[str],
    length: int = 10,
    config: Optional[Dict[str, Any]] = None,
    gate: Any = None,
) -> List[List[Dict[str, Any]]]:
    """Intent rankings (name, confidence), best first, of raw texts.

    With the option `sentences` set, the sentences of each message of two or more
    (`bot.nlu.sentences`, at most `MAX_SENTENCES`) are scored in the same batch as the whole
    texts and combined with them (:func:`combine`). With a `gate` (:func:`fit_gate`), its
    P(out_of_scope) of the whole text then overrides when very confident (:func:`apply_gate`).
    """
    from bot.nlu.sentences import MAX_SENTENCES, split_sentences

    options = {**DEFAULTS, **(config or {})}
    batch = [normalise(t) for t in texts]
    spans: List[Optional[Tuple[int, int]]] = [None] * len(texts)
    if options["sentences"]:
        for index, text in enumerate(texts):
            pieces = split_sentences(text)
            if 2 <= len(pieces) <= MAX_SENTENCES:
                spans[index] = (len(batch), len(batch) + len(pieces))
                batch += [normalise(p) for p in pieces]
    scored = predict_proba(model, batch)
    classes = [str(c) for c in model.classes_]
    probabilities = [
        combine(scored[i], None if span is None else scored[span[0] : span[1]], classes, options)
        for i, span in enumerate(spans)
    ]
    if gate is not None:
        oos = predict_proba(gate, batch[: len(texts)])[:, list(gate.classes_).index(True)]
        probabilities = [
            apply_gate(row, float(p), classes, options)
            for row, p in zip(probabilities, oos, strict=True)
        ]
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
        modules = ["bot.nlu.intent_classifier", "bot.nlu.normalise", "bot.nlu.sentences"]
        if config.get("word_vectors"):
            modules.append("bot.nlu.word_vectors")
        return source_fingerprint(*modules)

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
        gate: Any = None,
    ) -> None:
        """Creates the component (untrained when `model` is None; `gate`: :func:`fit_gate`)."""
        self.component_config = {**DEFAULTS, **config}
        check_sentence_options(self.component_config)
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._gate = gate if self.component_config["oos_gate"] else None

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
        texts, intents = [e.get(TEXT) for e in examples], [e.get(INTENT) for e in examples]
        self._model = fit_model(self.component_config, texts, intents)
        self._gate = fit_gate(self.component_config, texts, intents)
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets `intent` and `intent_ranking` on each message."""
        if self._model is None:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        ranked = rankings(
            self._model,
            texts,
            int(self.component_config["ranking_length"]),
            self.component_config,
            self._gate,
        )
        for message, ranking in zip(messages, ranked, strict=True):
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Writes the fitted pipeline (and the gate, if any) with skops (no pickle)."""
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(self._model, directory / "intent_model.skops")
            if self._gate is not None:
                sio.dump(self._gate, directory / GATE_FILE)
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
        """Loads the fitted pipeline and gate (an untrained component when there is none)."""
        try:
            with model_storage.read_from(resource) as directory:
                model = _load_skops(directory / "intent_model.skops")
                gate_path = directory / GATE_FILE
                gate = _load_skops(gate_path) if gate_path.exists() else None
                block = vector_block(model)
                if block is not None:
                    from bot.nlu.word_vectors import WordVectors, register_table

                    register_table(
                        block.table, WordVectors.from_file(directory / VECTOR_TABLE_FILE)
                    )
        except (ValueError, FileNotFoundError) as error:
            logger.warning("No trained intent model loaded (%s).", error)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, gate)


#: The out_of_scope gate's file beside the classifier's in the model archive.
GATE_FILE = "oos_gate.skops"


def _load_skops(path: Any) -> Any:
    """A scikit-learn object saved with skops; refuses any type outside scikit-learn, NumPy
    and SciPy's sparse matrices."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    unexpected = [
        t
        for t in untrusted
        if not t.startswith(("sklearn.", "numpy.", "scipy.sparse."))
        and t != "bot.nlu.word_vectors.WordVectorBlock"
    ]
    if unexpected:
        raise ValueError(f"unexpected types in {path}: {unexpected}")
    return sio.load(path, trusted=untrusted)
