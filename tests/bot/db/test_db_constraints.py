"""The database refuses bad rows itself, whichever program writes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from bot.db.models import (
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

DAY = dt.date(2024, 2, 20)


@pytest.fixture
def session(db_session: Session) -> Session:
    """The rolled-back session, with the two stores."""
    db_session.add_all([Store(id="om-system", name="OM SYSTEM"), Store(id="btomic", name="BTOMIC")])
    db_session.flush()
    return db_session


def make_order(number: str = "OM-900001", **overrides: Any) -> Order:
    """A valid order with one line; keyword arguments replace its attributes."""
    values: dict[str, Any] = {
        "number": number,
        "store_id": "om-system",
        "customer_email": "test.customer@example.fr",
        "postcode": "75011",
        "country": "FR",
        "status": OrderStatus.PROCESSING,
        "placed_on": DAY,
        "payment_method": PaymentMethod.VISA,
        "currency": "EUR",
        "lines": [
            OrderLine(sku="BLX-1", name="BLX-1 battery", quantity=2, unit_price=Decimal("89.00"))
        ],
    }
    values.update(overrides)
    return Order(**values)


def insert_order_sql(session: Session, **overrides: Any) -> None:
    """Inserts an order with plain SQL, past the ORM's validation and normalisation."""
    values: dict[str, Any] = {
        "number": "OM-900002",
        "store_id": "om-system",
        "customer_email": "raw@example.fr",
        "postcode": "75011",
        "country": "FR",
        "status": "placed",
        "placed_on": DAY,
        "payment_method": "visa",
        "currency": "EUR",
    }
    values.update(overrides)
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    session.execute(text(f"INSERT INTO orders ({columns}) VALUES ({placeholders})"), values)


def test_a_valid_order_is_stored_with_its_children(session: Session) -> None:
    order = make_order(
        status=OrderStatus.RETURNED,
        shipment=Shipment(
            carrier="DHL", tracking_number="JD0146", shipped_on=DAY, delivered_on=DAY
        ),
        return_=Return(received_on=DAY, accepted_on=DAY),
        refund=Refund(
            status=RefundStatus.ISSUED,
            issued_on=DAY,
            method=PaymentMethod.VISA,
            amount=Decimal("178.00"),
            currency="EUR",
        ),
    )
    session.add(order)
    session.flush()
    session.expire_all()

    stored = session.scalars(select(Order).where(Order.number == "OM-900001")).one()
    assert stored.status is OrderStatus.RETURNED
    assert stored.total == Decimal("178.00")
    assert stored.shipment is not None and stored.shipment.delivered_on == DAY
    assert stored.return_ is not None and stored.refund is not None
    assert stored.refund.amount == Decimal("178.00")
    assert stored.store.name == "OM SYSTEM"


def test_the_model_normalises_what_the_lookup_compares(session: Session) -> None:
    order = make_order(
        number=" om-900003 ", customer_email=" Marie.Dupont@Example.FR ", postcode="sw1a  1aa"
    )
    session.add(order)
    session.flush()
    assert (order.number, order.customer_email, order.postcode) == (
        "OM-900003",
        "marie.dupont@example.fr",
        "SW1A 1AA",
    )


def test_duplicate_number_is_refused(session: Session) -> None:
    session.add(make_order("OM-900001"))
    session.flush()
    session.add(make_order("OM-900001", store_id="btomic"))
    with pytest.raises(IntegrityError):
        session.flush()


@pytest.mark.parametrize("price", [Decimal("-0.01"), Decimal("-100")])
def test_negative_unit_price_is_refused(session: Session, price: Decimal) -> None:
    line = OrderLine(sku="X", name="X", quantity=1, unit_price=price)
    session.add(make_order(lines=[line]))
    with pytest.raises(IntegrityError):
        session.flush()


def test_negative_refund_amount_is_refused(session: Session) -> None:
    refund = Refund(
        status=RefundStatus.PENDING,
        method=PaymentMethod.VISA,
        amount=Decimal("-1.00"),
        currency="EUR",
    )
    session.add(make_order(refund=refund))
    with pytest.raises(IntegrityError):
        session.flush()


