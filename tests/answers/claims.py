"""Each sentence of a composed answer must be traceable to the shop's facts or to the order.

:func:`check_answer` splits an answer into sentences and looks, in each, for the claims it
knows (a catalogue of sentence forms, French and English). Every claim names its source and
is checked against it: the values of ``data/stores/<store>/facts.yml`` (read from the file, as the
FAQ quotes beside them justify) or the order's own data. A sentence is faithful when

* it makes at least one known claim (a sentence the catalogue cannot read is a claim with no
  source: it fails, so a new sentence must come with its source here);
* every claim it makes holds against its source;
* every number in it is part of a checked claim (a date, a delay, an amount, an order or
  tracking number, the phone number or opening hours...);
* it says nothing the shops never say (a delivery deadline, lateness, a delay counted from
  the order, a bank note for a shop whose FAQ has none...).

The checker reads plain text (no-break spaces as spaces): typography has its own test.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.business_days import add_business_days
from bot.countries import normalise_country, parent_country, region_members
from bot.delivery import uk_postcode_region
from bot.orders import OrderFacts

_WEEKDAYS = {
    "fr": "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche",
    "en": "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday",
}
_MONTHS = {
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "en": "January February March April May June July August September October November December",
}
DATE = {
    lang: rf"(?:{_WEEKDAYS[lang]}) (?:1er|\d{{1,2}}) (?:{_MONTHS[lang].replace(' ', '|')}) \d{{4}}"
    for lang in ("fr", "en")
}
RANGE = {"fr": r"(\d+) à (\d+) jours ouvrables", "en": r"(\d+) to (\d+) business days"}
EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
PHONE = r"\+\d[\d ()-]{7,}\d"
URL = r"https?://\S+"
ORDER_NUMBER = r"\b[A-Z]{2}-\d{6}\b"
CARRIERS = (
    "DHL Express|DHL|UPS|DPD|FedEx|Colissimo|La Poste|Chronopost|Royal Mail|GLS|USPS|PostNL|"
    "bpost|Canada Post|Japan Post|Australia Post"
)
# What marks a carrier's page as French: never in an English answer.
FRENCH_PAGE = ("fr-fr", "fr_FR", "/FR/fr/", "/fr#", "lang=fr", "langue=fr", "suivre", "suivi-colis")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Þ«\"(])")


def parse_date(text: str, lang: str) -> dt.date:
    weekday, day, month, year = text.split(" ")
    del weekday
    months = _MONTHS[lang].split(" ")
    return dt.date(int(year), months.index(month) + 1, 1 if day == "1er" else int(day))


def plain(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Context:
    """What an answer may state: the shop's facts, the order, the question, the day.

    Attributes:
        lang: the answer's language.
        facts: the plain facts of the shop whose policy the answer applies (the order's shop
            for an order answer); values only, from ``data/stores/<store>/facts.yml``.
        sources: that shop's FAQ quotes, by fact path.
        conversation_facts: the facts of the shop the customer is talking to.
        order: the order the answer is about, if any.
        today: the day the answer was given.
        country / postcode: what the customer asked about.
    """

    lang: str
    facts: dict[str, Any]
    sources: dict[str, tuple[str, ...]]
    conversation_facts: dict[str, Any]
    order: OrderFacts | None = None
    today: dt.date = field(default_factory=dt.date.today)
    country: str | None = None
    postcode: str | None = None

    def fact(self, dotted: str) -> Any:
        value: Any = self.facts
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def quote(self, dotted: str) -> str:
        return " ".join(self.sources.get(dotted, ()))


Check = Callable[[Context, re.Match[str], str], list[str]]


@dataclass(frozen=True)
class Claim:
    """A sentence form, its source and its check."""

    name: str
    fr: str
    en: str
    check: Check
    flags: int = 0

    def pattern(self, lang: str) -> re.Pattern[str]:
        return re.compile(self.fr if lang == "fr" else self.en, self.flags)


CLAIMS: list[Claim] = []


def claim(name: str, fr: str, en: str, flags: int = 0) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        CLAIMS.append(Claim(name, fr, en, check, flags))
        return check

    return register


def _need(condition: object, message: str) -> list[str]:
    return [] if condition else [message]


def _order(ctx: Context) -> OrderFacts:
    assert ctx.order is not None
    return ctx.order


def _codes(names: str) -> list[str | None]:
    parts = re.split(r", | et | and ", names)
    return [normalise_country(part.strip()) for part in parts if part.strip()]


def _excluded(code: str, areas: Sequence[str]) -> bool:
    return (
        code in areas
        or all(member in areas for member in region_members(code))
        or any(code in region_members(area) for area in areas)
    )


def asked_code(ctx: Context) -> str | None:
    """The country asked about, or the refused area its UK postcode lies in."""
    code = normalise_country(ctx.country or "")
    region = uk_postcode_region(ctx.postcode or "")
    if code == "GB" and region is not None:
        return region
    return code


def _delivers(ctx: Context, code: str) -> bool:
    countries = ctx.fact("delivery.countries") or []
    areas = ctx.fact("delivery.excluded_areas") or []
    return parent_country(code) in countries and not _excluded(code, areas)


# --- order data ---------------------------------------------------------------------------


@claim("order number", ORDER_NUMBER, ORDER_NUMBER)
def _order_number(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    number = m.group(0)
    if number.endswith("-123456"):  # the format example: this shop's prefix only
        return _need(
            number[:2] == ctx.conversation_facts["order_prefix"],
            f"{number}: another shop's order-number format",
        )
    return _need(ctx.order is not None and number == ctx.order.number, f"{number}: not the order")


@claim("items", r"\((\d+ × [^()]+?)\)", r"\((\d+ × [^()]+?)\)")
def _items(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    order = _order(ctx)
    expected = ", ".join(f"{line.quantity} × {line.name}" for line in order.lines)
    return _need(m.group(1) == expected, f"items {m.group(1)!r} are not the order's {expected!r}")


_STATUS = {
    "fr": {
        "est enregistrée": "placed",
        "est en cours de préparation": "processing",
        "a été expédiée": "shipped",
        "a été livrée": "delivered",
        "a été annulée": "cancelled",
        "a été retournée": "returned",
    },
    "en": {
        "has been placed": "placed",
        "is being processed": "processing",
        "was shipped": "shipped",
        "has been delivered": "delivered",
        "was delivered": "delivered",
        "was cancelled": "cancelled",
        "has been returned": "returned",
    },
}


@claim(
    "order status",
    r"(?:commande|order) [A-Z]{2}-\d{6}.*?(" + "|".join(_STATUS["fr"]) + ")",
    r"(?:commande|order) [A-Z]{2}-\d{6}.*?(" + "|".join(_STATUS["en"]) + ")",
)
def _status(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    status = _STATUS[ctx.lang][m.group(1)]
    return _need(_order(ctx).status.value == status, f"{m.group(1)!r}: the order is not {status}")


@claim("date", DATE["fr"], DATE["en"])
def _date(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    day = parse_date(m.group(0), ctx.lang)
    return _need(day in allowed_dates(ctx, sentence), f"{m.group(0)}: no source for this date")


def allowed_dates(ctx: Context, sentence: str) -> set[dt.date]:
    """The order's dates, and those its shop's documented delays give from them."""
    order = ctx.order
    if order is None:
        return set()
    shipment, returned, refund = order.shipment, order.return_, order.refund
    dates = {order.placed_on}
    if shipment:
        dates |= {shipment.shipped_on} | (
            {shipment.delivered_on} if shipment.delivered_on else set()
        )
    if returned and returned.received_on:
        dates.add(returned.received_on)
        low = (ctx.fact("returns.refund_business_days") or [None])[0]
        if low is not None and returned.accepted_on is None:
            dates.add(add_business_days(returned.received_on, low))  # the earliest refund
    if returned and returned.accepted_on:
        dates.add(returned.accepted_on)
        for days in ctx.fact("returns.refund_business_days") or []:
            dates.add(add_business_days(returned.accepted_on, days))
    if refund and refund.issued_on:
        dates.add(refund.issued_on)
    # A delivery estimate only where the FAQ says when the delivery delay starts.
    delivery, processing = (
        ctx.fact(f"delivery.{k}") for k in ("delivery_business_days", "processing_business_days")
    )
    if delivery and processing and ctx.fact("delivery.delivery_after_processing"):
        if shipment:
            dates |= {add_business_days(shipment.shipped_on, d) for d in delivery}
        else:
            dates |= {
                add_business_days(order.placed_on, p + d)
                for p, d in zip(processing, delivery, strict=True)
            }
    return dates


@claim("carrier", rf"\b(?:{CARRIERS})\b", rf"\b(?:{CARRIERS})\b")
def _carrier(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    shipment = _order(ctx).shipment
    return _need(shipment and shipment.carrier == m.group(0), f"{m.group(0)}: not the carrier")


@claim("tracking number", r"Numéro de suivi(?: [\w ]+?)? : (\S+?)\.?$",
       r"tracking number: (\S+?)\.?$")  # fmt: skip
def _tracking_number(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    shipment = _order(ctx).shipment
    return _need(
        shipment and shipment.tracking_number == m.group(1), f"{m.group(1)}: not the parcel"
    )


@claim("tracking link", rf"Suivez votre colis ici : ({URL})", rf"Track your parcel here: ({URL})")
def _tracking_link(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    url, shipment = m.group(1), _order(ctx).shipment
    errors = _need(shipment and shipment.tracking_number in url, f"{url}: not the parcel's page")
    if ctx.lang == "en":
        errors += _need(not any(mark in url for mark in FRENCH_PAGE), f"{url}: a French page")
    return errors


@claim(
    "other shop",
    r"la commande ([A-Z]{2}-\d{6}) a été passée sur la boutique « ([^»]+) », pas sur celle-ci",
    r"order ([A-Z]{2}-\d{6}) was placed with (.+?), not on this shop",
)
def _other_shop(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(
        ctx.facts["id"] != ctx.conversation_facts["id"]
        and m.group(2) == ctx.facts["display_name"][ctx.lang],
        f"{m.group(0)!r}: not the order's other shop",
    )


@claim(
    "return received",
    rf"reçu (?:et accepté )?le retour de votre commande \S+ le ({DATE['fr']})",
    rf"received (?:and accepted )?the return of your order \S+ on ({DATE['en']})",
)
def _return_received(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    day = parse_date(m.group(1), ctx.lang)
    errors = _need(returned and returned.received_on == day, "not the reception date")
    if "accepté" in m.group(0) or "accepted" in m.group(0):
        errors += _need(returned and returned.accepted_on == day, "not the acceptance date")
    return errors


@claim("return accepted", rf"l'avons accepté le ({DATE['fr']})", rf"accepted it on ({DATE['en']})")
def _return_accepted(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    day = parse_date(m.group(1), ctx.lang)
    return _need(returned and returned.accepted_on == day, "not the acceptance date")


@claim(
    "acceptance awaited",
    r"son acceptation n'est pas encore enregistrée",
    r"its acceptance has not been recorded yet",
)
def _awaited(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    return _need(returned and returned.accepted_on is None, "the acceptance is recorded")


@claim(
    "no return",
    r"Aucun retour n'est enregistré pour votre commande \S+, donc aucun remboursement n'est en "
    r"cours",
    r"No return has been recorded for your order \S+, so no refund is under way",
)
def _no_return(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    order = _order(ctx)
    return _need(order.return_ is None and order.refund is None, "a return or refund exists")


@claim(
    "return on its way",
    r"Nous n'avons pas encore reçu le retour de votre commande",
    r"We haven't received the return of your order",
)
def _on_its_way(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    return _need(returned and returned.received_on is None, "the return was received")


@claim("refund pending", r"(?:le |son )?remboursement (?:\S+ )*?est en attente",
       r"refund (?:\S+ )*?is pending")  # fmt: skip
def _pending(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    order = _order(ctx)
    refund, returned = order.refund, order.return_
    pending = (refund is not None and refund.status.value == "pending") or (
        refund is None and returned is not None and returned.received_on is not None
    )
    return _need(pending, "the refund is not pending")


@claim(
    "refund issued",
    rf"a été effectué(?: le ({DATE['fr']}))?(?: : ([\d  ,]+) (€|\$ US|£)(?: remboursés)?)?",
    rf"was issued(?: on ({DATE['en']}))?(?:: ([€$£])([\d,]+(?:\.\d+)?)(?: refunded)?)?",
)
def _issued(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    refund = _order(ctx).refund
    errors = _need(refund and refund.status.value == "issued", "the refund is not issued")
    if m.group(1):  # the day, when the answer gives one
        errors += _need(refund and refund.issued_on == parse_date(m.group(1), ctx.lang),
                        "issued on?")  # fmt: skip
    digits = m.group(2) if ctx.lang == "fr" else m.group(3)
    if digits and refund:
        if ctx.lang == "fr":
            amount = Decimal(digits.replace(" ", "").replace(" ", "").replace(",", "."))
        else:
            amount = Decimal(digits.replace(",", ""))
        errors += _need(amount == refund.amount, f"{amount}: not the refunded amount")
    return errors


_METHOD_NAMES = {
    "fr": {"carte Visa": "visa", "carte Mastercard": "mastercard", "carte Discover": "discover",
           "PayPal": "paypal", "Klarna": "klarna", "Apple Pay": "apple_pay",
           "Google Pay": "google_pay", "Shop Pay": "shop_pay", "Amazon Pay": "amazon_pay",
           "USDC (monnaie virtuelle)": "usdc"},
    "en": {"Visa card": "visa", "Mastercard": "mastercard", "Discover card": "discover",
           "PayPal": "paypal", "Klarna": "klarna", "Apple Pay": "apple_pay",
           "Google Pay": "google_pay", "Shop Pay": "shop_pay", "Amazon Pay": "amazon_pay",
           "USDC (digital currency)": "usdc"},
}  # fmt: skip


@claim(
    "refund means",
    r"(?:remboursés sur|versé sur|, sur) (votre moyen de paiement d'origine \(([^)]+(?:\))?)\)|"
    + "|".join(re.escape(n) for n in _METHOD_NAMES["fr"])
    + ")",
    r"(?:refunded to|go back to|, to) (your original payment method \(([^)]+(?:\))?)\)|"
    + "|".join(re.escape(n) for n in _METHOD_NAMES["en"])
    + ")",
)
def _means(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    order = _order(ctx)
    name = m.group(2) or m.group(1)
    method = _METHOD_NAMES[ctx.lang].get(name)
    refund = order.refund
    paid_back = refund.method.value if refund else order.payment_method.value
    errors = _need(method == paid_back, f"{name}: not the refund's means")
    if m.group(2):  # "your original payment method": the order data or the FAQ says so
        documented = refund is not None or ctx.fact("returns.refund_to_original_method")
        errors += _need(documented and paid_back == order.payment_method.value,
                        "no source for 'original payment method'")  # fmt: skip
    return errors


# --- delays ---------------------------------------------------------------------------------


@claim("delay", RANGE["fr"], RANGE["en"])
def _delay(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _delay_of([int(m.group(1)), int(m.group(2))], ctx, m, sentence)


# A delay of a single number of days ("1 jour ouvrable", "2 business days"), not the end of a
# range ("3 à 4 jours ouvrables").
@claim("exact delay", r"(?<!à )\b(\d+) jours? ouvrables?\b", r"(?<!to )\b(\d+) business days?\b")
def _exact_delay(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _delay_of([int(m.group(1))] * 2, ctx, m, sentence)


def _delay_of(days: list[int], ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    kinds = {
        "delivery.delivery_business_days": "delivery",
        "delivery.processing_business_days": "processing",
        "returns.refund_business_days": "refund",
    }
    kind = next((k for path, k in kinds.items() if ctx.fact(path) == days), None)
    if kind is None:
        return [f"{m.group(0)}: not a delay of the shop's FAQ"]
    fr = ctx.lang == "fr"
    errors: list[str] = []
    if kind == "delivery" and ctx.fact("delivery.delivery_time_is_aim"):
        errors += _need(("Nous nous efforçons" if fr else "We aim") in sentence,
                        "the delivery delay is an aim ('Nous nous efforçons')")  # fmt: skip
    if kind == "delivery" and "standard" in ctx.quote("delivery.delivery_business_days"):
        errors += _need(("livraison standard" if fr else "standard delivery") in sentence,
                        "the FAQ's delay is for standard delivery")  # fmt: skip
    if kind == "processing" and ctx.fact("delivery.processing_time_is_usual"):
        errors += _need(("généralement" if fr else "usually") in sentence,
                        "the processing time is usual ('généralement')")  # fmt: skip
    if kind == "refund":
        start = (
            "reçu et confirmé conforme aux critères de retour"
            if fr
            else "received and confirmed to meet the return criteria"
        )
        errors += _need(start in sentence, "the refund delay runs from the acceptance")
    return errors


@claim("delivery window", rf"une livraison entre le ({DATE['fr']}) et le ({DATE['fr']})",
       rf"delivery between ({DATE['en']}) and ({DATE['en']})")  # fmt: skip
def _delivery_window(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    errors = _need(ctx.fact("delivery.delivery_after_processing"),
                   "the FAQ gives no start point for a delivery window")  # fmt: skip
    errors += _need(("à titre indicatif" if ctx.lang == "fr" else "as a rough guide") in sentence,
                    "a window from usual times is an estimate")  # fmt: skip
    return errors


@claim("refund window", rf"soit entre le ({DATE['fr']}) et le ({DATE['fr']})",
       rf"so between ({DATE['en']}) and ({DATE['en']})")  # fmt: skip
def _refund_window(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    delay = ctx.fact("returns.refund_business_days")
    if not returned or not returned.accepted_on or not delay:
        return ["a refund window without an acceptance date"]
    expected = [add_business_days(returned.accepted_on, days) for days in delay]
    found = [parse_date(m.group(i), ctx.lang) for i in (1, 2)]
    return _need(found == expected, f"{found}: not acceptance + {delay} business days")


@claim("earliest refund", rf"au plus tôt le ({DATE['fr']})", rf"({DATE['en']}) at the earliest")
def _earliest(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    low = (ctx.fact("returns.refund_business_days") or [None])[0]
    ok = returned and returned.received_on and returned.accepted_on is None and low is not None
    day = parse_date(m.group(1), ctx.lang)
    return _need(ok and day == add_business_days(returned.received_on, low), "earliest date?")


@claim("refund time frame passed", r"Ce délai est écoulé", r"This time frame has passed")
def _passed(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    returned = _order(ctx).return_
    delay = ctx.fact("returns.refund_business_days")
    ok = (
        returned is not None
        and returned.accepted_on is not None
        and delay
        and ctx.today > add_business_days(returned.accepted_on, delay[1])
    )
    return _need(ok, "the refund is called late without the FAQ's delay from the acceptance")


@claim(
    "never a deadline",
    r"\bretard\b|au plus tard|prévue (?:au plus tard|le|entre)|Livraison prévue|dépassé",
    r"\blate\b|\bexpected by\b|Expected delivery|\boverdue\b|was expected",
)
def _deadline(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return [f"{m.group(0)!r}: no shop's FAQ gives a delivery deadline"]


@claim("counted from the order", r"à compter de la commande", r"from the order\b")
def _from_order(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return ["no FAQ counts a delay from the order"]


@claim(
    "after dispatch",
    r"après l'expédition|à compter de l'expédition",
    r"after dispatch|from dispatch",
)
def _after_dispatch(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("delivery.delivery_after_processing"), "no start point in the FAQ")


@claim("longer delays", r"Les délais peuvent être plus longs (.+?)\.$",
       r"Delivery can take longer (.+?)\.$")  # fmt: skip
def _longer(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    expected = (ctx.fact("delivery.delays_may_be_longer") or {}).get(ctx.lang)
    return _need(m.group(1) == expected, f"{m.group(1)!r}: not when the FAQ says")


@claim("what the delay depends on", r", selon (?!notre FAQ)(.+?)(?: :|\.$)",
       r", depending on (.+?)(?::|\.$)")  # fmt: skip
def _factors(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    expected = (ctx.fact("delivery.delivery_time_factors") or {}).get(ctx.lang)
    return _need(m.group(1) == expected, f"{m.group(1)!r}: not what the FAQ says")


@claim("aim", r"Nous nous efforçons", r"We aim")
def _aim(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("delivery.delivery_time_is_aim"), "the FAQ states no aim")


@claim("estimate", r"à titre indicatif|Pour toute question sur ce délai",
       r"as a rough guide|If you have any questions about this")  # fmt: skip
def _estimate(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return []  # worded as an estimate: the dates are checked by the window claims


# --- delivery, countries, Klarna --------------------------------------------------------------


@claim(
    "free shipping",
    r"La livraison est gratuite pour les commandes supérieures à (\d+) \$ US",
    r"Shipping is free on orders over \$(\d+)",
)
def _free(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    threshold = ctx.fact("delivery.free_shipping_threshold")
    return _need(threshold and threshold["currency"] == "USD"
                 and int(m.group(1)) == threshold["amount"], "not the FAQ's threshold")  # fmt: skip


@claim("delivered", r"Oui, nous livrons (.+?)(?:, mais pas partout)?\.$",
       r"Yes, we deliver to (.+?)(?:, but not everywhere)?\.$")  # fmt: skip
def _yes(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    code = normalise_country(m.group(1))
    errors = _need(code and _delivers(ctx, code), f"{m.group(1)}: the FAQ does not list it")
    # A country with refused areas in it (the UK: Scotland, Northern Ireland...): "yes" alone
    # is only right once a postcode has been checked against them.
    within = [a for a in ctx.fact("delivery.excluded_areas") or [] if _near(a) == code]
    checked = ctx.postcode is not None and uk_postcode_region(ctx.postcode) is None
    if within and not checked:
        said = ("mais pas partout" if ctx.lang == "fr" else "but not everywhere") in sentence
        errors += _need(said, f"{m.group(1)}: the areas it refuses are not named")
    return errors


def _near(area: str) -> str:
    # The Crown dependencies are not in the UK, but the FAQ names them with it.
    return "GB" if area in ("JE", "GG", "IM", "GB-CHI") else parent_country(area)


@claim("not everywhere", r"mais pas partout", r"but not everywhere")
def _not_everywhere(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("delivery.excluded_areas"), "the FAQ refuses no area")


@claim("not delivered", r"(?:Désolé, nous|Nous) ne livrons pas (.+?)(?:\.$|, Klarna)",
       r"(?:Sorry, we|We) don't deliver to (.+?)(?:\.$|, so Klarna)")  # fmt: skip
def _no(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    code = normalise_country(m.group(1))
    listed = ctx.fact("delivery.countries")
    return _need(code and listed is not None and not _delivers(ctx, code),
                 f"{m.group(1)}: the FAQ does not refuse it")  # fmt: skip


@claim(
    "refused areas",
    r"Selon notre FAQ, nous ne livrons pas (dans certains territoires, notamment )?(.+?)"
    r"( \(cette liste n'est pas exhaustive\))?\.$",
    r"(?:According to our FAQ, we don't deliver to some areas, (including )|As our FAQ states, "
    r"we don't deliver to )(.+?)( \(the list is not exhaustive\))?\.$",
)
def _areas(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    areas = set(ctx.fact("delivery.excluded_areas") or [])
    errors = _need(set(_codes(m.group(2))) == areas, f"{m.group(2)!r}: not the FAQ's areas")
    incomplete = ctx.fact("delivery.excluded_areas_complete") is False
    return errors + _need(bool(m.group(1)) == incomplete == bool(m.group(3)),
                          "'notamment': the FAQ's list is not exhaustive")  # fmt: skip


@claim(
    "postcode in a refused area",
    r"Votre code postal semble situé (.+?), une zone où nous ne livrons pas",
    r"Your postcode appears to be (.+?), an area we don't deliver to",
)
def _postcode_in(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    area = normalise_country(m.group(1))
    region = uk_postcode_region(ctx.postcode or "")
    return _need(area is not None and area == region
                 and _excluded(area, ctx.fact("delivery.excluded_areas") or []),
                 f"{ctx.postcode} is not in a refused {m.group(1)}")  # fmt: skip


@claim(
    "postcode outside",
    r"Votre code postal ne se trouve dans aucune des zones",
    r"Your postcode is not in any of the areas",
)
def _postcode_out(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.postcode and uk_postcode_region(ctx.postcode) is None, "postcode?")


@claim("not exhaustive", r"Cette liste n'étant pas exhaustive", r"As that list is not exhaustive")
def _not_exhaustive(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("delivery.excluded_areas_complete") is False, "the list is complete")


@claim("country list", r"Nous livrons dans ces (\d+) pays : (.+?)\.$",
       r"We deliver to these (\d+) countries: (.+?)\.$")  # fmt: skip
def _country_list(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    countries = ctx.fact("delivery.countries") or []
    return _need(int(m.group(1)) == len(countries) and _codes(m.group(2)) == list(countries),
                 "not the FAQ's country list")  # fmt: skip


@claim(
    "no country list",
    r"Notre FAQ ne donne pas la liste des pays où nous livrons",
    r"Our FAQ doesn't give a list of the countries we deliver to",
)
def _no_list(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("delivery.countries") is None, "the FAQ lists the countries")


@claim("Klarna offered", r"(?<!si )Klarna y est proposé|Oui, Klarna est proposé (.+?)\.$",
       r"(?<!whether )Klarna is offered there|Yes, Klarna is offered (.+?)\.$")  # fmt: skip
def _klarna_yes(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    code = normalise_country(m.group(1)) if m.group(1) else asked_code(ctx)
    klarna = ctx.fact("payment.klarna_countries") or []
    return _need(code and parent_country(code) in klarna and _delivers(ctx, code),
                 "Klarna is not offered there")  # fmt: skip


@claim("Klarna not offered", r"Klarna n'(?:y est|est) pas proposé|Klarna n'y est donc pas proposé",
       r"Klarna isn't offered")  # fmt: skip
def _klarna_no(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    code = asked_code(ctx)
    klarna = ctx.fact("payment.klarna_countries") or []
    return _need(code and not (parent_country(code) in klarna and _delivers(ctx, code)),
                 "Klarna is offered there")  # fmt: skip


@claim("Klarna countries", r"(?:Klarna est proposé|il l'est) dans ces pays : (.+?)\)?\.$",
       r"(?:Klarna is offered|it is offered) in these countries: (.+?)\)?\.$")  # fmt: skip
def _klarna_list(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    expected = ctx.fact("payment.klarna_countries") or []
    return _need(_codes(m.group(1)) == list(expected), "not the FAQ's Klarna countries")


@claim(
    "Klarna not documented",
    r"Klarna ne fait pas partie des moyens de paiement indiqués dans notre FAQ",
    r"Klarna isn't among the payment methods our FAQ lists",
)
def _klarna_undocumented(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need("klarna" not in (ctx.fact("payment.methods") or []), "the FAQ lists Klarna")


@claim("unknown country", r"Je ne reconnais pas le pays", r"I don't recognise the country")
def _unknown(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(normalise_country(ctx.country or "") is None, "the country is known")


# --- returns and refunds ----------------------------------------------------------------------


@claim(
    "return window",
    r"autorise les retours dans les (\d+) jours suivant l'achat(, sous certaines conditions)?",
    r"allows returns within (\d+) days of purchase(, under certain conditions)?",
)
def _window(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    errors = _need(int(m.group(1)) == ctx.fact("returns.window_days"), "not the FAQ's window")
    return errors + _need(bool(m.group(2)) == bool(ctx.fact("returns.window_conditional")),
                          "the window applies 'sous certaines conditions'")  # fmt: skip


@claim("return policy page", r"« Politique de retour »", r"Return Policy page")
def _policy_page(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("returns.route") == "policy_page", "the FAQ names no policy page")


@claim("return by contact", r"Pour effectuer un retour, contactez", r"To return an item")
def _return_contact(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("returns.route") == "contact", "the FAQ's route is not the service")


@claim("bank", r"banque|plateforme de paiement", r"\bbank\b|card issuer|payment platform")
def _bank(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("returns.refund_timing_depends_on_bank"),
                 "the shop's FAQ says nothing of banks")  # fmt: skip


@claim(
    "refund to the original means",
    r"effectué sur le moyen de paiement d'origine",
    r"made to the original payment method",
)
def _original(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("returns.refund_to_original_method"), "the FAQ does not say it")


@claim(
    "no refund time frame",
    r"Notre FAQ n'indique pas de délai de remboursement",
    r"Our FAQ doesn't give a time frame for refunds",
)
def _no_refund_delay(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("returns.refund_business_days") is None, "the FAQ gives one")


@claim(
    "cancelled order's refund",
    r"Notre FAQ ne dit rien du remboursement d'une commande annulée",
    r"Our FAQ doesn't say how a cancelled order is refunded",
)
def _cancelled(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("returns.refund_after_cancellation") is None
                 and _order(ctx).status.value == "cancelled", "not a cancelled order")  # fmt: skip


# --- contact and the conversation ---------------------------------------------------------------


@claim("e-mail address", EMAIL, EMAIL)
def _email(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(m.group(0).rstrip(".") == ctx.fact("contact.email"), f"{m.group(0)}: whose?")


@claim("phone", PHONE, PHONE)
def _phone(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    hours = (ctx.fact("contact.hours") or {}).get(ctx.lang)
    errors = _need(m.group(0) == ctx.fact("contact.phone"), f"{m.group(0)}: not the FAQ's phone")
    # The FAQ's opening hours, when it gives any, go with the phone number.
    return errors + _need(hours is None or hours in sentence, "a phone number goes with its hours")


@claim("opening hours", r"du lundi au vendredi, de \d+ h à \d+ h \(heure du Pacifique, PST\)",
       r"Monday to Friday, \d+ am to \d+ pm Pacific Time \(PST\)")  # fmt: skip
def _hours(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(m.group(0) == (ctx.fact("contact.hours") or {}).get(ctx.lang), "hours?")


@claim("carrier first", r"vérifiez d'abord auprès de", r"check with .+? first")
def _carrier_first(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    return _need(ctx.fact("tracking.carrier_first"), "the FAQ does not send to the carrier")


@claim("signature", r"^Cordialement, (.+)$", r"^Kind regards, (.+)$")
def _signature(ctx: Context, m: re.Match[str], sentence: str) -> list[str]:
    # The e-mail reply is signed by the shop's support team, as its facts name it.
    team = (ctx.fact("support_team") or {}).get(ctx.lang)
    return _need(m.group(1) == team, f"{m.group(1)}: not the shop's support team")


# Sentences that make no claim about the shop or the order: questions, offers, apologies, and
# the e-mail reply's frame (subject of a mail without one, greeting, hand-over line, closing,
# the assistant's line).
PROCEDURAL = {
    "fr": (
        r"^Votre message$",
        r"^Bonjour,$",
        r"^Nous avons transmis le reste de votre message à un membre de notre équipe, qui vous "
        r"répondra\.$",
        r"^Nous restons à votre disposition pour toute autre question\.$",
        r"^Cette réponse a été rédigée par l'assistant automatique du service client\.$",
        r"^Pour être mis en relation avec un conseiller, répondez à ce message en le demandant\.$",
        r"^Si vous me donnez votre numéro de commande, je peux aussi vérifier",
        r"^Pour savoir où en est le remboursement, demandez-moi",
        r"^Désolé, un problème technique m'empêche de vous répondre pour le moment\.$",
        r"^Réessayez un peu plus tard ou contactez ",
        r"^Je n'ai pas pu vérifier ces informations après plusieurs essais",
        r"^Une personne de l'équipe peut vous aider : voulez-vous que je lui transmette",
        r"^Vous pouvez aussi contacter ",
        r"^Indiquez-moi votre code postal et je vérifierai",
        r"^Pour toute question sur ce retour, contactez ",
        r"^Pour (?:le confirmer|confirmer une livraison dans votre pays), contactez ",
    ),
    "en": (
        r"^Your message$",
        r"^Hello,$",
        r"^We have passed the rest of your message on to a member of our team, who will reply "
        r"to you\.$",
        r"^Please let us know if there is anything else we can do for you\.$",
        r"^This reply was written by our customer service's automatic assistant\.$",
        r"^To reach a member of our team, reply to this message and ask for one\.$",
        r"^If you give me your order number, I can also check",
        r"^To see where the refund stands, just ask me",
        r"^Sorry, a technical problem is preventing me from answering right now\.$",
        r"^Please try again a little later or contact ",
        r"^I couldn't verify these details after several attempts",
        r"^A member of our team can help: would you like me to pass your request on\?",
        r"^You can also contact ",
        r"^Give me your postcode and I'll check",
        r"^If you have any questions about this return, please contact ",
        r"^To confirm (?:it|delivery to your country), please contact ",
    ),
}


def sentences(text: str) -> Iterator[str]:
    for sentence in SENTENCE_END.split(plain(text)):
        if sentence.strip():
            yield sentence.strip()


def check_sentence(sentence: str, ctx: Context) -> list[str]:
    """What is wrong with one sentence (empty when every claim in it has its source)."""
    errors: list[str] = []
    covered = [False] * len(sentence)
    explained = any(re.search(p, sentence) for p in PROCEDURAL[ctx.lang])
    for item in CLAIMS:
        for match in item.pattern(ctx.lang).finditer(sentence):
            explained = True
            try:
                errors += [f"{item.name}: {e}" for e in item.check(ctx, match, sentence)]
            except AssertionError:
                errors.append(f"{item.name}: stated without an order")
            for index in range(match.start(), match.end()):
                covered[index] = True
    if not explained:
        errors.append("no claim with a source")
    loose = [m.group(0) for m in re.finditer(r"\d+", sentence) if not covered[m.start()]]
    if loose:
        errors.append(f"numbers with no source: {loose}")
    return errors


def check_answer(text: str, ctx: Context) -> list[str]:
    """Every unfaithful sentence of ``text``, with why."""
    problems = []
    for sentence in sentences(text):
        for error in check_sentence(sentence, ctx):
            problems.append(f"{error} | in: {sentence}")
    # "Yes, but not everywhere": the refused areas are named, and a postcode check offered.
    if "mais pas partout" in plain(text) or "but not everywhere" in plain(text):
        named = ("nous ne livrons pas dans certains territoires", "we don't deliver to some areas")
        if ctx.fact("delivery.excluded_areas_complete"):  # a complete list names them all
            named = ("Selon notre FAQ, nous ne livrons pas", "As our FAQ states, we don't deliver")
        offer = ("Indiquez-moi votre code postal", "Give me your postcode")
        if not any(n in plain(text) for n in named) or not any(o in text for o in offer):
            problems.append("the refused areas are not named, or no postcode check is offered")
    # Where the FAQ is silent the answer says so AND gives the route.
    silent = ("je préfère donc ne pas deviner", "so I'd rather not guess")
    if any(s in plain(text) for s in silent) and ctx.fact("contact.email") not in text:
        problems.append("the FAQ is silent but no contact route is given")
    return problems
