"""Language-aware spaCy tokenizer with lookup lemmas, for a French/English pipeline.

`SpacyLookupTokenizer` replaces `WhitespaceTokenizer`. It holds one blank spaCy pipeline
per language (`spacy.blank("fr")`, `spacy.blank("en")`, each with the lookup lemmatizer
whose tables come from the `spacy-lookups-data` package, so nothing is downloaded) and
tokenises each message with the pipeline of the language `LanguageDetector` found:

* French rules split elisions ("l'adresse" -> "l'" + "adresse", "qu'est-ce" -> "qu'" +
  "est" + "ce", "j'ai" -> "j'" + "ai") and keep "aujourd'hui" whole; hyphenated
  inversions lose their hyphen ("livrez-vous" -> "livrez" + "vous", "a-t-il" -> "a" +
  "il": the euphonic "t" is dropped);
* English rules split contractions ("don't" -> "do" + "n't");
* order numbers ("OM-104233", "#104233"), e-mail addresses, URLs and hyphenated
  postcodes ("00-950", "150-0001") stay one token, so entity annotations of the training
  data line up with token boundaries.

Token `text`/`start`/`end` are the original characters, so entity offsets stay right.
Each token's `lemma` is the lookup lemma of the *lower-cased* word (the spaCy pipe looks
up the word as typed, so "Livrez" would miss "livrez" -> "livrer"), then **accent-folded**
("Écosse" -> "ecosse"). Why fold: customers type without accents (English keyboards,
phones, haste: "recu", "deja", "ecosse") or with wrong ones; CountVectorsFeaturizer reads
`token.lemma` (`use_lemma: True`, its default), so folding makes every spelling of a word
one feature instead of several rare ones. Words typed without their accents are first
looked up through a folded index of the lookup table ("recu" -> "recevoir"), built only
from unambiguous entries.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import langid
from bot.nlu.language import LANGUAGE_ATTRIBUTE, source_fingerprint

logger = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = (langid.FRENCH, langid.ENGLISH)

# Tokens spaCy's rules would cut but that must stay whole (checked on each
# whitespace-separated chunk once punctuation is stripped): store-prefixed order numbers
# and hyphenated postcodes (PL "00-950", JP "150-0001").
_KEEP_WHOLE = re.compile(r"^(?:[A-Za-z]{2}-\d{6}|\d{2,3}-\d{3,4})$")
# A hyphenated clitic of an inversion: "-vous", "-il", "-t", "-ce", "-on".
_CLITIC = re.compile(r"^-[^\W\d_]+$")
# Lemma fixes where the lookup tables are silent or misleading for chat text.
_LEMMA_OVERRIDES: Dict[str, Dict[str, str]] = {
    langid.ENGLISH: {
        "ca": "can",  # "can't" -> "ca" + "n't"
        "wo": "will",  # "won't" -> "wo" + "n't"
        "'s": "'s",  # is / has / possessive: the table's "have" is a guess
        "'re": "be",
        "i": "i",
    },
    langid.FRENCH: {
        # The table keeps "est" (it is also "east") and lacks "suis": questions are full
        # of "est-ce que", "où est", so the verb is the useful reading.
        "est": "être",
        "suis": "être",
    },
}


@dataclass(frozen=True)
class _Pipeline:
    """A loaded spaCy pipeline with the lemma tables of its language."""

    lang: str
    nlp: Any  # spacy.language.Language (spaCy is imported lazily)
    lemma_table: Any  # spacy.lookups.Table: word -> lemma(s)
    folded_index: Mapping[str, str]  # accent-folded word -> lemma, unambiguous only

    def lookup(self, word: str) -> Optional[str]:
        """Returns the lemma of a lower-cased word, or None when the tables ignore it."""
        override = _LEMMA_OVERRIDES[self.lang].get(word)
        if override is not None:
            return override
        found = self.lemma_table.get(word)
        if found is None:
            found = self.folded_index.get(langid.fold_accents(word))
        if isinstance(found, list):
            found = found[0] if found else None
        return found


_LOAD_LOCK = threading.Lock()


@functools.cache
def _load_pipeline_cached(lang: str) -> _Pipeline:
    import spacy
    import spacy.util
    import spacy_lookups_data
    from spacy.pipeline import Lemmatizer
    from spacy.tokenizer import Tokenizer as SpacyTokenizer

    nlp = spacy.blank(lang)
    lemmatizer = nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    assert isinstance(lemmatizer, Lemmatizer)
    # Loads the lookup table from spacy-lookups-data (installed package, no download).
    nlp.initialize()
    table = lemmatizer.lookups.get_table("lemma_lookup")

    rules = nlp.tokenizer
    assert isinstance(rules, SpacyTokenizer)
    original_match = rules.token_match

    def token_match(chunk: str) -> bool:
        return bool(_KEEP_WHOLE.match(chunk)) or bool(original_match and original_match(chunk))

    rules.token_match = token_match

    # spaCy's Table keys are hashes, so the folded index is built from the JSON source.
    raw = spacy.util.load_language_data(getattr(spacy_lookups_data, lang)["lemma_lookup"])
    if not isinstance(raw, dict):
        raise TypeError(f"Unexpected {lang} lemma_lookup data: {type(raw).__name__}")
    known = {form.lower() for form in raw}
    folded: Dict[str, str] = {}
    ambiguous = set()
    for form, lemma in raw.items():
        key = langid.fold_accents(form)
        # Only forms that lose something when folded, and never shadow a real word
        # ("a" stays "avoir", not "à").
        if key == form.lower() or key in known:
            continue
        value = lemma[0] if isinstance(lemma, list) else lemma
        if key in folded and folded[key] != value:
            ambiguous.add(key)
        else:
            folded[key] = value
    for key in ambiguous:
        folded.pop(key, None)
    logger.debug(
        "Loaded spaCy '%s' pipeline: %d lookup lemmas, %d folded forms.",
        lang,
        len(table),
        len(folded),
    )
    return _Pipeline(lang=lang, nlp=nlp, lemma_table=table, folded_index=folded)


def load_pipeline(lang: str) -> _Pipeline:
    """Loads (once per process) the blank spaCy pipeline of a language.

    The train graph, the predict graph and the end-to-end nodes each build their own
    tokenizer instance; caching here means the lookup tables are read once.

    Args:
        lang: "fr" or "en".

    Returns:
        The pipeline and its lemma tables.
    """
    with _LOAD_LOCK:
        return _load_pipeline_cached(lang)


# spaCy's suffix search is quadratic in the length of a run without spaces ("????..." of 5,000
# characters: 10 s). No word is that long: a longer run is tokenised in pieces of this size.
MAX_RUN_CHARS = 100
_LONG_RUN = re.compile(r"\S{%d,}" % (MAX_RUN_CHARS + 1))


class _Piece(NamedTuple):
    text: str
    idx: int


def _spacy_tokens(pipeline: _Pipeline, text: str) -> Iterator[_Piece]:
    """spaCy's tokens of ``text`` (text and offset); long runs without spaces in pieces."""
    position = 0
    for run in _LONG_RUN.finditer(text):
        if run.start() > position:
            for t in pipeline.nlp.make_doc(text[position : run.start()]):
                yield _Piece(t.text, position + t.idx)
        for start in range(run.start(), run.end(), MAX_RUN_CHARS):
            piece = text[start : min(start + MAX_RUN_CHARS, run.end())]
            for t in pipeline.nlp.make_doc(piece):
                yield _Piece(t.text, start + t.idx)
        position = run.end()
    if position == 0:
        yield from (_Piece(t.text, t.idx) for t in pipeline.nlp.make_doc(text))
    elif position < len(text):
        for t in pipeline.nlp.make_doc(text[position:]):
            yield _Piece(t.text, position + t.idx)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SpacyLookupTokenizer(Tokenizer):
    """Tokenises with the spaCy rules of the message's language; lookup lemmas."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Returns the component's default config."""
        return {
            # Flag to check whether to split intents
            "intent_tokenization_flag": False,
            # Symbol on which intent should be split
            "intent_split_symbol": "_",
            # Regular expression to detect tokens
            "token_pattern": None,
            # Symbol on which prefix should be split
            "prefix_separator_symbol": None,
            # Pipeline used when the language is unknown and both read alike.
            "fallback_language": langid.FRENCH,
            # Languages whose tokens get their lookup lemma; the others keep their
            # lower-cased, accent-folded word (see `lemma_languages` in the module doc).
            "lemma_languages": list(SUPPORTED_LANGUAGES),
        }

    @staticmethod
    def required_packages() -> List[str]:
        """Packages whose versions enter the training cache fingerprint."""
        return ["spacy", "spacy_lookups_data"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrains when the helper modules change, not only this class's source."""
        return source_fingerprint("bot.nlu.tokenizer", "bot.nlu.langid")

    def __init__(self, config: Dict[str, Any]) -> None:
        """Creates the tokenizer and loads both spaCy pipelines.

        Args:
            config: The component configuration.

        Raises:
            ValueError: If `fallback_language` is neither "fr" nor "en".
        """
        merged = {**self.get_default_config(), **config}
        super().__init__(merged)
        self._fallback: str = merged["fallback_language"]
        if self._fallback not in SUPPORTED_LANGUAGES:
            raise ValueError(
                f"fallback_language must be one of {SUPPORTED_LANGUAGES}, not {self._fallback!r}."
            )
        unknown = set(merged["lemma_languages"]) - set(SUPPORTED_LANGUAGES)
        if unknown:
            raise ValueError(
                f"lemma_languages must be among {SUPPORTED_LANGUAGES}, not {sorted(unknown)}."
            )
        self._lemma_languages = frozenset(merged["lemma_languages"])
        self._pipelines: Dict[str, _Pipeline] = {
            lang: load_pipeline(lang) for lang in SUPPORTED_LANGUAGES
        }

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpacyLookupTokenizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        """Tokenises one attribute of a message.

        Args:
            message: The message.
            attribute: The attribute to tokenise (`text`, `response`, `action_text`).

        Returns:
            The tokens, with original text and offsets and folded lookup lemmas.
        """
        text = message.get(attribute)
        if not isinstance(text, str) or not text.strip():
            return []
        lang: Optional[str]
        if attribute == TEXT and LANGUAGE_ATTRIBUTE in message.data:
            lang = message.get(LANGUAGE_ATTRIBUTE)
        else:
            # Responses, action texts, or a pipeline without LanguageDetector.
            lang = langid.language_of(text)[0]
        tokens = self.tokenize_text(text, lang)
        return self._apply_token_pattern(tokens)

    def tokenize_text(self, text: str, lang: Optional[str]) -> List[Token]:
        """Tokenises a text with the pipeline of a language.

        Args:
            text: The text.
            lang: "fr", "en", or None when unknown: then both pipelines run and the one
                whose lemma table knows more of the tokens wins (ties: the fallback
                language).

        Returns:
            The tokens.
        """
        if lang in self._pipelines:
            return self._tokens(self._pipelines[lang], text, lang in self._lemma_languages)
        candidates = []
        for preference, code in enumerate(self._languages_by_preference()):
            tokens = self._tokens(self._pipelines[code], text, code in self._lemma_languages)
            known = sum(1 for t in tokens if t.get("known_lemma"))
            candidates.append((-known, preference, tokens))
        return min(candidates, key=lambda c: (c[0], c[1]))[2]

    def _languages_by_preference(self) -> List[str]:
        return [self._fallback] + [code for code in SUPPORTED_LANGUAGES if code != self._fallback]

    @staticmethod
    def _tokens(pipeline: _Pipeline, text: str, use_lemmas: bool = True) -> List[Token]:
        # Only the tokenizer runs: lemmas come from our own lower-cased lookup.
        spans: List[List[Any]] = []  # [text, start]
        for t in _spacy_tokens(pipeline, text):
            if not t.text.strip():
                continue
            if spans and spans[-1][0] == "#" and spans[-1][1] + 1 == t.idx and t.text.isdigit():
                # "#104233" is one order number, not "#" + "104233".
                spans[-1] = ["#" + t.text, spans[-1][1]]
                continue
            if _CLITIC.match(t.text):
                # "livrez-vous" -> "vous"; "a-t-il" -> the euphonic "t" carries nothing.
                if t.text[1:].lower() == "t":
                    continue
                spans.append([t.text[1:], t.idx + 1])
                continue
            spans.append([t.text, t.idx])
        if not spans:
            # Only whitespace-free text survives here; keep the whole text as one token
            # like WhitespaceTokenizer does, so featurizers never see an empty message.
            stripped = text.strip()
            spans = [[stripped, text.index(stripped)]]
        tokens = []
        for word, start in spans:
            lowered = langid.normalise_apostrophes(word).lower()
            found = pipeline.lookup(lowered)
            lemma = langid.fold_accents(found if found is not None and use_lemmas else lowered)
            tokens.append(
                Token(
                    word,
                    start,
                    lemma=lemma,
                    data={"known_lemma": found is not None, "language": pipeline.lang},
                )
            )
        return tokens
