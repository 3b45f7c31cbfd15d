"""The bot's composed answers, in French and English, from store policies and order data.

Which sentences an answer holds is decided here, from the facts (an order's status, the
shop's documented delays, whether a country is delivered); their wording is data: each
sentence is a *part* (``part_...``) of ``data/stores/_common/texts.yml``, which a shop may word
its own way in its ``texts.yml``, filled with the values given here (the order's number and
dates, the country names, the contact route...) by :func:`bot.answers.library.render_part`,
the renderer of the answer service. So an answer's wording is edited, checked (``python -m
bot.answers check``) and live on the next turn like any other text; the faithfulness and
typography tests (``tests/answers/``) read every answer the actions compose from them.

No database, no settings, no Rasa: the actions gather the facts and call these functions.

Rules the texts follow (docs/intents.md):

* store facts (delays, contact route, countries, Klarna countries, thresholds) come from the
  :class:`~bot.stores.StorePolicy`, never from literals here;
* where the store's FAQ is silent the answer says so ("I'd rather not guess") and gives the
  store's contact route;
* an order of the other shop is answered with that shop's facts and says which shop it is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bot.answers.library import render_part
from bot.countries import country_name, country_name_with_preposition
from bot.db.models import OrderStatus
from bot.delivery import DeliveryEligibility, EligibilityReason
from bot.i18n import Lang, format_date, format_money, payment_method_name
from bot.orders import OrderFacts, OrderStatusReport, WindowBasis
from bot.refunds import RefundPolicySummary, RefundState, RefundTimeline
from bot.stores import BusinessDayRange, Money, StorePolicy
from bot.typography import typeset

__all__ = [
    "contact_route",
    "delivery_answer",
    "klarna_answer",
    "lookup_locked_answer",
    "order_status_answer",
    "other_store_note",
    "refund_answer",
    "refund_policy_answer",
    "technical_problem",
]

logger = logging.getLogger(__name__)

# The apology when even its text cannot be rendered (a broken texts file): the customer
# still gets an answer.
_LAST_RESORT = {
    "fr": (
        "Désolé, un problème technique m'empêche de vous répondre pour le moment. Réessayez "
        "un peu plus tard ou contactez le service client de la boutique."
    ),
    "en": (
        "Sorry, a technical problem is preventing me from answering right now. Please try "
        "again a little later or contact the shop's customer service."
    ),
}


def _say(name: str, store: StorePolicy | str | None, lang: Lang, **values: Any) -> str:
    """The part ``name`` in the shop's wording, filled with ``values`` (None: left out)."""
    store_id = store.id if isinstance(store, StorePolicy) else store
    arguments = {key: "" if value is None else value for key, value in values.items()}
    return render_part(name, store_id, lang, arguments)


