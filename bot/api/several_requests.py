"""Two requests in one chat message get both answers.

"Livrez-vous en Suisse et combien coûte la livraison ?" asks two documented questions, and
the bot answers one message at a time. The gateway cuts such a message the way the e-mail
channel cuts a mail (`bot.mail.questions`: its sentences' questions, then two questions
joined in one sentence by "et" / "and"), asks Rasa what each part means (`/model/parse`,
no conversation touched) and sends the parts as turns of their own only when

* no form is waiting for an answer in the conversation (an order number, a proof, an
  address: the message is then that answer, read whole), and no person has taken the
  conversation over (support console: the person reads the message as it was written);
* each part alone is understood as a different request the bot answers by itself (not a
  clarification, out of scope, a greeting, a thanks, a bare piece of information...);
* at most one part needs the order lookup (its questions come last, after the others'
  answers, so the lookup's question is the last thing the customer reads).

Otherwise, and when Rasa cannot be asked, the message goes to Rasa whole, as before. A resend
of a message already sent in parts (same client id, docs/contracts.md) is not waiting for a
form its own part started: the chat route's ``waiting_for`` answers None for it, so it is cut
the same way again and each part keeps its id.

Each part is parsed once: :func:`split_message` returns every part with the parse it got, and
the chat route sends that parse with the part (metadata ``parse_data``), which Rasa uses
instead of running its pipeline on the same text again (`bot/rasa_ext/reuse_parse.py`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import RasaUnavailableError
from bot.mail.questions import detect_language, find_requests, split_joined
from bot.rasa_client import Interpretation

logger = logging.getLogger(__name__)

#: At most this many parts are answered separately (a longer list is read whole).
MAX_PARTS = 3
#: Intents a part may not have to be answered on its own.
NOT_ON_THEIR_OWN = frozenset(
    {
        "nlu_fallback",
        "out_of_scope",
        "human_handoff",
        "other_language",
        "greet",
        "thank",
        "goodbye",
        "affirm",
        "deny",
        "inform",
        "stop",
        "switch_language",
        "bot_challenge",
    }
)
#: Intents answered through the order lookup, which asks for the order and a proof.
LOOKUP_INTENTS = frozenset({"order_status", "refund_status"})

# Cheap test before any parsing: a second question mark, or "et" / "and".
_MAYBE_SEVERAL = re.compile(r"\?.*\?|\b(?:et|and)\b", re.IGNORECASE | re.DOTALL)

Parse = Callable[[str], Awaitable[Interpretation]]


@dataclass(frozen=True)
class Part:
    """A text to send to Rasa as one turn, with Rasa's parse of it when it was parsed."""

    text: str
    #: ``/model/parse``'s answer for exactly ``text`` (sent as metadata ``parse_data``).
    parse: Mapping[str, Any] | None = None


WaitingFor = Callable[[], Awaitable[str | None]]


def candidate_parts(message: str, ui_language: str | None = None) -> list[str]:
    """The requests a chat message may hold, in its order; ``[message]`` when one.

    A question keeps the sentences just before it ("Ma montre est arrivée rayée. Que
    faire ?"), as in e-mail.
    """
    if not _MAYBE_SEVERAL.search(message):
        return [message]
    lang = detect_language(message, fallback="en" if ui_language == "en" else "fr")
    parts: list[str] = []
    for request in find_requests(message, lang):
        joined = split_joined(request.text)
        if request.context:
            joined[0] = f"{request.context} {joined[0]}"
        parts += joined
    return parts if 2 <= len(parts) <= MAX_PARTS else [message]


def answer_order(parts: Sequence[str], intents: Sequence[str | None]) -> list[str] | None:
    """The parts in the order to send them, or None when they must not be sent apart."""
    if any(intent is None or intent in NOT_ON_THEIR_OWN for intent in intents):
        return None
    if len(set(intents)) < len(intents):
        return None
    if sum(intent in LOOKUP_INTENTS for intent in intents) > 1:
        return None
    pairs = list(zip(parts, intents, strict=True))
    return [part for part, intent in sorted(pairs, key=lambda pair: pair[1] in LOOKUP_INTENTS)]


async def split_message(
    message: str, *, ui_language: str | None, parse: Parse, waiting_for: WaitingFor
) -> list[Part]:
    """The texts to send to Rasa for one chat message: its requests, each with the parse
    read to cut the message, or the message whole (not parsed here)."""
    parts = candidate_parts(message, ui_language)
    if len(parts) < 2:
        return [Part(message)]
    try:
        if await waiting_for():
            return [Part(message)]
        readings = [await parse(part) for part in parts]
    except RasaUnavailableError as exc:
        logger.warning("Could not read the parts of a chat message separately: %s", exc)
        return [Part(message)]
    intents = [reading.intent for reading in readings]
    ordered = answer_order(parts, intents)
    if ordered is None:
        return [Part(message)]
    logger.info("A chat message asks %d things: %s", len(ordered), ", ".join(map(str, intents)))
    parse_of = dict(zip(parts, (reading.parse for reading in readings), strict=True))
    return [Part(part, parse_of[part]) for part in ordered]
