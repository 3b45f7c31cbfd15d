"""Refund timelines: no return yet, pending (documented delay or not), issued; general policy."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from bot.db.demo import canonical_orders, generate_orders
from bot.db.models import OrderStatus, PaymentMethod, RefundStatus
from bot.orders import OrderFacts, RefundFacts, ReturnFacts, order_facts
from bot.refunds import RefundState, refund_policy, refund_timeline
from bot.stores import load_store
from tests.bot.order_samples import BT_SHIPPED, OM_RETURNED, OM_SHIPPED, TODAY, days

# BT-200530 of the demo data: returned, received yesterday (a Sunday), refund pending.
BT_PENDING = OrderFacts(
    number="BT-200530",
    store_id="btomic",
    customer_email="sophie.bernard@example.fr",
    postcode="69002",
    country="FR",
    status=OrderStatus.RETURNED,
    placed_on=days(-25),
    payment_method=PaymentMethod.PAYPAL,
    currency="USD",
    return_=ReturnFacts(received_on=days(-1)),
    refund=RefundFacts(RefundStatus.PENDING, PaymentMethod.PAYPAL, Decimal("199.00"), "USD"),
)
# BT-200541: refund issued 15 days ago.
BT_ISSUED = dataclasses.replace(
    BT_PENDING,
    number="BT-200541",
    return_=ReturnFacts(received_on=days(-20)),
    refund=RefundFacts(
        RefundStatus.ISSUED, PaymentMethod.VISA, Decimal("199.00"), "USD", issued_on=days(-15)
    ),
)


def test_no_return_yet_gives_the_return_route() -> None:
    timeline = refund_timeline(OM_SHIPPED, load_store("om-system"), TODAY)
    assert timeline.state is RefundState.NO_RETURN_YET
    assert not timeline.return_on_its_way
    assert (timeline.expected_from, timeline.expected_to) == (None, None)
    assert (timeline.method, timeline.amount, timeline.issued_on) == (None, None, None)
    assert timeline.policy.return_route == "policy_page"  # Q14: the return policy page
    assert timeline.policy.contact_email == "eshop.support@om-digitalsolutions.com"


def test_a_return_on_its_way_is_not_received_yet() -> None:
    sent_back = dataclasses.replace(BT_SHIPPED, return_=ReturnFacts(received_on=None))
    timeline = refund_timeline(sent_back, load_store("btomic"), TODAY)
    assert timeline.state is RefundState.NO_RETURN_YET
    assert timeline.return_on_its_way
    assert timeline.expected_to is None
    assert timeline.policy.contact_phone == "+1 (347) 459-1491"


def test_btomic_refund_awaiting_acceptance_has_only_an_earliest_date() -> None:
    # Retours 3: 5 to 7 business days once the return is received AND confirmed to meet the
    # return criteria. No acceptance recorded yet: the delay has not started.
    timeline = refund_timeline(BT_PENDING, load_store("btomic"), TODAY)
    assert timeline.state is RefundState.PENDING
    assert timeline.delay_documented
    assert timeline.return_received_on == days(-1)
    assert timeline.awaiting_acceptance
    assert timeline.counted_from is None
    # Sunday 22 November + 5 business days = Fri 27: the earliest; no latest date.
    assert (timeline.expected_from, timeline.expected_to) == (dt.date(2026, 11, 27), None)
    assert not timeline.is_overdue
    assert timeline.method is PaymentMethod.PAYPAL
    assert timeline.amount == Decimal("199.00")
    assert timeline.currency == "USD"
    assert timeline.issued_on is None
    assert timeline.policy.refund_to_original_method is True
    assert timeline.policy.timing_depends_on_bank is True


def test_btomic_pending_refund_counts_from_the_acceptance_when_recorded() -> None:
    accepted = dataclasses.replace(
        BT_PENDING, return_=ReturnFacts(received_on=days(-7), accepted_on=days(-3))
    )
    timeline = refund_timeline(accepted, load_store("btomic"), TODAY)
    assert not timeline.awaiting_acceptance
    assert timeline.counted_from == days(-3)  # Friday 20 November
    assert (timeline.expected_from, timeline.expected_to) == (
        dt.date(2026, 11, 27),
        dt.date(2026, 12, 1),
    )


def test_btomic_overdue_refund_counts_from_the_acceptance() -> None:
    old = dataclasses.replace(
        BT_PENDING, return_=ReturnFacts(received_on=days(-16), accepted_on=days(-14))
    )
    timeline = refund_timeline(old, load_store("btomic"), TODAY)
    assert timeline.expected_to == dt.date(2026, 11, 18)
    assert timeline.is_overdue


def test_a_return_received_long_ago_but_not_accepted_is_never_overdue() -> None:
    # Counting from the reception would call it late; the FAQ counts from the acceptance.
    old = dataclasses.replace(BT_PENDING, return_=ReturnFacts(received_on=days(-14)))
    timeline = refund_timeline(old, load_store("btomic"), TODAY)
    assert timeline.awaiting_acceptance
    assert timeline.expected_to is None
    assert not timeline.is_overdue


def test_btomic_received_return_without_a_refund_row_is_pending_to_the_original_means() -> None:
    received = dataclasses.replace(BT_PENDING, refund=None)
    timeline = refund_timeline(received, load_store("btomic"), TODAY)
    assert timeline.state is RefundState.PENDING
    assert (timeline.expected_from, timeline.expected_to) == (dt.date(2026, 11, 27), None)
    assert timeline.method is PaymentMethod.PAYPAL  # Retours 3: the original payment account
    assert timeline.amount is None


def test_om_system_pending_refund_has_no_documented_delay() -> None:
    pending = dataclasses.replace(
        OM_RETURNED,
        refund=RefundFacts(RefundStatus.PENDING, PaymentMethod.KLARNA, Decimal("749.00"), "EUR"),
    )
    timeline = refund_timeline(pending, load_store("om-system"), TODAY)
    assert timeline.state is RefundState.PENDING
    assert not timeline.delay_documented  # the answer must say so
    assert (timeline.counted_from, timeline.expected_from, timeline.expected_to) == (
        None,
        None,
        None,
    )
    assert not timeline.is_overdue
    assert timeline.method is PaymentMethod.KLARNA  # the recorded refund's means


def test_om_system_received_return_without_refund_row_invents_no_method() -> None:
    received = dataclasses.replace(OM_RETURNED, refund=None)
    timeline = refund_timeline(received, load_store("om-system"), TODAY)
    assert timeline.state is RefundState.PENDING
    assert timeline.method is None  # the FAQ does not say where refunds go


def test_pending_refund_without_a_return_has_no_date() -> None:
    # E.g. a cancelled order being refunded: nothing to count the delay from.
    cancelled = dataclasses.replace(BT_PENDING, status=OrderStatus.CANCELLED, return_=None)
    timeline = refund_timeline(cancelled, load_store("btomic"), TODAY)
    assert timeline.state is RefundState.PENDING
    assert timeline.order_status is OrderStatus.CANCELLED
    assert timeline.delay_documented
    assert timeline.expected_to is None


@pytest.mark.parametrize(
    ("facts", "store", "issued_on", "method", "amount", "currency"),
    [
        (OM_RETURNED, "om-system", days(-1), PaymentMethod.KLARNA, Decimal("749.00"), "EUR"),
        (BT_ISSUED, "btomic", days(-15), PaymentMethod.VISA, Decimal("199.00"), "USD"),
    ],
)
def test_issued_refund(
    facts: OrderFacts,
    store: str,
    issued_on: dt.date,
    method: PaymentMethod,
    amount: Decimal,
    currency: str,
) -> None:
    timeline = refund_timeline(facts, load_store(store), TODAY)
    assert timeline.state is RefundState.ISSUED
    assert timeline.issued_on == issued_on
    assert timeline.method is method
    assert timeline.amount == amount
    assert timeline.currency == currency
    assert timeline.expected_to is None
    assert not timeline.is_overdue


def test_bank_delay_note_only_where_documented() -> None:
    assert refund_timeline(BT_ISSUED, load_store("btomic"), TODAY).policy.timing_depends_on_bank
    om = refund_timeline(OM_RETURNED, load_store("om-system"), TODAY)
    assert om.policy.timing_depends_on_bank is None


def test_refund_policy_without_an_order() -> None:
    bt = refund_policy(load_store("btomic"))
    assert bt.refund_business_days == (5, 7)
    assert bt.delay_documented
    assert bt.refund_to_original_method is True
    assert bt.return_window_days is None
    assert bt.contact_email == "service@btomic.com"

    om = refund_policy(load_store("om-system"))
    assert om.refund_business_days is None
    assert not om.delay_documented
    assert om.refund_to_original_method is None
    assert om.return_window_days == 14
    assert om.return_shipping_paid_by == "store"
    assert om.contact_phone is None


def test_timeline_refuses_another_stores_policy() -> None:
    with pytest.raises(ValueError, match="belongs to"):
        refund_timeline(OM_RETURNED, load_store("btomic"), TODAY)


@pytest.mark.parametrize(
    ("number", "state", "expected_to"),
    [
        ("OM-104233", RefundState.NO_RETURN_YET, None),
        ("OM-104261", RefundState.NO_RETURN_YET, None),
        ("OM-104270", RefundState.NO_RETURN_YET, None),
        ("OM-104250", RefundState.ISSUED, None),
        ("BT-200517", RefundState.NO_RETURN_YET, None),
        ("BT-200552", RefundState.NO_RETURN_YET, None),
        ("BT-200530", RefundState.PENDING, dt.date(2026, 12, 1)),
        ("BT-200541", RefundState.ISSUED, None),
    ],
)
def test_demo_order_refunds(number: str, state: RefundState, expected_to: dt.date | None) -> None:
    order = next(o for o in canonical_orders(today=TODAY) if o.number == number)
    facts = order_facts(order)
    timeline = refund_timeline(facts, load_store(facts.store_id), TODAY)
    assert timeline.state is state
    assert timeline.expected_to == expected_to
    assert not timeline.is_overdue


def test_every_generated_demo_order_gets_a_refund_timeline() -> None:
    for order in generate_orders(today=TODAY):
        facts = order_facts(order)
        timeline = refund_timeline(facts, load_store(facts.store_id), TODAY)
        if timeline.state is RefundState.ISSUED:
            assert timeline.issued_on is not None
        if timeline.expected_to is not None:
            assert timeline.state is RefundState.PENDING
            assert facts.store_id == "btomic"  # the only store documenting a refund delay