# --- small pieces -----------------------------------------------------------------------------


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _join(items: Sequence[str], lang: Lang, store: StorePolicy | None = None) -> str:
    """'A, B et C' / 'A, B and C'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {_say('part_and', store, lang)} {items[-1]}"


def _days(days: BusinessDayRange, lang: Lang, store: StorePolicy | None = None) -> str:
    """'3 à 4 jours ouvrables' / '3 to 4 business days' ('1 jour ouvrable' for one)."""
    low, high = days
    if low == high:
        name = "part_one_business_day" if high == 1 else "part_business_days"
        return _say(name, store, lang, days=high)
    return _say("part_business_days_range", store, lang, low=low, high=high)


def _amount(money: Money, lang: Lang) -> str:
    """A threshold as the FAQs write it: '$50' / '50 $' for a whole amount."""
    text = format_money(money.amount, money.currency, lang)
    if money.amount == money.amount.to_integral_value():
        text = text.replace(",00", "").replace(".00", "")
    return text


def _in(code: str, lang: Lang) -> str:
    """'en Suisse' / 'in Switzerland'."""
    return country_name_with_preposition(code, lang)


def _to(code: str, lang: Lang, store: StorePolicy | None = None) -> str:
    """Where one delivers: 'en Suisse' / 'to Switzerland', 'to the Isle of Man'."""
    return _say(
        "part_deliver_to", store, lang, in_place=_in(code, lang), place=_listed_name(code, lang)
    )


def _listed_name(code: str, lang: Lang) -> str:
    """A name as it stands in a list: 'Pays-Bas' / 'the Netherlands', 'the Isle of Man'."""
    if lang == "fr":
        return country_name(code, lang)
    phrase = country_name_with_preposition(code, lang)
    for preposition in ("in ", "on "):
        if phrase.startswith(preposition):
            return phrase[len(preposition) :]
    return country_name(code, lang)


def _names(codes: Sequence[str], lang: Lang, store: StorePolicy | None = None) -> str:
    return _join([_listed_name(code, lang) for code in codes], lang, store)


def _date(day: dt.date, lang: Lang) -> str:
    return format_date(day, lang)


def _on(day: dt.date | None, lang: Lang, store: StorePolicy | None = None) -> str | None:
    """'le lundi 24 ...' / 'on Monday 24 ...'; None without a date."""
    return None if day is None else _say("part_on_date", store, lang, date=_date(day, lang))


def _between(first: dt.date, last: dt.date, lang: Lang, store: StorePolicy | None = None) -> str:
    """'entre le lundi 24 ... et le mardi 25 ...' / 'between Monday 24 ... and Tuesday 25 ...'."""
    if first == last:
        return _say("part_on_date", store, lang, date=_date(first, lang))
    return _say("part_between_dates", store, lang, first=_date(first, lang), last=_date(last, lang))


def _quoted(asked: str | None, lang: Lang, store: StorePolicy | None = None) -> str | None:
    """The customer's words, quoted (« Narnia » / "Narnia"); None when there are none."""
    return _say("part_quoted", store, lang, text=asked) if asked else None


# --- contact and failures ---------------------------------------------------------------------


def _contact_route(policy: StorePolicy, lang: Lang) -> str:
    """See :func:`contact_route`."""
    contact = policy.contact
    team = _lower_first(policy.support_team.in_language(lang))
    if not contact.phone:
        return _say("part_contact_route", policy, lang, team=team, email=contact.email)
    if contact.hours is None:
        return _say(
            "part_contact_route_phone",
            policy,
            lang,
            team=team,
            email=contact.email,
            phone=contact.phone,
        )
    return _say(
        "part_contact_route_phone_hours",
        policy,
        lang,
        team=team,
        email=contact.email,
        phone=contact.phone,
        hours=contact.hours.in_language(lang),
    )


def _technical_problem(policy: StorePolicy | None, lang: Lang) -> str:
    """See :func:`technical_problem`."""
    try:
        if policy is None:
            route = _say("part_contact_route_unknown", None, lang)
        else:
            route = _contact_route(policy, lang)
        return _say("part_technical_problem", policy, lang, route=route)
    except Exception:
        logger.exception("Cannot render the apology; sending the built-in one")
        return _LAST_RESORT[lang]


def _lookup_locked_answer(policy: StorePolicy, lang: Lang) -> str:
    """See :func:`lookup_locked_answer`."""
    return _say("part_lookup_locked", policy, lang, route=_contact_route(policy, lang))


def _other_store_note(number: str, order_policy: StorePolicy, lang: Lang) -> str:
    """See :func:`other_store_note`."""
    shop = order_policy.display_name.in_language(lang)
    return _say("part_other_store_note", order_policy, lang, number=number, shop=shop)


# --- order status -----------------------------------------------------------------------------


