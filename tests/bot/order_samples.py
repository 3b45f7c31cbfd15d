"""Sample orders for the domain-logic tests: the canonical demo orders as of a pinned today.

They mirror ``data/stores/<shop>/demo_orders.yml`` (numbers, owners, states, date offsets) as plain
:class:`~bot.orders.OrderFacts`, so the tests need no database.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.db.models import OrderStatus, PaymentMethod, RefundStatus
from bot.orders import LineFacts, OrderFacts, RefundFacts, ReturnFacts, ShipmentFacts

TODAY = dt.date(2026, 11, 23)  # a Monday


def days(offset: int) -> dt.date:
    """A date relative to the pinned today, like the demo data's offsets."""
    return TODAY + dt.timedelta(days=offset)


# The canonical demo orders (data/stores/<shop>/demo_orders.yml) as of the pinned today.
OM_SHIPPED = OrderFacts(
    number="OM-104233",
    store_id="om-system",
    customer_email="marie.dupont@example.fr",
    postcode="75011",
    country="FR",
    status=OrderStatus.SHIPPED,
    placed_on=days(-3),
    payment_method=PaymentMethod.VISA,
    currency="EUR",
    lines=(LineFacts("OM1-MK2-BODY", "OM SYSTEM OM-1 Mark II", 1, Decimal("2399.00")),),
    shipment=ShipmentFacts("DHL", "JD014600003828461025", shipped_on=days(-2)),
)
OM_PROCESSING = OrderFacts(
    number="OM-104261",
    store_id="om-system",
    customer_email="john.smith@example.co.uk",
    postcode="SW1A 1AA",
    country="GB",
    status=OrderStatus.PROCESSING,
    placed_on=days(0),
    payment_method=PaymentMethod.PAYPAL,
    currency="GBP",
    lines=(LineFacts("OM5-BODY", "OM SYSTEM OM-5", 1, Decimal("1299.00")),),
)
OM_CANCELLED = OrderFacts(
    number="OM-104270",
    store_id="om-system",
    customer_email="giulia.rossi@example.it",
    postcode="20121",
    country="IT",
    status=OrderStatus.CANCELLED,
    placed_on=days(-6),
    payment_method=PaymentMethod.MASTERCARD,
    currency="EUR",
    lines=(LineFacts("BLX-1", "BLX-1 battery", 2, Decimal("89.00")),),
)
OM_RETURNED = OrderFacts(
    number="OM-104250",
    store_id="om-system",
    customer_email="lukas.becker@example.de",
    postcode="10115",
    country="DE",
    status=OrderStatus.RETURNED,
    placed_on=days(-20),
    payment_method=PaymentMethod.KLARNA,
    currency="EUR",
    lines=(LineFacts("ED-12-45-PRO", "M.Zuiko 12-45mm F4.0 PRO", 1, Decimal("749.00")),),
    shipment=ShipmentFacts("DHL", "JD0146", shipped_on=days(-19), delivered_on=days(-16)),
    return_=ReturnFacts(received_on=days(-4)),
    refund=RefundFacts(
        RefundStatus.ISSUED, PaymentMethod.KLARNA, Decimal("749.00"), "EUR", issued_on=days(-1)
    ),
)
BT_SHIPPED = OrderFacts(
    number="BT-200517",
    store_id="btomic",
    customer_email="alex.martin@example.com",
    postcode="10001",
    country="US",
    status=OrderStatus.SHIPPED,
    placed_on=days(-5),
    payment_method=PaymentMethod.APPLE_PAY,
    currency="USD",
    lines=(LineFacts("BA-793", "Série Énigme BA-793", 1, Decimal("199.00")),),
    shipment=ShipmentFacts("UPS", "1Z999AA10123456784", shipped_on=days(-4)),
)
BT_PROCESSING = OrderFacts(
    number="BT-200552",
    store_id="btomic",
    customer_email="emma.jones@example.co.uk",
    postcode="M1 1AE",
    country="GB",
    status=OrderStatus.PROCESSING,
    placed_on=days(-1),
    payment_method=PaymentMethod.USDC,
    currency="USD",
    lines=(LineFacts("BA-793", "Série Énigme BA-793", 2, Decimal("199.00")),),
)
