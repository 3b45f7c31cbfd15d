"""Small French/English formatting helpers for answers built from order data.

Only what the answers need: dates, money, payment means, order statuses and store names in
the customer's language, with no locale database (the machine's locales are not guaranteed).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

Lang = Literal["fr", "en"]
LANGUAGES: tuple[Lang, ...] = ("fr", "en")

_WEEKDAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
_PAYMENT_METHODS = {
    "visa": ("carte Visa", "Visa card"),
    "mastercard": ("carte Mastercard", "Mastercard"),
    "discover": ("carte Discover", "Discover card"),
    "paypal": ("PayPal", "PayPal"),
    "klarna": ("Klarna", "Klarna"),
    "apple_pay": ("Apple Pay", "Apple Pay"),
    "google_pay": ("Google Pay", "Google Pay"),
    "shop_pay": ("Shop Pay", "Shop Pay"),
    "amazon_pay": ("Amazon Pay", "Amazon Pay"),
    "usdc": ("USDC (monnaie virtuelle)", "USDC (digital currency)"),
}

_NBSP = "\u00a0"  # no-break space
_NNBSP = "\u202f"  # narrow no-break space
_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
# French writes the dollar after the amount with its country: "50 $ US" (a bare "$" is also
# the Canadian dollar's sign for French readers).
_FRENCH_SYMBOLS = {**_CURRENCY_SYMBOLS, "USD": "$ US"}


def normalise_language(value: object, default: Lang = "fr") -> Lang:
    """`value` as a supported language code, `default` when it is anything else."""
    if value == "en":
        return "en"
    if value == "fr":
        return "fr"
    return default


def format_date(day: dt.date, lang: Lang) -> str:
    """'lundi 23 novembre 2026' / 'Monday 23 November 2026'."""
    weekday = _WEEKDAYS[lang][day.weekday()]
    month = _MONTHS[lang][day.month - 1]
    number = "1er" if lang == "fr" and day.day == 1 else str(day.day)
    return f"{weekday} {number} {month} {day.year}"


def format_money(amount: Decimal, currency: str, lang: Lang) -> str:
    """'749,00 €' / '€749.00', '199,00 $ US' / '$199.00'; the ISO code without a symbol.

    French separates the thousands with a narrow no-break space and puts a no-break space
    before the symbol, so an amount never breaks across lines.
    """
    if lang == "fr":
        sign = _FRENCH_SYMBOLS.get(currency.upper(), currency.upper()).replace(" ", _NBSP)
        digits = f"{amount:,.2f}".replace(",", _NNBSP).replace(".", ",")
        return f"{digits}{_NBSP}{sign}"
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    digits = f"{amount:,.2f}"
    return f"{symbol}{digits}" if symbol else f"{digits} {currency.upper()}"


def payment_method_name(method: str, lang: Lang) -> str:
    """Human name of a payment means; the raw value when unknown."""
    names = _PAYMENT_METHODS.get(method)
    if names is None:
        return method
    return names[0] if lang == "fr" else names[1]
