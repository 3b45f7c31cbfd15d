"""A customer message delivered twice to Rasa is answered twice but processed once.

Why: behind a load balancer (`make scale-demo`, the Kubernetes recipe) nginx sends a request
to the next Rasa server when the first one fails mid-request (`proxy_next_upstream ...
non_idempotent`: no message is lost when a server dies). If the server died *after* saving
the turn in the shared tracker store but before its answer left, the retry used to run the
turn a second time: the message stored twice, a form step or a lookup attempt counted twice.
A client's own retry after a timeout (the widget, the e-mail worker) has the same effect.

How: every client of this project puts a unique id of each customer message in the REST
channel's metadata (`metadata.message_id`: the gateway, the e-mail worker). Rasa keeps the
metadata on the stored `user` event. :func:`handle_message` (Rasa 3.6's
`MessageProcessor.handle_message`, with this one check added) looks, under the conversation's
lock and in the tracker it loads anyway, for a `user` event of the current session with the
same id: when there is one, the bot messages that followed it are sent again and nothing is
processed or stored. A message without an id is processed as Rasa always did. A turn whose
action failed (answered "send it again", :mod:`bot.rasa_ext.action_failures`) was not
processed: the same message sent again is processed again (the widget's resend, the e-mail
worker's retry).

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment.
"""

from __future__ import annotations

import logging
from typing import Any

import rasa
import rasa.shared.utils.io
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.constants import DOCS_URL_POLICIES
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.data import TrainingType

from bot.rasa_ext._install import patch_rasa
from bot.rasa_ext.action_failures import is_failed_turn_message
from bot.rasa_ext.reuse_parse import reuse_parse

logger = logging.getLogger(__name__)

#: The metadata key of a customer message's unique id (set by the gateway and the mail worker).
MESSAGE_ID_KEY = "message_id"
#: The Rasa versions whose `MessageProcessor.handle_message` this module reproduces.
KNOWN_RASA_PREFIX = "3.6."
_MAX_ID_LENGTH = 200


def message_id_of(message: UserMessage) -> str | None:
    """The client's id of a message, or None (then it is processed as usual)."""
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    value = metadata.get(MESSAGE_ID_KEY)
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_LENGTH:
        return value
    return None


def answers_already_given(
    tracker: DialogueStateTracker, message_id: str
) -> list[dict[str, Any]] | None:
    """The bot messages that answered the stored message with this id, or None if none is."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if not isinstance(event, UserUttered):
            continue
        metadata = event.metadata if isinstance(event.metadata, dict) else {}
        if metadata.get(MESSAGE_ID_KEY) != message_id:
            continue
        answers = []
        for later in events[index + 1 :]:
            if isinstance(later, UserUttered):
                break
            if isinstance(later, BotUttered):
                answers.append(later.message())
        if any(is_failed_turn_message(answer) for answer in answers):
            return None  # answered "send it again": not processed, so processed now
        return answers
    return None


async def handle_message(self: MessageProcessor, message: UserMessage) -> Any:
    """Rasa 3.6's `MessageProcessor.handle_message`, answering a repeated message id again.

    The same steps as Rasa's (log the message, extract slots, predict and run actions, save),
    with `log_message` written out so that the tracker it loads is the one checked. A message
    sent with the parse its channel already made is not parsed again (:mod:`.reuse_parse`).
    """
    reuse_parse(message)
    tracker = await self.fetch_tracker_and_update_session(
        message.sender_id, message.output_channel, message.metadata
    )
    message_id = message_id_of(message)
    if message_id is not None:
        answers = answers_already_given(tracker, message_id)
        if answers is not None:
            logger.info(
                "Message %s of conversation %s was already processed: its %d answer(s) "
                "sent again, nothing processed or stored.",
                message_id,
                message.sender_id,
                len(answers),
            )
            for answer in answers:
                await message.output_channel.send_response(message.sender_id, answer)
            if isinstance(message.output_channel, CollectingOutputChannel):
                return message.output_channel.messages
            return None
    await self._handle_message_with_tracker(message, tracker)
    if self.model_metadata.training_type == TrainingType.NLU:
        await self.save_tracker(tracker)
        rasa.shared.utils.io.raise_warning(
            "No core model. Skipping action prediction and execution.",
            docs=DOCS_URL_POLICIES,
        )
        return None
    tracker = await self.run_action_extract_slots(message.output_channel, tracker)
    await self._run_prediction_loop(message.output_channel, tracker)
    await self.run_anonymization_pipeline(tracker)
    await self.save_tracker(tracker)
    if isinstance(message.output_channel, CollectingOutputChannel):
        return message.output_channel.messages
    return None


def install() -> bool:
    """Replaces Rasa's method; returns False (and changes nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "repeated message ids are processed again.",
        [(MessageProcessor, "handle_message", handle_message)],
    )
