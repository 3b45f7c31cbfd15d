"""Rasa 3.6 ends a turn in silence when a custom action call fails: fixed.

`MessageProcessor._run_action` catches any exception of an action (the action server killed or
its connection reset mid-call: `RemoteAction.run` raises `RasaException`), logs "Bot will
continue, but the actions events are lost" and goes on: the action's answer is lost, the
policies predict `action_listen`, and the customer's message gets a 200 with no message at all
(the widget shows nothing, the e-mail worker hands the mail over as "no_answer").

:func:`install` wraps `RemoteAction.run`:

* an action declared read-only (:data:`actions.read_only.READ_ONLY_ACTIONS`: it writes nothing,
  so running it twice does what running it once does) whose call failed in transport after the
  request may have been sent (connection reset or closed, answer cut: aiohttp's
  ``ClientConnectionError`` / ``ClientPayloadError``) is called again, for up to
  :data:`RESEND_WAIT_S` seconds from the first failure (a refused connection waits for the
  restarting server in :mod:`bot.rasa_ext.endpoint_sessions`);
* any other failure (an action with effects, which is never called twice; an error the action
  server answered; a read-only action still failing) ends the action, and the turn (the next
  action is `action_listen`), with the :data:`NOTICE` in the conversation's language, a
  system message that says the message was not processed and asks for it again, followed by
  a ``custom`` message ``{"turn_failed": <action>}`` that the gateway and the e-mail worker
  read (docs/contracts.md): the widget offers the text again, the e-mail worker retries the
  mail as when Rasa is unavailable.

A turn answered that way is not an answered turn for :mod:`bot.rasa_ext.idempotency`: the same
message sent again (same ``message_id``) is processed again.

Inside a form the notice is the answer of the form's validation (``validate_<form>``, called by
Rasa's `FormAction`), and stock Rasa 3.6 loses it on the way out: while the form waits for a
value, `FormAction.validate` finds no slot set by the validation and rejects the form's turn
(`ActionExecutionRejection`: the notice is dropped with the form's events), the policies take
another way (the lookup's help text, ``utter_lookup_help``) and run the form again, which calls
the validation a second time for the same message; when the form starts, `request_next_slot`
asks for the next value after the notice. :func:`install` also replaces those two methods of
`FormAction` (:func:`validate_form`, :func:`request_next_slot`): a validation answered with the
notice is neither rejected nor followed by a question, so the form's turn ends with the notice
alone, the form still active and waiting for the same value; the customer's resend is
validated as the answer (the action's remembered response, actions/once.py).

Installed by the Rasa command line of :mod:`bot.rasa_ext.cli`. Runs in the Rasa environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

# The app environment type-checks this package but has no aiohttp (Rasa's does): untyped there.
import aiohttp  # type: ignore[import-not-found,unused-ignore]
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.shared.core.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from rasa.shared.core.events import BotUttered, Event, FollowupAction, SlotSet

from actions.read_only import READ_ONLY_ACTIONS
from bot.errors import TURN_FAILED_KEY
from bot.i18n import normalise_language
from bot.rasa_ext._install import patch_rasa

logger = logging.getLogger(__name__)

#: The Rasa versions whose `RemoteAction.run` this module knows (read before widening).
KNOWN_RASA_PREFIX = "3.6."
#: What the customer reads when an action failed: a system message, like the widget's
#: "assistant unavailable" (French typography: a no-break space before the colon).
NOTICE = {
    "fr": "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le, s'il vous plaît.",
    "en": "I couldn't process that message just now: please send it again.",
}
#: Seconds a read-only action is called again after a transport failure, from the first one.
RESEND_WAIT_S = float(os.environ.get("ENDPOINT_RESTART_WAIT_S", "20"))
FIRST_PAUSE_S = 0.1
LONGEST_PAUSE_S = 1.0
#: Rasa's own methods, as they were when this module was first imported (before any `install`).
RASA_RUN = RemoteAction.run
RASA_FORM_VALIDATE = FormAction.validate
RASA_REQUEST_NEXT_SLOT = FormAction.request_next_slot


def _transport_failure(exc: BaseException) -> bool:
    """Whether the call failed in transport (reset, closed, answer cut), not by an answer.

    `RemoteAction.run` raises `RasaException` for it, with aiohttp's error as its cause or
    context.
    """
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def is_failed_turn_message(message: Mapping[str, Any]) -> bool:
    """Whether a bot message (as stored or sent) is the marker of a failed action."""
    custom = message.get("custom")
    return isinstance(custom, Mapping) and TURN_FAILED_KEY in custom


def notice_events(action: str, tracker: Any) -> list[Event]:
    """The notice in the conversation's language, with the marker the clients read (the REST
    channel sends them as two messages: the text, then the ``custom`` one), and the end of
    the turn: no other action answers a message that was not processed (stock Rasa goes on
    predicting, e.g. the FAQ fallback after a failed handoff)."""
    lang = normalise_language(tracker.get_slot("language"))
    return [
        BotUttered(NOTICE[lang], data={"custom": {TURN_FAILED_KEY: action}}),
        FollowupAction(ACTION_LISTEN_NAME),
    ]


def answered_with_notice(events: Iterable[Event]) -> bool:
    """Whether an action's events are the notice of a failed call (:func:`notice_events`)."""
    return any(
        isinstance(event, BotUttered) and is_failed_turn_message(event.data or {})
        for event in events
    )


