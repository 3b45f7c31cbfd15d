"""Demo orders for the embedded database: each shop's canonical orders plus generated ones.

Everything about a shop's demo lives in its folder ``data/stores/<shop>/`` (the registry,
:mod:`bot.shops`): no code here names a shop.

The canonical orders (the ``demo_orders.yml`` of each shop folder that has one) are loaded
exactly as written: numbers, owners, states, carriers and dates, the dates being offsets in
days from ``today``. Where the file says nothing, the loader decides, always the same way:

* a shipment without a carrier (the returned orders) gets one of the shop's carriers and a
  tracking number drawn from the order number, so it is the same at every load;
* ``return_received`` becomes ``Return.received_on`` and ``Return.accepted_on`` alike, for a
  pending refund too: the demo's returns have all passed inspection, so a refund timeline
  ("5 to 7 business days after acceptance") can be computed for each of them;
* a refund is in the order's currency.

Around them, ``extra`` orders are generated with a seeded random generator (same seed, same
``today``, same folders: same data) for every shop whose ``demo.yml`` has a ``generated:``
catalogue (its products and baskets, currencies, carriers, logistics, where its customers
are), for every status, with the shop's countries and payment means from its policy
(``bot.stores``), valid-looking postcodes, dates in a possible order (placed <= shipped <=
delivered <= return received <= accepted <= refund issued <= today) and owners at
``example.*`` domains. Generated numbers are ``<prefix>-<number>`` from the catalogue's
``first_number`` up, never a canonical one, rising with the order date. A few generated
returns are still being inspected (``accepted_on`` empty, no refund row yet).

Command line (prints one line saying what it did)::

    python -m bot.db.demo --if-empty [--today YYYY-MM-DD]   # migrate; load only into no orders
    python -m bot.db.demo --replace  [--today YYYY-MM-DD]   # migrate; delete every order, reload

``--seed N`` and ``--extra N`` change the generated orders (defaults 7 and 240).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import string
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.config import get_settings
from bot.db.migrate import upgrade
from bot.db.models import (
    CENT,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Refund,
    RefundStatus,
    Return,
    Shipment,
    Store,
)
from bot.db.session import make_engine, session_factory
from bot.errors import BotError, ConfigurationError
from bot.shops import DEMO_FILE, DEMO_ORDERS_FILE, read_shop_yaml, shop_dir, shop_ids
from bot.stores import load_store

logger = logging.getLogger(__name__)

DEFAULT_SEED = 7
DEFAULT_EXTRA = 240


# --- the stores -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFacts:
    """The few facts of a store's policy (``data/stores/<id>/facts.yml``) the demo data needs."""

    id: str
    name: str
    order_prefix: str
    countries: tuple[str, ...] | None  # None: the FAQ gives no list
    payment_methods: tuple[PaymentMethod, ...]
    klarna_countries: frozenset[str]


def read_store_facts(store_id: str) -> StoreFacts:
    """The store's name, countries and payment means, from its policy (``bot.stores``).

    Raises:
        UnknownStoreError: no such store.
        ConfigurationError: the policy file is invalid or names an unknown payment means.
    """
    policy = load_store(store_id)
    try:
        payment_methods = tuple(PaymentMethod(method) for method in policy.payment.methods)
    except ValueError as error:
        raise ConfigurationError(f"store {store_id}: {error}") from error
    return StoreFacts(
        id=policy.id,
        name=policy.name,
        order_prefix=policy.order_prefix,
        countries=policy.delivery.countries,
        payment_methods=payment_methods,
        klarna_countries=frozenset(policy.payment.klarna_countries),
    )


def ensure_stores(session: Session) -> dict[str, Store]:
    """Adds every shop of the registry (``bot.shops``), or refreshes its name; returns them."""
    stores: dict[str, Store] = {}
    for store_id in shop_ids():
        facts = read_store_facts(store_id)
        store = session.get(Store, store_id)
        if store is None:
            store = Store(id=store_id, name=facts.name)
            session.add(store)
        else:
            store.name = facts.name
        stores[store_id] = store
    return stores


# --- canonical orders -------------------------------------------------------------------------


