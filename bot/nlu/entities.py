"""Rule-based extraction of the shop entities: order number, e-mail, postcode, country.

These four entities have fixed shapes, so rules beat a statistical extractor on them:
no training examples needed for every postcode format, no partial matches ("OM-10423"),
and normalised values the actions can use directly (see docs/contracts.md):

* `order_number`: a shop's prefix (`order_prefix` of `data/stores/*/facts.yml`), optional
  separator, 6 digits -> "OM-104233"; "#104233", "n° 104233" or 6 digits alone (only when
  no prefixed or announced number is in the message) -> "104233" (the lookup tries the
  shop's prefix first, then the others); shapes in `bot.nlu.order_numbers`;
* `email`: lower-cased address;
* `postcode`: as written, upper-cased, single spaces. Shapes: 5 digits (FR, DE, IT, ES,
  US), UK ("SW1A 1AA", "M1 1AE"), NL ("1012 AB"), and the ambiguous ones, 4 digits (CH,
  AT, BE, DK, NO), PL ("00-950") and JP ("150-0001"), accepted only when the message has a
  postcode cue word ("code postal", "postcode", "zip", "CP", "NPA", "PLZ") or is nothing
  but the postcode: "since 2024" is a year, "555-1234" a phone number;
* `country`: ISO code from `bot.nlu.countries.find_countries` (French "de" is no country).

Spans never overlap. Stages run in the order e-mail, order number, postcode, country and a
later stage skips text an earlier one took (an e-mail's digits are no order number, an
order number's digits no postcode); within a stage the longest, then first, match wins.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.entity_synonyms import EntitySynonymMapper
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import countries, order_numbers

logger = logging.getLogger(__name__)

ORDER_NUMBER = "order_number"
EMAIL = "email"
POSTCODE = "postcode"
COUNTRY = "country"
ALL_ENTITIES = (ORDER_NUMBER, EMAIL, POSTCODE, COUNTRY)

# (start, end, entity, value)
Span = Tuple[int, int, str, str]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)

# UK: outward code (A9, A9A, A99, AA9, AA9A, AA99) + inward code (9AA).
_UK_POSTCODE = re.compile(r"(?<![\w-])([A-Za-z]{1,2}\d[A-Za-z\d]?)[ \t]*(\d[A-Za-z]{2})(?![\w-])")
# NL: 4 digits + 2 capital letters ("1012 AB"); capitals only, so "2024 et" is no postcode.
_NL_POSTCODE = re.compile(r"(?<![\w-])(\d{4})[ \t]?([A-Z]{2})(?![\w-])")
_NL_NOT_LETTERS = frozenset({"SA", "SD", "SS", "OK"})
_FIVE_DIGITS = re.compile(r"(?<![\w.,/+#-])\d{5}(?![\w]|[.,/-]\d)")
_FOUR_DIGITS = re.compile(r"(?<![\w.,/+#-])\d{4}(?![\w]|[.,/-]\d)")
_HYPHENATED_POSTCODE = re.compile(r"(?<![\w.,/+#-])(?:\d{2}-\d{3}|\d{3}-\d{4})(?![\w]|[.,/-]\d)")
# Money is no postcode: "10000 €", "€ 12000", "12000 EUR".
_CURRENCY_AFTER = re.compile(r"^\s*(?:€|\$|£|eur\b|euros?\b|usd\b|gbp\b|chf\b)", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"(?:€|\$|£|eur|chf)\s*$", re.IGNORECASE)
# Words announcing a postcode, in French, English and the customers' other languages.
_POSTCODE_CUE = re.compile(
    r"code[\s-]?postal|post[\s-]?code|postal[\s-]?code|\bzip\b|zip[\s-]?code|\bcp\b|"
    r"\bnpa\b|\bplz\b|postleitzahl|\bpostcode\b",
    re.IGNORECASE,
)
# How far (characters) a cue may stand from the postcode it announces.
_CUE_REACH = 12


def _overlaps(start: int, end: int, taken: Iterable[Span]) -> bool:
    return any(start < t_end and end > t_start for t_start, t_end, _e, _v in taken)


def _add_longest_first(candidates: List[Span], taken: List[Span]) -> List[Span]:
    """Adds non-overlapping candidates to `taken`, longest then leftmost first."""
    added: List[Span] = []
    for span in sorted(candidates, key=lambda s: (s[0] - s[1], s[0])):
        if not _overlaps(span[0], span[1], taken):
            taken.append(span)
            added.append(span)
    return added


def _emails(text: str) -> List[Span]:
    spans = []
    for match in _EMAIL.finditer(text):
        address = match.group(0).rstrip(".")
        spans.append((match.start(), match.start() + len(address), EMAIL, address.lower()))
    return spans


def _order_numbers(text: str, taken: List[Span]) -> List[Span]:
    # Prefixed and announced numbers first; bare digits only when there are none
    # ("OM-104233 (ref 555123)" does not also mean 555123). Prefixes: data/stores/*/facts.yml.
    found = [
        (start, end, ORDER_NUMBER, value)
        for start, end, value in order_numbers.find_order_numbers(text)
    ]
    return _add_longest_first(found, taken)


def _is_money(text: str, start: int, end: int) -> bool:
    return bool(_CURRENCY_AFTER.match(text[end:]) or _CURRENCY_BEFORE.search(text[:start]))


def _postcodes(text: str, taken: List[Span]) -> List[Span]:
    candidates: List[Span] = []

    def add(start: int, end: int) -> None:
        value = re.sub(r"\s+", " ", text[start:end]).upper()
        candidates.append((start, end, POSTCODE, value))

    for match in _UK_POSTCODE.finditer(text):
        add(match.start(), match.end())
    for match in _NL_POSTCODE.finditer(text):
        if match.group(2) not in _NL_NOT_LETTERS:
            add(match.start(), match.end())
    for match in _FIVE_DIGITS.finditer(text):
        if not _is_money(text, match.start(), match.end()):
            add(match.start(), match.end())
    # Shapes shared with years, amounts and phone numbers need a reason to be postcodes.
    weak: List[Tuple[int, int]] = [(m.start(), m.end()) for m in _FOUR_DIGITS.finditer(text)] + [
        (m.start(), m.end()) for m in _HYPHENATED_POSTCODE.finditer(text)
    ]
    cues = [(m.start(), m.end()) for m in _POSTCODE_CUE.finditer(text)]
    for start, end in weak:
        alone = text[:start].strip() == "" and text[end:].strip(" \t\n.!?") == ""
        # "mon code postal est 1010, client depuis 2024": the cue vouches for the number
        # next to it only.
        near_cue = any(
            0 <= start - c_end <= _CUE_REACH or 0 <= c_start - end <= _CUE_REACH
            for c_start, c_end in cues
        )
        if (near_cue or alone) and not _is_money(text, start, end):
            add(start, end)
    return _add_longest_first(candidates, taken)


def _countries(text: str, taken: List[Span]) -> List[Span]:
    found = [(start, end, COUNTRY, code) for start, end, _m, code in countries.find_countries(text)]
    return _add_longest_first(found, taken)


def extract_shop_entities(text: str, wanted: Sequence[str] = ALL_ENTITIES) -> List[Dict[str, Any]]:
    """Finds the order numbers, e-mails, postcodes and countries of a message.

    Args:
        text: The customer's message.
        wanted: The entity types to return (all four by default). Unwanted types still
            claim their text, so a postcode is never read inside an e-mail address.

    Returns:
        Rasa entity dicts (`entity`, `start`, `end`, `value`, `confidence` 1.0) in text
        order, without the `extractor` key.
    """
    if not text:
        return []
    taken: List[Span] = []
    _add_longest_first(_emails(text), taken)
    # URLs claim their text like e-mails do (".../order/104233" is no order number).
    _add_longest_first([(m.start(), m.end(), "", "") for m in _URL.finditer(text)], taken)
    _order_numbers(text, taken)
    _postcodes(text, taken)
    _countries(text, taken)
    return [
        {
            ENTITY_ATTRIBUTE_TYPE: entity,
            ENTITY_ATTRIBUTE_START: start,
            ENTITY_ATTRIBUTE_END: end,
            ENTITY_ATTRIBUTE_VALUE: value,
            ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
        }
        for start, end, entity, value in sorted(taken)
        if entity and entity in wanted
    ]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ShopEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts order_number, email, postcode and country with rules (no training)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Returns the component's default config."""
        return {
            # Entity types to emit; drop one when another extractor owns it.
            "entities": list(ALL_ENTITIES),
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        """Creates the extractor.

        Args:
            config: The component configuration.

        Raises:
            ValueError: If `entities` names an entity this extractor does not know.
        """
        merged = {**self.get_default_config(), **config}
        self._wanted: Tuple[str, ...] = tuple(merged["entities"])
        unknown = set(self._wanted) - set(ALL_ENTITIES)
        if unknown:
            raise ValueError(
                f"ShopEntityExtractor cannot extract {sorted(unknown)}; "
                f"known entities: {list(ALL_ENTITIES)}."
            )

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ShopEntityExtractor:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Appends the rule-based entities to each message's entities.

        Args:
            messages: The incoming messages.

        Returns:
            The same messages; entities of earlier components are kept.
        """
        for message in messages:
            text: Optional[str] = message.get(TEXT)
            if not isinstance(text, str):
                continue
            found = self.add_extractor_name(extract_shop_entities(text, self._wanted))
            if found:
                logger.debug("Extracted %s", [(e["entity"], e["value"]) for e in found])
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class TypedEntitySynonymMapper(EntitySynonymMapper):
    """`EntitySynonymMapper` that leaves some entity types alone (use it instead).

    Rasa's mapper looks values up whatever the entity type, and it registers every
    annotated value as a synonym of itself: one training example
    `[France]{"entity": "country", "value": "FR"}` makes it rewrite *any* entity valued
    "fr" into "FR", including the `language` entity of `LanguageDetector`, which would then
    no longer fill the categorical `language` slot (fr/en). The same goes for "DE"/"de"...
    This subclass skips the entity types of `skip_entities` (default `language`, `store`)
    and otherwise behaves exactly like the stock mapper (same training, same storage).
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Returns the component's default config."""
        return {
            # Entity types whose values are never rewritten.
            "skip_entities": ["language", "store"],
        }

    def replace_synonyms(self, entities: List[Dict[str, Any]]) -> None:
        """Replaces synonyms, except in the skipped entity types.

        Args:
            entities: The message's entities, modified in place.
        """
        config = {**self.get_default_config(), **(self._config or {})}
        skipped = set(config["skip_entities"])
        super().replace_synonyms(
            [e for e in entities if e.get(ENTITY_ATTRIBUTE_TYPE) not in skipped]
        )
