"""Deciding what to do with one inbound mail: skip it, hand it to a person, or answer it.

:meth:`MailReader.decide` applies, in order: the loop guards (a robot's message), the sender's
daily limit, the mail's language (the reply's, sent to the bot as the ``language`` metadata),
the cut into questions (:mod:`bot.mail.questions`), each question's reading by the NLU
(``/model/parse``), and for the questions the bot may answer, its answers through Rasa's REST
channel in the thread's conversation. :mod:`bot.mail.processor` acts on the decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.mailbox import InboxMessage, InboxState
from bot.i18n import Lang
from bot.mail import inbox
from bot.mail.cleaning import strip_quotes_and_signature
from bot.mail.guards import is_complaint, no_reply_reason
from bot.mail.parsing import ParsedMail
from bot.mail.questions import (
    Request,
    detect_language,
    find_requests,
    other_language_of,
    split_joined,
)
from bot.payloads import as_customer_text
from bot.rasa_client import Interpretation
from bot.stores import StorePolicy

HANDOFF_INTENT = "human_handoff"
#: The handoff reason of a mail whose headers are over the caps (bot/mail/parsing.py).
OVER_CAPS = "over_caps"
# Intents the bot has no real answer for by e-mail: the customer already wrote to the
# contact route the out-of-scope answer would give, so a person answers instead.
HUMAN_INTENTS = frozenset({"out_of_scope", "nlu_fallback"})
# Polite words alone ("Merci !", "Bonne journée") need no reply; answering a thank-you would
# also invite another one.
SMALL_TALK_INTENTS = frozenset({"greet", "thank", "goodbye"})
# A text written in another language than French and English (bot.nlu.language): the bot
# helps with what it can read in it, these entities.
OTHER_LANGUAGE_INTENT = "other_language"
READABLE_ENTITIES = frozenset({"order_number", "country"})
DAY = dt.timedelta(days=1)
#: A question of at most this many words may lean on the sentences before it ("What should
#: I do?", "C'est normal ?"): it is also read with them.
SHORT_QUESTION_WORDS = 5
#: A mail's Message-ID up to this length is written out in its questions' message ids; a
#: longer one (legal up to 998 characters) by its digest, so that an id stays short
#: (:func:`question_message_ids`).
MESSAGE_ID_IN_ID_MAX = 128
#: Hex digits of the digest of a question's text in its message id (64 bits).
QUESTION_DIGEST_HEX = 16


class BotClient(Protocol):
    """What the processor needs from the bot (:class:`bot.rasa_client.BlockingRasaClient`, or a
    fake in unit tests)."""

    def parse(self, text: str) -> Interpretation:
        """The intent of ``text`` and its confidence."""

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        """Sends ``text`` in the conversation ``sender_id``; returns the bot's messages."""