@pytest.mark.parametrize("quantity", [0, -1])
def test_non_positive_quantity_is_refused(session: Session, quantity: int) -> None:
    line = OrderLine(sku="X", name="X", quantity=quantity, unit_price=Decimal("1.00"))
    session.add(make_order(lines=[line]))
    with pytest.raises(IntegrityError):
        session.flush()


def test_unknown_status_is_refused_by_the_database(session: Session) -> None:
    with pytest.raises(IntegrityError):
        insert_order_sql(session, status="lost")


def test_unknown_status_is_refused_by_the_model(session: Session) -> None:
    session.add(make_order(status="lost"))
    with pytest.raises(StatementError, match="lost"):
        session.flush()


@pytest.mark.parametrize(
    "overrides",
    [
        {"payment_method": "bitcoin"},
        {"customer_email": "Upper@example.fr"},
        {"postcode": "sw1a 1aa"},
        {"country": "fr"},
        {"currency": "EU"},
        {"currency": "eur"},
        {"store_id": "no-such-store"},
    ],
    ids=[
        "payment",
        "email-case",
        "postcode-case",
        "country-case",
        "currency-length",
        "currency-case",
        "unknown-store",
    ],
)
def test_other_bad_order_values_are_refused(session: Session, overrides: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError):
        insert_order_sql(session, **overrides)


def test_unknown_refund_status_is_refused(session: Session) -> None:
    order = make_order()
    session.add(order)
    session.flush()
    with pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO refunds (order_id, status, method, amount, currency)"
                " VALUES (:order_id, 'maybe', 'visa', 1, 'EUR')"
            ),
            {"order_id": order.id},
        )


@pytest.mark.parametrize(
    ("status", "issued_on"),
    [(RefundStatus.ISSUED, None), (RefundStatus.PENDING, DAY)],
    ids=["issued-without-date", "pending-with-date"],
)
def test_refund_date_must_match_its_status(
    session: Session, status: RefundStatus, issued_on: dt.date | None
) -> None:
    refund = Refund(
        status=status,
        issued_on=issued_on,
        method=PaymentMethod.VISA,
        amount=Decimal("1.00"),
        currency="EUR",
    )
    session.add(make_order(refund=refund))
    with pytest.raises(IntegrityError):
        session.flush()


def test_delivery_before_shipping_is_refused(session: Session) -> None:
    shipment = Shipment(
        carrier="DHL",
        tracking_number="1",
        shipped_on=DAY,
        delivered_on=DAY - dt.timedelta(days=1),
    )
    session.add(make_order(status=OrderStatus.DELIVERED, shipment=shipment))
    with pytest.raises(IntegrityError):
        session.flush()


def test_acceptance_before_receipt_is_refused(session: Session) -> None:
    return_ = Return(received_on=DAY, accepted_on=DAY - dt.timedelta(days=1))
    session.add(make_order(status=OrderStatus.RETURNED, return_=return_))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_second_shipment_for_one_order_is_refused(session: Session) -> None:
    order = make_order(shipment=Shipment(carrier="DHL", tracking_number="1", shipped_on=DAY))
    session.add(order)
    session.flush()
    with pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO shipments (order_id, carrier, tracking_number, shipped_on)"
                " VALUES (:order_id, 'UPS', '2', :day)"
            ),
            {"order_id": order.id, "day": DAY},
        )


def test_deleting_an_order_deletes_its_children_in_the_database(session: Session) -> None:
    order = make_order(
        status=OrderStatus.RETURNED,
        shipment=Shipment(carrier="DHL", tracking_number="1", shipped_on=DAY, delivered_on=DAY),
        return_=Return(received_on=DAY),
    )
    session.add(order)
    session.flush()
    # Plain SQL, so it is the database's ON DELETE CASCADE (foreign keys on, on SQLite too)
    # that removes the children, not the ORM.
    session.execute(text("DELETE FROM orders WHERE id = :id"), {"id": order.id})
    for table in ("order_lines", "shipments", "returns"):
        count = session.scalar(text(f"SELECT count(*) FROM {table}"))
        assert count == 0, table
    assert session.scalar(select(func.count()).select_from(Order)) == 0
