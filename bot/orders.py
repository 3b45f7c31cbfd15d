"""Order numbers, proof of ownership and the status report of one order.

Everything here works on :class:`OrderFacts`, a plain frozen copy of an order, so the logic is
tested without a database. :func:`order_facts` is the one adapter from the SQLAlchemy model
(``bot.db.models.Order``); the caller loads the order with its own session.

Order-specific answers are only given after :func:`proof_matches` succeeds; a failed check
must look exactly like an unknown order to the customer (the caller words it that way).
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.business_days import add_business_days
from bot.db.models import OrderStatus, PaymentMethod, RefundStatus
from bot.stores import StorePolicy, all_stores

if TYPE_CHECKING:
    from bot.db.models import Order

__all__ = [
    "ItemSummary",
    "LineFacts",
    "OrderFacts",
    "OrderStatusReport",
    "RefundFacts",
    "ReturnFacts",
    "ShipmentFacts",
    "WindowBasis",
    "candidate_numbers",
    "expected_delivery_window",
    "normalise_order_number",
    "order_facts",
    "order_status_report",
    "proof_matches",
    "tracking_url",
    "verified_order",
]

logger = logging.getLogger(__name__)

# --- plain facts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One article of an order."""

    sku: str
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class ShipmentFacts:
    """The parcel, once it has left the warehouse."""

    carrier: str
    tracking_number: str
    shipped_on: dt.date
    delivered_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ReturnFacts:
    """The customer's return: ``received_on`` is None while it is on its way back."""

    received_on: dt.date | None
    accepted_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class RefundFacts:
    """The money owed back; ``issued_on`` is set once it has been paid."""

    status: RefundStatus
    method: PaymentMethod
    amount: Decimal
    currency: str
    issued_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """Everything the bot may say about one order, detached from the database."""

    number: str
    store_id: str
    customer_email: str
    postcode: str
    country: str
    status: OrderStatus
    placed_on: dt.date
    payment_method: PaymentMethod
    currency: str
    lines: tuple[LineFacts, ...] = ()
    shipment: ShipmentFacts | None = None
    return_: ReturnFacts | None = None
    refund: RefundFacts | None = None

    @property
    def total(self) -> Decimal:
        """The sum of the lines, in :attr:`currency`."""
        total = sum((line.quantity * line.unit_price for line in self.lines), Decimal("0"))
        return total.quantize(Decimal("0.01"))


def order_facts(order: Order) -> OrderFacts:
    """Copies a loaded ``bot.db.models.Order`` (and its children) into :class:`OrderFacts`.

    Call it while the order's session is open: it reads the ``lines``, ``shipment``,
    ``return_`` and ``refund`` relationships.
    """
    shipment, returned, refund = order.shipment, order.return_, order.refund
    return OrderFacts(
        number=order.number,
        store_id=order.store_id,
        customer_email=order.customer_email,
        postcode=order.postcode,
        country=order.country,
        status=OrderStatus(order.status),
        placed_on=order.placed_on,
        payment_method=PaymentMethod(order.payment_method),
        currency=order.currency,
        lines=tuple(
            LineFacts(line.sku, line.name, line.quantity, Decimal(line.unit_price))
            for line in order.lines
        ),
        shipment=ShipmentFacts(
            shipment.carrier, shipment.tracking_number, shipment.shipped_on, shipment.delivered_on
        )
        if shipment
        else None,
        return_=ReturnFacts(returned.received_on, returned.accepted_on) if returned else None,
        refund=RefundFacts(
            status=RefundStatus(refund.status),
            method=PaymentMethod(refund.method),
            amount=Decimal(refund.amount),
            currency=refund.currency,
            issued_on=refund.issued_on,
        )
        if refund
        else None,
    )


# --- order numbers --------------------------------------------------------------------------


def _prefixes() -> tuple[str, ...]:
    # The prefixes are store facts (data/stores/<shop>/facts.yml `order_prefix`), not constants
    # here; a shop added to the registry is seen without a restart.
    return tuple(policy.order_prefix for policy in all_stores())


def _number_pattern() -> re.Pattern[str]:
    return _compiled_number_pattern(_prefixes())


