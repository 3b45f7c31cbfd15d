"""A question its channel has already parsed is not parsed again (e-mail, chat parts).

Why: the e-mail channel decides whether the bot may answer a question from its parse
(``POST /model/parse``: intent, confidence, entities), then sends that question through the
REST channel, which ran the whole NLU pipeline on it a second time; the gateway does the same
with the parts of a chat message that asks two things (bot/api/several_requests.py).

How: the channel puts the parse it got into the message metadata (``parse_data``: the body
``/model/parse`` answered for this very text). :func:`reuse_parse`, called by
:func:`bot.rasa_ext.idempotency.handle_message` before the turn, hands it to Rasa as the
message's parse data, which Rasa's processor then uses instead of the pipeline. That parse
was made without the message's metadata, so the entities describing the message rather than
its words (``language`` and ``store``, from the components of :mod:`bot.nlu.language`) are
computed again from the metadata by those same components. The key is removed from the
metadata, so the tracker does not store the parse twice. A parse of another text, or
anything not shaped like a parse, is ignored: the message is parsed as usual.

Trust: this gives a client of Rasa's REST channel no power it did not have: the channel
already takes an intent and entities from anyone who reaches it and sends ``/intent{...}``
(customers never do: the gateway and the mail channel send their text as words,
:mod:`bot.payloads`). The gateway builds the metadata of the widget's messages itself and
never forwards a client's; only the mail worker and the gateway (its own parse of a chat
message's part) send ``parse_data``.

Installed with :mod:`bot.rasa_ext.idempotency` (its ``handle_message`` calls this). Runs in
the Rasa environment.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.shared.nlu.constants import ENTITIES, EXTRACTOR, INTENT, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.language import LanguageDetector, OtherLanguageClassifier

logger = logging.getLogger(__name__)

#: The metadata key of a parse the channel already has (e-mail, parts of a chat message).
PARSE_KEY = "parse_data"
#: The components whose entities describe the message and its metadata, not its words.
_CONTEXT_COMPONENTS = (LanguageDetector, OtherLanguageClassifier)


def _is_parse_of(parse: Any, text: str) -> bool:
    if not isinstance(parse, dict) or parse.get(TEXT) != text:
        return False
    intent = parse.get(INTENT)
    entities = parse.get(ENTITIES)
    return (
        isinstance(intent, dict)
        and isinstance(intent.get("name"), str)
        and isinstance(entities, list)
        and all(isinstance(entity, dict) for entity in entities)
    )


def context_entities(text: str, metadata: dict[str, Any], intent: dict[str, Any]) -> list[Any]:
    """The `language` and `store` entities the pipeline gives `text` sent with `metadata`."""
    message = Message(data={TEXT: text, METADATA: metadata})
    message.set(INTENT, intent)
    for component in _CONTEXT_COMPONENTS:
        component(component.get_default_config()).process([message])
    return list(message.get(ENTITIES, []))


def reuse_parse(message: UserMessage) -> bool:
    """Gives ``message`` the parse its channel sent, if it sent one of this text.

    Returns:
        Whether the message will be handled without running the NLU pipeline.
    """
    metadata = message.metadata if isinstance(message.metadata, dict) else None
    if metadata is None or PARSE_KEY not in metadata:
        return False
    parse = metadata.pop(PARSE_KEY)
    if message.parse_data or not _is_parse_of(parse, message.text or ""):
        logger.warning("Ignored a parse_data that is not the parse of the message's text.")
        return False
    names = {component.__name__ for component in _CONTEXT_COMPONENTS}
    words = [entity for entity in parse[ENTITIES] if entity.get(EXTRACTOR) not in names]
    context = context_entities(message.text or "", metadata, parse[INTENT])
    message.parse_data = {**parse, ENTITIES: context + words}
    return True
