"""Refund timelines, from the store's documented refund policy and one order's facts.

Only btomic documents a refund delay (FAQ Retours 3: "dans un délai de 5 à 7 jours
ouvrables" once the returned item is received *and* confirmed to meet the return criteria,
to the original payment account, the time to appear depending on the bank). The delay is
counted from the acceptance of the return: while no acceptance date is recorded, only the
earliest possible date is known (the reception date plus the shortest delay), and the refund
can never be called late. om-system documents none: its timeline has no expected date and
says so (``delay_documented`` is False), and the bot gives the store's contact route instead
of inventing a delay.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal

from bot.business_days import add_business_days
from bot.db.models import OrderStatus, PaymentMethod, RefundStatus
from bot.orders import OrderFacts
from bot.stores import BusinessDayRange, Localised, StorePolicy

__all__ = [
    "RefundPolicySummary",
    "RefundState",
    "RefundTimeline",
    "refund_policy",
    "refund_timeline",
]


class RefundState(enum.StrEnum):
    """Where an order's refund stands."""

    NO_RETURN_YET = "no_return_yet"  # nothing received back, no refund under way
    PENDING = "pending"  # return received (or refund recorded), money not yet sent
    ISSUED = "issued"  # the money has been sent


@dataclass(frozen=True, slots=True)
class RefundPolicySummary:
    """A store's documented refund and return policy (``None`` = the FAQ says nothing).

    Attributes:
        refund_business_days: the refund delay, counted from the return being received and
            accepted.
        refund_to_original_method: the refund goes to the original payment means.
        timing_depends_on_bank: the FAQ warns that the bank or payment platform decides
            when the money shows on the account.
        return_window_days / return_window_conditional: the return window, and whether the
            FAQ says it applies "sous certaines conditions" (never stated without them).
        return_route: how to start a return; ``"contact"`` = through customer service,
            ``"policy_page"`` = the shop's return policy page.
        contact_email / contact_phone / contact_hours: that route.
    """

    store_id: str
    refund_business_days: BusinessDayRange | None
    refund_to_original_method: bool | None
    timing_depends_on_bank: bool | None
    return_window_days: int | None
    return_window_conditional: bool | None
    return_shipping_paid_by: str | None
    return_route: str
    contact_email: str
    contact_phone: str | None
    contact_hours: Localised | None

    @property
    def delay_documented(self) -> bool:
        """Whether the store documents a refund delay (if not, the bot must say so)."""
        return self.refund_business_days is not None


def refund_policy(policy: StorePolicy) -> RefundPolicySummary:
    """The general refund policy, for "how long does a refund take?" without an order.

    Args:
        policy: the store's policy.
    """
    returns = policy.returns
    return RefundPolicySummary(
        store_id=policy.id,
        refund_business_days=returns.refund_business_days,
        refund_to_original_method=returns.refund_to_original_method,
        timing_depends_on_bank=returns.refund_timing_depends_on_bank,
        return_window_days=returns.window_days,
        return_window_conditional=returns.window_conditional,
        return_shipping_paid_by=returns.return_shipping_paid_by,
        return_route=returns.route,
        contact_email=policy.contact.email,
        contact_phone=policy.contact.phone,
        contact_hours=policy.contact.hours,
    )


@dataclass(frozen=True, slots=True)
class RefundTimeline:
    """One order's refund, for a verified customer.

    Attributes:
        state: see :class:`RefundState`.
        return_on_its_way: a return is recorded but not yet received (``NO_RETURN_YET``).
        awaiting_acceptance: the return has been received but its acceptance is not
            recorded: the documented delay has not started yet.
        counted_from: the day the documented delay runs from (the acceptance of the return);
            None while it is not recorded.
        expected_from / expected_to: the expected refund dates (``PENDING`` with a
            documented delay only). While the acceptance is awaited, ``expected_from`` is
            the earliest possible date and ``expected_to`` is None.
        is_overdue: the delay counted from the acceptance has passed (never while the
            acceptance is awaited).
        issued_on / amount / currency / method: the refund, when recorded; for a pending
            refund not yet recorded, ``method`` is the order's payment means if the store
            documents refunds to the original means.
        policy: the store's general refund policy (delay, bank note, contact route).
    """

    state: RefundState
    order_number: str
    order_status: OrderStatus
    return_received_on: dt.date | None
    return_accepted_on: dt.date | None
    return_on_its_way: bool
    awaiting_acceptance: bool
    counted_from: dt.date | None
    expected_from: dt.date | None
    expected_to: dt.date | None
    is_overdue: bool
    issued_on: dt.date | None
    amount: Decimal | None
    currency: str | None
    method: PaymentMethod | None
    policy: RefundPolicySummary

    @property
    def delay_documented(self) -> bool:
        """False when the store documents no refund delay: the answer must say so."""
        return self.policy.delay_documented


def refund_timeline(facts: OrderFacts, policy: StorePolicy, today: dt.date) -> RefundTimeline:
    """Where the refund of one order stands and, when documented, when it is expected.

    Args:
        facts: the (verified) order.
        policy: its store's policy.
        today: the current date (a parameter so tests can pin it).

    Returns:
        ``ISSUED`` when the refund has been paid; ``PENDING`` when the return has been
        received or a refund is recorded, with the expected dates for a store that documents
        a delay (btomic: 5 to 7 business days after the return is received and accepted);
        ``NO_RETURN_YET`` otherwise (the answer then gives the store's return route).
        ``is_overdue`` only once the delay counted from the acceptance has passed.
    """
    if facts.store_id != policy.id:
        raise ValueError(f"order {facts.number} belongs to {facts.store_id}, not {policy.id}")
    summary = refund_policy(policy)
    returned, refund = facts.return_, facts.refund
    received_on = returned.received_on if returned else None
    accepted_on = returned.accepted_on if returned else None

    if refund is not None and refund.status is RefundStatus.ISSUED:
        state = RefundState.ISSUED
    elif refund is not None or received_on is not None:
        state = RefundState.PENDING
    else:
        state = RefundState.NO_RETURN_YET

    counted_from = expected_from = expected_to = None
    awaiting_acceptance = (
        state is RefundState.PENDING and received_on is not None and (accepted_on is None)
    )
    if state is RefundState.PENDING and summary.refund_business_days is not None:
        low, high = summary.refund_business_days
        # The FAQ counts from "received and confirmed to meet the return criteria": from the
        # acceptance. Before it is recorded, only the earliest date is known (acceptance is
        # never before reception), and nothing can be late.
        if accepted_on is not None:
            counted_from = accepted_on
            expected_from = add_business_days(accepted_on, low)
            expected_to = add_business_days(accepted_on, high)
        elif received_on is not None:
            expected_from = add_business_days(received_on, low)

    method = refund.method if refund else None
    if method is None and state is RefundState.PENDING and summary.refund_to_original_method:
        method = facts.payment_method

    return RefundTimeline(
        state=state,
        order_number=facts.number,
        order_status=facts.status,
        return_received_on=received_on,
        return_accepted_on=accepted_on,
        return_on_its_way=returned is not None and received_on is None,
        awaiting_acceptance=awaiting_acceptance,
        counted_from=counted_from,
        expected_from=expected_from,
        expected_to=expected_to,
        is_overdue=expected_to is not None and today > expected_to,
        issued_on=refund.issued_on if refund else None,
        amount=refund.amount if refund else None,
        currency=refund.currency if refund else None,
        method=method,
        policy=summary,
    )
