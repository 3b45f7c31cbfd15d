"""The composed answers (bot/replies.py): facts from the store policies and orders, both languages.

Expected values are taken from the store policies (data/stores/*/facts.yml) and the sample orders
wherever possible, so a fact changed in one place only fails here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

import pytest

from bot.business_days import add_business_days
from bot.countries import country_name
from bot.db.models import OrderStatus, PaymentMethod, RefundStatus
from bot.delivery import delivery_eligibility
from bot.i18n import LANGUAGES, Lang, format_date, format_money
from bot.orders import OrderFacts, RefundFacts, ReturnFacts, order_status_report
from bot.refunds import refund_policy, refund_timeline
from bot.replies import (
    contact_route,
    delivery_answer,
    klarna_answer,
    lookup_locked_answer,
    order_status_answer,
    other_store_note,
    refund_answer,
    refund_policy_answer,
    technical_problem,
)
from bot.stores import StorePolicy, load_store
from bot.typography import typeset
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

OM = load_store("om-system")
BT = load_store("btomic")
NOT_DOCUMENTED = {"fr": "je préfère donc ne pas deviner", "en": "so I'd rather not guess"}

# BT-200530 of data/stores/<shop>/demo_orders.yml: returned, received yesterday, refund pending.
BT_REFUND_PENDING = OrderFacts(
    number="BT-200530",
    store_id="btomic",
    customer_email="sophie.bernard@example.fr",
    postcode="69002",
    country="FR",
    status=OrderStatus.RETURNED,
    placed_on=days(-25),
    payment_method=PaymentMethod.PAYPAL,
    currency="USD",
    return_=ReturnFacts(received_on=days(-1), accepted_on=days(-1)),
    refund=RefundFacts(RefundStatus.PENDING, PaymentMethod.PAYPAL, Decimal("199.00"), "USD"),
)


def status_text(facts: OrderFacts, lang: Lang, *, today: dt.date = TODAY, store: str = "") -> str:
    policy = load_store(facts.store_id)
    report = order_status_report(facts, policy, today)
    return order_status_answer(report, policy, lang, conversation_store=store or facts.store_id)


def refund_text(facts: OrderFacts, lang: Lang, *, today: dt.date = TODAY) -> str:
    policy = load_store(facts.store_id)
    timeline = refund_timeline(facts, policy, today)
    return refund_answer(timeline, facts, policy, lang, conversation_store=facts.store_id)


# --- contact route and failures ------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("policy", [OM, BT], ids=lambda p: p.id)
def test_contact_route_gives_only_the_documented_means(policy: StorePolicy, lang: Lang) -> None:
    route = contact_route(policy, lang)
    assert policy.contact.email in route
    if policy.contact.phone is None:
        assert "+" not in route and "téléphone" not in route
    else:
        # As the customer reads them: in French, with no-break spaces (bot/typography.py).
        assert typeset(policy.contact.phone, lang) in route
        assert policy.contact.hours is not None
        assert typeset(policy.contact.hours.in_language(lang), lang) in route


@pytest.mark.parametrize("lang", LANGUAGES)
def test_technical_problem_apologises_with_the_contact_route(lang: Lang) -> None:
    text = technical_problem(BT, lang)
    assert ("Désolé" if lang == "fr" else "Sorry") in text
    assert contact_route(BT, lang) in text
    assert technical_problem(None, lang).endswith(".")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_locked_lookup_offers_a_person_and_the_contact(lang: Lang) -> None:
    text = lookup_locked_answer(OM, lang)
    assert OM.contact.email in text
    assert ("transmette" if lang == "fr" else "pass your request on") in text


# --- order status --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_shipped_om_order_gives_carrier_tracking_link_and_the_faq_aim(lang: Lang) -> None:
    text = status_text(OM_SHIPPED, lang)
    assert OM_SHIPPED.shipment is not None
    assert "DHL" in text
    assert "JD014600003828461025" in text
    # The link ends the message, so no full stop sticks to it.
    assert text.endswith("tracking-id=JD014600003828461025")
    low, high = OM.delivery.delivery_business_days or (0, 0)
    # Q3 is an aim with no start point: quoted as an aim, and no date is computed from it.
    assert (
        f"Nous nous efforçons de livrer dans un délai de {low} à {high} jours ouvrables"
        if lang == "fr"
        else f"We aim to deliver within {low} to {high} business days"
    ) in text
    for wrong in ("prévue", "expected", "à compter de la commande", "from the order"):
        assert wrong not in text
    assert format_date(add_business_days(OM_SHIPPED.placed_on, high), lang) not in text
    # Q12: the carrier first, then the shop.
    assert ("vérifiez d'abord auprès de DHL" if lang == "fr" else "check with DHL first") in text
    assert "OM SYSTEM OM-1 Mark II" in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_btomic_window_before_dispatch_adds_processing_and_delivery(lang: Lang) -> None:
    text = status_text(BT_PROCESSING, lang)
    processing = BT.delivery.processing_business_days
    delivery = BT.delivery.delivery_business_days
    assert processing is not None and delivery is not None
    latest = add_business_days(BT_PROCESSING.placed_on, processing[1] + delivery[1])
    assert format_date(latest, lang) in text
    assert ("préparation" if lang == "fr" else "processing") in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_old_order_is_never_called_late(lang: Lang) -> None:
    # The FAQs give an aim (om-system) and usual times (btomic), not deadlines: long after the
    # estimate, the answer gives the contact route and no lateness.
    later = TODAY + dt.timedelta(days=40)
    for facts, policy in ((OM_SHIPPED, OM), (BT_SHIPPED, BT), (BT_PROCESSING, BT)):
        text = status_text(facts, lang, today=later)
        for late in ("retard", "au plus tard", "late", "expected by", "désolé", "sorry"):
            assert not re.search(rf"\b{late}\b", text.lower()), (facts.number, late)
        assert contact_route(policy, lang) in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_other_store_order_says_which_shop_and_uses_its_facts(lang: Lang) -> None:
    text = status_text(BT_SHIPPED, lang, store="om-system")
    assert text.startswith(other_store_note(BT_SHIPPED.number, BT, lang))
    assert BT.name in text
    delivery = BT.delivery.delivery_business_days
    assert delivery is not None
    assert str(delivery[1]) in text
    assert BT.name not in status_text(BT_SHIPPED, lang)  # same shop: no note


@pytest.mark.parametrize("lang", LANGUAGES)
def test_cancelled_order_has_no_window_and_no_tracking(lang: Lang) -> None:
    text = status_text(OM_CANCELLED, lang)
    assert ("annulée" if lang == "fr" else "cancelled") in text
    assert "http" not in text
    assert ("prévue" if lang == "fr" else "Expected") not in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_processing_order_is_not_shipped_yet(lang: Lang) -> None:
    text = status_text(OM_PROCESSING, lang)
    assert ("préparation" if lang == "fr" else "being processed") in text
    assert "http" not in text


# --- refunds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_issued_refund_gives_date_amount_and_method(lang: Lang) -> None:
    text = refund_text(OM_RETURNED, lang)
    refund = OM_RETURNED.refund
    assert refund is not None and refund.issued_on is not None
    assert format_date(refund.issued_on, lang) in text
    assert format_money(refund.amount, refund.currency, lang) in text
    assert "Klarna" in text
    assert ("moyen de paiement d'origine" if lang == "fr" else "original payment method") in text
    # om-system's FAQ says nothing about banks: btomic's sentence must not leak into it.
    assert ("banque" if lang == "fr" else "bank") not in text
    assert OM.returns.refund_timing_depends_on_bank is None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_issued_btomic_refund_adds_its_faq_bank_note(lang: Lang) -> None:
    issued = dataclasses.replace(
        BT_REFUND_PENDING,
        refund=RefundFacts(
            RefundStatus.ISSUED, PaymentMethod.PAYPAL, Decimal("199.00"), "USD", issued_on=TODAY
        ),
    )
    text = refund_text(issued, lang)
    assert BT.returns.refund_timing_depends_on_bank is True
    assert ("banque émettrice" if lang == "fr" else "card issuer") in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pending_btomic_refund_gives_the_documented_window(lang: Lang) -> None:
    text = refund_text(BT_REFUND_PENDING, lang)
    low, high = BT.returns.refund_business_days or (0, 0)
    received = days(-1)
    assert format_date(add_business_days(received, low), lang) in text
    assert format_date(add_business_days(received, high), lang) in text
    assert (f"{low} à {high} jours ouvrables" if lang == "fr" else f"{low} to {high}") in text
    assert "PayPal" in text


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("later", [0, 30])
def test_refund_awaiting_acceptance_gives_the_earliest_date_and_never_lateness(
    lang: Lang, later: int
) -> None:
    received = dataclasses.replace(BT_REFUND_PENDING, return_=ReturnFacts(received_on=days(-3)))
    text = refund_text(received, lang, today=TODAY + dt.timedelta(days=later))
    low, _ = BT.returns.refund_business_days or (0, 0)
    earliest = format_date(add_business_days(days(-3), low), lang)
    assert (f"au plus tôt le {earliest}" if lang == "fr" else f"{earliest} at the earliest") in text
    for late in ("écoulé", "dépassé", "retard", "passed", "late", "overdue", "désolé", "sorry"):
        assert not re.search(rf"\b{late}\b", text.lower()), late


@pytest.mark.parametrize("lang", LANGUAGES)
def test_refund_late_only_once_the_delay_from_the_acceptance_has_passed(lang: Lang) -> None:
    high = (BT.returns.refund_business_days or (0, 0))[1]
    accepted_on = BT_REFUND_PENDING.return_.accepted_on if BT_REFUND_PENDING.return_ else None
    assert accepted_on is not None
    last_day = add_business_days(accepted_on, high)
    on_time = refund_text(BT_REFUND_PENDING, lang, today=last_day)
    late = refund_text(BT_REFUND_PENDING, lang, today=last_day + dt.timedelta(days=1))
    passed = "Ce délai est écoulé" if lang == "fr" else "This time frame has passed"
    assert passed not in on_time
    assert passed in late and contact_route(BT, lang) in late


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pending_om_refund_says_no_delay_is_documented(lang: Lang) -> None:
    pending = dataclasses.replace(
        OM_RETURNED,
        refund=RefundFacts(RefundStatus.PENDING, PaymentMethod.KLARNA, Decimal("749.00"), "EUR"),
    )
    text = refund_text(pending, lang)
    assert NOT_DOCUMENTED[lang] in text
    assert contact_route(OM, lang) in text
    assert "jours ouvrables" not in text and "business days" not in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_return_yet_explains_the_return_route(lang: Lang) -> None:
    text = refund_text(OM_SHIPPED, lang)
    assert contact_route(OM, lang) in text
    # Q14: the 14 days are never stated without "sous certaines conditions", and the route
    # is the return policy page.
    assert (
        f"dans les {OM.returns.window_days} jours suivant l'achat, sous certaines conditions"
        if lang == "fr"
        else f"within {OM.returns.window_days} days of purchase, under certain conditions"
    ) in text
    assert ("«\u202fPolitique de retour\u202f»" if lang == "fr" else "Return Policy page") in text
    on_its_way = dataclasses.replace(OM_SHIPPED, return_=ReturnFacts(received_on=None))
    assert ("pas encore reçu" if lang == "fr" else "haven't received") in refund_text(
        on_its_way, lang
    )


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("refund", [None, "pending"])
def test_a_cancelled_orders_refund_is_not_answered_with_return_advice(
    lang: Lang, refund: str | None
) -> None:
    facts = OM_CANCELLED
    if refund:
        facts = dataclasses.replace(
            OM_CANCELLED,
            refund=RefundFacts(
                RefundStatus.PENDING, PaymentMethod.MASTERCARD, Decimal("178.00"), "EUR"
            ),
        )
    text = refund_text(facts, lang)
    assert ("a été annulée" if lang == "fr" else "was cancelled") in text
    assert NOT_DOCUMENTED[lang] in text and contact_route(OM, lang) in text
    for advice in ("retour", "return", "14"):
        assert advice not in text.lower(), advice


@pytest.mark.parametrize("lang", LANGUAGES)
def test_refund_policy_without_an_order(lang: Lang) -> None:
    bt_text = refund_policy_answer(refund_policy(BT), BT, lang, offer_lookup=True)
    low, high = BT.returns.refund_business_days or (0, 0)
    assert (f"{low} à {high}" if lang == "fr" else f"{low} to {high}") in bt_text
    assert ("numéro de commande" if lang == "fr" else "order number") in bt_text
    om_text = refund_policy_answer(refund_policy(OM), OM, lang, offer_lookup=False)
    assert NOT_DOCUMENTED[lang] in om_text
    assert OM.contact.email in om_text
    assert ("numéro de commande" if lang == "fr" else "order number") not in om_text


# --- delivery countries and Klarna ----------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_om_system_does_not_deliver_to_jersey(lang: Lang) -> None:
    text = delivery_answer(delivery_eligibility(OM, "JE"), OM, lang, asked="JE")
    assert text.startswith("Désolé" if lang == "fr" else "Sorry")
    for area in OM.delivery.excluded_areas:
        assert country_name(area, lang) in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_om_system_delivers_to_switzerland_with_klarna(lang: Lang) -> None:
    text = delivery_answer(delivery_eligibility(OM, "CH"), OM, lang, asked="CH")
    assert text.startswith("Oui" if lang == "fr" else "Yes")
    assert "Klarna" in text
    assert ("Klarna y est proposé" if lang == "fr" else "Klarna is offered there") in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_uk_postcode_in_an_excluded_area(lang: Lang) -> None:
    text = delivery_answer(delivery_eligibility(OM, "GB", "EH1 1YZ"), OM, lang, asked="GB")
    assert ("code postal" if lang == "fr" else "postcode") in text
    assert country_name("GB-SCT", lang) in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_country_gives_the_list_or_says_there_is_none(lang: Lang) -> None:
    om_text = delivery_answer(delivery_eligibility(OM, None), OM, lang)
    for code in OM.delivery.countries or ():
        assert country_name(code, lang) in om_text
    bt_text = delivery_answer(delivery_eligibility(BT, None), BT, lang)
    threshold = BT.delivery.free_shipping_threshold
    assert threshold is not None
    assert str(int(threshold.amount)) in bt_text
    assert ("supérieures à" if lang == "fr" else "over") in bt_text
    # "nos clients du monde entier" is about payment: no promise to deliver anywhere.
    assert ("monde entier" if lang == "fr" else "worldwide") not in bt_text
    assert NOT_DOCUMENTED[lang] in bt_text and contact_route(BT, lang) in bt_text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_not_listed_and_unknown_countries(lang: Lang) -> None:
    not_listed = delivery_answer(delivery_eligibility(OM, "US"), OM, lang, asked="US")
    assert not_listed.startswith("Désolé" if lang == "fr" else "Sorry")
    unknown = delivery_answer(delivery_eligibility(OM, "Narnia"), OM, lang, asked="Narnia")
    assert "Narnia" in unknown


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("country", ["JP", "AU", "GB-SCT", "US"])
def test_btomic_neither_promises_nor_refuses_a_country(lang: Lang, country: str) -> None:
    text = delivery_answer(delivery_eligibility(BT, country), BT, lang, asked=country)
    assert not text.startswith(("Oui", "Yes", "Désolé", "Sorry"))
    assert text.startswith("Notre FAQ ne donne pas" if lang == "fr" else "Our FAQ doesn't give")
    assert NOT_DOCUMENTED[lang] in text
    assert contact_route(BT, lang) in text
    processing = BT.delivery.processing_business_days
    delivery = BT.delivery.delivery_business_days
    assert processing is not None and delivery is not None
    assert (f"{processing[0]} à {processing[1]}" if lang == "fr" else "1 to 2") in text
    assert ("généralement" if lang == "fr" else "usually") in text
    assert (f"{delivery[0]} à {delivery[1]}" if lang == "fr" else "7 to 12") in text
    assert ("livraison standard" if lang == "fr" else "standard delivery") in text
    assert "50" in text


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("country", ["GB", "England", "Wales", "Royaume-Uni"])
def test_uk_without_a_postcode_names_the_refused_areas(lang: Lang, country: str) -> None:
    text = delivery_answer(delivery_eligibility(OM, country), OM, lang, asked=country)
    assert text.startswith(
        "Oui, nous livrons au Royaume-Uni, mais pas partout."
        if lang == "fr"
        else "Yes, we deliver to the United Kingdom, but not everywhere."
    )
    for area in OM.delivery.excluded_areas:
        assert country_name(area, lang) in text, area
    # "notamment": the FAQ's list is not exhaustive, and the answer says so.
    assert ("n'est pas exhaustive" if lang == "fr" else "not exhaustive") in text
    assert ("code postal" if lang == "fr" else "postcode") in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_uk_postcode_outside_the_refused_areas(lang: Lang) -> None:
    text = delivery_answer(delivery_eligibility(OM, "GB", "SW1A 1AA"), OM, lang, asked="GB")
    assert text.startswith("Oui" if lang == "fr" else "Yes")
    assert ("n'étant pas exhaustive" if lang == "fr" else "not exhaustive") in text
    assert contact_route(OM, lang) in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_klarna_per_country(lang: Lang) -> None:
    yes = klarna_answer(delivery_eligibility(OM, "CH"), OM, lang)
    assert yes is not None and yes.startswith("Oui" if lang == "fr" else "Yes")
    # France is delivered but not among the Klarna countries: the answer lists them.
    assert "FR" not in OM.payment.klarna_countries
    no = klarna_answer(delivery_eligibility(OM, "FR"), OM, lang)
    assert no is not None and no.startswith("Non" if lang == "fr" else "No")
    for code in OM.payment.klarna_countries:
        assert country_name(code, lang) in no
    btomic = klarna_answer(delivery_eligibility(BT, "CH"), BT, lang)
    assert btomic is not None
    assert NOT_DOCUMENTED[lang] in btomic and BT.contact.email in btomic
    assert klarna_answer(delivery_eligibility(OM, None), OM, lang) is None
