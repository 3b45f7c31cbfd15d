"""French / English identification of short customer-support messages.

Standard library (and the shop registry `bot.shops`, standard library + PyYAML) on purpose:
the Rasa component `bot.nlu.language.LanguageDetector` uses it inside the Rasa environment,
and the e-mail channel of the app environment imports it too (no rasa, no spaCy there).

Why a hand-made scorer rather than a statistical package: chat messages are short
("merci", "ok", "OM-104233", "Klarna ?"), and the one decision that matters is whether a
message is *clearly* French or English. When it is not, the caller keeps the
conversation's language, so abstaining is cheap and a wrong guess is expensive. The
scorer therefore adds up explicit evidence and abstains below a threshold:

* words of a French and an English vocabulary (function words, the support domain,
  country names as each language spells them); a word both languages share ("ok",
  "photo", "service", "on", "me"...), a brand ("DHL", "Klarna") or a shop's name or brand
  (`bot.shops.shop_words`: from the shop folders) is no evidence;
* French elisions ("l'", "qu'", "j'") and English contractions ("n't", "'s", "'m");
* accented letters in words the vocabularies do not know;
* a character-trigram model trained on the vocabularies, which gives a small vote to
  unknown words ("remboursements", "shipping"), capped so that a lone unknown word or a
  person's name never decides alone.

Explicit switch requests ("in English please", "en français svp", "parlez-vous
anglais ?", "I don't speak French") are recognised separately by `switch_request`: they
name the language the customer wants, which may differ from the one they wrote in.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from bot.shops import shop_words

FRENCH = "fr"
ENGLISH = "en"
LANGUAGES: Tuple[str, str] = (FRENCH, ENGLISH)

#: Minimum summed evidence of the winning language: one dictionary word is enough
#: ("merci", "thanks"), one unknown word never is.
MIN_EVIDENCE = 1.0
#: Minimum share of the winning language in all the evidence ("Bonjour, where is my
#: order?" is English: 4 English words against 1 French greeting).
MIN_SHARE = 0.75
#: Largest vote of a single word unknown to both vocabularies (trigram model).
NGRAM_CAP = 0.4
#: Extra vote of an unknown word with French accented letters ("réexpédié").
ACCENT_VOTE = 0.7
#: Vote of an elision or a contraction marker, on top of the word it is attached to.
MARKER_VOTE = 1.0

# --- vocabularies ----------------------------------------------------------------------
# Lower-case, accents as written. A word present in both lists counts for neither.

_FR_TEXT = """
le la les un une des du de d au aux et est sont à a-t-il ce cet cette ces ceci cela ça
je j tu il elle nous vous ils elles moi toi lui leur leurs eux y en ne n pas plus jamais
rien personne mon ma mes ton ta tes sa ses notre nos votre vos qui que qu quoi dont où
quand comment pourquoi combien quel quelle quels quelles lequel laquelle dans sur sous
avec sans pour par chez vers entre contre depuis pendant avant après jusque jusqu donc
mais ou ni car si oui non merci bonjour bonsoir salut coucou svp stp sil plaît plait
très trop peu beaucoup bien mal aussi encore déjà toujours jamais souvent maintenant
aujourd'hui hier demain ici là voici voilà alors puis ensuite enfin comme parce
puisque lorsque quelque quelques chaque autre autres même mêmes tout toute tous toutes
est-ce qu'est-ce n'est c'est s'il d'accord bref voilà tant vraiment seulement
ai as avons avez ont suis es sommes êtes été étais était étions étiez étaient avais
avait avions aviez avaient aurai aura aurons aurez auront serai sera serons serez
seront fais fait faisons faites font faire peux peut pouvons pouvez peuvent pourrais
pourriez pourrait pouvoir veux veut voulons voulez veulent voudrais voudrions
aimerais aimerions dois doit devons devez doivent devrais faut fallait sais sait
savez savoir vais va allons allez vont aller viens vient venez venir dis dit dites
dire vois voit voyez voir mets met mettre prends prend prenez prendre donne donnez
donner attends attend attendez attendre cherche cherchez chercher trouve trouvé
trouver reçois reçoit recevez recevoir reçu reçue reçus reçues reste restez rester
passe passé passer parle parlez parler parles répondez répondre réponds réponse
écrire écrivez écris explique expliquez expliquer comprends comprend comprendre
aide aidez aider besoin envie voulu pu dû eu su vu fallu
commande commandes commander commandé commandée commandés commandées livraison
livraisons livrer livré livrée livrés livrées livrez livrent colis paquet envoi
envoyer envoyé envoyée envoyez expédition expédier expédié expédiée expédiez délai
délais remboursement remboursements rembourser remboursé remboursée remboursez
retour retours retourner retourné renvoyer renvoyé renvoi échange échanger garantie
garanties réparation réparations réparer réparé paiement paiements payer payé payée
payez carte bancaire frais port gratuit gratuite gratuits prix coût coûte coûtent
tarif tarifs montant facture factures suivi suivre numéro adresse courriel mail
annuler annulation annulé annulée modifier modification changer changement compte
créer création inscription mot passe identifiant connexion produit produits appareil
appareils montre montres objectif objectifs boîtier boîte emballage abîmé abîmée
endommagé endommagée cassé cassée rayé rayée défectueux défectueuse panne marche
fonctionne fonctionnent douane douanes taxe taxes droits pays livrez-vous acheter
achat achats acheté achetée magasin boutique site conseiller conseillère humain
humaine robot vrai vraie personne aide problème problèmes souci soucis semaine
semaines jour jours mois année heure heures minutes lundi mardi mercredi jeudi
vendredi samedi dimanche remise réduction bon sécurisé sécurisée sécurité
chiffrement données bancaires reçu avis délai quand arrive arrivé arrivée arrivera
toujours pas encore rien reçu livreur transporteur suivi où est mon ma mes code
postal ville rue domicile point relais retrait client cliente clients service
après-vente sav nouveau nouvelle nouveaux ancien ancienne bonne bon mauvais mauvaise
grand grande petit petite premier première dernier dernière autre fois
allemagne angleterre écosse suisse belgique espagne italie autriche irlande
royaume-uni royaume uni pays-bas hollande danemark norvège suède finlande pologne
portugal grèce états-unis etats-unis japon chine canada luxembourg monaco guernesey
île man wight irlande nord galles outre-mer corse
anglais anglaise français française francais langue
parfait parfaite génial nickel entendu exactement absolument évidemment bien sûr
tant pis laisse laissez tomber oublie oubliez revoir bonne journée soirée
"""

_EN_TEXT = """
the an and is are was were be been being am have has had having do does did done
doing will would can could should shall may might must i you he she it we they him
them my your his her its our their mine yours ours theirs this that these those what
when where why how which who whom whose with without for from at by in of to into
onto over under about above below after before since until than then so but or nor
if because also just only very too any some all every each other another much many
more most less least no not yes yeah yep nope please pls plz thanks thank thx hello hi
hey there here now today yesterday tomorrow still yet already never always often
again ever soon later anyone someone something anything nothing everything up down
out off get got getting gets make made let lets know knew want wanted wants need
needs needed like would'nt way well back even really actually maybe okay sure
dont doesnt didnt cant wont isnt arent wasnt havent hasnt im ive youre whats wheres
order orders ordered ordering delivery deliveries deliver delivered delivering
shipping ship ships shipped shipment parcel package packages refund refunds
refunded return returns returned returning exchange warranty guarantee repair
repairs repaired fix fixed payment payments pay paid paying card fee fees cost costs
price prices free charge charged track tracking tracked received receive receiving
arrive arrived arrives arriving address number account create created password
login sign product products item items watch watches camera cameras lens lenses
body box packaging broken damaged defective faulty scratched working work works
customs duties duty tax taxes country countries buy bought purchase purchased store
shop website site agent human person real talk speak help problem issue issues
week weeks day days month months year hour hours minutes monday tuesday wednesday
thursday friday saturday sunday discount coupon voucher secure safe security
encryption invoice receipt data cancel cancelled canceled cancellation change
changed modify wrong missing lost still long take takes does send sent new old good
bad first last time times how long much many which your mine customer support
germany england scotland switzerland belgium spain italy austria ireland united
kingdom netherlands holland denmark norway sweden finland poland greece states
japan china guernsey isle wight northern wales overseas
english french language
exactly absolutely perfect great fine awesome nice goodbye cheers mind forget
delay delayed late alright
"""

# Words spelt alike in both languages, brands and carriers: never evidence. The names of the
# shops and of their brands are not listed here: they come from the shop folders
# (`brand_words` and the id in data/stores/<shop>/facts.yml, `bot.shops.shop_words`).
_SHARED_TEXT = """
ok okay oki okey ko a me son plus car ton comment as on long box agent robot
email e-mail mail mails emails photo photos question questions service client date
dates code codes promo article articles contact message messages transport normal
simple possible important direct description information informations confirmation
france portugal canada luxembourg monaco jersey man europe europa union
dhl ups fedex gls tnt dpd colissimo chronopost mondial relay la poste klarna paypal
apple google visa mastercard amex bitcoin crypto sms wifi app web internet online
pro mark ii iii iv bye ciao super top cool
stop chat menu alpha euro euros eur pourcent percent minute minutes cm mm kg
"""


def _words(text: str) -> FrozenSet[str]:
    return frozenset(text.split())


_SHARED: FrozenSet[str] = _words(_SHARED_TEXT)
_FR_RAW = _words(_FR_TEXT)
_EN_RAW = _words(_EN_TEXT)
# A word in both raw lists is as ambiguous as an explicitly shared one.
FR_WORDS: FrozenSet[str] = _FR_RAW - _EN_RAW - _SHARED
EN_WORDS: FrozenSet[str] = _EN_RAW - _FR_RAW - _SHARED
SHARED_WORDS: FrozenSet[str] = _SHARED | (_FR_RAW & _EN_RAW)

# "l'adresse", "qu'il", "jusqu'à", "s'il": the part before the apostrophe.
_FR_ELISIONS = frozenset(
    {"l", "d", "j", "qu", "n", "s", "c", "m", "t", "jusqu", "lorsqu", "puisqu", "presqu", "quoiqu"}
)
# "don't", "it's", "I'm", "we've", "they're", "you'll", "I'd": the part after it.
_EN_CONTRACTIONS = ("n't", "'s", "'m", "'ve", "'re", "'ll", "'d")

_APOSTROPHES = re.compile(r"[\u2019\u2018\u02bc\u0060\u00b4]")
# Runs of non-space characters: addresses and tokens with digits are dropped whole, one
# token at a time (the former "\\S+@\\S+" and "\\S*\\d\\S*" took quadratic time to fail on
# a long token without "@" or digit).
_TOKEN = re.compile(r"\S+")
# Payment brands made of ordinary words: "Apple Pay ?" is not English.
_BRANDS = re.compile(r"\b(?:apple|google|samsung)\s+pay\b|\bmondial\s+relay\b", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Letters with inner apostrophes or hyphens ("aujourd'hui", "livrez-vous", "e-mail").
_WORD = re.compile(r"[^\W\d_]+(?:['\-][^\W\d_]+)*'?")
# Longer runs of letters are no word of either language ("anticonstitutionnellement" has 25
# letters): they are left out rather than scored trigram by trigram.
MAX_WORD_LENGTH = 40
# Not "ü": it is German far more often than French ("Zürich").
_FRENCH_ACCENTS = frozenset("àâçéèêëîïôœûùÿæ")


def normalise_apostrophes(text: str) -> str:
    """Replaces typographic apostrophes (’ ‘ ʼ) by the ASCII one.

    Args:
        text: Any text.

    Returns:
        The text with a single kind of apostrophe, so that "l’adresse" and "l'adresse"
        are read alike.
    """
    return _APOSTROPHES.sub("'", text)


def fold_accents(text: str) -> str:
    """Lower-cases and removes diacritics ("Écosse" -> "ecosse", "œuvre" -> "oeuvre").

    Args:
        text: Any text.

    Returns:
        The lower-cased text without combining marks, with the ligatures œ/æ/ß spelt out
        and typographic apostrophes normalised.
    """
    text = normalise_apostrophes(text).lower()
    text = text.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# --- character trigram model ------------------------------------------------------------


def _trigrams(word: str) -> List[str]:
    padded = f"^{word}$"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


class _TrigramModel:
    """Add-one smoothed character-trigram log-likelihoods of the two vocabularies."""

    def __init__(self, fr_words: Iterable[str], en_words: Iterable[str]) -> None:
        self._counts: Dict[str, Counter[str]] = {
            FRENCH: Counter(t for w in fr_words for t in _trigrams(w)),
            ENGLISH: Counter(t for w in en_words for t in _trigrams(w)),
        }
        self._totals = {lang: sum(c.values()) for lang, c in self._counts.items()}
        self._vocab = len(set(self._counts[FRENCH]) | set(self._counts[ENGLISH])) + 1

    def _log_prob(self, lang: str, trigram: str) -> float:
        count = self._counts[lang].get(trigram, 0)
        return math.log((count + 1) / (self._totals[lang] + self._vocab))

    def french_lean(self, word: str) -> float:
        """Mean log-likelihood ratio French/English per trigram (> 0 leans French)."""
        grams = _trigrams(word)
        diff = sum(self._log_prob(FRENCH, g) - self._log_prob(ENGLISH, g) for g in grams)
        return diff / len(grams)


@functools.lru_cache(maxsize=1)
def _model() -> _TrigramModel:
    # Words with apostrophes or hyphens would teach the model punctuation, not spelling.
    def plain(words: Iterable[str]) -> List[str]:
        return [w for w in words if w.isalpha() and len(w) >= 3]

    return _TrigramModel(plain(FR_WORDS), plain(EN_WORDS))


# --- scoring ---------------------------------------------------------------------------


def _without_address_or_digits(match: "re.Match[str]") -> str:
    """A token, or a space for an e-mail address or a token with digits in it.

    An address is an "@" with something on both sides; a token with digits (order numbers,
    postcodes, phone numbers) is no language either.
    """
    token = match.group(0)
    if "@" in token[1:-1] or any(ch.isdecimal() for ch in token):
        return " "
    return token


def _candidate_words(text: str) -> List[Tuple[str, bool]]:
    """Returns (lower-cased word, looks like a proper noun) pairs worth scoring."""
    text = normalise_apostrophes(text)
    text = _URL.sub(" ", text)
    text = _BRANDS.sub(" ", text)
    text = _TOKEN.sub(_without_address_or_digits, text)
    # "OU EST MA COMMANDE" is all capitals: then capitals say nothing about acronyms.
    shouting = not any(ch.islower() for ch in text)
    words: List[Tuple[str, bool]] = []
    for position, match in enumerate(_WORD.finditer(text)):
        raw = match.group(0)
        # Short upper-case tokens in a message that is not all capitals are acronyms,
        # carriers or ISO codes (DHL, UPS, SAV, "ship to DE?"): "DE" is not the French
        # "de". "I" is the one upper-case English word.
        proper = position > 0 and raw[:1].isupper()
        if not shouting and raw.isupper() and 2 <= len(raw) <= 4:
            continue
        if len(raw) > MAX_WORD_LENGTH:
            continue
        words.append((raw.lower(), proper))
    return words


def _split_word(word: str) -> Tuple[List[str], float, float]:
    """Splits elisions, contractions and hyphens; returns (parts, fr marker, en marker)."""
    if word in FR_WORDS or word in EN_WORDS or word in SHARED_WORDS:
        return [word], 0.0, 0.0
    fr_marker = en_marker = 0.0
    parts: List[str] = []
    if "'" in word:
        head, _, tail = word.partition("'")
        contraction = next((c for c in _EN_CONTRACTIONS if word.endswith(c)), None)
        if head in _FR_ELISIONS and tail:
            fr_marker = MARKER_VOTE
            word = tail
        elif contraction and len(word) > len(contraction):
            # "don't" -> marker + "do"; "can't" -> marker + "ca" (too short to score).
            en_marker = MARKER_VOTE
            word = word[: -len(contraction)]
        else:
            word = word.replace("'", "")
    for part in word.split("-"):
        if part:
            parts.append(part.strip("'"))
    return [p for p in parts if p], fr_marker, en_marker


def score_languages(text: str) -> Dict[str, float]:
    """Adds up the French and English evidence of a text.

    Args:
        text: A customer message.

    Returns:
        `{"fr": evidence, "en": evidence}`, both >= 0.
    """
    scores = {FRENCH: 0.0, ENGLISH: 0.0}
    model = _model()
    shop_names = shop_words()
    for word, proper in _candidate_words(text):
        parts, fr_marker, en_marker = _split_word(word)
        scores[FRENCH] += fr_marker
        scores[ENGLISH] += en_marker
        for part in parts:
            if part in SHARED_WORDS or part in shop_names:
                continue
            if part in FR_WORDS:
                scores[FRENCH] += 1.0
                continue
            if part in EN_WORDS:
                scores[ENGLISH] += 1.0
                continue
            if any(ch in _FRENCH_ACCENTS for ch in part):
                scores[FRENCH] += ACCENT_VOTE
            if len(part) < 3:
                continue
            vote = NGRAM_CAP * math.tanh(model.french_lean(part))
            if proper:
                # A capitalised word inside a sentence is likely a name: its spelling
                # says little about the language the customer writes in.
                vote /= 2
            scores[FRENCH if vote > 0 else ENGLISH] += abs(vote)
    return scores


def _confidence(share: float, evidence: float) -> float:
    # One dictionary word gives 0.75, two 0.875, three 0.94...
    return round(share * (1.0 - 0.5 ** (evidence + 1.0)), 3)  # type: ignore[no-any-return]


def language_of(text: str) -> Tuple[Optional[str], float]:
    """Tells whether a text is clearly French or clearly English.

    Args:
        text: A customer message (chat line or e-mail body).

    Returns:
        `("fr" | "en", confidence in (0, 1])` when the text is clearly one language,
        `(None, 0.0)` when it is ambiguous ("ok", "Klarna ?", "OM-104233", an e-mail
        address, a postcode, "DHL", emojis) or mixed without a clear winner.
    """
    if not text or not text.strip():
        return None, 0.0
    scores = score_languages(text)
    best = max(LANGUAGES, key=lambda lang: scores[lang])
    total = scores[FRENCH] + scores[ENGLISH]
    if scores[best] < MIN_EVIDENCE:
        return None, 0.0
    share = scores[best] / total
    if share < MIN_SHARE:
        return None, 0.0
    return best, _confidence(share, scores[best])


# --- explicit switch requests ------------------------------------------------------------

_LANG_WORD = {
    "english": ENGLISH,
    "anglais": ENGLISH,
    "french": FRENCH,
    "francais": FRENCH,
}
_LANG = r"(english|anglais|french|francais)"

# Patterns run on folded text (no accents, lower case, ASCII apostrophes).
_NEGATED_PATTERNS = (
    # "I don't speak French", "I can't read English well" -> the other language.
    re.compile(
        r"\b(?:i|we)\s+(?:really\s+)?(?:don'?t|do not|can'?t|cannot|can not)\s+(?:really\s+)?"
        r"(?:speak|understand|read|write|talk)\s+(?:much\s+|any\s+|good\s+|very\s+well\s+)?"
        + r"(english|french)\b"
    ),
    # "je ne parle pas anglais", "je comprends pas l'anglais".
    re.compile(
        r"\b(?:parle|parles|comprends|comprend|lis|ecris)\s+pas\s+(?:bien\s+|tres\s+bien\s+|un\s+mot\s+d')?"
        r"(?:l')?(anglais|francais)\b"
    ),
)
_REQUEST_PATTERNS = (
    # "can you answer in French", "please reply in English", "switch to English".
    re.compile(
        r"\b(?:answer|answering|reply|respond|speak|talk|write|continue|switch|change|"
        r"chat|communicate|carry on|go on|prefer|rather|explain|help me)\b[^.?!]{0,30}?"
        r"\b(?:in|to|into)\s+(english|french)\b"
    ),
    # "do you speak English?", "can we speak French".
    re.compile(r"\b(?:speak|speaks|talk)\s+(english|french)\b"),
    # "pouvez-vous répondre en anglais", "on peut parler en français ?".
    re.compile(
        r"\b(?:repon\w*|parl\w*|ecri\w*|continu\w*|pass\w*|chang\w*|discut\w*|"
        r"expliqu\w*|prefer\w*|aid\w*)\b[^.?!]{0,30}?\ben\s+(anglais|francais)\b"
    ),
    # "parlez-vous anglais ?", "tu parles français ?", "vous parlez l'anglais".
    re.compile(r"\bparl\w*(?:[\s-](?:vous|tu|on))?\s+(?:l')?(anglais|francais)\b"),
)
# Words that may surround a bare language name ("English please", "en français svp").
_POLITE = re.compile(
    r"\b(?:please|pls|plz|thanks|thank you|thx|now|instead|only|svp|stp|"
    r"s'il vous plait|s'il te plait|sil vous plait|merci|maintenant|plutot|"
    r"seulement|uniquement|ok|okay|oui|yes|version)\b"
)
_BARE_LANGUAGE = re.compile(r"^(?:(?:in|en)\s+)?(?:l')?" + _LANG + r"$")
# A message that is only a language code ("EN", "fr ?") asks for that language.
_BARE_CODE = {"en": ENGLISH, "eng": ENGLISH, "fr": FRENCH, "fra": FRENCH}


def switch_request(text: str) -> Optional[str]:
    """Recognises an explicit request to be answered in a given language.

    Args:
        text: A customer message.

    Returns:
        The language the customer asks for ("fr" or "en"), which may differ from the one
        the message is written in ("en anglais stp" -> "en"), or None.
    """
    if not text:
        return None
    folded = fold_accents(text)
    folded = re.sub(r"\s+", " ", folded).strip()
    for pattern in _NEGATED_PATTERNS:
        match = pattern.search(folded)
        if match:
            named = _LANG_WORD[match.group(1)]
            return ENGLISH if named == FRENCH else FRENCH
    for pattern in _REQUEST_PATTERNS:
        match = pattern.search(folded)
        if match:
            return _LANG_WORD[match.group(1)]
    bare = _POLITE.sub(" ", folded)
    bare = re.sub(r"[^\w'\s]", " ", bare)
    bare = re.sub(r"\s+", " ", bare).strip()
    match = _BARE_LANGUAGE.match(bare)
    if match:
        return _LANG_WORD[match.group(1)]
    return _BARE_CODE.get(bare)