@cache
def _compiled_number_pattern(known: tuple[str, ...]) -> re.Pattern[str]:
    prefixes = "|".join(re.escape(prefix) for prefix in known)
    # "(?=\S)": a match never starts on a space. Without it every space of a long run of spaces
    # was a start where "\s*" ran to the end of the run before failing: quadratic time.
    return re.compile(
        rf"(?<![A-Za-z0-9])(?=\S)(?:(?P<prefix>{prefixes})[\s_-]*)?#?\s*(?P<digits>[0-9]{{6}})(?![0-9])",
        re.IGNORECASE,
    )


def normalise_order_number(text: str) -> str | None:
    """The order number in ``text``, in its canonical form.

    Accepts the store prefix (any case) with or without a separator ("OM-104233",
    "om 104233", "OM104233", "bt-200517") and the six digits alone, with or without "#"
    ("#104233", "104233", "n° 104233").

    Args:
        text: an entity value or a short message.

    Returns:
        "OM-104233" when a prefix is given, "104233" for the digits alone (the lookup then
        tries every store, see :func:`candidate_numbers`), None when there is no order number
        or several different ones.
    """
    found = {
        f"{m['prefix'].upper()}-{m['digits']}" if m["prefix"] else m["digits"]
        for m in _number_pattern().finditer(text)
    }
    return found.pop() if len(found) == 1 else None


def candidate_numbers(normalised: str, prefer_store: str | None = None) -> list[str]:
    """The order numbers to look up for a normalised (or raw) order number.

    Args:
        normalised: the output of :func:`normalise_order_number` (raw text is normalised
            first).
        prefer_store: the conversation's store, whose prefix is tried first for digits alone.

    Returns:
        ``["OM-104233"]`` for a prefixed number; ``["OM-104233", "BT-104233"]`` for digits
        alone (the preferred store first, then the configured order); ``[]`` for no number.
    """
    number = normalise_order_number(normalised)
    if number is None:
        return []
    if not number.isdigit():
        return [number]
    prefixes = list(_prefixes())
    if prefer_store is not None:
        preferred = [p.order_prefix for p in all_stores() if p.id == prefer_store]
        prefixes = preferred + [p for p in prefixes if p not in preferred]
    return [f"{prefix}-{number}" for prefix in prefixes]


# --- proof of ownership ---------------------------------------------------------------------


def _normal_email(value: str) -> str:
    return value.strip().strip("<>").strip().lower()


def _normal_postcode(value: str) -> str:
    # "SW1A 1AA" = "sw1a1aa"; "150-0001" = "1500001" (customers drop the hyphen).
    return "".join(ch for ch in value.upper() if not ch.isspace() and ch != "-")


def _matches(given: str | None, expected: str, *, postcode: bool) -> bool:
    if given is None:
        return False
    normalise = _normal_postcode if postcode else _normal_email
    left, right = normalise(given), normalise(expected)
    # compare_digest: the comparison time does not depend on where the strings differ.
    return bool(left) and bool(right) and hmac.compare_digest(left.encode(), right.encode())


def proof_matches(facts: OrderFacts, proof_email: str | None, proof_postcode: str | None) -> bool:
    """Whether the customer proved the order is theirs.

    The proof is the e-mail address **or** the postcode on the order (the contract's "order
    number plus the e-mail address or postcode"); when both are given, one matching is
    enough, because a slot may still hold a value from an earlier order of the conversation.
    E-mails compare trimmed and case-insensitively; postcodes ignoring spaces, hyphens and
    case. Both comparisons always run, and the result says nothing about which one failed.

    Args:
        facts: the order looked up by number.
        proof_email: the e-mail address the customer gave, or None.
        proof_postcode: the postcode the customer gave, or None.
    """
    email_ok = _matches(proof_email, facts.customer_email, postcode=False)
    postcode_ok = _matches(proof_postcode, facts.postcode, postcode=True)
    return email_ok or postcode_ok


def verified_order(
    candidates: Iterable[OrderFacts], proof_email: str | None, proof_postcode: str | None
) -> OrderFacts | None:
    """The first of ``candidates`` whose owner the proof matches, else None.

    For digits alone there can be an OM- and a BT- order; every candidate is checked, so the
    time taken does not reveal which numbers exist.

    Args:
        candidates: the orders found for :func:`candidate_numbers`, in that order.
        proof_email: the e-mail address the customer gave, or None.
        proof_postcode: the postcode the customer gave, or None.
    """
    matching = [facts for facts in candidates if proof_matches(facts, proof_email, proof_postcode)]
    return matching[0] if matching else None


# --- status report --------------------------------------------------------------------------

