"""Demo orders for the embedded database: the canonical orders plus generated ones.

The canonical orders (``bot/db/demo_orders.yml``, plus the ``demo_orders.yml`` of any shop
folder ``data/stores/<shop>/``, in the same format) are loaded exactly as written: numbers,
owners, states, carriers and dates, the dates being offsets in days from ``today``. Where the
file says nothing, the loader decides, always the same way:

* a shipment without a carrier (the returned orders) gets one of the store's carriers and a
  tracking number drawn from the order number, so it is the same at every load;
* ``return_received`` becomes ``Return.received_on`` and ``Return.accepted_on`` alike, for a
  pending refund too: the demo's returns have all passed inspection, so a refund timeline
  ("5 to 7 business days after acceptance") can be computed for each of them;
* a refund is in the order's currency.

Around them, ``extra`` orders are generated with a seeded random generator (same seed, same
``today``: same data) for both stores and every status, with each store's countries and
payment means from its policy (``bot.stores``), valid-looking postcodes, dates in a possible
order (placed <= shipped <= delivered <= return received <= accepted <= refund issued <= today)
and owners at ``example.*`` domains. Generated numbers are ``OM-1xxxxx`` / ``BT-2xxxxx``, never a
canonical one, rising with the order date. A few generated returns are still being inspected
(``accepted_on`` empty, no refund row yet).

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
from bot.shops import shop_dir, shop_ids
from bot.stores import load_store

logger = logging.getLogger(__name__)

DEMO_ORDERS_FILE = Path(__file__).with_name("demo_orders.yml")
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


def read_canonical_orders(path: Path = DEMO_ORDERS_FILE) -> list[dict[str, Any]]:
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
    files = [shop_dir(store_id) / "demo_orders.yml" for store_id in shop_ids()]
    return [path for path in files if path.is_file()]


def canonical_orders(*, today: dt.date, path: Path | None = None) -> list[Order]:
    """Builds the canonical orders (not added to any session), dated relative to ``today``.

    Args:
        today: the day the dates are offsets from.
        path: one file to read; None: ``bot/db/demo_orders.yml`` and every shop folder's
            ``demo_orders.yml``.

    Raises:
        ConfigurationError: an entry of a file is incomplete or has an unknown value, or
            names a shop that is not in the registry.
    """
    paths = [path] if path is not None else [DEMO_ORDERS_FILE, *shop_demo_files()]
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


# --- catalogues -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """An article a demo order can contain (one price list per store)."""

    sku: str
    name: str
    unit_price: Decimal
    kind: str


def _product(sku: str, name: str, price: str, kind: str) -> Product:
    return Product(sku=sku, name=name, unit_price=Decimal(price), kind=kind)


# OM SYSTEM: cameras, lenses, batteries and a few accessories. One price list for EUR and GBP,
# as in the canonical orders (the OM-5 costs 1299.00 in either).
OM_PRODUCTS = (
    _product("OM1-MK2-BODY", "OM SYSTEM OM-1 Mark II", "2399.00", "camera"),
    _product("OM1-MK2-1240KIT", "OM SYSTEM OM-1 Mark II 12-40mm PRO II kit", "2999.00", "camera"),
    _product("OM3-BODY", "OM SYSTEM OM-3", "1999.00", "camera"),
    _product("OM5-BODY", "OM SYSTEM OM-5", "1299.00", "camera"),
    _product("TG7-BODY", "OM SYSTEM Tough TG-7", "549.00", "camera"),
    _product("ED-12-40-PRO2", "M.Zuiko 12-40mm F2.8 PRO II", "899.00", "lens"),
    _product("ED-12-45-PRO", "M.Zuiko 12-45mm F4.0 PRO", "749.00", "lens"),
    _product("ED-40-150-PRO", "M.Zuiko 40-150mm F2.8 PRO", "1499.00", "lens"),
    _product("ED-150-600", "M.Zuiko 150-600mm F5.0-6.3 IS", "2999.00", "lens"),
    _product("ED-90-MACRO", "M.Zuiko 90mm F3.5 Macro IS PRO", "1499.00", "lens"),
    _product("ED-17-F12-PRO", "M.Zuiko 17mm F1.2 PRO", "1199.00", "lens"),
    _product("ED-25-F18", "M.Zuiko 25mm F1.8", "399.00", "lens"),
    _product("ED-9-18", "M.Zuiko 9-18mm F4.0-5.6 II", "599.00", "lens"),
    _product("BLX-1", "BLX-1 battery", "89.00", "battery"),
    _product("BLS-50", "BLS-50 battery", "59.00", "battery"),
    _product("LI-92B", "LI-92B battery", "49.00", "battery"),
    _product("BCX-1", "BCX-1 battery charger", "99.00", "battery"),
    _product("HLD-10", "HLD-10 power battery holder", "399.00", "accessory"),
    _product("FL-700WR", "FL-700WR flash", "349.00", "accessory"),
    _product("PT-059", "PT-059 underwater case", "349.00", "accessory"),
)

# BTOMIC: watches (French names, as in the canonical orders), straps and a travel case.
BT_PRODUCTS = (
    _product("BA-793", "Série Énigme BA-793", "199.00", "watch"),
    _product("BA-801", "Série Énigme BA-801", "219.00", "watch"),
    _product("BH-410", "Série Horizon BH-410", "249.00", "watch"),
    _product("BH-425", "Série Horizon BH-425 Chronographe", "289.00", "watch"),
    _product("BM-120", "Série Mirage BM-120", "179.00", "watch"),
    _product("BS-20", "Bracelet cuir BS-20", "39.00", "strap"),
    _product("BS-31", "Bracelet acier BS-31", "59.00", "strap"),
    _product("BC-02", "Écrin de voyage BC-02", "29.00", "accessory"),
)


def _pick(rng: random.Random, products: Sequence[Product], *kinds: str) -> Product:
    return rng.choice([product for product in products if product.kind in kinds])


def _om_lines(rng: random.Random) -> list[tuple[Product, int]]:
    roll = rng.random()
    if roll < 0.30:
        lines = [(_pick(rng, OM_PRODUCTS, "camera"), 1)]
        if rng.random() < 0.4:
            lines.append((_pick(rng, OM_PRODUCTS, "battery"), rng.randint(1, 2)))
        if rng.random() < 0.2:
            lines.append((_pick(rng, OM_PRODUCTS, "lens"), 1))
        return lines
    if roll < 0.65:
        return [(_pick(rng, OM_PRODUCTS, "lens"), 1)]
    if roll < 0.90:
        return [(_pick(rng, OM_PRODUCTS, "battery"), rng.randint(1, 3))]
    return [(_pick(rng, OM_PRODUCTS, "accessory"), 1)]


def _bt_lines(rng: random.Random) -> list[tuple[Product, int]]:
    if rng.random() < 0.15:
        return [(_pick(rng, BT_PRODUCTS, "strap", "accessory"), rng.randint(1, 2))]
    lines = [(_pick(rng, BT_PRODUCTS, "watch"), 2 if rng.random() < 0.15 else 1)]
    if rng.random() < 0.3:
        lines.append((_pick(rng, BT_PRODUCTS, "strap"), 1))
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

# Where the customers are. OM SYSTEM: its delivery countries (the store file), mostly the
# large markets; BTOMIC lists no country (its demo customers are a US-heavy mix).
_OM_COUNTRY_WEIGHTS = {"FR": 18, "DE": 18, "GB": 14, "IT": 8, "ES": 8, "NL": 6, "BE": 5}
_OM_OTHER_COUNTRY_WEIGHT = 2
_BT_COUNTRY_WEIGHTS = {
    "US": 35, "FR": 12, "GB": 10, "DE": 8, "CA": 8, "JP": 7, "AU": 6,
    "IT": 3, "ES": 3, "NL": 3, "CH": 2, "BE": 2, "IE": 1,
}  # fmt: skip


@dataclass(frozen=True)
class _Customer:
    email: str
    postcode: str
    country: str


def _customer_countries(facts: StoreFacts) -> tuple[list[str], list[int]]:
    if facts.countries is None:
        return list(_BT_COUNTRY_WEIGHTS), list(_BT_COUNTRY_WEIGHTS.values())
    countries = [code for code in facts.countries if code in _COUNTRIES]
    if len(countries) < len(facts.countries):
        missing = sorted(set(facts.countries) - set(_COUNTRIES))
        logger.warning("No demo customer profile for %s; no demo orders there", missing)
    weights = [_OM_COUNTRY_WEIGHTS.get(code, _OM_OTHER_COUNTRY_WEIGHT) for code in countries]
    return countries, weights


def _make_customers(
    rng: random.Random, facts: StoreFacts, count: int, taken_emails: set[str]
) -> list[_Customer]:
    countries, weights = _customer_countries(facts)
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

_OM_CARRIERS = {
    "FR": ("Colissimo", "DHL", "DPD"),
    "DE": ("DHL", "DPD", "GLS"),
    "GB": ("DPD", "DHL", "Royal Mail"),
    "NL": ("PostNL", "DHL"),
    "BE": ("bpost", "DPD"),
}
_OM_DEFAULT_CARRIERS = ("DHL", "UPS", "DPD")
_BT_CARRIERS = {
    "US": ("UPS", "FedEx", "USPS"),
    "CA": ("FedEx", "UPS", "Canada Post"),
    "FR": ("La Poste", "Colissimo", "DHL"),
    "GB": ("DHL", "UPS", "Royal Mail"),
    "JP": ("DHL", "FedEx", "Japan Post"),
    "AU": ("DHL", "FedEx", "Australia Post"),
}
_BT_DEFAULT_CARRIERS = ("DHL", "FedEx", "UPS")


def _carriers(store_id: str, country: str) -> tuple[str, ...]:
    if store_id != "om-system":
        return _BT_CARRIERS.get(country, _BT_DEFAULT_CARRIERS)
    return _OM_CARRIERS.get(country, _OM_DEFAULT_CARRIERS)


def _tracking_number(rng: random.Random, carrier: str) -> str:
    return _TRACKING_FORMATS.get(carrier, _TRACKING_FORMATS["DHL"])(rng)


# --- generated orders ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Logistics:
    """Calendar days from placing to shipping, and in transit (inclusive ranges)."""

    processing: tuple[int, int]
    transit: tuple[int, int]


# OM SYSTEM: 3 to 4 business days in all; BTOMIC: 1-2 days to ship, 7-12 business days on the
# way (data/stores/*/facts.yml), in calendar days with a weekend or two.
_LOGISTICS = {
    "om-system": _Logistics(processing=(1, 2), transit=(2, 5)),
    "btomic": _Logistics(processing=(1, 3), transit=(7, 16)),
}

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
    customer: _Customer,
    status: OrderStatus,
    today: dt.date,
) -> Order:
    def day(offset: int | None) -> dt.date | None:
        return None if offset is None else today + dt.timedelta(days=offset)

    timeline = _timeline(rng, status, _LOGISTICS[facts.id])
    is_om = facts.id == "om-system"
    currency = ("GBP" if customer.country == "GB" else "EUR") if is_om else "USD"
    payment_method = _payment_method(rng, facts, customer.country)
    lines = _om_lines(rng) if is_om else _bt_lines(rng)
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
        carrier = rng.choice(_carriers(facts.id, customer.country))
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
    """Generates ``count`` plausible orders for the two original shops (not added to a session).

    Only OM SYSTEM and BTOMIC have a generated catalogue; another shop's demo orders are the
    ``demo_orders.yml`` of its folder (see :func:`canonical_orders`).

    Args:
        today: the day the data is made for; every date is on or before it.
        seed: the random seed; the same seed and ``today`` give the same orders.
        count: how many orders (about 55 % OM SYSTEM, 45 % BTOMIC).
        reserved_numbers: order numbers not to use (the canonical ones).
        reserved_emails: addresses not to give to generated customers (canonical owners).

    Returns:
        The orders, OM SYSTEM's first.
    """
    rng = random.Random(seed)  # noqa: S311 (reproducible demo data, not a secret)
    om_count = (count * 11 + 10) // 20
    counts = {"om-system": om_count, "btomic": count - om_count}
    first_numbers = {"om-system": 100_000, "btomic": 200_000}
    taken_emails = set(reserved_emails)
    orders: list[Order] = []
    for store_id in (s for s in counts if s in shop_ids()):
        facts = read_store_facts(store_id)
        store_count = counts[store_id]
        if store_count == 0:
            continue
        # About three orders for two customers: some customers come back.
        customers = _make_customers(rng, facts, max(1, store_count * 2 // 3), taken_emails)
        store_orders = [
            _generated_order(
                rng, facts=facts, customer=rng.choice(customers), status=status, today=today
            )
            for status in _statuses(rng, store_count)
        ]
        _number_orders(
            rng,
            store_orders,
            prefix=facts.order_prefix,
            first=first_numbers[store_id],
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