def read_canonical_orders(path: Path) -> list[dict[str, Any]]:
    """The canonical orders as written in ``demo_orders.yml`` (plain YAML data)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        orders = data["orders"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise ConfigurationError(f"{path}: cannot read the demo orders: {error!r}") from error
    if not isinstance(orders, list):
        raise ConfigurationError(f"{path}: `orders` must be a list")
    return orders


def shop_demo_files() -> list[Path]:
    """The ``demo_orders.yml`` of the shop folders that have one (``data/stores/<shop>/``)."""
    files = [shop_dir(store_id) / DEMO_ORDERS_FILE for store_id in shop_ids()]
    return [path for path in files if path.is_file()]


def canonical_orders(*, today: dt.date, path: Path | None = None) -> list[Order]:
    """Builds the canonical orders (not added to any session), dated relative to ``today``.

    Args:
        today: the day the dates are offsets from.
        path: one file to read; None: every shop folder's ``demo_orders.yml``.

    Raises:
        ConfigurationError: an entry of a file is incomplete or has an unknown value, or
            names a shop that is not in the registry.
    """
    paths = [path] if path is not None else shop_demo_files()
    known = set(shop_ids())
    orders = []
    for source in paths:
        for entry in read_canonical_orders(source):
            try:
                order = _canonical_order(entry, today=today)
                if order.store_id not in known:
                    raise ValueError(f"unknown shop {order.store_id!r}")
                orders.append(order)
            except (KeyError, TypeError, ValueError, ArithmeticError) as error:
                number = entry.get("number") if isinstance(entry, dict) else entry
                raise ConfigurationError(f"{source}: order {number}: {error!r}") from error
    return orders


def _canonical_order(entry: Mapping[str, Any], *, today: dt.date) -> Order:
    def day(key: str, source: Mapping[str, Any] = entry) -> dt.date | None:
        offset = source.get(key)
        return None if offset is None else today + dt.timedelta(days=int(offset))

    def required_day(key: str) -> dt.date:
        return today + dt.timedelta(days=int(entry[key]))

    number = str(entry["number"])
    store_id = str(entry["store"])
    currency = str(entry["currency"])
    payment_method = PaymentMethod(entry["payment_method"])
    order = Order(
        number=number,
        store_id=store_id,
        customer_email=str(entry["email"]),
        postcode=_text(entry, "postcode"),
        country=_text(entry, "country"),
        status=OrderStatus(entry["status"]),
        placed_on=required_day("placed"),
        payment_method=payment_method,
        currency=currency,
        lines=[
            OrderLine(
                sku=str(item["sku"]),
                name=str(item["name"]),
                quantity=int(item["qty"]),
                unit_price=_money(item["unit_price"]),
            )
            for item in entry["items"]
        ],
    )
    shipped_on = day("shipped")
    if shipped_on is not None:
        carrier = entry.get("carrier")
        tracking_number = entry.get("tracking_number")
        if carrier is None or tracking_number is None:
            # The file leaves these out for orders whose parcel no longer matters (returned);
            # seeding with the number gives the same made-up parcel at every load.
            rng = random.Random(number)  # noqa: S311 (demo data, not a secret)
            carrier = rng.choice(_carriers(store_id, order.country))
            tracking_number = _tracking_number(rng, carrier)
        order.shipment = Shipment(
            carrier=str(carrier),
            tracking_number=str(tracking_number),
            shipped_on=shipped_on,
            delivered_on=day("delivered"),
        )
    received_on = day("return_received")
    if received_on is not None:
        order.return_ = Return(received_on=received_on, accepted_on=received_on)
    refund = entry.get("refund")
    if refund is not None:
        order.refund = Refund(
            status=RefundStatus(refund["status"]),
            issued_on=day("issued", refund),
            method=PaymentMethod(refund.get("method", payment_method)),
            amount=_money(refund["amount"]),
            currency=currency,
        )
    return order


def _text(entry: Mapping[str, Any], key: str) -> str:
    # YAML turns an unquoted NO into false and 01000 into 512: such values must be quoted.
    value = entry[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a quoted string, got {value!r}")
    return value


def _money(value: object) -> Decimal:
    # Through str: YAML reads 2399.00 as a float, and Decimal(float) keeps binary noise.
    amount = Decimal(str(value)).quantize(CENT)
    if amount < 0:
        raise ValueError(f"negative amount {value!r}")
    return amount


# --- catalogues: data/stores/<shop>/demo.yml -------------------------------------------------


@dataclass(frozen=True)
class Product:
    """An article a demo order can contain (one price list per store)."""

    sku: str
    name: str
    unit_price: Decimal
    kind: str


@dataclass(frozen=True)
class _Line:
    """One line of a basket: a product of ``kinds``, present with ``chance`` (None: always).

    ``quantity``: a number, an inclusive range, or ``more`` with the chance of ``more_chance``
    (else 1).
    """

    kinds: tuple[str, ...]
    chance: float | None
    quantity: int | tuple[int, int]
    more_chance: float | None = None


@dataclass(frozen=True)
class _Basket:
    below: float | None  # None: the last basket
    lines: tuple[_Line, ...]


@dataclass(frozen=True)
class _Logistics:
    """Calendar days from placing to shipping, and in transit (inclusive ranges)."""

    processing: tuple[int, int]
    transit: tuple[int, int]


@dataclass(frozen=True)
class Catalogue:
    """What a shop's generated demo orders are made of (``generated:`` of its ``demo.yml``)."""

    store_id: str
    share: int
    first_number: int
    currency: str
    currency_by_country: Mapping[str, str]
    logistics: _Logistics
    customer_countries: Mapping[str, int]
    other_countries_weight: int
    carriers: Mapping[str, tuple[str, ...]]
    default_carriers: tuple[str, ...]
    products: tuple[Product, ...]
    baskets: tuple[_Basket, ...]

    def currency_for(self, country: str) -> str:
        """The currency a customer of ``country`` pays in."""
        return self.currency_by_country.get(country, self.currency)

    def carriers_for(self, country: str) -> tuple[str, ...]:
        """The carriers that ship to ``country``."""
        return self.carriers.get(country, self.default_carriers)


