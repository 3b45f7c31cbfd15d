"""Initial schema: stores, orders, order lines, shipments, returns, refunds.

Written by hand and checked against ``bot.db.models`` (the tests compare the migrated schema
with the models). The value lists are spelled out rather than imported from the models: a
revision is a snapshot and must not change when the models do.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_STATUSES = ("placed", "processing", "shipped", "delivered", "cancelled", "returned")
PAYMENT_METHODS = (
    "visa",
    "mastercard",
    "discover",
    "paypal",
    "klarna",
    "apple_pay",
    "google_pay",
    "shop_pay",
    "amazon_pay",
    "usdc",
)
REFUND_STATUSES = ("pending", "issued")
CURRENCY_CODE = "length(currency) = 3 AND currency = upper(currency)"


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _order_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["order_id"], ["orders.id"], name=op.f(f"fk_{table}_order_id_orders"), ondelete="CASCADE"
    )


def upgrade() -> None:
    """Creates every table of the orders database."""
    op.create_table(
        "stores",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("customer_email", sa.String(length=254), nullable=False),
        sa.Column("postcode", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("placed_on", sa.Date(), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint(_one_of("status", ORDER_STATUSES), name=op.f("ck_orders_status")),
        sa.CheckConstraint(
            _one_of("payment_method", PAYMENT_METHODS), name=op.f("ck_orders_payment_method")
        ),
        sa.CheckConstraint(
            "customer_email = lower(customer_email)", name=op.f("ck_orders_email_lower_case")
        ),
        sa.CheckConstraint("number = upper(number)", name=op.f("ck_orders_number_upper_case")),
        sa.CheckConstraint(
            "postcode = upper(postcode)", name=op.f("ck_orders_postcode_upper_case")
        ),
        sa.CheckConstraint("country = upper(country)", name=op.f("ck_orders_country_upper_case")),
        sa.CheckConstraint(CURRENCY_CODE, name=op.f("ck_orders_currency_code")),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_orders_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_number"), "orders", ["number"], unique=True)
    op.create_index(op.f("ix_orders_customer_email"), "orders", ["customer_email"])
    op.create_index(op.f("ix_orders_store_id_status"), "orders", ["store_id", "status"])

    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_lines_unit_price_not_negative")),
        _order_fk("order_lines"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_order_id"), "order_lines", ["order_id"])

    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=40), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "delivered_on IS NULL OR delivered_on >= shipped_on",
            name=op.f("ck_shipments_delivered_after_shipped"),
        ),
        _order_fk("shipments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_shipments_order_id")),
    )

    op.create_table(
        "returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "accepted_on IS NULL OR (received_on IS NOT NULL AND accepted_on >= received_on)",
            name=op.f("ck_returns_accepted_after_received"),
        ),
        _order_fk("returns"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
        sa.UniqueConstraint("order_id", name=op.f("uq_returns_order_id")),
    )

    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint(_one_of("status", REFUND_STATUSES), name=op.f("ck_refunds_status")),
        sa.CheckConstraint(_one_of("method", PAYMENT_METHODS), name=op.f("ck_refunds_method")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_refunds_amount_not_negative")),
        sa.CheckConstraint(
            "(status = 'issued' AND issued_on IS NOT NULL)"
            " OR (status = 'pending' AND issued_on IS NULL)",
            name=op.f("ck_refunds_issued_on_matches_status"),
        ),
        sa.CheckConstraint(CURRENCY_CODE, name=op.f("ck_refunds_currency_code")),
        _order_fk("refunds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("order_id", name=op.f("uq_refunds_order_id")),
    )


def downgrade() -> None:
    """Drops every table of the orders database (children first)."""
    op.drop_table("refunds")
    op.drop_table("returns")
    op.drop_table("shipments")
    op.drop_index(op.f("ix_order_lines_order_id"), table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index(op.f("ix_orders_store_id_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_customer_email"), table_name="orders")
    op.drop_index(op.f("ix_orders_number"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("stores")