# Carriers' public tracking pages, in French and in English (the page in the customer's
# language where the carrier has one); the key is the start of the carrier name, lower case,
# letters and digits only ("DHL Express" -> "dhlexpress" starts with "dhl").
_TRACKING_PAGES: dict[str, tuple[str, str]] = {
    "dhl": (
        "https://www.dhl.com/fr-fr/home/tracking.html?tracking-id={}",
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}",
    ),
    "ups": (
        "https://www.ups.com/track?loc=fr_FR&tracknum={}",
        "https://www.ups.com/track?loc=en_US&tracknum={}",
    ),
    "dpd": (
        "https://tracking.dpd.de/status/fr_FR/parcel/{}",
        "https://tracking.dpd.de/status/en_US/parcel/{}",
    ),
    "fedex": (
        "https://www.fedex.com/fedextrack/?trknbr={}",
        "https://www.fedex.com/fedextrack/?trknbr={}",
    ),
    "colissimo": (
        "https://www.laposte.fr/outils/suivre-vos-envois?code={}",
        "https://www.laposte.fr/outils/track-a-parcel?code={}",
    ),
    "laposte": (
        "https://www.laposte.fr/outils/suivre-vos-envois?code={}",
        "https://www.laposte.fr/outils/track-a-parcel?code={}",
    ),
    "chronopost": (
        "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={}&langue=fr",
        "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={}&langue=en",
    ),
    "royalmail": (
        "https://www.royalmail.com/track-your-item#/tracking-results/{}",
        "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    ),
    "gls": (
        "https://gls-group.eu/FR/fr/suivi-colis.html?match={}",
        "https://gls-group.eu/EU/en/parcel-tracking?match={}",
    ),
    "usps": (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    ),
    "postnl": ("https://postnl.nl/tracktrace/?B={}", "https://postnl.nl/tracktrace/?B={}"),
    "bpost": (
        "https://track.bpost.cloud/btr/web/#/search?lang=fr&itemCode={}",
        "https://track.bpost.cloud/btr/web/#/search?lang=en&itemCode={}",
    ),
    "canadapost": (
        "https://www.canadapost-postescanada.ca/track-reperage/fr#/details/{}",
        "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{}",
    ),
    # No French page: the English one rather than the Japanese.
    "japanpost": (
        "https://trackings.post.japanpost.jp/services/srv/search/input?reqCodeNo1={}&locale=en",
        "https://trackings.post.japanpost.jp/services/srv/search/input?reqCodeNo1={}&locale=en",
    ),
    "australiapost": (
        "https://auspost.com.au/mypost/track/details/{}",
        "https://auspost.com.au/mypost/track/details/{}",
    ),
}


def tracking_url(carrier: str | None, tracking_number: str | None, lang: str = "en") -> str | None:
    """The carrier's public tracking page for a parcel, or None for an unknown carrier.

    Args:
        carrier: the carrier's name as stored ("DHL", "DHL Express", "Royal Mail"...).
        tracking_number: the parcel's tracking number.
        lang: ``"fr"`` for the carrier's French page, anything else for its English one.
    """
    if not carrier or not tracking_number or not tracking_number.strip():
        return None
    key = "".join(ch for ch in carrier.lower() if ch.isalnum())
    for prefix, (french, english) in _TRACKING_PAGES.items():
        if key.startswith(prefix):
            page = french if lang == "fr" else english
            return page.format(quote(tracking_number.strip(), safe=""))
    logger.info("No tracking page known for carrier %r", carrier)
    return None


class WindowBasis(enum.StrEnum):
    """What an expected delivery window is counted from."""

    ORDER_DATE = "order_date"
    SHIPPING_DATE = "shipping_date"


