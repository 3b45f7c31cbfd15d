"""The language of a mail and the questions in it.

An e-mail often asks two things ("Où en est ma commande ? Et livrez-vous en Suisse ?"), while
the bot answers one message at a time. The body is cut into sentences by spaCy's rule-based
``sentencizer`` on a blank pipeline of the mail's language (no model download), and the
questions are the sentences with a "?" or an interrogative opening. A sentence that is no
question but names an order ("Ma commande est la OM-104233.") is kept as context of the next
question, so "Où est-elle ?" still reaches the bot with the order number. When no sentence is
a question, the whole text is one request ("Je souhaite suivre ma commande OM-104233.").
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import spacy

from bot.mail.guards import fold
from bot.stores import all_stores

logger = logging.getLogger(__name__)

Lang = Literal["fr", "en"]
DEFAULT_LANGUAGE: Lang = "fr"

# Openings of a question or a request, accents folded, lower case.
_FR_OPENINGS = (
    "est-ce",
    "est ce",
    "comment",
    "pourquoi",
    "quand",
    "ou ",
    "ou-",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "combien",
    "qui ",
    "que ",
    "qu'",
    "quoi",
    "pouvez",
    "pourriez",
    "puis-je",
    "puis je",
    "peut-on",
    "peut on",
    "peux-tu",
    "pourrais",
    "serait-il",
    "est-il",
    "y a-t-il",
    "y-a-t-il",
    "avez-vous",
    "faites-vous",
    "livrez-vous",
    "acceptez-vous",
    "proposez-vous",
    "je voudrais",
    "je souhaite",
    "j'aimerais",
    "je souhaiterais",
    "je veux",
    "merci de me",
    "merci de bien vouloir",
    "pourriez-vous",
    "je cherche a savoir",
    "je me demande",
    "dois-je",
    "faut-il",
)
_EN_OPENINGS = (
    "how",
    "what",
    "when",
    "where",
    "why",
    "which",
    "who",
    "whom",
    "whose",
    "can ",
    "could ",
    "would ",
    "will ",
    "do ",
    "does ",
    "did ",
    "is ",
    "are ",
    "was ",
    "were ",
    "may ",
    "should ",
    "shall ",
    "have you",
    "has ",
    "i would like",
    "i'd like",
    "i want",
    "i wish",
    "i wonder",
    "please ",
    "i need",
    "i'm looking for",
    "i am looking for",
)
# Greetings that open the first sentence ("Bonjour, où est ma commande ?"): not part of
# the question the bot must classify.
_LEADING_GREETING = re.compile(
    r"^\s*(?:bonjour|bonsoir|salut|hello|hi|hey|dear\s+[^,]{0,40}|good\s+(?:morning|afternoon|evening)|"
    r"madame,?\s+monsieur|madame|monsieur|mesdames,?\s+messieurs)\b[\s,!.:-]*",
    re.IGNORECASE,
)
# Linking words before a second question ("Et livrez-vous en Suisse ?"), accents folded.
_LEADING_LINK = re.compile(
    r"^(?:et|and|also|aussi|enfin|de plus|par ailleurs|ensuite|sinon|otherwise|besides|"
    r"autre question|another question|p\.?s\.?|egalement|finally|lastly)\b[\s,:.-]*"
)


@lru_cache(maxsize=1)
def _order_reference() -> re.Pattern[str]:
    # Any shape bot.nlu.order_numbers reads, with the shops' own prefixes (data/stores).
    prefixes = "|".join(re.escape(policy.order_prefix) for policy in all_stores())
    return re.compile(
        rf"(?<![^\W\d_])(?:{prefixes})[\s_.:#-]{{0,3}}\d{{3}}\s?\d{{3}}(?!\d)"
        r"|n\s?[°º]\s?\d{3}\s?\d{3}(?!\d)|(?<!\w)\d{6}(?!\w)",
        re.IGNORECASE,
    )


def names_an_order(sentence: str) -> bool:
    """Whether a sentence carries an order number (any shape customers write)."""
    return _order_reference().search(sentence) is not None


_QUESTION_MARK = re.compile(r"[?？¿]")


def _nlu_function(module_name: str, name: str) -> Callable[..., Any]:
    # Imported by name, not statically: bot/nlu is Python 3.10 code of the Rasa environment,
    # type-checked there; these two modules are pure Python and load in the app environment.
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), name)
    return function


#: The bot's own language identifier, shared with the Rasa pipeline so the channel and the
#: bot agree: ``language_of(text) -> (language or None, confidence)``.
language_of: Callable[[str], tuple[str | None, float]] = _nlu_function(
    "bot.nlu.langid", "language_of"
)
#: A text clearly written in another language: its name ("de", "es"...), else None.
other_language_of: Callable[[str], str | None] = _nlu_function(
    "bot.nlu.other_languages", "other_language_of"
)


def detect_language(text: str, *, fallback: Lang = DEFAULT_LANGUAGE) -> Lang:
    """The language a mail is written in.

    Uses the bot's own identifier (:func:`bot.nlu.langid.language_of`, shared with the Rasa
    pipeline so the channel and the bot agree); when it abstains (a mail that is only an
    order number), ``fallback``.
    """
    language, _confidence = language_of(text)
    if language == "en":
        return "en"
    if language == "fr":
        return "fr"
    return fallback


@lru_cache(maxsize=4)
def _sentencizer(lang: Lang) -> Any:
    # A blank pipeline with the rule-based sentencizer: no trained model to download, and
    # each language's tokenizer exceptions keep "M." or "e.g." from ending a sentence.
    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    return nlp


# A line shorter than this that ends without punctuation is a line of its own ("Bonjour",
# an item of a list); a longer one was wrapped by the mailer and continues on the next line.
_SHORT_LINE = 50


def _paragraph_lines(paragraph: str) -> str:
    lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
    pieces: list[str] = []
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if not last and len(line) < _SHORT_LINE and not re.search(r"[.?!:,;]$", line):
            line += "."
        pieces.append(line)
    return " ".join(pieces)


_MAX_RUN = 100
_LONG_RUN = re.compile(rf"\S{{{_MAX_RUN + 1},}}")


def _pieces(run: str) -> list[str]:
    return [run[start : start + _MAX_RUN] for start in range(0, len(run), _MAX_RUN)]


def split_sentences(text: str, lang: Lang) -> list[str]:
    """The sentences of a text; a blank line or a short unpunctuated line ends a sentence.

    Long lines of one paragraph are joined first: mailers wrap lines at 72 characters, which
    must not cut a sentence in two.
    """
    sentences: list[str] = []
    # spaCy's tokenizer is quadratic in the length of a run without spaces (5,000 "?" take
    # 10 s): no word is that long, so such a run is cut by spaces first.
    text = _LONG_RUN.sub(lambda run: " ".join(_pieces(run.group(0))), text)
    # A lone surrogate (possible in a JSON form's text) is no character spaCy can read.
    text = text.encode("utf-8", "replace").decode("utf-8")
    for paragraph in re.split(r"\n\s*\n", text):
        joined = _paragraph_lines(paragraph)
        if not joined:
            continue
        doc = _sentencizer(lang)(joined)
        sentences += [sent.text.strip() for sent in doc.sents if sent.text.strip()]
    return sentences


def strip_greeting(sentence: str) -> str:
    """The sentence without a leading greeting ("Bonjour, où ..." -> "où ..."); "" if only that."""
    stripped = _LEADING_GREETING.sub("", sentence, count=1).strip()
    return "" if not stripped.strip(" .!,;:") else stripped


def is_question(sentence: str) -> bool:
    """Whether a sentence asks something: a question mark or an interrogative opening.

    Both languages' openings are accepted whatever the mail's language: customers mix them
    ("Bonjour, where is my order").
    """
    if _QUESTION_MARK.search(sentence):
        return True
    folded = _LEADING_LINK.sub("", fold(strip_greeting(sentence)), count=1) + " "
    return folded.startswith(_FR_OPENINGS) or folded.startswith(_EN_OPENINGS)


# Two questions in one sentence, joined by "et" / "and": "Livrez-vous en Suisse et combien
# coûte la livraison ?". The second must open like a question (accents folded, lower case):
# only words that cannot continue the first question's phrase ("and how", "et combien",
# "and do you"), not "is" or "do" alone ("where and when is it sent?" stays one).
_JOINED = re.compile(
    r"\s*[,;]?\s+(?:and also|et aussi|mais aussi|ainsi que|et|and)\s+", re.IGNORECASE
)
_SECOND_QUESTION = re.compile(
    r"(?:combien|quand|comment|pourquoi|quel(?:le)?s?|est[- ]ce|qu'est|ou est|ou sont|ou en"
    r"|pouvez[- ]vous|pourriez[- ]vous|puis[- ]je|peut[- ]on|peux[- ]tu|avez[- ]vous|faites[- ]vous"
    r"|livrez[- ]vous|acceptez[- ]vous|proposez[- ]vous|prenez[- ]vous|dois[- ]je|faut[- ]il"
    r"|y a[- ]t[- ]il|est[- ]il|sont[- ]ils|a[- ]t[- ]on|how|what|when|where|why|which"
    r"|(?:can|could|do|does|did|will|would|should|shall)\s+(?:i|you|we|it|they|my|the)\b"
    r"|(?:is|are)\s+(?:there|it|my|the|you|they)\b|(?:has|have)\s+(?:my|the|you)\b)"
    r"(?![\w'-])"
)
#: Words each half of a joined question needs to be a question of its own.
MIN_JOINED_WORDS = 2


def split_joined(question: str) -> list[str]:
    """The questions joined in one sentence by "et" / "and"; ``[question]`` when not so.

    "Livrez-vous en Suisse et combien coûte la livraison ?" -> ["Livrez-vous en Suisse ?",
    "combien coûte la livraison ?"]. Each half keeps at least :data:`MIN_JOINED_WORDS` words;
    a half that ends without a question mark gets the sentence's.
    """
    parts: list[str] = []
    start = 0
    folded = fold(question)
    if len(folded) != len(question):  # folding changed the length: offsets would not match
        return [question]
    for joint in _JOINED.finditer(question):
        rest = folded[joint.end() :]
        head = question[start : joint.start()].strip()
        if _SECOND_QUESTION.match(rest) and len(head.split()) >= MIN_JOINED_WORDS:
            parts.append(head)
            start = joint.end()
    last = question[start:].strip()
    if not parts or len(last.split()) < MIN_JOINED_WORDS:
        return [question]
    ending = question.rstrip()
    if not _QUESTION_MARK.search(ending[-1:]):
        return [*parts, last]
    # The sentence's own question mark, with the space before it in French ("Suisse ?").
    mark = ending[-2:] if len(ending) > 1 and ending[-2].isspace() else ending[-1]
    return [p if _QUESTION_MARK.search(p[-1:]) else p + mark for p in parts] + [last]


#: How many sentences before a question are kept as its context.
MAX_CONTEXT_SENTENCES = 3


@dataclass(frozen=True)
class Request:
    """One thing the customer asks, as the bot is asked it.

    Attributes:
        text: the question (greeting removed, with the sentence naming the order when the
            question does not name it), or the whole text when no sentence is a question.
        context: the sentences just before the question (since the previous question, at
            most :data:`MAX_CONTEXT_SENTENCES`), not already in ``text``: "My watch arrived
            with a cracked glass. Photo attached." before "What should I do?".
        fallbacks: other readings to try when ``text`` is not understood: for a text without
            any question, each of its sentences, the last one first.
    """

    text: str
    context: str = ""
    fallbacks: tuple[str, ...] = ()

    @property
    def with_context(self) -> str:
        """The question read with the sentences before it ("" when there are none)."""
        return f"{self.context} {self.text}" if self.context else ""


def find_requests(text: str, lang: Lang) -> list[Request]:
    """The requests to put to the bot, in the order of the mail.

    Args:
        text: the customer's new text (quotes and signature already removed).
        lang: the mail's language.

    Returns:
        One :class:`Request` per question; one for the whole text when no sentence is a
        question; ``[]`` for an empty text.
    """
    sentences = [stripped for s in split_sentences(text, lang) if (stripped := strip_greeting(s))]
    if not sentences:
        return []
    requests: list[Request] = []
    orders: list[str] = []  # sentences naming an order, for the next question
    before: list[str] = []  # every other sentence since the previous question
    for sentence in sentences:
        if is_question(sentence):
            question = sentence
            if orders and not names_an_order(question):
                question = " ".join([*orders, question])
            context = [s for s in before if s not in orders][-MAX_CONTEXT_SENTENCES:]
            requests.append(Request(question, " ".join(context)))
            orders, before = [], []
            continue
        if names_an_order(sentence):
            orders.append(sentence)
        before.append(sentence)
    if not requests:
        whole = " ".join(sentences)
        fallbacks = tuple(reversed(sentences)) if len(sentences) > 1 else ()
        return [Request(whole, fallbacks=fallbacks)]
    if orders and not names_an_order(requests[-1].text):
        # An order number given after the last question ("... ? C'est la OM-104233.").
        last = requests[-1]
        requests[-1] = Request(" ".join([last.text, *orders]), last.context)
    return requests


def find_questions(text: str, lang: Lang) -> list[str]:
    """The text of each request of :func:`find_requests` (the questions, in order)."""
    return [request.text for request in find_requests(text, lang)]