#: The carriers of a shop whose folder has no demo catalogue (a parcel the file leaves open).
DEFAULT_CARRIERS = ("DHL", "UPS")


def _pair(value: Any, what: str) -> tuple[int, int]:
    low, high = (int(value[0]), int(value[1]))
    if not 0 <= low <= high or len(value) != 2:
        raise ValueError(f"{what}: expected [low, high], got {value!r}")
    return low, high


def _line(raw: Mapping[str, Any]) -> _Line:
    quantity = raw.get("quantity", 1)
    chance = None if raw.get("chance") is None else float(raw["chance"])
    kinds = tuple(str(kind) for kind in raw["kinds"])
    if isinstance(quantity, Mapping):
        return _Line(kinds, chance, int(quantity["value"]), more_chance=float(quantity["chance"]))
    if isinstance(quantity, list):
        return _Line(kinds, chance, _pair(quantity, "quantity"))
    return _Line(kinds, chance, int(quantity))


def _catalogue(store_id: str, raw: Mapping[str, Any]) -> Catalogue:
    products = tuple(
        Product(
            sku=str(item["sku"]),
            name=str(item["name"]),
            unit_price=_money(item["price"]),
            kind=str(item["kind"]),
        )
        for item in raw["products"]
    )
    baskets = tuple(
        _Basket(
            below=None if basket.get("below") is None else float(basket["below"]),
            lines=tuple(_line(line) for line in basket["lines"]),
        )
        for basket in raw["baskets"]
    )
    kinds = {product.kind for product in products}
    for basket in baskets:
        for line in basket.lines:
            if not kinds.intersection(line.kinds):
                raise ValueError(f"no product of the kinds {list(line.kinds)}")
    if not baskets or baskets[-1].below is not None:
        raise ValueError("the last basket must have no `below`")
    return Catalogue(
        store_id=store_id,
        share=int(raw["share"]),
        first_number=int(raw["first_number"]),
        currency=str(raw["currency"]),
        currency_by_country=dict(raw.get("currency_by_country") or {}),
        logistics=_Logistics(
            processing=_pair(raw["processing_days"], "processing_days"),
            transit=_pair(raw["transit_days"], "transit_days"),
        ),
        customer_countries={
            str(code): int(weight) for code, weight in (raw.get("customer_countries") or {}).items()
        },
        other_countries_weight=int(raw.get("other_countries_weight", 0)),
        carriers={
            str(code): tuple(str(c) for c in carriers)
            for code, carriers in (raw.get("carriers") or {}).items()
        },
        default_carriers=tuple(str(c) for c in raw.get("default_carriers") or DEFAULT_CARRIERS),
        products=products,
        baskets=baskets,
    )


def read_catalogue(store_id: str) -> Catalogue | None:
    """The shop's demo catalogue (``generated:`` of its ``demo.yml``); None when it has none.

    Raises:
        ConfigurationError: the section is incomplete or invalid.
    """
    raw = read_shop_yaml(store_id, DEMO_FILE).get("generated")
    if raw is None:
        return None
    try:
        return _catalogue(store_id, raw)
    except (KeyError, TypeError, ValueError, ArithmeticError, IndexError) as error:
        path = shop_dir(store_id) / DEMO_FILE
        raise ConfigurationError(f"{path}: invalid `generated` section: {error!r}") from error


def _pick(rng: random.Random, products: Sequence[Product], kinds: Sequence[str]) -> Product:
    return rng.choice([product for product in products if product.kind in kinds])


def _quantity(rng: random.Random, line: _Line) -> int:
    if line.more_chance is not None:
        return int(line.quantity) if rng.random() < line.more_chance else 1  # type: ignore[arg-type]
    if isinstance(line.quantity, tuple):
        return rng.randint(*line.quantity)
    return line.quantity


