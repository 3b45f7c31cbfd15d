"""Rasa graph component that tags each message with its language and its store.

`LanguageDetector` is the first component of the NLU pipeline (before the tokenizer):

* it stores the language the message is *written* in on the message
  (`message.get(LANGUAGE_ATTRIBUTE)`, "fr", "en" or None) so that
  `bot.nlu.tokenizer.SpacyLookupTokenizer` picks the matching spaCy pipeline, at training
  time as well as at prediction time;
* at prediction time it emits a `language` entity ("fr"/"en"), which fills the `language`
  slot, from the first of: the channel's `language` metadata (the e-mail channel's choice,
  made on the whole mail: every answer of one reply is in its language); the *requested*
  language of an explicit switch request ("en anglais stp" -> "en"); the language the
  message is clearly written in; the channel's `ui_language` metadata (the widget's page
  language, sent with a conversation's first message only). An ambiguous message ("ok",
  "OM-104233") without these hints emits nothing, so the conversation keeps its language;
* at prediction time it emits a `store` entity from the channel metadata (`store` key), as
  the channel checked it where the message entered (`bot.shops.resolve_store`: the gateway,
  the mail intake, Rasa's REST channel `bot.rasa_ext.rest_channel`): read, not checked again.
  A message whose channel names no store (`rasa shell`, `/model/parse`) gets the deployment's
  default: the `DEFAULT_STORE` environment variable, else the configured `default_store`,
  else the registry's; that default is checked once, when the component is created.

It is registered as a MESSAGE_FEATURIZER because that is the only non-tokenizer type the
default recipe runs on the training data (`process_training_data`) as well as on
incoming messages (`process`), in pipeline order; it adds no features.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import langid, other_languages
from bot.shops import configured_default, shop_ids

logger = logging.getLogger(__name__)

#: Message attribute holding the language the text is written in ("fr", "en" or None).
LANGUAGE_ATTRIBUTE = "language"
#: Entity names (see docs/contracts.md).
LANGUAGE_ENTITY = "language"
STORE_ENTITY = "store"
#: Set to "0" to keep the `language` / `store` entities out of the parse result. Only the
#: story test (`rasa test core`) does this: its test stories can annotate the entities a
#: customer typed, not these two, which describe the whole message and its channel.
CONTEXT_ENTITIES_ENV_VAR = "SHOP_NLU_CONTEXT_ENTITIES"
STORE_ENV_VAR = "DEFAULT_STORE"
#: Channel metadata keys (docs/contracts.md): the language the channel answers in (e-mail), and
#: the language of the page the customer writes from (web chat), a fallback only.
LANGUAGE_HINT = "language"
UI_LANGUAGE_HINT = "ui_language"


def source_fingerprint(*module_names: str) -> str:
    """Hashes the source of modules, for `GraphComponent.fingerprint_addon`.

    Rasa's training cache fingerprints only the component class's own source, so a change
    in a helper module (word lists, regexes) would otherwise reuse stale cached output.

    Args:
        module_names: Importable module names.

    Returns:
        A hex digest of their sources.
    """
    digest = hashlib.sha256()
    for name in module_names:
        digest.update(inspect.getsource(importlib.import_module(name)).encode("utf-8"))
    return digest.hexdigest()


def message_store(
    metadata: Optional[Mapping[str, Any]],
    environ: Mapping[str, str],
    default_store: Optional[str] = None,
    env_var: str = STORE_ENV_VAR,
) -> str:
    """The store a message belongs to: its channel's `store` metadata, else the default.

    The channel checked the metadata's store where the message entered
    (`bot.shops.resolve_store`); it is taken as it is. A value that no entry checked reaches
    the answer service and the actions as it is, which answer with the apology that names no
    shop and log the error (`bot.shops.checked_store`): never another shop's answer.

    Args:
        metadata: The message metadata sent by the channel (may be None or not a dict).
        environ: The process environment (`os.environ`).
        default_store: The store when the environment names none (None: the registry's,
            `bot.shops.default_store`).
        env_var: Name of the environment variable holding the deployment's default.

    Returns:
        The metadata's store, or the deployment's default for a channel that names none.
    """
    requested = metadata.get(STORE_ENTITY) if isinstance(metadata, Mapping) else None
    if isinstance(requested, str) and requested.strip():
        return requested
    configured = environ.get(env_var, "").strip() or default_store
    return configured_default({"DEFAULT_STORE": configured} if configured else {})


def message_entity(entity: str, value: str, confidence: float, extractor: str) -> Dict[str, Any]:
    """An entity describing the whole message (language, store): start = end = 0, no span."""
    return {
        ENTITY_ATTRIBUTE_TYPE: entity,
        ENTITY_ATTRIBUTE_VALUE: value,
        ENTITY_ATTRIBUTE_START: 0,
        ENTITY_ATTRIBUTE_END: 0,
        ENTITY_ATTRIBUTE_CONFIDENCE: confidence,
        EXTRACTOR: extractor,
    }


def _hint(metadata: Optional[Mapping[str, Any]], key: str) -> Optional[str]:
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    if not isinstance(value, str):
        return None
    value = value.strip().lower()[:2]
    return value if value in langid.LANGUAGES else None


def message_language(
    text: str, metadata: Optional[Mapping[str, Any]]
) -> Tuple[Optional[str], float, str]:
    """The language to answer a message in, how sure, and where it comes from.

    Order: the channel's `language` metadata (it decided on the whole text: an e-mail),
    an explicit switch request in the text, the language the text is written in, the
    channel's `ui_language` metadata (the page's language: for a text that shows none).

    Args:
        text: The message text.
        metadata: The message metadata sent by the channel (may be None or not a dict).

    Returns:
        (language or None, confidence, source): the source is "channel", "request",
        "text", "page" or "none".
    """
    channel = _hint(metadata, LANGUAGE_HINT)
    if channel is not None:
        return channel, 1.0, "channel"
    requested = langid.switch_request(text)
    if requested is not None:
        # The customer names the language they want: it wins over the one they wrote in
        # ("en anglais stp" is French text asking for English).
        return requested, 1.0, "request"
    written, confidence = langid.language_of(text)
    if written is not None:
        return written, confidence, "text"
    page = _hint(metadata, UI_LANGUAGE_HINT)
    if page is not None:
        return page, 0.5, "page"
    return None, 0.0, "none"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class LanguageDetector(GraphComponent):
    """Tags messages with their language (attribute + entity) and their store (entity)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Returns the component's default config."""
        return {
            # Store of a message whose channel names none, when DEFAULT_STORE is not set;
            # None: the registry's default (data/stores/_common/registry.yml, bot/shops.py).
            "default_store": None,
            # Environment variable naming the deployment's default store.
            "store_env_var": STORE_ENV_VAR,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrains when the language scorer changes, not only this class's source."""
        return source_fingerprint("bot.nlu.language", "bot.nlu.langid")

    def __init__(self, config: Dict[str, Any]) -> None:
        """Creates the component.

        Args:
            config: The component configuration (defaults merged in by the recipe).

        Raises:
            InvalidConfigException: If the default store (`DEFAULT_STORE`, else
                `default_store`) is not a shop of the registry: said when the model loads
                rather than answered for no shop on every message.
        """
        merged = {**self.get_default_config(), **config}
        configured_default_store = merged["default_store"]
        self._default_store: Optional[str] = (
            None if configured_default_store is None else str(configured_default_store).lower()
        )
        self._env_var: str = str(merged["store_env_var"])
        default = message_store(None, os.environ, self._default_store, self._env_var)
        known = shop_ids()
        if default not in known:
            raise InvalidConfigException(
                f"LanguageDetector: the default store {default!r} (${self._env_var}, else "
                f"default_store) is not one of the shops {list(known)}."
            )

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    @property
    def name(self) -> str:
        """The name written in the `extractor` field of the entities."""
        return self.__class__.__name__

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Stores the written language on each training example; adds no entity.

        Entities added here would become training targets of the statistical extractors
        (a `language` entity spanning no token), so training only gets the attribute the
        tokenizer needs.

        Args:
            training_data: The NLU training data.

        Returns:
            The same training data, examples annotated with `LANGUAGE_ATTRIBUTE`.
        """
        for example in training_data.training_examples:
            text = example.get(TEXT)
            if isinstance(text, str) and text:
                example.set(LANGUAGE_ATTRIBUTE, langid.language_of(text)[0])
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Annotates incoming messages with language and store.

        Args:
            messages: The messages to process (one per user turn).

        Returns:
            The same messages, with `LANGUAGE_ATTRIBUTE` set and the `language` / `store`
            entities appended to any existing entities.
        """
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                # Action names and other text-less messages of end-to-end featurisation.
                continue
            # The tokenizer needs the language the text is written in, whatever the answer's.
            written, _confidence = langid.language_of(text)
            message.set(LANGUAGE_ATTRIBUTE, written)
            metadata = message.get(METADATA)
            language, confidence, source = message_language(text, metadata)
            new_entities: List[Dict[str, Any]] = []
            if language is not None:
                new_entities.append(self._entity(LANGUAGE_ENTITY, language, confidence))
            store = message_store(
                metadata, os.environ, default_store=self._default_store, env_var=self._env_var
            )
            new_entities.append(self._entity(STORE_ENTITY, store, 1.0))
            logger.debug(
                "Message written in %s; answer in %s (%.3f, from %s); store %s.",
                written,
                language,
                confidence,
                source,
                store,
            )
            if os.environ.get(CONTEXT_ENTITIES_ENV_VAR, "1") == "0":
                continue
            # Append: the entities of other extractors must survive, in pipeline order.
            message.set(ENTITIES, message.get(ENTITIES, []) + new_entities, add_to_output=True)
        return messages

    def _entity(self, entity: str, value: str, confidence: float) -> Dict[str, Any]:
        return message_entity(entity, value, confidence, self.name)


#: The intent of a message written in another language than French and English.
OTHER_LANGUAGE_INTENT = "other_language"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OtherLanguageClassifier(GraphComponent):
    """Marks messages clearly written in another language (German, Spanish...).

    Placed after the intent classifier and before `FallbackClassifier`: on strong evidence
    (`bot.nlu.other_languages.other_language_of`) the message's intent becomes
    `other_language` (confidence 1.0, alone in the ranking) and its `language` entity `en`,
    the language the assistant answers such customers in (unless the channel's `language`
    metadata chose it for the whole text).
    Everything else is left alone, so French and English messages are unaffected; the
    entities (an order number, a country) still reach the actions, which help with them.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Returns the component's default config."""
        return {
            # The language the assistant answers in when the customer writes another one.
            "answer_language": langid.ENGLISH,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Changes with the word lists, not only this class's source."""
        return source_fingerprint("bot.nlu.language", "bot.nlu.other_languages")

    def __init__(self, config: Dict[str, Any]) -> None:
        """Creates the component.

        Args:
            config: The component configuration (defaults merged in by the recipe).

        Raises:
            InvalidConfigException: If `answer_language` is not French or English.
        """
        merged = {**self.get_default_config(), **config}
        self._answer_language = str(merged["answer_language"])
        if self._answer_language not in langid.LANGUAGES:
            raise InvalidConfigException(
                f"OtherLanguageClassifier: answer_language {self._answer_language!r} is not "
                f"one of {list(langid.LANGUAGES)}."
            )

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OtherLanguageClassifier:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets the `other_language` intent on messages clearly in another language.

        Args:
            messages: The messages to process.

        Returns:
            The same messages.
        """
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            written = other_languages.other_language_of(text)
            if written is None:
                continue
            logger.debug("Message written in %s: answered in %s.", written, self._answer_language)
            # The classifier's guesses are dropped: it never saw this language, and a second
            # intent close to the first would make FallbackClassifier ask to clarify.
            intent = {INTENT_NAME_KEY: OTHER_LANGUAGE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
            if os.environ.get(CONTEXT_ENTITIES_ENV_VAR, "1") == "0":
                continue
            if _hint(message.get(METADATA), LANGUAGE_HINT) is not None:
                # The channel chose the answer's language for the whole text (an e-mail).
                continue
            entities = [
                entity
                for entity in message.get(ENTITIES, [])
                if entity.get(ENTITY_ATTRIBUTE_TYPE) != LANGUAGE_ENTITY
            ]
            entities.append(
                message_entity(LANGUAGE_ENTITY, self._answer_language, 1.0, self.__class__.__name__)
            )
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
