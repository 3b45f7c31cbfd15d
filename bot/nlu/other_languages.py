"""Messages written in a language other than French and English, on strong evidence only.

The shops deliver to Germany, Austria, Italy, Spain, the Netherlands, Poland and more, and
some customers write in their own language. The assistant speaks French and English; it
answers such a message in English, says so in one line, and still helps with what it can
read (an order number, a country name).

French vs English stays the business of `bot.nlu.langid` (its scorer is right where it
decides and abstains otherwise). This module only answers "is this clearly German, Spanish,
Italian, Dutch, Polish or Portuguese?", and must almost never say yes to a French or English
message: a French customer answered in English with "I speak French and English" would be a
worse failure than a German customer answered in French. So:

* the evidence is each language's function words and everyday support words, minus every
  word `bot.nlu.langid` knows as French, English or shared, minus country and brand names
  (a French message naming "España" or "Zürich" is French) and the shops' names and brands
  (`bot.shops.shop_words`, from the shop folders: no code lists them);
* letters that French and English never use count once per kind: "ß", "ñ", "¿", "¡", "ł"...;
* a language is detected only with at least `MIN_EVIDENCE` pieces of evidence, and at least
  `MIN_RATIO` times the French or English dictionary words of the message.

Standard library only: it runs in the Rasa environment (Python 3.10) and the app one. The
word lists ship with the code: nothing is downloaded at run time. Measured on the project's
French and English messages by `scripts/measure_other_languages.py` (figures in
`reports/other_languages.md`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Dict, FrozenSet, List, Optional, Tuple

from bot.nlu import langid
from bot.shops import shop_words

GERMAN = "de"
SPANISH = "es"
ITALIAN = "it"
DUTCH = "nl"
POLISH = "pl"
PORTUGUESE = "pt"
OTHER_LANGUAGES: Tuple[str, ...] = (GERMAN, SPANISH, ITALIAN, DUTCH, POLISH, PORTUGUESE)

#: Pieces of evidence (distinct words, kinds of letters) a language needs.
MIN_EVIDENCE = 2
#: ...and how many times the message's French or English dictionary words it must outweigh.
MIN_RATIO = 2.0

_WORDS_TEXT: Dict[str, str] = {
    GERMAN: """
        und ist ich nicht die der das den dem des mit für fuer meine mein meiner meinen
        bestellung bestellungen bestellt lieferung liefern geliefert versand versandt
        versenden wo wann wie warum welche welcher bitte danke vielen haben habe hat
        sie ein eine einen noch nach kann können koennen ihr ihre ihren wurde wurden sind
        auf zu hallo guten tag morgen paket rückerstattung rueckerstattung rücksendung
        geld mich mir wir uns schon immer aber oder auch keine kein nur heute gestern
        woche tage tagen erhalten bekommen kommt angekommen kaputt beschädigt zurück
        umtausch versandkosten zahlung bezahlen zahlen gibt es sehr gerne möchte moechte
        würde wuerde bis jetzt leider dass wenn weil bei vom zum zur über ueber uhr
        sendung rechnung kamera uhr objektiv
    """,
    SPANISH: """
        el los las una unos unas está están esta estoy qué dónde donde cuándo cuando
        cómo como pedido pedidos envío envíos envio envios enviar hacen hacer hago tengo
        tiene tienen mi por para pero con sin muy gracias hola buenos buenas días dias
        dinero devolución devolucion reembolso llegado llegó recibido todavía todavia ya
        cuánto cuanto cuesta puedo puede pueden quiero necesito ayuda paquete gastos
        también tambien nada porque usted ustedes hay semana ayer hoy señor señora del
        al mis sus su nuestro nuestra cámara reloj pago pagar
    """,
    ITALIAN: """
        di che sono della delle dello degli del per una uno mio mia miei mie ordine
        ordinato ordini spedizione spedito spedita spedite consegna consegnato quando
        dove grazie buongiorno buonasera ho ha hanno ancora ricevuto arrivato arrivata
        pacco rimborso reso quanto costa posso vorrei aiuto anche perché perche nel nella
        alla sul sulla questo questa sempre settimana ieri oggi spedire fattura pagamento
        pagare garanzia fotocamera orologio obiettivo salve gli sì essere stato
    """,
    DUTCH: """
        het een ik niet van mijn bestelling bestellingen besteld levering leveren
        geleverd verzending verzonden waar wanneer hoe wat alstublieft alsjeblieft
        bedankt dank hallo goedemorgen goedemiddag heb hebben nog geen ook maar met voor
        naar pakket pakketje terugbetaling geld ontvangen gekregen aangekomen wij jullie
        kunt kan zijn dit deze er wel nu vandaag gisteren dagen betalen betaling kosten
        graag hoeveel waarom welke zou wil willen moet horloge camera's
    """,
    POLISH: """
        jest nie się na moje moja mój moj zamówienie zamowienie zamówienia zamowienia
        dostawa dostawy wysyłka wysylka przesyłka przesylka gdzie kiedy jak proszę
        prosze dziękuję dziekuje dzień dzien dobry czy mam jeszcze już juz otrzymałem
        otrzymalem otrzymałam paczka paczki zwrot pieniądze pieniadze ile kosztuje mogę
        moge chcę chce pomoc też tez ale lub który która tydzień tydzien wczoraj dzisiaj
        płatność platnosc zapłacić zaplacic dlaczego jeszcze nadal zegarek aparat
    """,
    PORTUGUESE: """
        os uma não nao está estão meu minha meus minhas encomenda encomendas pedido
        entrega entregas envio onde quando como obrigado obrigada olá ola bom dia tenho
        tem ainda já recebi recebido chegou pacote reembolso devolução devolucao dinheiro
        quanto custa posso quero preciso ajuda também tambem mas para por com sem muito
        semana ontem hoje pagamento fazem vocês voces você voce relógio câmera
    """,
}

# Country, city and brand names, and words the customers' other languages share with the
# project's French/English messages: never evidence, whatever the lists above say. The shops'
# own names and brands come from their folders (`bot.shops.shop_words`, see `evidence`).
_NEVER_TEXT = """
deutschland österreich schweiz españa espana italia nederland holland polska polski
portugal brasil zürich zurich berlin madrid roma milano amsterdam warszawa lisboa
klarna paypal dhl ups
a o e i u y w z de la le les en is in to so die was man me no son
mark ok super
"""

# Letters French and English never write; one vote per kind, whatever the count.
_LETTERS: Dict[str, Tuple[str, ...]] = {
    GERMAN: ("ß", "ä", "ö", "ü"),
    SPANISH: ("ñ", "¿", "¡", "á", "í", "ó", "ú"),
    ITALIAN: ("ì", "ò"),
    DUTCH: (),
    POLISH: ("ą", "ć", "ę", "ł", "ń", "ś", "ź", "ż"),
    PORTUGUESE: ("ã", "õ"),
}
# Letters shared by several of these languages (Spanish and Portuguese "á", German and
# others "ü" in names): counted for each language listing them, still at most one per kind.

_TOKEN = re.compile(r"[^\W\d_]+")
_LINK = re.compile(r"(?:https?://|www\.)\S+")
_NON_SPACE = re.compile(r"\S+")
_NEVER: FrozenSet[str] = frozenset(_NEVER_TEXT.split())
_KNOWN_FR_EN: FrozenSet[str] = langid.FR_WORDS | langid.EN_WORDS | langid.SHARED_WORDS


def _vocabulary(text: str) -> FrozenSet[str]:
    words = frozenset(text.split())
    return frozenset(
        word
        for word in words
        if word not in _KNOWN_FR_EN
        and word not in _NEVER
        and langid.fold_accents(word) not in _NEVER
    )


WORDS: Dict[str, FrozenSet[str]] = {lang: _vocabulary(text) for lang, text in _WORDS_TEXT.items()}


def _tokens(text: str) -> List[str]:
    cleaned = langid.normalise_apostrophes(text).lower()
    # Links, then addresses, token by token: "\S+@\S+" took quadratic time to fail on a long
    # run without "@" (tests/hostile).
    cleaned = _LINK.sub(" ", cleaned)
    cleaned = _NON_SPACE.sub(lambda m: " " if "@" in m.group(0)[1:-1] else m.group(0), cleaned)
    return _TOKEN.findall(cleaned)


def evidence(text: str) -> Dict[str, int]:
    """The evidence for each other language, and the French and English dictionary words.

    Args:
        text: a customer message.

    Returns:
        `{"de": n, "es": n, ..., "fr": n, "en": n}`: distinct words of each language's list
        plus kinds of its own letters; for "fr"/"en", the words of `bot.nlu.langid`'s
        French and English vocabularies.
    """
    shop_names = shop_words()
    tokens = [token for token in _tokens(text) if token not in shop_names]
    distinct = set(tokens)
    lowered = text.lower()
    scores: Dict[str, int] = {}
    for lang in OTHER_LANGUAGES:
        words = len(distinct & WORDS[lang])
        letters = sum(1 for letter in _LETTERS[lang] if letter in lowered)
        scores[lang] = words + min(letters, 2)
    scores[langid.FRENCH] = sum(1 for token in tokens if token in langid.FR_WORDS)
    scores[langid.ENGLISH] = sum(1 for token in tokens if token in langid.EN_WORDS)
    return scores


def other_language_of(text: str) -> Optional[str]:
    """The language a message is written in, when it is clearly neither French nor English.

    Args:
        text: a customer message.

    Returns:
        "de", "es", "it", "nl", "pl" or "pt" on strong evidence; None otherwise (French,
        English, mixed, too short, or only names and numbers).
    """
    if not text or not text.strip():
        return None
    scores = evidence(text)
    best = max(OTHER_LANGUAGES, key=lambda lang: scores[lang])
    strongest_known = max(scores[langid.FRENCH], scores[langid.ENGLISH])
    if scores[best] < MIN_EVIDENCE or scores[best] < MIN_RATIO * strongest_known:
        return None
    return best


# The refund, as customers of these languages name it (word stems, accents folded): a German
# "Wann bekomme ich meine Rückerstattung für OM-104233?" is a question about that order's
# refund, not its delivery. "Return" words alone (Rücksendung, devolución, reso) are not:
# the customer may only be sending the parcel back.
_REFUND = re.compile(
    r"(?:\b(?:ruck|rueck|zuruck|zurueck)?erstatt"  # de: (Rück)erstattung, erstattet
    r"|\bgeld\s+(?:zuruck|zurueck)|\bmein(?:\s+\w+)?\s+geld\b"  # de: Geld zurück, mein Geld
    r"|\breembols"  # es, pt: reembolso, reembolsar
    r"|\brimbors"  # it: rimborso, rimborsare
    r"|\bterugbetal|\bgeld\s+terug|\bterugstort"  # nl: terugbetaling, geld terug
    r"|\bzwrot\w*\s+(?:\w+\s+)?(?:pieniedzy|srodkow|kosztow|platnosci)"  # pl: zwrot pieniędzy
    r"|\bdevolucao\s+do\s+dinheiro|\bdinheiro\s+de\s+volta)"  # pt
)


def asks_for_refund(text: str) -> bool:
    """Whether a message in another language asks about a refund (accents folded).

    Args:
        text: a customer message (any language; meant for those of `OTHER_LANGUAGES`).

    Returns:
        True when it names the refund ("Rückerstattung", "reembolso", "rimborso",
        "terugbetaling", "zwrot pieniędzy"...).
    """
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    ).replace("ß", "ss")
    return _REFUND.search(folded) is not None
