"""The orders database schema: SQLAlchemy 2.0 typed models.

One :class:`Order` belongs to one :class:`Store` and owns its :class:`OrderLine` rows and at most
one :class:`Shipment`, one :class:`Return` and one :class:`Refund`. The database itself enforces
the closed value sets (CHECK constraints), non-negative amounts, positive quantities, date order
inside a row, and deletes an order's children with it (``ON DELETE CASCADE``), so a bad row is
refused whichever program writes it.

The schema is created by the Alembic migrations in ``bot/db/migrations`` (never by
``create_all``); a change here needs a new revision there.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

# Explicit constraint names: SQLite can only drop or alter a named constraint (Alembic batch
# mode), and the same names on SQLite and PostgreSQL keep migrations portable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY = Numeric(10, 2)
CENT = Decimal("0.01")


class OrderStatus(enum.StrEnum):
    """Where an order is in its life; the database accepts no other value."""

    PLACED = "placed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class PaymentMethod(enum.StrEnum):
    """How the customer paid; the union of both stores' documented means."""

    VISA = "visa"
    MASTERCARD = "mastercard"
    DISCOVER = "discover"
    PAYPAL = "paypal"
    KLARNA = "klarna"
    APPLE_PAY = "apple_pay"
    GOOGLE_PAY = "google_pay"
    SHOP_PAY = "shop_pay"
    AMAZON_PAY = "amazon_pay"
    USDC = "usdc"


class RefundStatus(enum.StrEnum):
    """Whether the money has gone back to the customer yet."""

    PENDING = "pending"
    ISSUED = "issued"


def enum_type(enum_class: type[enum.StrEnum], *, length: int) -> Enum:
    """A portable VARCHAR column type that reads and writes ``enum_class`` members.

    The values (``"placed"``), not the member names (``"PLACED"``), are stored, so the data
    stays readable from SQL. The CHECK constraint is declared explicitly on each table instead
    of by this type, so that the migration can spell it out word for word.
    """
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        validate_strings=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


def one_of(column: str, enum_class: type[enum.StrEnum]) -> str:
    """SQL text of a CHECK condition limiting ``column`` to the values of ``enum_class``."""
    values = ", ".join(f"'{member.value}'" for member in enum_class)
    return f"{column} IN ({values})"


class Base(DeclarativeBase):
    """Declarative base of every table of the orders database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Store(Base):
    """One of the online shops (ids as in ``data/stores/<id>/facts.yml``)."""

    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))

    orders: Mapped[list[Order]] = relationship(back_populates="store")

    def __repr__(self) -> str:
        return f"Store(id={self.id!r})"


class Order(Base):
    """A customer's order in one store."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("status", OrderStatus), name="status"),
        CheckConstraint(one_of("payment_method", PaymentMethod), name="payment_method"),
        # The lookup compares with the normalised entity values, so the stored forms must be
        # the normalised ones too (see the validators below).
        CheckConstraint("customer_email = lower(customer_email)", name="email_lower_case"),
        CheckConstraint("number = upper(number)", name="number_upper_case"),
        CheckConstraint("postcode = upper(postcode)", name="postcode_upper_case"),
        CheckConstraint("country = upper(country)", name="country_upper_case"),
        CheckConstraint(
            "length(currency) = 3 AND currency = upper(currency)", name="currency_code"
        ),
        # The lists a support agent (or a dashboard) asks for: one store's orders by status.
        Index("ix_orders_store_id_status", "store_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    customer_email: Mapped[str] = mapped_column(String(254), index=True)
    postcode: Mapped[str] = mapped_column(String(16))
    # ISO 3166-1 alpha-2; six characters leave room for ISO 3166-2 codes such as GB-SCT.
    country: Mapped[str] = mapped_column(String(6))
    status: Mapped[OrderStatus] = mapped_column(enum_type(OrderStatus, length=16))
    placed_on: Mapped[dt.date] = mapped_column(Date)
    payment_method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod, length=16))
    currency: Mapped[str] = mapped_column(String(3))

    store: Mapped[Store] = relationship(back_populates="orders")
    # passive_deletes: the database's ON DELETE CASCADE removes the children, so deleting an
    # order does not first load them.
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="OrderLine.id",
    )
    shipment: Mapped[Shipment | None] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )
    return_: Mapped[Return | None] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )
    refund: Mapped[Refund | None] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("customer_email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return value.strip().lower()

    @validates("number", "country", "currency")
    def _normalise_code(self, _key: str, value: str) -> str:
        return value.strip().upper()

    @validates("postcode")
    def _normalise_postcode(self, _key: str, value: str) -> str:
        # Same form as the `postcode` entity: upper case, single spaces ("SW1A 1AA").
        return " ".join(value.upper().split())

    @property
    def total(self) -> Decimal:
        """The sum of the lines (quantity x unit price), in the order's currency."""
        total = sum((line.subtotal for line in self.lines), Decimal("0"))
        return total.quantize(CENT)

    def __repr__(self) -> str:
        return f"Order(number={self.number!r}, status={self.status.value!r})"


class OrderLine(Base):
    """One article of an order."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def subtotal(self) -> Decimal:
        """Quantity x unit price."""
        return (self.quantity * Decimal(self.unit_price)).quantize(CENT)

    def __repr__(self) -> str:
        return f"OrderLine(sku={self.sku!r}, quantity={self.quantity})"


class Shipment(Base):
    """The parcel of an order, once it has left the warehouse."""

    __tablename__ = "shipments"
    __table_args__ = (
        CheckConstraint(
            "delivered_on IS NULL OR delivered_on >= shipped_on", name="delivered_after_shipped"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str] = mapped_column(String(64))
    shipped_on: Mapped[dt.date] = mapped_column(Date)
    delivered_on: Mapped[dt.date | None] = mapped_column(Date)

    order: Mapped[Order] = relationship(back_populates="shipment")

    def __repr__(self) -> str:
        return f"Shipment(carrier={self.carrier!r}, tracking_number={self.tracking_number!r})"


class Return(Base):
    """The customer's return of an order: when the store received it and accepted it.

    ``received_on`` is empty while the parcel is on its way back; ``accepted_on`` is empty
    while the store is still checking the returned goods.
    """

    __tablename__ = "returns"
    __table_args__ = (
        CheckConstraint(
            "accepted_on IS NULL OR (received_on IS NOT NULL AND accepted_on >= received_on)",
            name="accepted_after_received",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)

    order: Mapped[Order] = relationship(back_populates="return_")

    def __repr__(self) -> str:
        return f"Return(received_on={self.received_on}, accepted_on={self.accepted_on})"


class Refund(Base):
    """The money owed back on an order; ``issued_on`` is set exactly when it has been paid."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", RefundStatus), name="status"),
        CheckConstraint(one_of("method", PaymentMethod), name="method"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "(status = 'issued' AND issued_on IS NOT NULL)"
            " OR (status = 'pending' AND issued_on IS NULL)",
            name="issued_on_matches_status",
        ),
        CheckConstraint(
            "length(currency) = 3 AND currency = upper(currency)", name="currency_code"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    status: Mapped[RefundStatus] = mapped_column(enum_type(RefundStatus, length=16))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    # Where the money goes back to; normally the payment method of the order.
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod, length=16))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))

    order: Mapped[Order] = relationship(back_populates="refund")

    @validates("currency")
    def _normalise_currency(self, _key: str, value: str) -> str:
        return value.strip().upper()

    def __repr__(self) -> str:
        return f"Refund(status={self.status.value!r}, amount={self.amount})"