async def validate_form(
    self: FormAction, tracker: Any, domain: Any, output_channel: Any, nlg: Any
) -> list[Event]:
    """`FormAction.validate` of Rasa 3.6 (the same steps), a failed validation not rejected.

    Rasa rejects the form's turn when the value it waits for was not extracted and the
    validation set no slot: a validation answered with the notice sets none, and the rejection
    would drop the notice. Its events are returned as they are instead (the form asks nothing
    after them: :func:`request_next_slot`).
    """
    extracted_slot_values = self._get_slot_extractions(tracker, domain)
    validation_events: list[Event] = await self.validate_slots(
        extracted_slot_values, tracker, domain, output_channel, nlg
    )
    if answered_with_notice(validation_events):
        return validation_events
    # From here on Rasa's own code (rasa/core/actions/forms.py, FormAction.validate).
    some_slots_were_validated = any(
        isinstance(event, SlotSet) and event.key != REQUESTED_SLOT for event in validation_events
    )
    slot_to_fill = self.get_slot_to_fill(tracker)
    if (
        slot_to_fill
        and not extracted_slot_values
        and not some_slots_were_validated
        and not self._user_rejected_manually(validation_events)
    ):
        raise ActionExecutionRejection(
            self.name(), f"Failed to extract slot {slot_to_fill} with action {self.name()}"
        )
    return validation_events


async def request_next_slot(
    self: FormAction,
    tracker: Any,
    domain: Any,
    output_channel: Any,
    nlg: Any,
    events_so_far: list[Event],
) -> list[Event]:
    """`FormAction.request_next_slot`, no question after the notice of a failed validation.

    After the notice the form only notes the value it waits for (``requested_slot``, as Rasa
    would, when the form starts in this turn: the customer's next message is validated as its
    answer) and asks nothing: the turn ends with the notice.
    """
    if not answered_with_notice(events_so_far):
        return list(
            await RASA_REQUEST_NEXT_SLOT(self, tracker, domain, output_channel, nlg, events_so_far)
        )
    noted = any(
        isinstance(event, SlotSet) and event.key == REQUESTED_SLOT for event in events_so_far
    )
    if noted or self.get_slot_to_fill(tracker) is not None:
        return []
    temporary_tracker = self._temporary_tracker(tracker, events_so_far, domain)
    slot = self._find_next_slot_to_request(temporary_tracker, domain)
    return [SlotSet(REQUESTED_SLOT, slot)] if slot is not None else []


async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
    """`RemoteAction.run`, a read-only action called again, any failure answered."""
    started = time.monotonic()
    pause = FIRST_PAUSE_S
    while True:
        try:
            return await RASA_RUN(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # the action declined: the policies predict another one (Rasa's way)
        except Exception as exc:  # noqa: BLE001 (Rasa catches them all: each is answered)
            left = started + RESEND_WAIT_S - time.monotonic()
            if self.name() in READ_ONLY_ACTIONS and _transport_failure(exc) and left > 0:
                logger.warning(
                    "Read-only action '%s' of %s cut off (%s): called again",
                    self.name(),
                    tracker.sender_id,
                    exc,
                )
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, LONGEST_PAUSE_S)
                continue
            logger.exception(
                "Action '%s' of %s failed: the customer is asked to send the message again",
                self.name(),
                tracker.sender_id,
            )
            return notice_events(self.name(), tracker)


def install() -> bool:
    """Replaces Rasa's methods; returns False (and changes nothing) on an unknown Rasa version."""
    return patch_rasa(
        logger,
        KNOWN_RASA_PREFIX,
        "a failed action still ends its turn in silence.",
        [
            (RemoteAction, "run", run),
            (FormAction, "validate", validate_form),
            (FormAction, "request_next_slot", request_next_slot),
        ],
    )
