"""The sentences of a customer message, for the intent classifier's sentence-aware reading.

Customers put greetings, context, signatures and thanks around their request ("Bonjour. Ma
commande n'est toujours pas arrivée, elle arrive quand ? Merci"); the classifier can score
each sentence besides the whole text (`bot.nlu.intent_classifier.combine`, option
`sentences`). The cut follows the e-mail channel's (`bot.mail.questions.split_sentences`:
a blank line or a short line without final punctuation ends a sentence, long lines of one
paragraph are joined), with sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by a space,
and not after a title or a common abbreviation ("M. Dupont", "n°. 12", "etc. ..."). That
module cannot be imported here: it needs spaCy's tokenizer and the app's store models
(pydantic 2), and the Rasa environment has pydantic 1; this one is the standard library
only, a regular expression per message (microseconds).
"""

from __future__ import annotations

import re
from typing import List

#: A line shorter than this that ends without punctuation is a sentence of its own
#: ("Bonjour", "Merci", a signature); a longer one was wrapped and goes on on the next line
#: (the e-mail channel's rule, `bot.mail.questions`).
SHORT_LINE = 50
#: Messages with more sentences than this are read whole only (a bound on the work per
#: message; such messages are rare in chat, and the e-mail channel cuts mails itself).
MAX_SENTENCES = 16

_PARAGRAPHS = re.compile(r"\n[ \t\r\f\v]*\n")
# The end of a sentence: one or more final marks, closing quotes or brackets, then spaces.
_END = re.compile(r"[.!?…？！]+[\"'»”’)\]]*\s+")
# Words after which a full stop does not end the sentence (accents and case folded by
# the caller's comparison): titles, "n°", "etc.", "e.g.", "i.e.", "approx.", one letter.
_ABBREVIATIONS = frozenset(
    {
        "m",
        "mm",
        "mme",
        "mmes",
        "mlle",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "ste",
        "no",
        "n°",
        "nº",
        "etc",
        "eg",
        "e.g",
        "ie",
        "i.e",
        "cf",
        "env",
        "approx",
        "tel",
        "tél",
        "vs",
        "ref",
        "réf",
    }
)
_LAST_WORD = re.compile(r"(\S+)$")
_WORDLIKE = re.compile(r"\w")


def _lines_as_sentences(paragraph: str) -> str:
    """A paragraph on one line; a short line without final punctuation ends with a full stop."""
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    out = []
    for index, line in enumerate(lines):
        if index < len(lines) - 1 and len(line) < SHORT_LINE and line[-1] not in ".?!:,;…":
            line += "."
        out.append(line)
    return " ".join(out)


def _ends_a_sentence(before: str, mark: str) -> bool:
    if not mark.startswith("."):
        return True
    last = _LAST_WORD.search(before)
    word = last.group(1).lower().rstrip(".") if last else ""
    return not (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()))


def split_sentences(text: str) -> List[str]:
    """The sentences of `text`, in order, each stripped; pieces without a letter or digit
    ("...", "?!", ":)") are left out. A text of one sentence gives a list of one."""
    sentences: List[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        joined = _lines_as_sentences(paragraph)
        start = 0
        for end in _END.finditer(joined):
            if _ends_a_sentence(joined[start : end.start()], end.group(0)):
                sentences.append(joined[start : end.end()].strip())
                start = end.end()
        sentences.append(joined[start:].strip())
    return [s for s in sentences if _WORDLIKE.search(s)]