def _lines(rng: random.Random, catalogue: Catalogue) -> list[tuple[Product, int]]:
    roll = rng.random()
    basket = next(b for b in catalogue.baskets if b.below is None or roll < b.below)
    lines = []
    for line in basket.lines:
        if line.chance is not None and not rng.random() < line.chance:
            continue
        product = _pick(rng, catalogue.products, line.kinds)
        lines.append((product, _quantity(rng, line)))
    return lines


# --- customers: names, e-mail domains, postcodes ---------------------------------------------

# First and last names per language (space-separated), lower case as in an e-mail address.
_NAMES: dict[str, tuple[str, str]] = {
    "fr": (
        "camille lea julien thomas nicolas chloe antoine manon hugo ines",
        "martin petit durand leroy moreau simon laurent lefebvre michel garnier",
    ),
    "de": (
        "anna jonas lena felix mia paul laura leon sophie maximilian",
        "mueller schmidt schneider fischer weber wagner hoffmann schulz koch richter",
    ),
    "en": (
        "james olivia oliver amelia harry isla jack emily george ava",
        "taylor brown williams wilson johnson davies evans walker wright hughes",
    ),
    "us": (
        "michael jessica david ashley chris sarah daniel megan ryan lauren",
        "johnson miller davis garcia rodriguez anderson thomas moore jackson white",
    ),
    "it": (
        "marco francesca luca chiara matteo sara andrea elena davide alessia",
        "russo ferrari esposito bianchi romano colombo ricci marino greco conti",
    ),
    "es": (
        "lucia hugo martina pablo sofia alejandro paula daniel maria javier",
        "garcia fernandez gonzalez lopez martinez sanchez perez gomez ruiz diaz",
    ),
    "nl": (
        "daan emma sem julia lucas sanne bram lotte thijs eva",
        "dejong jansen devries vandenberg bakker visser smit meijer mulder bos",
    ),
    "nordic": (
        "erik anna lars ingrid mikael sofia anders emma oskar maja",
        "andersson johansson nielsen hansen larsen karlsson olsen virtanen korhonen berg",
    ),
    "central": (
        "jan anna piotr katarzyna tomas petra marek ieva andris mart",
        "nowak kowalski novak svoboda dvorak kazlauskas ozols tamm ivanov petrova",
    ),
    "ja": (
        "yuki haruto sakura takumi aoi ren hina sota mei daiki",
        "sato suzuki takahashi watanabe ito yamamoto nakamura kobayashi kato yoshida",
    ),
}

_UPPER = string.ascii_uppercase
_DIGITS = string.digits