class WordsOnly:
    """The bot as the mail channel talks to it: every text of a mail is the customer's words.

    A mail offers no buttons, so no text of it may be read by Rasa as an intent given
    directly: a question starting with ``/`` (``/restart``, ``/inform{...}``) is neutralised
    for both the NLU reading and the conversation (:func:`bot.payloads.as_customer_text`).
    """

    def __init__(self, bot: BotClient) -> None:
        self._bot = bot

    def parse(self, text: str) -> Interpretation:
        """The intent of ``text`` (as words) and its confidence."""
        return self._bot.parse(as_customer_text(text))

    def ask(self, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        """Sends ``text`` (as words) in the conversation ``sender_id``."""
        return self._bot.ask(sender_id, as_customer_text(text), metadata)


@dataclass(frozen=True)
class Decision:
    """What to do with a mail: answer it (``answers`` set), skip it, or hand it over."""

    state: InboxState
    reason: str | None = None
    answers: tuple[str, ...] = ()
    lang: Lang = "fr"
    conversation_id: str | None = None
    customer_text: str = ""
    #: Set on a reply that answers part of the mail: why the rest goes to a person too.
    handoff_reason: str | None = None


def conversation_id_for(*, store_id: str, sender: str, thread_root: str) -> str:
    """The Rasa sender id of a mail thread.

    One conversation per thread, store and sender: the order-status form asked in one mail
    continues when the customer answers in the same thread, and nobody else joins it by
    quoting the thread's Message-ID from another address.
    """
    digest = hashlib.sha256(f"{store_id}\n{sender}\n{thread_root}".encode()).hexdigest()
    return f"email-{digest[:24]}"


def normalised_question(text: str) -> str:
    """A question's text as its message id names it: Unicode NFKC, case folded, runs of
    white space as one space (linear in the text)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def question_message_ids(message_id: str, questions: Sequence[str]) -> list[str]:
    """The Rasa ``message_id`` of each question asked for one mail, in order.

    ``email:<Message-ID>:<digest of the question>:<occurrence>``: the first
    :data:`QUESTION_DIGEST_HEX` hex digits of the SHA-256 of the question's normalised text
    (:func:`normalised_question`, the text sent to Rasa), and how many earlier questions of
    the mail have the same text (0 for the first: two identical questions stay distinct).
    The id names the question itself, not its place: a retry of the mail cut the same way
    asks with the same ids (Rasa answers them again without running their turns twice), and
    a retry cut otherwise (the model changed between the attempts) gives new ids to the
    questions that changed only, whatever their place. A Message-ID longer than
    :data:`MESSAGE_ID_IN_ID_MAX` is written ``sha256:<32 hex digits>``, so an id is at most
    about 160 characters (Rasa ignores ids over 200, bot/rasa_ext/idempotency.py).
    """
    mail = message_id
    if len(mail) > MESSAGE_ID_IN_ID_MAX:
        mail = "sha256:" + hashlib.sha256(mail.encode("utf-8", "replace")).hexdigest()[:32]
    seen: dict[str, int] = {}
    ids: list[str] = []
    for question in questions:
        text = normalised_question(question).encode("utf-8", "replace")
        digest = hashlib.sha256(text).hexdigest()[:QUESTION_DIGEST_HEX]
        occurrence = seen.get(digest, 0)
        seen[digest] = occurrence + 1
        ids.append(f"email:{mail}:{digest}:{occurrence}")
    return ids


class MailReader:
    """Reads a mail and decides what to do with it (asking the bot each question)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        bot: BotClient,
        clock: Callable[[], dt.datetime],
        own_addresses: frozenset[str],
    ) -> None:
        """Creates a reader.

        Args:
            sessions: session factory of the inbox database (the sender's replies of the day).
            settings: thresholds and limits.
            bot: the Rasa client.
            clock: the current time.
            own_addresses: the shops' own addresses (a mail from one of them is not answered).
        """
        self._sessions = sessions
        self._settings = settings
        self._bot = WordsOnly(bot)
        self._clock = clock
        self._own_addresses = own_addresses

    def decide(self, row: InboxMessage, parsed: ParsedMail, store: StorePolicy) -> Decision:
        settings = self._settings
        if parsed.over_caps is not None:
            # Thousands of recipients, a megabyte header...: no mail to a shop's support. Read
            # no further (not even the loop guards); a person sees it, nothing is lost.
            return Decision(
                InboxState.HANDOFF,
                OVER_CAPS,
                customer_text=parsed.text[: settings.email_max_text_chars],
            )
        reason = no_reply_reason(
            parsed.message, sender=parsed.sender, own_addresses=self._own_addresses
        )
        if reason is not None:
            return Decision(InboxState.SKIPPED, reason)
        with self._sessions() as session:
            recent = inbox.replies_since(
                session=session, sender=parsed.sender, since=self._clock() - DAY, before_id=row.id
            )
        if recent >= settings.email_max_replies_per_sender_per_day:
            return Decision(InboxState.SKIPPED, "sender_daily_limit")

        text = strip_quotes_and_signature(parsed.text)
        cap = settings.email_max_text_chars
        # Written in another language (German, Spanish...): answered in English, the bot's
        # answers saying so (bot/nlu/other_languages.py).
        written_in = other_language_of(text[:cap])
        lang: Lang = (
            "en"
            if written_in
            else detect_language(text[:cap], fallback=detect_language(parsed.subject[:cap]))
        )
        thread_root = parsed.thread_root or row.message_id
        conversation_id = conversation_id_for(
            store_id=store.id, sender=parsed.sender, thread_root=thread_root
        )

        def hand_over(why: str) -> Decision:
            return Decision(
                InboxState.HANDOFF,
                why,
                lang=lang,
                conversation_id=conversation_id,
                customer_text=text or parsed.text,
            )

        if not text:
            return hand_over("no_new_text")
        if len(text) > cap:
            return hand_over("too_long")
        if is_complaint(f"{parsed.subject}\n{text}"):
            return hand_over("complaint")
        requests = find_requests(text, lang)
        if len(requests) > settings.email_max_questions:
            return hand_over("too_many_questions")
        readings = [reading for request in requests for reading in self.read_joined(request)]
        interpretations = [interpretation for _text, interpretation in readings]
        if any(i.intent == HANDOFF_INTENT for i in interpretations):
            return hand_over(HANDOFF_INTENT)
        documented = [
            (question, interpretation)
            for question, interpretation in readings
            if self.answerable(interpretation) and interpretation.intent not in SMALL_TALK_INTENTS
        ]
        # Not understood, out of scope: for a person. Polite words need no answer.
        left_over = [i for _question, i in readings if not self.answerable(i)]
        if not documented:
            if not left_over:
                return Decision(InboxState.SKIPPED, "nothing_to_answer", lang=lang)
            return hand_over(self.needs_human(left_over) or "out_of_scope")
        # The documented questions are answered; what is left goes to a person as well.
        partly = self.needs_human(left_over) if left_over else None

        # The NLU reads the store and the reply's language (chosen on the whole mail, so every
        # answer of the reply is in it) from the metadata (bot.nlu.language).
        metadata = {
            "store": store.id,
            "channel": "email",
            "sender_email": parsed.sender,
            "language": lang,
        }
        answers: list[str] = []
        said: set[str] = set()
        # The same id when this mail is processed again (a worker that died mid-mail, a
        # retry): Rasa then answers the question again without running its turn twice
        # (bot/rasa_ext/idempotency.py), its actions with effects run once (actions/once.py).
        # A question the retry cut otherwise gets an id of its own: never another's answer.
        message_ids = question_message_ids(
            row.message_id, [question for question, _interpretation in documented]
        )
        for (question, interpretation), message_id in zip(documented, message_ids, strict=True):
            message_metadata: dict[str, Any] = {**metadata, "message_id": message_id}
            if interpretation.parse is not None:
                # The question was parsed to decide: Rasa takes that parse instead of parsing
                # it again (bot/rasa_ext/reuse_parse.py).
                message_metadata["parse_data"] = dict(interpretation.parse)
            messages = self._bot.ask(conversation_id, question, message_metadata)
            if not messages:
                return hand_over("no_answer")
            # A line said for each question ("I speak French and English...") is kept once.
            fresh = [message for message in messages if message not in said]
            said.update(messages)
            answers.append("\n\n".join(fresh or messages))
        return Decision(
            InboxState.REPLIED,
            handoff_reason=partly,
            answers=tuple(answers),
            lang=lang,
            conversation_id=conversation_id,
            customer_text=text,
        )

    def answerable(self, interpretation: Interpretation) -> bool:
        """Whether the bot may answer this reading by itself (small talk included).

        A text in another language is, only when it names what the bot can act on (an order
        number, a country); the rest of it is for a person, who may read the language.
        """
        if interpretation.intent == OTHER_LANGUAGE_INTENT:
            return any(entity in READABLE_ENTITIES for entity in interpretation.entities)
        return (
            interpretation.intent is not None
            and interpretation.intent not in HUMAN_INTENTS
            and interpretation.intent != HANDOFF_INTENT
            and interpretation.confidence >= self._settings.email_min_confidence
        )

    def read(self, request: Request) -> tuple[str, Interpretation]:
        """The reading of a request the bot understands best, and what it understood.

        The question alone first. A question that leans on the sentences before it ("What
        should I do?" after "My watch arrived with a cracked glass.") is read with them when
        alone it is not understood, or when it is short and the whole passage is understood
        with more confidence. A text without any question falls back on its sentences, the
        last one first, when the whole text is not understood.
        """
        alone = self._bot.parse(request.text)
        if request.context and not (
            self.answerable(alone) and len(request.text.split()) > SHORT_QUESTION_WORDS
        ):
            passage = self._bot.parse(request.with_context)
            if self.answerable(passage) and (
                not self.answerable(alone) or passage.confidence > alone.confidence
            ):
                return request.with_context, passage
        if not self.answerable(alone) or alone.intent in SMALL_TALK_INTENTS:
            for sentence in request.fallbacks:
                reading = self._bot.parse(sentence)
                if self.answerable(reading) and reading.intent not in SMALL_TALK_INTENTS:
                    return sentence, reading
        return request.text, alone

    def read_joined(self, request: Request) -> list[tuple[str, Interpretation]]:
        """Each question of a sentence that joins two ("Livrez-vous en Suisse et combien coûte
        la livraison ?"), when each alone is a different question the bot can answer;
        otherwise the request read whole (:meth:`read`).
        """
        parts = split_joined(request.text)
        if len(parts) > 1:
            readings = [
                self.read(Request(part, request.context if index == 0 else ""))
                for index, part in enumerate(parts)
            ]
            intents = [interpretation.intent for _part, interpretation in readings]
            if len(set(intents)) == len(intents) and all(
                self.answerable(interpretation)
                and interpretation.intent not in SMALL_TALK_INTENTS
                and interpretation.intent != OTHER_LANGUAGE_INTENT
                for _part, interpretation in readings
            ):
                return readings
        return [self.read(request)]

    def needs_human(self, interpretations: list[Interpretation]) -> str | None:
        intents = [i.intent for i in interpretations]
        if HANDOFF_INTENT in intents:
            return HANDOFF_INTENT
        if OTHER_LANGUAGE_INTENT in intents:
            return OTHER_LANGUAGE_INTENT
        if any(intent in HUMAN_INTENTS for intent in intents):
            return "out_of_scope"
        if any(
            i.intent is None or i.confidence < self._settings.email_min_confidence
            for i in interpretations
        ):
            return "low_confidence"
        return None
