"""Order numbers, proof of ownership, tracking links and the order status report."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from bot.db.demo import canonical_orders, generate_orders
from bot.db.models import Order, OrderLine, OrderStatus, PaymentMethod, Refund, RefundStatus
from bot.db.models import Return as ReturnRow
from bot.db.models import Shipment as ShipmentRow
from bot.orders import (
    ShipmentFacts,
    WindowBasis,
    candidate_numbers,
    expected_delivery_window,
    normalise_order_number,
    order_facts,
    order_status_report,
    proof_matches,
    tracking_url,
    verified_order,
)
from bot.stores import load_store
from tests.bot.order_samples import (
    BT_PROCESSING,
    BT_SHIPPED,
    OM_CANCELLED,
    OM_PROCESSING,
    OM_RETURNED,
    OM_SHIPPED,
    TODAY,
    days,
)

# --- order numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OM-104233", "OM-104233"),
        ("om 104233", "OM-104233"),
        ("OM104233", "OM-104233"),
        ("om-104233", "OM-104233"),
        ("OM - 104233", "OM-104233"),
        ("OM_104233", "OM-104233"),
        ("bt-200517", "BT-200517"),
        ("BT 200517", "BT-200517"),
        ("#104233", "104233"),
        ("104233", "104233"),
        ("n° 104233", "104233"),
        ("ma commande OM-104233 svp", "OM-104233"),
        ("order #200517, thanks", "200517"),
        ("OM-104233 / OM-104233", "OM-104233"),  # the same number twice
        ("", None),
        ("bonjour", None),
        ("OM-10423", None),  # five digits
        ("OM-1042331", None),  # seven digits
        ("1042331", None),
        ("75011", None),  # a postcode
        ("XX104233", None),  # glued to an unknown prefix
        ("OM-104233 et BT-200517", None),  # two different orders
    ],
)
def test_normalise_order_number(text: str, expected: str | None) -> None:
    assert normalise_order_number(text) == expected


def test_candidate_numbers() -> None:
    assert candidate_numbers("OM-104233") == ["OM-104233"]
    # Without a preference, the registry's order (the shop folders, alphabetically).
    assert candidate_numbers("104233") == ["BT-104233", "OM-104233"]
    assert candidate_numbers("104233", prefer_store="btomic") == ["BT-104233", "OM-104233"]
    assert candidate_numbers("104233", prefer_store="om-system") == ["OM-104233", "BT-104233"]
    assert candidate_numbers("#104233") == ["BT-104233", "OM-104233"]  # raw text is normalised
    assert candidate_numbers("no number") == []


# --- proof of ownership ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "postcode", "expected"),
    [
        ("marie.dupont@example.fr", None, True),
        ("  Marie.Dupont@EXAMPLE.fr ", None, True),
        ("<marie.dupont@example.fr>", None, True),
        (None, "75011", True),
        (None, " 75 011 ", True),
        ("someone@example.fr", "75011", True),  # one proof is enough
        ("marie.dupont@example.fr", "99999", True),
        ("marie.dupont@example.com", None, False),
        (None, "75012", False),
        ("someone@example.fr", "75012", False),
        (None, None, False),
        ("", "", False),
    ],
)
def test_proof_matches(email: str | None, postcode: str | None, expected: bool) -> None:
    assert proof_matches(OM_SHIPPED, email, postcode) is expected


def test_uk_and_japanese_postcodes_ignore_spaces_hyphens_and_case() -> None:
    assert proof_matches(OM_PROCESSING, None, "sw1a1aa")
    assert proof_matches(OM_PROCESSING, None, "SW1A  1AA")
    japanese = dataclasses.replace(BT_SHIPPED, postcode="150-0001")
    assert proof_matches(japanese, None, "1500001")
    assert proof_matches(japanese, None, "150-0001")


def test_an_empty_stored_value_never_matches() -> None:
    no_postcode = dataclasses.replace(OM_SHIPPED, postcode="", customer_email="")
    assert not proof_matches(no_postcode, "", "")
    assert not proof_matches(no_postcode, "  ", " - ")


def test_verified_order_picks_the_candidate_the_proof_matches() -> None:
    other = dataclasses.replace(BT_SHIPPED, number="BT-104233")
    mine = OM_SHIPPED
    assert verified_order([other, mine], "marie.dupont@example.fr", None) is mine
    assert verified_order([other, mine], "nobody@example.fr", None) is None
    assert verified_order([], "marie.dupont@example.fr", None) is None


# --- tracking -------------------------------------------------------------------------------


# What marks a carrier page as French.
FRENCH_PAGE = ("fr-fr", "fr_FR", "/FR/fr/", "/fr#", "lang=fr", "langue=fr", "suivre", "suivi-colis")


@pytest.mark.parametrize(
    ("carrier", "site", "has_french_page"),
    [
        ("DHL", "https://www.dhl.com/", True),
        ("DHL Express", "https://www.dhl.com/", True),
        ("dhl", "https://www.dhl.com/", True),
        ("UPS", "https://www.ups.com/", True),
        ("FedEx", "https://www.fedex.com/", False),
        ("Colissimo", "https://www.laposte.fr/", True),
        ("La Poste", "https://www.laposte.fr/", True),
        ("DPD", "https://tracking.dpd.de/", True),
        ("Royal Mail", "https://www.royalmail.com/", False),
        ("GLS", "https://gls-group.eu/", True),
        ("USPS", "https://tools.usps.com/", False),
        ("Chronopost", "https://www.chronopost.fr/", True),
        ("PostNL", "https://postnl.nl/", False),
        ("bpost", "https://track.bpost.cloud/", True),
        ("Canada Post", "https://www.canadapost-postescanada.ca/", True),
        ("Japan Post", "https://trackings.post.japanpost.jp/", False),
        ("Australia Post", "https://auspost.com.au/", False),
    ],
)
def test_tracking_url_in_the_customers_language(
    carrier: str, site: str, has_french_page: bool
) -> None:
    french, english = tracking_url(carrier, "AB12", "fr"), tracking_url(carrier, "AB12", "en")
    assert french is not None and english is not None
    assert french.startswith(site) and english.startswith(site)
    assert "AB12" in french and "AB12" in english
    # An English answer never sends the customer to a French page.
    assert not any(marker in english for marker in FRENCH_PAGE), english
    assert any(marker in french for marker in FRENCH_PAGE) is has_french_page, french


@pytest.mark.parametrize("carrier", ["Pigeon Express", "", None])
def test_tracking_url_of_an_unknown_carrier(carrier: str | None) -> None:
    assert tracking_url(carrier, "AB12") is None


def test_tracking_numbers_are_url_encoded() -> None:
    assert (
        tracking_url("UPS", " 1Z 99&x ")
        == "https://www.ups.com/track?loc=en_US&tracknum=1Z%2099%26x"
    )
    assert tracking_url("UPS", "  ") is None
    assert tracking_url("UPS", None) is None


# --- expected delivery window ---------------------------------------------------------------


def test_om_system_aim_gives_no_window() -> None:
    # Q3 "Nous nous efforçons ... 3 à 4 jours ouvrables": an aim with no start point (neither
    # the order nor the dispatch), so no date may be computed from it.
    policy = load_store("om-system")
    friday = dt.date(2026, 11, 20)
    assert expected_delivery_window(policy, friday) is None
    assert expected_delivery_window(policy, friday, shipped_on=days(0)) is None


def test_btomic_window_before_shipping_adds_processing_and_delivery() -> None:
    policy = load_store("btomic")
    # Sunday 22 November + (1 + 7) business days = Wed 2 Dec; + (2 + 12) = Thu 10 Dec.
    assert expected_delivery_window(policy, days(-1)) == (
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 10),
        WindowBasis.ORDER_DATE,
    )


def test_btomic_window_after_shipping_counts_from_the_shipping_date() -> None:
    policy = load_store("btomic")
    assert expected_delivery_window(policy, days(-5), shipped_on=days(-4)) == (
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 7),
        WindowBasis.SHIPPING_DATE,
    )


# --- status report --------------------------------------------------------------------------


def test_report_shipped_om_system_order() -> None:
    report = order_status_report(OM_SHIPPED, load_store("om-system"), TODAY)
    assert report.status is OrderStatus.SHIPPED
    assert report.carrier == "DHL"
    assert report.tracking_number == "JD014600003828461025"
    assert report.tracking_url("fr") == (
        "https://www.dhl.com/fr-fr/home/tracking.html?tracking-id=JD014600003828461025"
    )
    assert report.tracking_url("en") == (
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id=JD014600003828461025"
    )
    assert report.shipped_on == days(-2)
    assert (report.expected_from, report.expected_to, report.window_basis) == (None, None, None)
    assert not report.estimate_passed
    assert report.delivered_on is None
    assert report.items_summary == "1 \u00d7 OM SYSTEM OM-1 Mark II"
    assert report.total == Decimal("2399.00")
    assert report.currency == "EUR"


def test_report_processing_om_system_order() -> None:
    report = order_status_report(OM_PROCESSING, load_store("om-system"), TODAY)
    assert report.status is OrderStatus.PROCESSING
    assert (report.carrier, report.tracking_number, report.tracking_url("fr")) == (None, None, None)
    assert (report.expected_from, report.expected_to) == (None, None)
    assert not report.estimate_passed


def test_report_placed_order_is_like_processing() -> None:
    placed = dataclasses.replace(OM_PROCESSING, status=OrderStatus.PLACED)
    report = order_status_report(placed, load_store("om-system"), TODAY)
    assert report.status is OrderStatus.PLACED
    assert report.expected_to is None
    placed_bt = dataclasses.replace(BT_PROCESSING, status=OrderStatus.PLACED)
    bt_report = order_status_report(placed_bt, load_store("btomic"), TODAY)
    assert bt_report.expected_to == dt.date(2026, 12, 10)


def test_report_shipped_btomic_order() -> None:
    report = order_status_report(BT_SHIPPED, load_store("btomic"), TODAY)
    assert (
        report.tracking_url("en")
        == "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784"
    )
    assert (report.expected_from, report.expected_to) == (
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 7),
    )
    assert report.window_basis is WindowBasis.SHIPPING_DATE


def test_report_processing_btomic_order() -> None:
    report = order_status_report(BT_PROCESSING, load_store("btomic"), TODAY)
    assert (report.expected_from, report.expected_to) == (
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 10),
    )
    assert report.window_basis is WindowBasis.ORDER_DATE
    assert report.items_summary == "2 \u00d7 Série Énigme BA-793"
    assert report.total == Decimal("398.00")


def test_report_past_the_btomic_estimate() -> None:
    shipped = ShipmentFacts("UPS", "1Z1", shipped_on=days(-23))  # Sat 31 Oct + 12 = Tue 17 Nov
    old = dataclasses.replace(BT_SHIPPED, placed_on=days(-25), shipment=shipped)
    report = order_status_report(old, load_store("btomic"), TODAY)
    assert report.expected_to == dt.date(2026, 11, 17)
    assert report.estimate_passed


def test_report_is_within_the_estimate_on_its_last_day() -> None:
    shipped = ShipmentFacts("UPS", "1Z1", shipped_on=dt.date(2026, 11, 5))  # Thu + 12 = Mon 23
    due_today = dataclasses.replace(BT_SHIPPED, placed_on=days(-20), shipment=shipped)
    report = order_status_report(due_today, load_store("btomic"), TODAY)
    assert report.expected_to == TODAY
    assert not report.estimate_passed


def test_an_om_system_order_is_never_past_an_estimate() -> None:
    old = dataclasses.replace(OM_SHIPPED, placed_on=days(-60))
    report = order_status_report(old, load_store("om-system"), TODAY)
    assert report.expected_to is None and not report.estimate_passed


def test_report_delivered_order() -> None:
    delivered = dataclasses.replace(
        BT_SHIPPED,
        status=OrderStatus.DELIVERED,
        placed_on=days(-40),
        shipment=ShipmentFacts("UPS", "1Z1", shipped_on=days(-39), delivered_on=days(-30)),
    )
    report = order_status_report(delivered, load_store("btomic"), TODAY)
    assert report.status is OrderStatus.DELIVERED
    assert report.delivered_on == days(-30)
    assert (report.expected_from, report.expected_to, report.window_basis) == (None, None, None)
    assert not report.estimate_passed  # long past the window, but delivered


def test_report_cancelled_order() -> None:
    report = order_status_report(OM_CANCELLED, load_store("om-system"), TODAY)
    assert report.status is OrderStatus.CANCELLED
    assert report.expected_to is None
    assert not report.estimate_passed
    assert report.items_summary == "2 \u00d7 BLX-1 battery"
    assert report.total == Decimal("178.00")


def test_report_returned_order() -> None:
    report = order_status_report(OM_RETURNED, load_store("om-system"), TODAY)
    assert report.status is OrderStatus.RETURNED
    assert report.delivered_on == days(-16)
    assert report.expected_to is None
    assert not report.estimate_passed


def test_report_refuses_another_stores_policy() -> None:
    with pytest.raises(ValueError, match="belongs to"):
        order_status_report(OM_SHIPPED, load_store("btomic"), TODAY)


# --- adapter from the database model --------------------------------------------------------


def test_order_facts_copies_a_model_with_its_children() -> None:
    order = Order(
        number="OM-104250",
        store_id="om-system",
        customer_email="lukas.becker@example.de",
        postcode="10115",
        country="DE",
        status=OrderStatus.RETURNED,
        placed_on=days(-20),
        payment_method=PaymentMethod.KLARNA,
        currency="EUR",
    )
    order.lines = [
        OrderLine(sku="ED-12-45-PRO", name="M.Zuiko 12-45mm F4.0 PRO", quantity=1,
                  unit_price=Decimal("749.00")),
    ]  # fmt: skip
    order.shipment = ShipmentRow(
        carrier="DHL", tracking_number="JD0146", shipped_on=days(-19), delivered_on=days(-16)
    )
    order.return_ = ReturnRow(received_on=days(-4), accepted_on=None)
    order.refund = Refund(
        status=RefundStatus.ISSUED,
        issued_on=days(-1),
        method=PaymentMethod.KLARNA,
        amount=Decimal("749.00"),
        currency="EUR",
    )
    assert order_facts(order) == OM_RETURNED


def test_order_facts_without_children() -> None:
    order = Order(
        number="OM-104270",
        store_id="om-system",
        customer_email="giulia.rossi@example.it",
        postcode="20121",
        country="IT",
        status=OrderStatus.CANCELLED,
        placed_on=days(-6),
        payment_method=PaymentMethod.MASTERCARD,
        currency="EUR",
    )
    order.lines = [
        OrderLine(sku="BLX-1", name="BLX-1 battery", quantity=2, unit_price=Decimal("89.00"))
    ]
    facts = order_facts(order)
    assert facts == OM_CANCELLED
    assert (facts.shipment, facts.return_, facts.refund) == (None, None, None)


# --- the canonical demo orders, built by bot.db.demo ----------------------------------------


def test_the_samples_are_the_demo_orders() -> None:
    demo = {order.number: order_facts(order) for order in canonical_orders(today=TODAY)}
    for sample in (OM_SHIPPED, OM_PROCESSING, OM_CANCELLED, BT_SHIPPED, BT_PROCESSING):
        assert demo[sample.number] == sample


@pytest.mark.parametrize(
    ("number", "status", "window"),
    [
        # om-system: an aim with no start point, so no window (see expected_delivery_window)
        ("OM-104233", OrderStatus.SHIPPED, None),
        ("OM-104261", OrderStatus.PROCESSING, None),
        ("OM-104270", OrderStatus.CANCELLED, None),
        ("OM-104250", OrderStatus.RETURNED, None),
        ("BT-200517", OrderStatus.SHIPPED, (dt.date(2026, 11, 30), dt.date(2026, 12, 7))),
        ("BT-200552", OrderStatus.PROCESSING, (dt.date(2026, 12, 2), dt.date(2026, 12, 10))),
        ("BT-200530", OrderStatus.RETURNED, None),
        ("BT-200541", OrderStatus.RETURNED, None),
    ],
)
def test_demo_order_reports(
    number: str, status: OrderStatus, window: tuple[dt.date, dt.date] | None
) -> None:
    order = next(o for o in canonical_orders(today=TODAY) if o.number == number)
    facts = order_facts(order)
    assert proof_matches(facts, order.customer_email.upper(), None)
    assert proof_matches(facts, None, order.postcode.lower())
    assert not proof_matches(facts, "someone.else@example.com", "00000")
    report = order_status_report(facts, load_store(facts.store_id), TODAY)
    assert report.status is status
    expected = None if report.expected_from is None else (report.expected_from, report.expected_to)
    assert expected == window
    assert not report.estimate_passed
    if report.carrier is not None:  # every carrier of the demo data has a tracking page
        assert report.tracking_url("en") is not None, report.carrier


def test_every_generated_demo_order_gets_a_consistent_report() -> None:
    # The demo database adds generated orders to the canonical ones: every one of them must
    # convert and report without error, with a tracking page for its carrier.
    orders = generate_orders(today=TODAY)
    assert orders
    for order in orders:
        facts = order_facts(order)
        report = order_status_report(facts, load_store(facts.store_id), TODAY)
        if report.carrier is not None:
            assert report.tracking_url("en") is not None, report.carrier
        in_progress = report.status in {
            OrderStatus.PLACED,
            OrderStatus.PROCESSING,
            OrderStatus.SHIPPED,
        }
        # Only btomic computes an (indicative) window: om-system's FAQ gives no start point.
        has_window = in_progress and facts.store_id == "btomic"
        assert (report.expected_to is not None) is has_window, facts.number
        assert not report.estimate_passed or in_progress
        assert report.items
