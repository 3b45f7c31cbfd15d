"""Finding a customer's order in the orders database, only once they have proved it is theirs.

The one place where the chat actions touch SQL: the form validation action calls
:func:`find_verified_order` once both the order number and a proof (the e-mail address or the
postcode on the order) are known, and the answer action reloads the verified order with
:func:`get_order`. The caller owns the session (``bot.db.session``).

Security: the query selects by order number only, and the proof is compared in Python by
:func:`bot.orders.verified_order` (constant-time comparisons, every candidate checked), so

* a wrong number and a wrong proof give the same result (``None``), and the caller answers
  both with the same neutral sentence;
* the customer's e-mail address or postcode never appears in a SQL statement, hence never in
  a database error message or a logged traceback.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.db.models import Order
from bot.orders import candidate_numbers, order_facts, verified_order

__all__ = ["MAX_LOOKUP_FAILURES", "find_verified_order", "get_order", "split_proof"]

logger = logging.getLogger(__name__)

#: Failed identifications allowed in one conversation before the bot stops trying and offers
#: a human: enough for typos, too few to guess someone else's e-mail address or postcode.
MAX_LOOKUP_FAILURES = 3

# Everything order_facts() reads, loaded with the order in two extra queries instead of one
# lazy load per relationship and per candidate.
_WITH_CHILDREN = (
    selectinload(Order.lines),
    selectinload(Order.shipment),
    selectinload(Order.return_),
    selectinload(Order.refund),
)


def split_proof(proof: str) -> tuple[str | None, str | None]:
    """``(email, postcode)`` from one proof value: an address has an ``@``, a postcode not.

    Args:
        proof: the ``order_proof`` slot value.
    """
    cleaned = proof.strip()
    if "@" in cleaned:
        return cleaned, None
    return None, cleaned


def find_verified_order(
    *,
    session: Session,
    number: str,
    email: str | None,
    postcode: str | None,
    prefer_store: str | None = None,
) -> Order | None:
    """The order ``number`` designates, if the proof matches its owner; else None.

    Digits alone ("104233") are tried with every store's prefix (the conversation's store
    first), so an order of the other shop is found too; the caller says which shop it
    belongs to.

    Args:
        session: the caller's session.
        number: the order number as normalised by :func:`bot.orders.normalise_order_number`
            (raw text is accepted too).
        email: the e-mail address the customer gave, or None.
        postcode: the postcode the customer gave, or None.
        prefer_store: the conversation's store, tried first for digits alone.

    Returns:
        The verified order with its lines, shipment, return and refund loaded, or None when
        no order has that number or the proof does not match (deliberately the same answer).
    """
    candidates = candidate_numbers(number, prefer_store)
    if not candidates or not (email or postcode):
        return None
    found = session.scalars(
        select(Order).where(Order.number.in_(candidates)).options(*_WITH_CHILDREN)
    ).all()
    by_number = {order.number: order for order in found}
    ordered = [by_number[candidate] for candidate in candidates if candidate in by_number]
    match = verified_order([order_facts(order) for order in ordered], email, postcode)
    if match is None:
        # The number only (the contract allows it at INFO); never the proof, never whether
        # the number exists.
        logger.info("Order lookup for %s: not verified", number)
        return None
    logger.info("Order lookup for %s: verified", match.number)
    return by_number[match.number]


def get_order(*, session: Session, number: str) -> Order | None:
    """The order with this exact (canonical) number, with its children loaded.

    Only for a number already verified in the conversation (the ``verified_order`` slot):
    it does not check any proof.

    Args:
        session: the caller's session.
        number: a canonical number such as ``OM-104233``.
    """
    return session.scalars(
        select(Order).where(Order.number == number).options(*_WITH_CHILDREN)
    ).one_or_none()
