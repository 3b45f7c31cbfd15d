"""The demo data: every canonical order exactly as designed, and plausible generated ones."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import PROJECT_ROOT
from bot.db.demo import canonical_orders, generate_orders, shop_demo_files
from bot.db.models import Order, OrderStatus, RefundStatus
from bot.errors import ConfigurationError
from bot.shops import DEFAULT_STORES_DIR as STORES_DIR

# The conftest loads the demo data for this day (2024-03-01, the day after a 29 February).
TODAY = dt.date(2024, 3, 1)

# The canonical orders: the demo_orders.yml of every shop folder (the registry's shops).
DEMO_FILES = shop_demo_files()
CANONICAL: list[dict[str, Any]] = [
    entry
    for path in DEMO_FILES
    for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["orders"]
]
CANONICAL_NUMBERS = {entry["number"] for entry in CANONICAL}

# What a real postcode of each country looks like (the generated ones must look like that).
POSTCODE_PATTERNS = {
    "AT": r"\d{4}",
    "AU": r"\d{4}",
    "BE": r"\d{4}",
    "BG": r"\d{4}",
    "CA": r"[A-Z]\d[A-Z] \d[A-Z]\d",
    "CH": r"\d{4}",
    "CZ": r"\d{3} \d{2}",
    "DE": r"\d{5}",
    "DK": r"\d{4}",
    "EE": r"\d{5}",
    "ES": r"\d{5}",
    "FI": r"\d{5}",
    "FR": r"\d{5}",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}",
    "IE": r"[A-Z]\d{2} [A-Z\d]{4}",
    "IT": r"\d{5}",
    "JP": r"\d{3}-\d{4}",
    "LT": r"LT-\d{5}",
    "LV": r"LV-\d{4}",
    "NL": r"[1-9]\d{3} [A-Z]{2}",
    "NO": r"\d{4}",
    "PL": r"\d{2}-\d{3}",
    "SE": r"[1-9]\d{2} \d{2}",
    "US": r"\d{5}",
}


def store_policy(store_id: str) -> dict[str, Any]:
    """The store's policy file's values, read independently of the code under test.

    Each fact is ``{value: ..., faq: ...}`` (the value and its FAQ quote); only values count.
    """

    def values(node: Any) -> Any:
        if isinstance(node, dict):
            return (
                node["value"]
                if set(node) == {"value", "faq"}
                else {key: values(item) for key, item in node.items()}
            )
        return node

    policy: dict[str, Any] = values(
        yaml.safe_load((STORES_DIR / store_id / "facts.yml").read_text("utf-8"))
    )
    return policy


def country_codes(values: list[Any]) -> set[str]:
    """Country codes of a YAML list; an unquoted NO (Norway) reads as false in YAML 1.1."""
    return {"NO" if value is False else str(value) for value in values}


def day(offset: int | None) -> dt.date | None:
    """The date ``offset`` days from the pinned today."""
    return None if offset is None else TODAY + dt.timedelta(days=offset)


@pytest.fixture(scope="module")
def orders(demo_session: Session, demo_today: dt.date) -> dict[str, Order]:
    """Every demo order by number."""
    assert demo_today == TODAY
    return {order.number: order for order in demo_session.scalars(select(Order))}


@pytest.fixture(scope="module")
def generated(orders: dict[str, Order]) -> list[Order]:
    """The generated demo orders (all but the canonical ones)."""
    return [order for number, order in orders.items() if number not in CANONICAL_NUMBERS]


@pytest.mark.parametrize("entry", CANONICAL, ids=[entry["number"] for entry in CANONICAL])
def test_canonical_order_is_loaded_exactly(orders: dict[str, Order], entry: dict[str, Any]) -> None:
    order = orders[entry["number"]]
    assert order.store_id == entry["store"]
    assert order.customer_email == entry["email"]
    assert order.postcode == entry["postcode"]
    assert order.country == entry["country"]
    assert order.status == OrderStatus(entry["status"])
    assert order.placed_on == day(entry["placed"])
    assert order.payment_method == entry["payment_method"]
    assert order.currency == entry["currency"]
    assert [(line.sku, line.name, line.quantity, line.unit_price) for line in order.lines] == [
        (item["sku"], item["name"], item["qty"], Decimal(str(item["unit_price"])))
        for item in entry["items"]
    ]

    if "shipped" in entry:
        assert order.shipment is not None
        assert order.shipment.shipped_on == day(entry["shipped"])
        assert order.shipment.delivered_on == day(entry.get("delivered"))
        if "carrier" in entry:
            assert order.shipment.carrier == entry["carrier"]
            assert order.shipment.tracking_number == entry["tracking_number"]
    else:
        assert order.shipment is None

    if "return_received" in entry:
        assert order.return_ is not None
        assert order.return_.received_on == day(entry["return_received"])
        # Documented choice of the loader: every canonical return has been accepted on the
        # day it was received.
        assert order.return_.accepted_on == order.return_.received_on
    else:
        assert order.return_ is None

    refund = entry.get("refund")
    if refund is None:
        assert order.refund is None
    else:
        assert order.refund is not None
        assert order.refund.status == RefundStatus(refund["status"])
        assert order.refund.issued_on == day(refund.get("issued"))
        assert order.refund.method == refund["method"]
        assert order.refund.amount == Decimal(str(refund["amount"]))
        assert order.refund.currency == entry["currency"]


def test_canonical_dates_for_the_pinned_today(orders: dict[str, Order]) -> None:
    # Spelled out once, so an offset read the wrong way round cannot pass unnoticed.
    om = orders["OM-104250"]
    assert om.placed_on == dt.date(2024, 2, 10)
    assert om.shipment is not None and om.shipment.delivered_on == dt.date(2024, 2, 14)
    assert om.refund is not None and om.refund.issued_on == dt.date(2024, 2, 29)
    assert orders["OM-104261"].placed_on == TODAY


def test_at_least_200_generated_orders_over_both_stores_and_every_status(
    generated: list[Order],
) -> None:
    assert len(generated) >= 200
    for store_id in ("om-system", "btomic"):
        statuses = {order.status for order in generated if order.store_id == store_id}
        assert statuses == set(OrderStatus), store_id


def test_generated_numbers_follow_each_store_scheme(generated: list[Order]) -> None:
    patterns = {"om-system": r"OM-1\d{5}", "btomic": r"BT-2\d{5}"}
    for order in generated:
        assert re.fullmatch(patterns[order.store_id], order.number), order.number
    # Newer orders have higher numbers, as in a real shop.
    for store_id in patterns:
        store_orders = sorted(
            (order for order in generated if order.store_id == store_id),
            key=lambda order: order.number,
        )
        dates = [order.placed_on for order in store_orders]
        assert dates == sorted(dates)


def test_generated_customers(generated: list[Order]) -> None:
    canonical_emails = {entry["email"] for entry in CANONICAL}
    for order in generated:
        local, _, domain = order.customer_email.partition("@")
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d*", local), order.customer_email
        assert domain.startswith("example."), order.customer_email
        assert order.customer_email not in canonical_emails
        pattern = POSTCODE_PATTERNS[order.country]
        assert re.fullmatch(pattern, order.postcode), (order.country, order.postcode)
    # Some customers come back.
    assert Counter(order.customer_email for order in generated).most_common(1)[0][1] > 1


def test_generated_countries_are_served_by_their_store(generated: list[Order]) -> None:
    om_countries = country_codes(store_policy("om-system")["delivery"]["countries"])
    om_orders = [order for order in generated if order.store_id == "om-system"]
    assert {order.country for order in om_orders} <= om_countries
    # OM SYSTEM does not deliver to Scotland, Northern Ireland, the Channel Islands, the Isle
    # of Man or the Isle of Wight: no generated GB customer may live there.
    excluded = re.compile(
        r"(AB|DD|DG|EH|FK|G\d|HS|IV|KA|KW|KY|ML|PA|PH|TD|ZE|BT|JE|GY|IM|PO3\d|PO4[01])"
    )
    for order in om_orders:
        if order.country == "GB":
            assert not excluded.match(order.postcode), order.postcode
    bt_countries = {order.country for order in generated if order.store_id == "btomic"}
    assert bt_countries >= {"US", "FR", "GB", "DE", "JP", "CA", "AU"}


def test_generated_payment_means_are_the_store_ones(generated: list[Order]) -> None:
    for store_id in ("om-system", "btomic"):
        payment = store_policy(store_id)["payment"]
        klarna_countries = country_codes(payment.get("klarna_countries") or [])
        for order in (order for order in generated if order.store_id == store_id):
            assert order.payment_method in payment["methods"], order.number
            if order.payment_method == "klarna":
                assert order.country in klarna_countries, order.number
    currencies = {(order.store_id, order.currency) for order in generated}
    assert currencies <= {("om-system", "EUR"), ("om-system", "GBP"), ("btomic", "USD")}


@pytest.mark.parametrize("store_id", ["om-system", "btomic"])
def test_generated_items_belong_to_the_store(generated: list[Order], store_id: str) -> None:
    prefixes = {"om-system": ("OM", "ED-", "BL", "BC", "LI-", "TG", "HLD", "FL-", "PT-")}
    for order in (order for order in generated if order.store_id == store_id):
        assert order.lines
        for line in order.lines:
            assert line.quantity > 0 and line.unit_price > 0
            if store_id == "om-system":
                assert line.sku.startswith(prefixes["om-system"]), line.sku
            else:
                assert line.sku.startswith("B"), line.sku


def test_every_demo_order_tells_a_possible_story(orders: dict[str, Order]) -> None:
    unshipped = {OrderStatus.PLACED, OrderStatus.PROCESSING, OrderStatus.CANCELLED}
    for order in orders.values():
        story = order.number
        assert order.placed_on <= TODAY, story
        shipment = order.shipment
        if order.status in unshipped:
            assert shipment is None and order.return_ is None and order.refund is None, story
            continue
        assert shipment is not None, story
        assert order.placed_on <= shipment.shipped_on <= TODAY, story
        assert shipment.carrier and shipment.tracking_number, story
        if order.status is OrderStatus.SHIPPED:
            assert shipment.delivered_on is None, story
            continue
        assert shipment.delivered_on is not None, story
        assert shipment.shipped_on <= shipment.delivered_on <= TODAY, story
        if order.status is OrderStatus.DELIVERED:
            assert order.return_ is None and order.refund is None, story
            continue
        return_ = order.return_
        assert return_ is not None and return_.received_on is not None, story
        assert shipment.delivered_on <= return_.received_on <= TODAY, story
        refund = order.refund
        if return_.accepted_on is None:
            assert refund is None, story
            continue
        assert return_.received_on <= return_.accepted_on <= TODAY, story
        assert refund is not None, story
        assert refund.currency == order.currency, story
        assert Decimal(0) < refund.amount <= order.total, story
        if refund.status is RefundStatus.ISSUED:
            assert refund.issued_on is not None, story
            assert return_.accepted_on <= refund.issued_on <= TODAY, story


def test_generated_returns_cover_every_phase(generated: list[Order]) -> None:
    returned = [order for order in generated if order.status is OrderStatus.RETURNED]
    phases = {
        "inspecting" if order.refund is None else order.refund.status.value for order in returned
    }
    assert phases == {"inspecting", "pending", "issued"}


def test_carriers_are_varied(generated: list[Order]) -> None:
    carriers = {order.shipment.carrier for order in generated if order.shipment is not None}
    assert {"DHL", "UPS", "DPD", "Colissimo", "FedEx", "La Poste"} <= carriers


def test_generation_is_deterministic() -> None:
    def fingerprint(orders: list[Order]) -> list[tuple[Any, ...]]:
        return [
            (
                order.number,
                order.customer_email,
                order.postcode,
                order.status,
                order.placed_on,
                order.total,
                order.shipment.tracking_number if order.shipment else None,
            )
            for order in orders
        ]

    first = fingerprint(generate_orders(today=TODAY, seed=7, count=50))
    again = fingerprint(generate_orders(today=TODAY, seed=7, count=50))
    other = fingerprint(generate_orders(today=TODAY, seed=8, count=50))
    assert first == again
    assert first != other


def test_generation_honours_the_reserved_numbers_and_the_count() -> None:
    orders = generate_orders(today=TODAY, count=7, reserved_numbers=CANONICAL_NUMBERS)
    assert len(orders) == 7
    assert not {order.number for order in orders} & CANONICAL_NUMBERS
    assert generate_orders(today=TODAY, count=0) == []


def test_demo_files_are_the_shop_folders() -> None:
    # The project must not read ../shared at run time: each shop's orders are in its folder.
    assert [path.parent.name for path in DEMO_FILES] == ["btomic", "om-system"]
    assert all(path.resolve().is_relative_to(PROJECT_ROOT) for path in DEMO_FILES)
    assert all(
        entry["store"] == path.parent.name
        for path in DEMO_FILES
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["orders"]
    )


@pytest.mark.parametrize(
    "line", ["    country: NO", "    postcode: 01000"], ids=["unquoted-NO", "octal-postcode"]
)
def test_a_canonical_value_yaml_would_mangle_is_refused(tmp_path: Path, line: str) -> None:
    key = line.split(":")[0].strip()
    text = DEMO_FILES[0].read_text(encoding="utf-8")
    first_value = next(row for row in text.splitlines() if row.startswith(f"    {key}:"))
    broken = tmp_path / "demo_orders.yml"
    broken.write_text(text.replace(first_value, line, 1), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=f"{key} must be a quoted string"):
        canonical_orders(today=TODAY, path=broken)