def expected_delivery_window(
    policy: StorePolicy, placed_on: dt.date, shipped_on: dt.date | None = None
) -> tuple[dt.date, dt.date, WindowBasis] | None:
    """An indicative delivery window from the store's documented delays, in business days.

    Only for a store whose FAQ says when its delivery delay starts: btomic gives a processing
    time ("généralement 1 à 2 jours ouvrables") and then a standard delivery time (7 to 12),
    so the delivery runs from the dispatch once the parcel has left, and before that the
    window is order + (1 + 7) to order + (2 + 12) business days. These are estimates, never
    deadlines: the FAQ says "généralement" and warns of delays during holidays and
    promotions.

    om-system's FAQ gives one delay as an aim ("Nous nous efforçons ... 3 à 4 jours
    ouvrables") with no start point (neither the order nor the dispatch): no date can be
    computed from it, and None is returned.

    Args:
        policy: the store's policy.
        placed_on: the order date.
        shipped_on: the shipping date, if the parcel has left.

    Returns:
        ``(earliest, latest, basis)``, or None when no window can be computed.
    """
    delivery = policy.delivery.delivery_business_days
    processing = policy.delivery.processing_business_days
    if delivery is None or processing is None or not policy.delivery.delivery_after_processing:
        return None
    if shipped_on is not None:
        low, high, start, basis = *delivery, shipped_on, WindowBasis.SHIPPING_DATE
    else:
        low, high = processing[0] + delivery[0], processing[1] + delivery[1]
        start, basis = placed_on, WindowBasis.ORDER_DATE
    return add_business_days(start, low), add_business_days(start, high), basis


_TIMES = "\u00d7"  # the multiplication sign


@dataclass(frozen=True, slots=True)
class ItemSummary:
    """An article and its quantity.

    ``str()`` gives "1 x OM SYSTEM OM-1 Mark II" with a real multiplication sign, which reads
    the same in French and English.
    """

    name: str
    quantity: int

    def __str__(self) -> str:
        """The quantity, a multiplication sign and the name."""
        return f"{self.quantity} {_TIMES} {self.name}"


# States in which a parcel is still expected: only these can be late.
_IN_PROGRESS = frozenset({OrderStatus.PLACED, OrderStatus.PROCESSING, OrderStatus.SHIPPED})


@dataclass(frozen=True, slots=True)
class OrderStatusReport:
    """What the bot tells a verified customer about their order.

    Attributes:
        expected_from: earliest estimated delivery (None once delivered, cancelled or
            returned, or when the store's FAQ gives no delay with a start point).
        expected_to: latest estimated delivery.
        window_basis: what the window is counted from.
        estimate_passed: today is after ``expected_to`` and the order is still in progress.
            The window is an estimate, not a deadline: the answer never calls the order late
            and only gives the contact route.
    """

    number: str
    store_id: str
    status: OrderStatus
    placed_on: dt.date
    carrier: str | None
    tracking_number: str | None
    shipped_on: dt.date | None
    delivered_on: dt.date | None
    expected_from: dt.date | None
    expected_to: dt.date | None
    window_basis: WindowBasis | None
    estimate_passed: bool
    items: tuple[ItemSummary, ...]
    total: Decimal
    currency: str

    def tracking_url(self, lang: str) -> str | None:
        """The carrier's tracking page for the parcel, in ``lang`` where it has one."""
        return tracking_url(self.carrier, self.tracking_number, lang)

    @property
    def items_summary(self) -> str:
        """The articles on one line: "2 x BLX-1 battery, 1 x OM-5" (multiplication signs)."""
        return ", ".join(str(item) for item in self.items)


def order_status_report(
    facts: OrderFacts, policy: StorePolicy, today: dt.date
) -> OrderStatusReport:
    """The status of one order, its tracking and its expected delivery window.

    Args:
        facts: the (verified) order.
        policy: its store's policy (``load_store(facts.store_id)``).
        today: the current date (a parameter so tests can pin it).

    Returns:
        The report; see :func:`expected_delivery_window` for how the window is computed.
    """
    if facts.store_id != policy.id:
        raise ValueError(f"order {facts.number} belongs to {facts.store_id}, not {policy.id}")
    shipment = facts.shipment
    window = None
    if facts.status in _IN_PROGRESS:
        window = expected_delivery_window(
            policy, facts.placed_on, shipment.shipped_on if shipment else None
        )
    expected_to = window[1] if window else None
    return OrderStatusReport(
        number=facts.number,
        store_id=facts.store_id,
        status=facts.status,
        placed_on=facts.placed_on,
        carrier=shipment.carrier if shipment else None,
        tracking_number=shipment.tracking_number if shipment else None,
        shipped_on=shipment.shipped_on if shipment else None,
        delivered_on=shipment.delivered_on if shipment else None,
        expected_from=window[0] if window else None,
        expected_to=expected_to,
        window_basis=window[2] if window else None,
        estimate_passed=expected_to is not None and today > expected_to,
        items=tuple(ItemSummary(name=line.name, quantity=line.quantity) for line in facts.lines),
        total=facts.total,
        currency=facts.currency,
    )