def _order_label(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> str:
    items = report.items_summary
    if not items:
        return report.number
    return _say("part_order_label", policy, lang, number=report.number, items=items)


_STATUS_PARTS = {
    OrderStatus.PLACED: "part_status_placed",
    OrderStatus.PROCESSING: "part_status_processing",
    OrderStatus.SHIPPED: "part_status_shipped",
    OrderStatus.DELIVERED: "part_status_delivered_on",
    OrderStatus.CANCELLED: "part_status_cancelled",
    OrderStatus.RETURNED: "part_status_returned",
}


def _status_sentence(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> str:
    carrier = report.carrier if report.status is OrderStatus.SHIPPED else None
    name = _STATUS_PARTS[report.status]
    if report.status is OrderStatus.DELIVERED and report.delivered_on is None:
        name = "part_status_delivered"
    return _say(
        name,
        policy,
        lang,
        order=_order_label(report, policy, lang),
        placed=_date(report.placed_on, lang),
        shipped=_on(report.shipped_on, lang, policy),
        delivered=_on(report.delivered_on, lang, policy),
        by_carrier=_say("part_by_carrier", policy, lang, carrier=carrier) if carrier else None,
    )


def _tracking_sentence(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> str | None:
    if not report.tracking_number:
        return None
    url = report.tracking_url(lang)
    return _say(
        "part_tracking_link" if url else "part_tracking_number",
        policy,
        lang,
        carrier=report.carrier,
        tracking_number=report.tracking_number,
        url=url,
    )


def _depending(policy: StorePolicy, lang: Lang) -> str | None:
    factors = policy.delivery.delivery_time_factors
    if factors is None:
        return None
    return _say("part_depending_on", policy, lang, factors=factors.in_language(lang))


def _usually(usual: bool | None, policy: StorePolicy, lang: Lang) -> str | None:
    return _say("part_usually", policy, lang) if usual else None


def _window_sentence(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> str | None:
    """btomic's indicative window: its FAQ's delays (usual, standard), then the dates."""
    if report.expected_from is None or report.expected_to is None:
        return None
    delivery = policy.delivery
    days = delivery.delivery_business_days
    if days is None:  # no window is computed then; kept for the type checker
        return None
    window = _between(report.expected_from, report.expected_to, lang, policy)
    if report.window_basis is WindowBasis.SHIPPING_DATE:
        return _say(
            "part_window_after_dispatch",
            policy,
            lang,
            days=_days(days, lang, policy),
            depending=_depending(policy, lang),
            window=window,
        )
    processing = delivery.processing_business_days or days
    return _say(
        "part_window_from_order",
        policy,
        lang,
        usually=_usually(delivery.processing_time_is_usual, policy, lang),
        processing=_days(processing, lang, policy),
        days=_days(days, lang, policy),
        depending=_depending(policy, lang),
        window=window,
    )


def _delay_sentences(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> list[str]:
    """For an order still on its way: the FAQ's delays, as estimates, never as deadlines."""
    if report.status not in (OrderStatus.PLACED, OrderStatus.PROCESSING, OrderStatus.SHIPPED):
        return []
    # A store whose FAQ gives no start point (om-system's aim of 3 to 4 business days) gets
    # its delay quoted, with no date computed from it.
    window = _window_sentence(report, policy, lang) or _delay_sentence(policy, lang)
    parts = [window, _longer_delays_sentence(policy, lang)]
    if report.estimate_passed:
        parts.append(_say("part_delay_question", policy, lang, route=_contact_route(policy, lang)))
    return [part for part in parts if part]


def _carrier_first_sentence(
    report: OrderStatusReport, policy: StorePolicy, lang: Lang
) -> str | None:
    """om-system Q12: with a tracking number, ask the carrier first, then the shop."""
    if not policy.tracking.carrier_first or not report.tracking_number:
        return None
    if report.status is not OrderStatus.SHIPPED:
        return None
    carrier = report.carrier or _say("part_the_carrier", policy, lang)
    route = _contact_route(policy, lang)
    return _say("part_carrier_first", policy, lang, carrier=carrier, route=route)


def _order_status_answer(
    report: OrderStatusReport, policy: StorePolicy, lang: Lang, *, conversation_store: str
) -> str:
    """See :func:`order_status_answer`."""
    parts: list[str | None] = []
    if policy.id != conversation_store:
        parts.append(_other_store_note(report.number, policy, lang))
    parts.append(_status_sentence(report, policy, lang))
    parts.extend(_delay_sentences(report, policy, lang))
    parts.append(_carrier_first_sentence(report, policy, lang))
    # Last: it may end with the tracking link, which a trailing full stop would break in the
    # chat widget's and the e-mail client's link detection.
    if report.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        parts.append(_tracking_sentence(report, policy, lang))
    return " ".join(part for part in parts if part)


# --- refunds ------------------------------------------------------------------------------------


def _return_window(summary: RefundPolicySummary, policy: StorePolicy, lang: Lang) -> str | None:
    """'... dans les 14 jours suivant l'achat, sous certaines conditions' (om-system Q14)."""
    days = summary.return_window_days
    if days is None:
        return None
    conditions = (
        _say("part_under_conditions", policy, lang) if summary.return_window_conditional else None
    )
    return _say("part_return_window", policy, lang, days=days, conditions=conditions)


def _return_route(summary: RefundPolicySummary, policy: StorePolicy, lang: Lang) -> str:
    """How to start a return, as the FAQ says: the window and policy page, or the service."""
    route = _contact_route(policy, lang)
    name = (
        "part_return_route_policy_page"
        if summary.return_route == "policy_page"
        else "part_return_route_contact"
    )
    parts = [_return_window(summary, policy, lang), _say(name, policy, lang, route=route)]
    return " ".join(part for part in parts if part)


def _bank_note(policy: StorePolicy, lang: Lang) -> str:
    # Only for a store whose FAQ says it (btomic, Retours 3): callers check
    # `timing_depends_on_bank` first.
    return _say("part_bank_note", policy, lang)


def _method_phrase(
    timeline: RefundTimeline, facts: OrderFacts, policy: StorePolicy, lang: Lang
) -> str | None:
    if timeline.method is None:
        return None
    name = payment_method_name(timeline.method.value, lang)
    if timeline.method != facts.payment_method:
        return name
    return _say("part_original_method", policy, lang, method=name)


def _refund_no_return(
    timeline: RefundTimeline, policy: StorePolicy, lang: Lang, number: str
) -> str:
    if timeline.return_on_its_way:
        # What the order data says, and no more: when a refund starts is the FAQ's to say.
        first = _say("part_return_not_received", policy, lang, number=number)
        route = _contact_route(policy, lang)
        return f"{first} {_say('part_return_question', policy, lang, route=route)}"
    first = _say("part_no_return_recorded", policy, lang, number=number)
    return f"{first} {_return_route(timeline.policy, policy, lang)}"


def _return_received_sentence(timeline: RefundTimeline, policy: StorePolicy, lang: Lang) -> str:
    """What the order data says of the return: received (and accepted) on which days."""
    received, accepted = timeline.return_received_on, timeline.return_accepted_on
    if received is None:
        name = "part_refund_pending"
    elif accepted is None:
        name = "part_return_received"
    elif accepted == received:
        name = "part_return_received_and_accepted"
    else:
        name = "part_return_received_then_accepted"
    return _say(
        name,
        policy,
        lang,
        number=timeline.order_number,
        received=_date(received, lang) if received else None,
        accepted=_date(accepted, lang) if accepted else None,
    )


def _refund_rule(
    timeline: RefundTimeline, delay: BusinessDayRange, policy: StorePolicy, lang: Lang
) -> str:
    """The FAQ's delay, counted from the acceptance, and what it gives for this return."""
    dates = None
    if timeline.expected_from is not None and timeline.expected_to is not None:
        window = _between(timeline.expected_from, timeline.expected_to, lang, policy)
        dates = _say("part_refund_dates", policy, lang, window=window)
    elif timeline.expected_from is not None:  # acceptance awaited: only the earliest date
        earliest = _date(timeline.expected_from, lang)
        dates = _say("part_refund_earliest", policy, lang, date=earliest)
    return _say("part_refund_rule", policy, lang, days=_days(delay, lang, policy), dates=dates)


def _refund_pending(
    timeline: RefundTimeline, facts: OrderFacts, policy: StorePolicy, lang: Lang
) -> str:
    first = _return_received_sentence(timeline, policy, lang)
    route = _contact_route(policy, lang)
    delay = timeline.policy.refund_business_days
    if delay is None:
        return f"{first} {_say('part_refund_delay_unknown_for_order', policy, lang, route=route)}"
    parts = [first, _refund_rule(timeline, delay, policy, lang)]
    method = _method_phrase(timeline, facts, policy, lang)
    if method is not None and timeline.policy.refund_to_original_method:
        parts.append(_say("part_refund_goes_to", policy, lang, method=method))
    if timeline.policy.timing_depends_on_bank:
        parts.append(_bank_note(policy, lang))
    if timeline.is_overdue:
        # Only counted from a recorded acceptance: the FAQ's "nous traiterons" is a commitment.
        parts.append(_say("part_refund_overdue", policy, lang, route=route))
    return " ".join(parts)


def _refund_issued(
    timeline: RefundTimeline, facts: OrderFacts, policy: StorePolicy, lang: Lang
) -> str:
    amount = None
    if timeline.amount is not None and timeline.currency:
        amount = format_money(Decimal(timeline.amount), timeline.currency, lang)
    method = _method_phrase(timeline, facts, policy, lang)
    name = "part_refund_issued"
    if amount and method:
        name = "part_refund_issued_amount_method"
    elif amount:
        name = "part_refund_issued_amount"
    elif method:
        name = "part_refund_issued_method"
    text = _say(
        name,
        policy,
        lang,
        number=timeline.order_number,
        issued=_on(timeline.issued_on, lang, policy),
        amount=amount,
        method=method,
    )
    if not timeline.policy.timing_depends_on_bank:
        # om-system's FAQ says nothing about banks: nothing is added.
        return text
    return f"{text} {_bank_note(policy, lang)}"


def _refund_of_cancelled_order(timeline: RefundTimeline, policy: StorePolicy, lang: Lang) -> str:
    """A cancelled order: no return to wait for, and the FAQs say nothing of its refund."""
    pending = timeline.state is RefundState.PENDING
    name = "part_cancelled_refund_pending" if pending else "part_cancelled_order"
    first = _say(name, policy, lang, number=timeline.order_number)
    route = _contact_route(policy, lang)
    return f"{first} {_say('part_cancelled_refund_unknown', policy, lang, route=route)}"


def _refund_answer(
    timeline: RefundTimeline,
    facts: OrderFacts,
    policy: StorePolicy,
    lang: Lang,
    *,
    conversation_store: str,
) -> str:
    """See :func:`refund_answer`."""
    parts: list[str] = []
    if policy.id != conversation_store:
        parts.append(_other_store_note(timeline.order_number, policy, lang))
    if timeline.order_status is OrderStatus.CANCELLED and timeline.state is not RefundState.ISSUED:
        parts.append(_refund_of_cancelled_order(timeline, policy, lang))
    elif timeline.state is RefundState.ISSUED:
        parts.append(_refund_issued(timeline, facts, policy, lang))
    elif timeline.state is RefundState.PENDING:
        parts.append(_refund_pending(timeline, facts, policy, lang))
    else:
        parts.append(_refund_no_return(timeline, policy, lang, timeline.order_number))
    return " ".join(parts)


def _refund_policy_answer(
    summary: RefundPolicySummary, policy: StorePolicy, lang: Lang, *, offer_lookup: bool
) -> str:
    """See :func:`refund_policy_answer`."""
    route = _contact_route(policy, lang)
    delay = summary.refund_business_days
    parts: list[str | None] = []
    if delay is None:
        parts.append(_say("part_refund_delay_unknown", policy, lang, route=route))
        parts.append(_return_window(summary, policy, lang))
    else:
        original = (
            _say("part_refund_to_original_method", policy, lang)
            if summary.refund_to_original_method
            else None
        )
        parts.append(
            _say(
                "part_refund_policy_delay",
                policy,
                lang,
                days=_days(delay, lang, policy),
                original=original,
            )
        )
        if summary.timing_depends_on_bank:
            parts.append(_bank_note(policy, lang))
        parts.append(_return_route(summary, policy, lang))
    if offer_lookup:
        parts.append(_say("part_offer_refund_lookup", policy, lang))
    return " ".join(part for part in parts if part)


# --- delivery countries and Klarna ------------------------------------------------------------


def _delay_sentence(policy: StorePolicy, lang: Lang) -> str | None:
    """The FAQ's delivery delays as it words them: an aim, a usual time, standard delivery.

    None when the store documents no delay. Never a deadline: no start point, no date.
    """
    delivery = policy.delivery
    if delivery.delivery_business_days is None:
        return None
    days = _days(delivery.delivery_business_days, lang, policy)
    depending = _depending(policy, lang)
    if delivery.processing_business_days is not None:
        return _say(
            "part_delay_processing_then_delivery",
            policy,
            lang,
            usually=_usually(delivery.processing_time_is_usual, policy, lang),
            processing=_days(delivery.processing_business_days, lang, policy),
            days=days,
            depending=depending,
        )
    name = "part_delay_aim" if delivery.delivery_time_is_aim else "part_delay"
    return _say(name, policy, lang, days=days, depending=depending)


def _longer_delays_sentence(policy: StorePolicy, lang: Lang) -> str | None:
    """When the FAQ warns that delays can be longer (sales, holidays, promotions)."""
    when = policy.delivery.delays_may_be_longer
    if when is None:
        return None
    return _say("part_delays_may_be_longer", policy, lang, period=when.in_language(lang))


def _free_shipping_sentence(policy: StorePolicy, lang: Lang) -> str | None:
    threshold = policy.delivery.free_shipping_threshold
    if threshold is None:
        return None
    return _say("part_free_shipping", policy, lang, amount=_amount(threshold, lang))


def _delivery_facts(policy: StorePolicy, lang: Lang, *, free_shipping: bool) -> list[str]:
    """The delays, the warning about longer delays and (optionally) the free-shipping rule."""
    parts = [_delay_sentence(policy, lang), _longer_delays_sentence(policy, lang)]
    if free_shipping:
        parts.append(_free_shipping_sentence(policy, lang))
    return [part for part in parts if part]


def _excluded_areas_sentence(
    areas: Sequence[str], complete: bool | None, policy: StorePolicy, lang: Lang
) -> str:
    """The refused areas as the FAQ gives them ("notamment": the list is not exhaustive)."""
    if lang == "fr":
        places = _join([_in(area, lang) for area in areas], lang, policy)
    else:
        places = _names(areas, lang, policy)
    name = "part_excluded_areas" if complete else "part_excluded_areas_including"
    return _say(name, policy, lang, places=places)


def _store_countries(policy: StorePolicy, lang: Lang) -> str:
    """'Nous livrons dans ces 20 pays : ...', then the refused areas."""
    countries = policy.delivery.countries or ()
    excluded = policy.delivery.excluded_areas
    text = _say(
        "part_delivery_countries",
        policy,
        lang,
        count=len(countries),
        countries=_names(countries, lang, policy),
    )
    if excluded:
        complete = policy.delivery.excluded_areas_complete
        text += " " + _excluded_areas_sentence(excluded, complete, policy, lang)
    return text


def _no_country_list(policy: StorePolicy, lang: Lang, code: str | None) -> str:
    """A store whose FAQ lists no country: say so, give the route to confirm, then the facts."""
    route = _contact_route(policy, lang)
    about = None
    if code:
        about = _say("part_about_delivery_to", policy, lang, to=_to(code, lang, policy))
    parts = [
        _say("part_no_country_list", policy, lang, about=about),
        _say(
            "part_confirm_delivery" if code else "part_confirm_delivery_to_your_country",
            policy,
            lang,
            route=route,
        ),
    ]
    return " ".join([*parts, *_delivery_facts(policy, lang, free_shipping=True)])


def _klarna_not_documented(policy: StorePolicy, lang: Lang, where: str | None) -> str:
    route = _contact_route(policy, lang)
    return _say("part_klarna_not_documented", policy, lang, where=where, route=route)


def _klarna_list(policy: StorePolicy, lang: Lang) -> str:
    names = _names(policy.payment.klarna_countries, lang, policy)
    return _say("part_klarna_countries", policy, lang, countries=names)


def _klarna_sentence(policy: StorePolicy, code: str, delivers: bool, lang: Lang) -> str:
    if not policy.payment.klarna_countries:
        return _klarna_not_documented(policy, lang, _in(code, lang))
    if delivers and policy.klarna_offered_in(code):
        return _say("part_klarna_offered_there", policy, lang)
    return _say(
        "part_klarna_not_offered_there", policy, lang, klarna_countries=_klarna_list(policy, lang)
    )


def _listed_answer(eligibility: DeliveryEligibility, policy: StorePolicy, lang: Lang) -> str:
    """A listed country: yes, the areas refused in it (UK), the delays, Klarna."""
    code = eligibility.country or ""
    to = _to(code, lang, policy)
    within = eligibility.excluded_within
    parts: list[str] = []
    if within and not eligibility.postcode_checked:
        parts.append(_say("part_we_deliver_not_everywhere", policy, lang, to=to))
        parts.append(
            _excluded_areas_sentence(within, eligibility.exclusions_complete, policy, lang)
        )
        parts.append(_say("part_ask_postcode", policy, lang))
    else:
        parts.append(_say("part_we_deliver", policy, lang, to=to))
        if within:  # a postcode of the country, in none of the refused areas
            parts.append(_postcode_not_excluded(policy, eligibility, lang))
    delay = _delay_sentence(policy, lang)
    if delay is not None:
        parts.append(delay)
    parts.append(_klarna_sentence(policy, code, True, lang))
    return " ".join(parts)


def _postcode_not_excluded(
    policy: StorePolicy, eligibility: DeliveryEligibility, lang: Lang
) -> str:
    if eligibility.exclusions_complete:
        return _say("part_postcode_not_excluded", policy, lang)
    route = _contact_route(policy, lang)
    return _say("part_postcode_not_in_listed_areas", policy, lang, route=route)


def _delivery_answer(
    eligibility: DeliveryEligibility,
    policy: StorePolicy,
    lang: Lang,
    *,
    asked: str | None = None,
) -> str:
    """See :func:`delivery_answer`."""
    reason = eligibility.reason
    code = eligibility.country
    if reason is EligibilityReason.NO_COUNTRY:
        if policy.delivery.countries is None:
            return _no_country_list(policy, lang, None)
        return _store_countries(policy, lang)
    if reason is EligibilityReason.UNKNOWN_COUNTRY or code is None:
        first = _say("part_unknown_country", policy, lang, asked=_quoted(asked, lang, policy))
        rest = (
            _no_country_list(policy, lang, None)
            if policy.delivery.countries is None
            else _store_countries(policy, lang)
        )
        return f"{first} {rest}"
    if reason is EligibilityReason.NO_LIST:
        return _no_country_list(policy, lang, code)
    if reason is EligibilityReason.EXCLUDED_AREA:
        area = eligibility.excluded_area or code
        if eligibility.excluded_by_postcode:
            first = _say("part_postcode_in_refused_area", policy, lang, place=_in(area, lang))
        else:
            first = _say("part_we_do_not_deliver", policy, lang, to=_to(area, lang, policy))
        second = _excluded_areas_sentence(
            eligibility.excluded_areas, eligibility.exclusions_complete, policy, lang
        )
        return f"{first} {second}"
    if reason is EligibilityReason.NOT_LISTED:
        first = _say("part_we_do_not_deliver", policy, lang, to=_to(code, lang, policy))
        return f"{first} {_store_countries(policy, lang)}"
    return _listed_answer(eligibility, policy, lang)


def _klarna_answer(
    eligibility: DeliveryEligibility, policy: StorePolicy, lang: Lang, *, asked: str | None = None
) -> str | None:
    """See :func:`klarna_answer`."""
    if eligibility.reason is EligibilityReason.NO_COUNTRY:
        return None
    code = eligibility.country
    if code is None:
        return _say("part_klarna_unknown_country", policy, lang, asked=_quoted(asked, lang, policy))
    where = _in(code, lang)
    if not policy.payment.klarna_countries:
        return _klarna_not_documented(policy, lang, where)
    if eligibility.delivers is False:
        return _say("part_klarna_no_delivery", policy, lang, to=_to(code, lang, policy))
    if eligibility.klarna:
        return _say("part_klarna_yes", policy, lang, place=where)
    return _say(
        "part_klarna_no", policy, lang, place=where, klarna_countries=_klarna_list(policy, lang)
    )


# --- the public answers: set for their language ---------------------------------------------
# Every composed answer leaves through one of these, so French ones always get French
# typography (bot/typography.py): no line break before "?" or ":", in "8 h" or an amount.


def contact_route(policy: StorePolicy, lang: Lang) -> str:
    """How to reach the store's customer service, as a phrase to follow "contact".

    'l'équipe du service client BTOMIC par e-mail à service@btomic.com ou par téléphone au
    +1 (347) 459-1491, du lundi au vendredi, ...' / 'the BTOMIC customer service team at
    service@btomic.com or +1 (347) 459-1491, Monday to Friday, ...'. Only what the FAQ gives:
    no phone or hours when they are not documented.
    """
    return typeset(_contact_route(policy, lang), lang)


def technical_problem(policy: StorePolicy | None, lang: Lang) -> str:
    """The apology when the orders database or anything else fails during an action.

    Args:
        policy: the conversation's store, or None when even that could not be determined.
        lang: the customer's language.
    """
    return typeset(_technical_problem(policy, lang), lang)


def lookup_locked_answer(policy: StorePolicy, lang: Lang) -> str:
    """After too many failed identifications: stop trying, offer a person and the contact."""
    return typeset(_lookup_locked_answer(policy, lang), lang)


def other_store_note(number: str, order_policy: StorePolicy, lang: Lang) -> str:
    """Says which shop an order belongs to, when it is not the conversation's shop."""
    return typeset(_other_store_note(number, order_policy, lang), lang)


def order_status_answer(
    report: OrderStatusReport, policy: StorePolicy, lang: Lang, *, conversation_store: str
) -> str:
    """The answer to "where is my order?" for a verified order.

    Args:
        report: :func:`bot.orders.order_status_report` of the order.
        policy: the policy of the store the order belongs to (its delays and contact).
        lang: the customer's language.
        conversation_store: the store the customer is talking to; when it is not the order's,
            the answer starts by saying which shop the order belongs to.
    """
    text = _order_status_answer(report, policy, lang, conversation_store=conversation_store)
    return typeset(text, lang)


def refund_answer(
    timeline: RefundTimeline,
    facts: OrderFacts,
    policy: StorePolicy,
    lang: Lang,
    *,
    conversation_store: str,
) -> str:
    """The answer to "where is my refund?" for a verified order.

    Args:
        timeline: :func:`bot.refunds.refund_timeline` of the order.
        facts: the order (for its original payment means).
        policy: the policy of the store the order belongs to.
        lang: the customer's language.
        conversation_store: the store the customer is talking to.
    """
    text = _refund_answer(timeline, facts, policy, lang, conversation_store=conversation_store)
    return typeset(text, lang)


def refund_policy_answer(
    summary: RefundPolicySummary, policy: StorePolicy, lang: Lang, *, offer_lookup: bool
) -> str:
    """The store's general refund policy, for a refund question without an order number.

    Args:
        summary: :func:`bot.refunds.refund_policy` of the store.
        policy: the store's policy (contact route).
        lang: the customer's language.
        offer_lookup: end by offering to look the order up (not after too many failed
            identifications).
    """
    text = _refund_policy_answer(summary, policy, lang, offer_lookup=offer_lookup)
    return typeset(text, lang)


def delivery_answer(
    eligibility: DeliveryEligibility,
    policy: StorePolicy,
    lang: Lang,
    *,
    asked: str | None = None,
) -> str:
    """The answer to "do you deliver to ...?" (or "where do you deliver?").

    Args:
        eligibility: :func:`bot.delivery.delivery_eligibility` for the store.
        policy: the store's policy.
        lang: the customer's language.
        asked: the country as the customer wrote it (quoted when it is not recognised).
    """
    return typeset(_delivery_answer(eligibility, policy, lang, asked=asked), lang)


def klarna_answer(
    eligibility: DeliveryEligibility, policy: StorePolicy, lang: Lang, *, asked: str | None = None
) -> str | None:
    """Whether Klarna is offered in the country a payment question names.

    Args:
        eligibility: :func:`bot.delivery.delivery_eligibility` for the named country.
        policy: the store's policy (``payment.klarna_countries``).
        lang: the customer's language.
        asked: the country as the customer wrote it.

    Returns:
        One or two sentences, or None when no country was named.
    """
    text = _klarna_answer(eligibility, policy, lang, asked=asked)
    return None if text is None else typeset(text, lang)