def _chars(rng: random.Random, alphabet: str, count: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _digits(rng: random.Random, count: int) -> str:
    return _chars(rng, _DIGITS, count)


def _postcode_nl(rng: random.Random) -> str:
    letters = _chars(rng, "ABCDEGHJKLMNPRTVWXZ", 2)  # SA, SD and SS are never issued
    return f"{rng.randint(1011, 9999)} {letters}"


# Only England: OM SYSTEM does not deliver to Scotland, Northern Ireland or the Isle of Wight
# (see data/stores/om-system/facts.yml), so no generated GB customer lives there.
_ENGLISH_OUTCODES = (
    "EC1A", "W1D", "SE1", "N1", "E14", "NW3", "SW11", "M1", "M4", "B1", "B15", "LS1", "LS6",
    "BS1", "NG1", "L1", "OX1", "CB2", "BN1", "NE1", "S1", "LE1", "YO1", "EX1", "CV1", "RG1",
)  # fmt: skip


def _postcode_gb(rng: random.Random) -> str:
    inward = f"{rng.randint(1, 9)}{_chars(rng, 'ABDEFGHJLNPQRSTUWXYZ', 2)}"
    return f"{rng.choice(_ENGLISH_OUTCODES)} {inward}"


def _postcode_ie(rng: random.Random) -> str:
    routing_key = rng.choice(("D02", "D04", "D06", "D08", "A94", "T12", "H91", "V94", "X91", "F91"))
    return f"{routing_key} {_chars(rng, 'ACDEFHKNPRTVWXY0123456789', 4)}"


def _postcode_ca(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNPRSTVXY")
    letters = "ABCEGHJKLMNPRSTVWXYZ"
    return (
        f"{first}{rng.randint(0, 9)}{rng.choice(letters)} "
        f"{rng.randint(0, 9)}{rng.choice(letters)}{rng.randint(0, 9)}"
    )


def _three_two_digits(low: int, high: int) -> Callable[[random.Random], str]:
    """Czech and Swedish postcodes: "110 00", "114 55"."""
    return lambda rng: f"{rng.randint(low, high)} {_digits(rng, 2)}"


def _french_department(rng: random.Random) -> str:
    # Metropolitan departments 01-95; Corsica (20) has 2A/2B and postcodes 20xxx, left out.
    return f"{rng.choice([*range(1, 20), *range(21, 96)]):02d}"


@dataclass(frozen=True)
class CountryProfile:
    """How a customer of a country looks: names, e-mail domain, postcode format."""

    domain: str
    names: str
    postcode: Callable[[random.Random], str]


_COUNTRIES: dict[str, CountryProfile] = {
    "AT": CountryProfile("example.at", "de", lambda r: str(r.randint(1010, 9992))),
    "AU": CountryProfile("example.com.au", "en", lambda r: str(r.randint(2000, 7999))),
    "BE": CountryProfile("example.be", "nl", lambda r: str(r.randint(1000, 9992))),
    "BG": CountryProfile("example.bg", "central", lambda r: str(r.randint(1000, 9999))),
    "CA": CountryProfile("example.ca", "us", _postcode_ca),
    "CH": CountryProfile("example.ch", "de", lambda r: str(r.randint(1000, 9658))),
    "CZ": CountryProfile("example.cz", "central", _three_two_digits(100, 799)),
    "DE": CountryProfile("example.de", "de", lambda r: f"{r.randint(1067, 99998):05d}"),
    "DK": CountryProfile("example.dk", "nordic", lambda r: str(r.randint(1050, 9990))),
    "EE": CountryProfile("example.ee", "central", lambda r: str(r.randint(10001, 99999))),
    "ES": CountryProfile("example.es", "es", lambda r: f"{r.randint(1, 52):02d}{_digits(r, 3)}"),
    "FI": CountryProfile("example.fi", "nordic", lambda r: f"{_digits(r, 3)}{r.randint(1, 9)}0"),
    "FR": CountryProfile("example.fr", "fr", lambda r: f"{_french_department(r)}{_digits(r, 2)}0"),
    "GB": CountryProfile("example.co.uk", "en", _postcode_gb),
    "IE": CountryProfile("example.ie", "en", _postcode_ie),
    "IT": CountryProfile("example.it", "it", lambda r: f"{r.randint(10, 98168):05d}"),
    "JP": CountryProfile("example.jp", "ja", lambda r: f"{r.randint(100, 999)}-{_digits(r, 4)}"),
    "LT": CountryProfile("example.lt", "central", lambda r: f"LT-{r.randint(1000, 99999):05d}"),
    "LV": CountryProfile("example.lv", "central", lambda r: f"LV-{r.randint(1001, 5799)}"),
    "NL": CountryProfile("example.nl", "nl", _postcode_nl),
    "NO": CountryProfile("example.no", "nordic", lambda r: f"{r.randint(1, 9991):04d}"),
    "PL": CountryProfile("example.pl", "central", lambda r: f"{_digits(r, 2)}-{_digits(r, 3)}"),
    "SE": CountryProfile("example.se", "nordic", _three_two_digits(100, 984)),
    "US": CountryProfile("example.com", "us", lambda r: f"{r.randint(1001, 99950):05d}"),
}


@dataclass(frozen=True)
class _Customer:
    email: str
    postcode: str
    country: str


def _customer_countries(facts: StoreFacts, catalogue: Catalogue) -> tuple[list[str], list[int]]:
    # The shop's delivery countries, weighted by its catalogue (the others: its other weight);
    # when the FAQ gives no list, the catalogue's countries.
    if facts.countries is None:
        listed = catalogue.customer_countries
        countries = [code for code in listed if code in _COUNTRIES]
        return countries, [listed[code] for code in countries]
    countries = [code for code in facts.countries if code in _COUNTRIES]
    if len(countries) < len(facts.countries):
        missing = sorted(set(facts.countries) - set(_COUNTRIES))
        logger.warning("No demo customer profile for %s; no demo orders there", missing)
    weights = [
        catalogue.customer_countries.get(code, catalogue.other_countries_weight)
        for code in countries
    ]
    return countries, weights


def _make_customers(
    rng: random.Random,
    facts: StoreFacts,
    catalogue: Catalogue,
    count: int,
    taken_emails: set[str],
) -> list[_Customer]:
    countries, weights = _customer_countries(facts, catalogue)
    customers = []
    for _ in range(count):
        country = rng.choices(countries, weights)[0]
        profile = _COUNTRIES[country]
        first_names, last_names = _NAMES[profile.names]
        local = f"{rng.choice(first_names.split())}.{rng.choice(last_names.split())}"
        email = f"{local}@{profile.domain}"
        suffix = 2
        while email in taken_emails:
            email = f"{local}{suffix}@{profile.domain}"
            suffix += 1
        taken_emails.add(email)
        customers.append(_Customer(email=email, postcode=profile.postcode(rng), country=country))
    return customers


# --- carriers -------------------------------------------------------------------------------


def _s10(prefix: str, country: str) -> Callable[[random.Random], str]:
    """UPU S10 item number (postal operators): two letters, nine digits, country code."""
    return lambda rng: f"{prefix}{_digits(rng, 9)}{country}"


_TRACKING_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "DHL": lambda r: f"JD0146{_digits(r, 14)}",
    "UPS": lambda r: f"1Z{_chars(r, _UPPER + _DIGITS, 6)}{_digits(r, 10)}",
    "FedEx": lambda r: _digits(r, 12),
    "DPD": lambda r: _digits(r, 14),
    "GLS": lambda r: _digits(r, 11),
    "Colissimo": lambda r: f"6A{_digits(r, 11)}",
    "La Poste": lambda r: f"1K{_digits(r, 11)}",
    "PostNL": lambda r: f"3S{_chars(r, _UPPER, 4)}{_digits(r, 9)}",
    "bpost": lambda r: f"3232{_digits(r, 20)}",
    "Royal Mail": _s10("RM", "GB"),
    "USPS": lambda r: f"9400{_digits(r, 18)}",
    "Canada Post": lambda r: _digits(r, 16),
    "Japan Post": _s10("EJ", "JP"),
    "Australia Post": _s10("LX", "AU"),
}


def _carriers(store_id: str, country: str) -> tuple[str, ...]:
    catalogue = read_catalogue(store_id)
    return catalogue.carriers_for(country) if catalogue else DEFAULT_CARRIERS


def _tracking_number(rng: random.Random, carrier: str) -> str:
    return _TRACKING_FORMATS.get(carrier, _TRACKING_FORMATS["DHL"])(rng)


# --- generated orders ------------------------------------------------------------------------


# How the generated orders spread over the statuses, after one of each per store.
_STATUS_WEIGHTS = {
    OrderStatus.PLACED: 8,
    OrderStatus.PROCESSING: 12,
    OrderStatus.SHIPPED: 15,
    OrderStatus.DELIVERED: 35,
    OrderStatus.CANCELLED: 10,
    OrderStatus.RETURNED: 20,
}

_PAYMENT_WEIGHTS = {
    PaymentMethod.VISA: 30,
    PaymentMethod.MASTERCARD: 20,
    PaymentMethod.PAYPAL: 20,
    PaymentMethod.KLARNA: 12,
    PaymentMethod.APPLE_PAY: 10,
    PaymentMethod.SHOP_PAY: 8,
    PaymentMethod.GOOGLE_PAY: 6,
    PaymentMethod.AMAZON_PAY: 4,
    PaymentMethod.DISCOVER: 3,
    PaymentMethod.USDC: 2,
}


@dataclass(frozen=True)
class _Timeline:
    """Day offsets from today of what happened to an order (None: has not happened)."""

    placed: int
    shipped: int | None = None
    delivered: int | None = None
    return_received: int | None = None
    return_accepted: int | None = None
    refund_issued: int | None = None
    has_refund: bool = False


def _timeline(rng: random.Random, status: OrderStatus, logistics: _Logistics) -> _Timeline:
    processing = rng.randint(*logistics.processing)
    transit = rng.randint(*logistics.transit)
    if status is OrderStatus.PLACED:
        return _Timeline(placed=-rng.randint(0, 1))
    if status is OrderStatus.PROCESSING:
        return _Timeline(placed=-rng.randint(0, logistics.processing[1]))
    if status is OrderStatus.CANCELLED:
        return _Timeline(placed=-rng.randint(1, 120))
    if status is OrderStatus.SHIPPED:
        # Still on the way: it left less than `transit` days ago.
        shipped = -rng.randint(0, transit - 1)
        return _Timeline(placed=shipped - processing, shipped=shipped)
    if status is OrderStatus.DELIVERED:
        delivered = -rng.randint(0, 170)
        shipped = delivered - transit
        return _Timeline(placed=shipped - processing, shipped=shipped, delivered=delivered)
    # A returned order is in one of three phases: back in the last days and still being
    # inspected (no refund yet), accepted with the refund pending, or refunded long ago.
    phase = rng.random()
    if phase < 0.1:
        received, accepted, refund_delay = -rng.randint(0, 2), None, None
    elif phase < 0.3:
        received = -rng.randint(0, 6)
        accepted, refund_delay = min(0, received + rng.randint(0, 2)), None
    else:
        received = -rng.randint(12, 150)
        accepted, refund_delay = received + rng.randint(0, 2), rng.randint(3, 9)
    delivered = received - rng.randint(3, 12)
    shipped = delivered - transit
    return _Timeline(
        placed=shipped - processing,
        shipped=shipped,
        delivered=delivered,
        return_received=received,
        return_accepted=accepted,
        refund_issued=None if accepted is None or refund_delay is None else accepted + refund_delay,
        has_refund=accepted is not None,
    )


def _statuses(rng: random.Random, count: int) -> list[OrderStatus]:
    # Every status at least once (when count allows), then by weight, in random order.
    statuses = list(OrderStatus)[:count]
    statuses += rng.choices(
        list(_STATUS_WEIGHTS), list(_STATUS_WEIGHTS.values()), k=count - len(statuses)
    )
    rng.shuffle(statuses)
    return statuses


def _payment_method(rng: random.Random, facts: StoreFacts, country: str) -> PaymentMethod:
    methods = [
        method
        for method in facts.payment_methods
        if (method is not PaymentMethod.KLARNA or country in facts.klarna_countries)
        and (method is not PaymentMethod.DISCOVER or country in {"US", "CA"})
    ]
    return rng.choices(methods, [_PAYMENT_WEIGHTS[method] for method in methods])[0]


def _generated_order(
    rng: random.Random,
    *,
    facts: StoreFacts,
    catalogue: Catalogue,
    customer: _Customer,
    status: OrderStatus,
    today: dt.date,
) -> Order:
    def day(offset: int | None) -> dt.date | None:
        return None if offset is None else today + dt.timedelta(days=offset)

    timeline = _timeline(rng, status, catalogue.logistics)
    currency = catalogue.currency_for(customer.country)
    payment_method = _payment_method(rng, facts, customer.country)
    lines = _lines(rng, catalogue)
    order = Order(
        number="",  # numbered once every order of the store has its date
        store_id=facts.id,
        customer_email=customer.email,
        postcode=customer.postcode,
        country=customer.country,
        status=status,
        placed_on=day(timeline.placed),
        payment_method=payment_method,
        currency=currency,
        lines=[
            OrderLine(
                sku=product.sku, name=product.name, quantity=quantity, unit_price=product.unit_price
            )
            for product, quantity in lines
        ],
    )
    if timeline.shipped is not None:
        carrier = rng.choice(catalogue.carriers_for(customer.country))
        order.shipment = Shipment(
            carrier=carrier,
            tracking_number=_tracking_number(rng, carrier),
            shipped_on=day(timeline.shipped),
            delivered_on=day(timeline.delivered),
        )
    if timeline.return_received is not None:
        order.return_ = Return(
            received_on=day(timeline.return_received), accepted_on=day(timeline.return_accepted)
        )
    if timeline.has_refund:
        # Sometimes only the first article of a multi-article order comes back.
        partial = len(order.lines) > 1 and rng.random() < 0.3
        issued = timeline.refund_issued is not None
        order.refund = Refund(
            status=RefundStatus.ISSUED if issued else RefundStatus.PENDING,
            issued_on=day(timeline.refund_issued),
            method=payment_method,
            amount=order.lines[0].subtotal if partial else order.total,
            currency=currency,
        )
    return order


def _number_orders(
    rng: random.Random, orders: list[Order], *, prefix: str, first: int, reserved: set[str]
) -> None:
    """Gives the store's generated orders unique numbers that rise with the order date."""
    candidates = (n for n in range(first, first + 100_000) if f"{prefix}-{n}" not in reserved)
    numbers = sorted(rng.sample(list(candidates), len(orders)))
    by_date = sorted(range(len(orders)), key=lambda index: (orders[index].placed_on, index))
    for number, index in zip(numbers, by_date, strict=True):
        orders[index].number = f"{prefix}-{number}"


def generate_orders(
    *,
    today: dt.date,
    seed: int = DEFAULT_SEED,
    count: int = DEFAULT_EXTRA,
    reserved_numbers: set[str] | frozenset[str] = frozenset(),
    reserved_emails: set[str] | frozenset[str] = frozenset(),
) -> list[Order]:
    """Generates ``count`` plausible orders for the shops with a demo catalogue (not added).

    A shop's catalogue is the ``generated:`` section of its ``demo.yml``; a shop without one
    has only the ``demo_orders.yml`` of its folder (see :func:`canonical_orders`).

    Args:
        today: the day the data is made for; every date is on or before it.
        seed: the random seed; the same seed and ``today`` give the same orders.
        count: how many orders, shared between the shops by their catalogues' ``share``.
        reserved_numbers: order numbers not to use (the canonical ones).
        reserved_emails: addresses not to give to generated customers (canonical owners).

    Returns:
        The orders, shop by shop in the order of their catalogues' ``first_number``.
    """
    rng = random.Random(seed)  # noqa: S311 (reproducible demo data, not a secret)
    catalogues = sorted(
        (c for c in (read_catalogue(store_id) for store_id in shop_ids()) if c is not None),
        key=lambda catalogue: (catalogue.first_number, catalogue.store_id),
    )
    total_share = sum(catalogue.share for catalogue in catalogues)
    taken_emails = set(reserved_emails)
    orders: list[Order] = []
    allotted = cumulated = 0
    for catalogue in catalogues:
        # Each shop's count, rounded half up on the running total: they add up to `count`.
        cumulated += catalogue.share
        store_count = (2 * count * cumulated + total_share) // (2 * total_share) - allotted
        allotted += store_count
        if store_count == 0:
            continue
        facts = read_store_facts(catalogue.store_id)
        # About three orders for two customers: some customers come back.
        customers = _make_customers(
            rng, facts, catalogue, max(1, store_count * 2 // 3), taken_emails
        )
        store_orders = [
            _generated_order(
                rng,
                facts=facts,
                catalogue=catalogue,
                customer=rng.choice(customers),
                status=status,
                today=today,
            )
            for status in _statuses(rng, store_count)
        ]
        _number_orders(
            rng,
            store_orders,
            prefix=facts.order_prefix,
            first=catalogue.first_number,
            reserved=set(reserved_numbers),
        )
        orders += store_orders
    return orders


# --- loading ------------------------------------------------------------------------------------


def count_orders(session: Session) -> int:
    """How many orders the database holds."""
    return session.scalar(select(func.count()).select_from(Order)) or 0


def delete_orders(session: Session) -> int:
    """Deletes every order (their lines, shipments, returns and refunds go with them).

    Returns:
        How many orders were deleted.
    """
    deleted = count_orders(session)
    # One statement; the database's ON DELETE CASCADE removes the children.
    session.execute(delete(Order))
    return deleted


def load_demo_data(
    session: Session,
    *,
    today: dt.date,
    seed: int = DEFAULT_SEED,
    extra: int = DEFAULT_EXTRA,
) -> int:
    """Adds the stores, the canonical orders and ``extra`` generated orders to ``session``.

    The session is flushed, not committed: the caller commits. The database must not hold
    any of the canonical numbers already (see :func:`delete_orders`).

    Args:
        session: an open session on a migrated database.
        today: the day the data is made for (dates are offsets from it).
        seed: the random seed of the generated orders.
        extra: how many orders to generate besides the canonical ones.

    Returns:
        How many orders were added.
    """
    ensure_stores(session)
    canonical = canonical_orders(today=today)
    generated = generate_orders(
        today=today,
        seed=seed,
        count=extra,
        reserved_numbers={order.number for order in canonical},
        reserved_emails={order.customer_email for order in canonical},
    )
    session.add_all(canonical)
    session.add_all(generated)
    session.flush()
    logger.info(
        "Added %d canonical and %d generated demo orders (today=%s, seed=%d)",
        len(canonical),
        len(generated),
        today.isoformat(),
        seed,
    )
    return len(canonical) + len(generated)


# --- command line -------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.db.demo",
        description="Migrate the orders database (DATABASE_URL) and load the demo orders.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--if-empty", action="store_true", help="load only when the database holds no order"
    )
    mode.add_argument(
        "--replace", action="store_true", help="delete every order, then load the demo orders"
    )
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day the demo dates are relative to (default: today)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--extra",
        type=int,
        default=DEFAULT_EXTRA,
        help=f"orders to generate besides the canonical ones (default: {DEFAULT_EXTRA})",
    )
    return parser.parse_args(argv)


def run(*, url: str, replace: bool, today: dt.date, seed: int, extra: int) -> str:
    """Migrates ``url`` to head and loads the demo data as the command line asks.

    Returns:
        One sentence saying what was done.
    """
    upgrade(url)
    shown = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session, session.begin():
            existing = count_orders(session)
            if existing and not replace:
                return f"Orders database {shown} already holds {existing} orders: nothing loaded."
            deleted = delete_orders(session) if replace else 0
            loaded = load_demo_data(session, today=today, seed=seed, extra=extra)
    finally:
        engine.dispose()
    replaced = f" (replacing {deleted})" if replace else ""
    return (
        f"Orders database {shown}: loaded {loaded} demo orders{replaced}, "
        f"dated relative to {today.isoformat()}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    url = get_settings().database_url
    try:
        message = run(
            url=url,
            replace=args.replace,
            today=args.today or dt.date.today(),
            seed=args.seed,
            extra=args.extra,
        )
    except (SQLAlchemyError, BotError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        logger.error("Cannot load the demo orders into %s: %s", shown, error)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
