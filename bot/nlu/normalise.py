"""Text normalisation for intent classification of noisy customer messages.

Standard library and the shops' order prefixes (`bot.nlu.order_numbers`, PyYAML), imported by
the Rasa component `bot.nlu.intent_classifier` and by the scripts that cross-validate it.
Customers write without accents, in SMS style, with order numbers and addresses in the middle
of the sentence; the classifier should read the words
that carry the request, whatever their spelling:

* lower case, accents folded ("reçu" -> "recu"), typographic apostrophes made plain, and
  elided words split from their apostrophe ("j'ai" -> "j' ai");
* values replaced by a placeholder word, so the classifier learns "an order number is
  given here" rather than one particular number: order numbers (`OM-104233`, `bt 200517`,
  `#104233`, bare 6 digits) -> `_order_`, e-mail addresses -> `_email_`, URLs -> `_url_`,
  other numbers -> `_num_`;
* common French and English chat abbreviations expanded to the words they stand for
  ("tjs" -> "toujours", "pk" -> "pourquoi", "kan" -> "quand", "svp" -> "s'il vous plait",
  "thx" -> "thanks", "u" -> "you", "pls" -> "please"). The list is general chat usage, not
  taken from any test set.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Dict, List, Tuple

from bot.nlu.order_numbers import store_prefixes

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
# Linear time: the lookbehind lets a match start only where a run of address characters
# starts, so a long run with no "@" is scanned once, not once per character.
_EMAIL = re.compile(r"(?i)(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*")
# A shop's prefix (optional) + 6 digits, or "#" + digits; "n°" / "no" before it stays a word.
# The prefixes are the shops' (`order_prefix` in data/stores/<shop>/facts.yml, read by
# `bot.nlu.order_numbers.store_prefixes`), never a list here.
# "\s*(?:-\s*)?" rather than "\s*[-\s]?\s*": the same texts, without trying every split of
# a long run of spaces between two stars (quadratic).


@functools.lru_cache(maxsize=8)
def _order_pattern(prefixes: Tuple[str, ...]) -> "re.Pattern[str]":
    alternatives = "|".join(re.escape(p.lower()) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(
        rf"(?i)(?:\b(?:{alternatives})\s*(?:-\s*)?\d{{6}}\b|#\s?\d{{4,8}}\b|\b\d{{6}}\b)"
    )


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_ELISION = re.compile(r"\b([cdjlmnstq]|qu|jusqu|lorsqu|puisqu)'(?=\w)")
_TOKEN = re.compile(r"_\w+_|[a-z0-9]+(?:'[a-z]+|')?|[?!]")

#: Chat abbreviations and frequent phonetic spellings -> the words they stand for.
ABBREVIATIONS: Dict[str, str] = {
    # French
    "slt": "salut",
    "bjr": "bonjour",
    "bsr": "bonsoir",
    "cc": "coucou",
    "svp": "s'il vous plait",
    "stp": "s'il te plait",
    "svpl": "s'il vous plait",
    "pk": "pourquoi",
    "pq": "pourquoi",
    "pourkoi": "pourquoi",
    "kan": "quand",
    "qd": "quand",
    "koi": "quoi",
    "kwa": "quoi",
    "ke": "que",
    "ki": "qui",
    "tjs": "toujours",
    "tjrs": "toujours",
    "tjr": "toujours",
    "tj": "toujours",
    "pr": "pour",
    "ds": "dans",
    "dc": "donc",
    "bcp": "beaucoup",
    "mrc": "merci",
    "mci": "merci",
    "jsp": "je sais pas",
    "jpp": "je peux pas",
    "cmd": "commande",
    "cde": "commande",
    "commade": "commande",
    "comande": "commande",
    "pa": "pas",
    "jai": "j' ai",
    "jaimerais": "j' aimerais",
    "jvoudrais": "je voudrais",
    "g": "j' ai",
    "ya": "il y a",
    "yen": "il y en",
    "tt": "tout",
    "ts": "tous",
    "qq": "quelque",
    "qqch": "quelque chose",
    "qqn": "quelqu'un",
    "vs": "vous",
    "nn": "non",
    "msg": "message",
    "mtn": "maintenant",
    "auj": "aujourd'hui",
    "rdv": "rendez-vous",
    "dsl": "desole",
    "pb": "probleme",
    "pbm": "probleme",
    "colisimo": "colissimo",
    "remboursemnt": "remboursement",
    "livraizon": "livraison",
    "livrason": "livraison",
    # English
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "plse": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "thanx": "thanks",
    "tks": "thanks",
    "ty": "thank you",
    "tysm": "thank you so much",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "dunno": "do not know",
    "idk": "i do not know",
    "wat": "what",
    "wot": "what",
    "abt": "about",
    "pkg": "package",
    "pckg": "package",
    "b4": "before",
    "rcvd": "received",
    "recieved": "received",
    "recieve": "receive",
    "recived": "received",
    "wud": "would",
    "cud": "could",
    "shud": "should",
    "hv": "have",
    "im": "i'm",
    "dont": "do not",
    "don't": "do not",
    "doesnt": "does not",
    "doesn't": "does not",
    "didnt": "did not",
    "didn't": "did not",
    "cant": "can not",
    "can't": "can not",
    "cannot": "can not",
    "wont": "will not",
    "won't": "will not",
    "isnt": "is not",
    "isn't": "is not",
    "havent": "have not",
    "haven't": "have not",
    "hasnt": "has not",
    "hasn't": "has not",
    "wasnt": "was not",
    "wasn't": "was not",
    "whats": "what is",
    "what's": "what is",
    "wheres": "where is",
    "where's": "where is",
    "hows": "how is",
    "how's": "how is",
    "ive": "i have",
    "i've": "i have",
    "i'd": "i would",
    "i'll": "i will",
    "asap": "as soon as possible",
    "ppl": "people",
    "cuz": "because",
    "bc": "because",
    "coz": "because",
    "tho": "though",
    "nvm": "never mind",
    "np": "no problem",
    "k": "ok",
    "kk": "ok",
    "okay": "ok",
    "okey": "ok",
    "oki": "ok",
}


def fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(text: str) -> str:
    """The text as the classifier reads it (see the module documentation)."""
    text = text.translate(_APOSTROPHES)
    text = _URL.sub(" _url_ ", text)
    text = _EMAIL.sub(" _email_ ", text)
    text = _order_pattern(store_prefixes()).sub(" _order_ ", text)
    text = _NUMBER.sub(" _num_ ", text)
    text = fold_accents(text.lower())
    text = _ELISION.sub(r"\1' ", text)
    out: List[str] = []
    for token in _TOKEN.findall(text):
        out.append(ABBREVIATIONS.get(token, token))
    return " ".join(out)
