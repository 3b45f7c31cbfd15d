"""The bot's composed answers, in French and English, from store policies and order data.

Pure functions (no database, no settings, no Rasa): the actions gather the facts and call these
to word them, so every sentence is unit-tested here (``tests/bot/test_replies.py``). Fixed
sentences that need no data (form prompts, the neutral "not found") live in ``domain.yml``
instead, where Rasa picks the variation for the conversation's language.

Rules the texts follow (docs/intents.md):

* store facts (delays, contact route, countries, Klarna countries, thresholds) come from the
  :class:`~bot.stores.StorePolicy`, never from literals here;
* where the store's FAQ is silent the answer says so ("I'd rather not guess") and gives the
  store's contact route;
* an order of the other shop is answered with that shop's facts and says which shop it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

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

# The wording domain.yml uses where a store's FAQ is silent (tests look for it).
_NOT_DOCUMENTED = {"fr": "je préfère donc ne pas deviner", "en": "so I'd rather not guess"}


# --- small pieces -----------------------------------------------------------------------------


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _join(items: Sequence[str], lang: Lang) -> str:
    """'A, B et C' / 'A, B and C'."""
    if len(items) <= 1:
        return "".join(items)
    last = " et " if lang == "fr" else " and "
    return ", ".join(items[:-1]) + last + items[-1]


def _days(days: BusinessDayRange, lang: Lang) -> str:
    """'3 à 4 jours ouvrables' / '3 to 4 business days' ('1 jour ouvrable' for one)."""
    low, high = days
    if lang == "fr":
        unit = "jour ouvrable" if high <= 1 else "jours ouvrables"
        return f"{high} {unit}" if low == high else f"{low} à {high} {unit}"
    unit = "business day" if high == 1 else "business days"
    return f"{high} {unit}" if low == high else f"{low} to {high} {unit}"


def _amount(money: Money, lang: Lang) -> str:
    """A threshold as the FAQs write it: '$50' / '50 $' for a whole amount."""
    text = format_money(money.amount, money.currency, lang)
    if money.amount == money.amount.to_integral_value():
        text = text.replace(",00", "").replace(".00", "")
    return text


def _in(code: str, lang: Lang) -> str:
    """'en Suisse' / 'in Switzerland'."""
    return country_name_with_preposition(code, lang)


def _to(code: str, lang: Lang) -> str:
    """Where one delivers: 'en Suisse' / 'to Switzerland', 'to the Isle of Man'."""
    if lang == "fr":
        return country_name_with_preposition(code, lang)
    return f"to {_listed_name(code, lang)}"


def _listed_name(code: str, lang: Lang) -> str:
    """A name as it stands in a list: 'Pays-Bas' / 'the Netherlands', 'the Isle of Man'."""
    if lang == "fr":
        return country_name(code, lang)
    phrase = country_name_with_preposition(code, lang)
    for preposition in ("in ", "on "):
        if phrase.startswith(preposition):
            return phrase[len(preposition) :]
    return country_name(code, lang)


def _names(codes: Sequence[str], lang: Lang) -> str:
    return _join([_listed_name(code, lang) for code in codes], lang)


def _date(day: dt.date, lang: Lang) -> str:
    return format_date(day, lang)


def _between(first: dt.date, last: dt.date, lang: Lang) -> str:
    """'entre le lundi 24 ... et le mardi 25 ...' / 'between Monday 24 ... and Tuesday 25 ...'."""
    if first == last:
        return f"le {_date(first, lang)}" if lang == "fr" else f"on {_date(first, lang)}"
    if lang == "fr":
        return f"entre le {_date(first, lang)} et le {_date(last, lang)}"
    return f"between {_date(first, lang)} and {_date(last, lang)}"


# --- contact and failures ---------------------------------------------------------------------


def _contact_route(policy: StorePolicy, lang: Lang) -> str:
    """See :func:`contact_route` (not yet set for its language)."""
    contact = policy.contact
    team = _lower_first(policy.support_team.in_language(lang))
    if lang == "fr":
        route = (
            f"{team} par e-mail à {contact.email}"
            if contact.phone
            else (f"{team} à l'adresse {contact.email}")
        )
        if contact.phone:
            route += f" ou par téléphone au {contact.phone}"
    else:
        route = f"{team} at {contact.email}"
        if contact.phone:
            route += f" or {contact.phone}"
    if contact.phone and contact.hours is not None:
        route += f", {contact.hours.in_language(lang)}"
    return route


def _technical_problem(policy: StorePolicy | None, lang: Lang) -> str:
    """See :func:`technical_problem` (not yet set for its language)."""
    if lang == "fr":
        start = (
            "Désolé, un problème technique m'empêche de vous répondre pour le moment. "
            "Réessayez un peu plus tard ou contactez "
        )
        route = _contact_route(policy, lang) if policy else "le service client de la boutique"
        return f"{start}{route}."
    start = (
        "Sorry, a technical problem is preventing me from answering right now. "
        "Please try again a little later or contact "
    )
    route = _contact_route(policy, lang) if policy else "the shop's customer service"
    return f"{start}{route}."


def _lookup_locked_answer(policy: StorePolicy, lang: Lang) -> str:
    """See :func:`lookup_locked_answer` (not yet set for its language)."""
    if lang == "fr":
        return (
            "Je n'ai pas pu vérifier ces informations après plusieurs essais, je m'arrête donc "
            "là pour protéger les données de nos clients. Une personne de l'équipe peut vous "
            "aider : voulez-vous que je lui transmette votre demande ? Vous pouvez aussi "
            f"contacter {_contact_route(policy, lang)}."
        )
    return (
        "I couldn't verify these details after several attempts, so I'll stop here to protect "
        "our customers' data. A member of our team can help: would you like me to pass your "
        f"request on? You can also contact {_contact_route(policy, lang)}."
    )


def _other_store_note(number: str, order_policy: StorePolicy, lang: Lang) -> str:
    """See :func:`other_store_note` (not yet set for its language)."""
    if lang == "fr":
        return (
            f"Attention : la commande {number} a été passée sur la boutique "
            f"« {order_policy.display_name.fr} », pas sur celle-ci."
        )
    return (
        f"Please note: order {number} was placed with {order_policy.display_name.en}, not on "
        "this shop."
    )


# --- order status -----------------------------------------------------------------------------


def _order_label(report: OrderStatusReport) -> str:
    items = report.items_summary
    return f"{report.number} ({items})" if items else report.number


def _status_sentence(report: OrderStatusReport, lang: Lang) -> str:
    label = _order_label(report)
    placed = _date(report.placed_on, lang)
    status = report.status
    fr = lang == "fr"
    if status is OrderStatus.PLACED:
        return (
            f"Votre commande {label} du {placed} est enregistrée et n'a pas encore été expédiée."
            if fr
            else f"Your order {label} of {placed} has been placed and has not shipped yet."
        )
    if status is OrderStatus.PROCESSING:
        return (
            f"Votre commande {label} du {placed} est en cours de préparation et n'a pas encore "
            "été expédiée."
            if fr
            else f"Your order {label} of {placed} is being processed and has not shipped yet."
        )
    if status is OrderStatus.SHIPPED:
        shipped_on, carrier = report.shipped_on, report.carrier
        if fr:
            when = f" le {_date(shipped_on, lang)}" if shipped_on else ""
            return f"Votre commande {label} a été expédiée{when}" + (
                f" par {carrier}." if carrier else "."
            )
        when = f" on {_date(shipped_on, lang)}" if shipped_on else ""
        return f"Your order {label} was shipped{when}" + (f" by {carrier}." if carrier else ".")
    if status is OrderStatus.DELIVERED:
        if report.delivered_on is None:
            return (
                f"Votre commande {label} a été livrée."
                if fr
                else (f"Your order {label} has been delivered.")
            )
        delivered = _date(report.delivered_on, lang)
        return (
            f"Votre commande {label} a été livrée le {delivered}."
            if fr
            else f"Your order {label} was delivered on {delivered}."
        )
    if status is OrderStatus.CANCELLED:
        return (
            f"Votre commande {label} du {placed} a été annulée."
            if fr
            else f"Your order {label} of {placed} was cancelled."
        )
    # RETURNED
    return (
        f"Votre commande {label} a été retournée. Pour savoir où en est le remboursement, "
        "demandez-moi simplement le suivi de votre remboursement."
        if fr
        else f"Your order {label} has been returned. To see where the refund stands, just ask "
        "me about your refund."
    )


def _tracking_sentence(report: OrderStatusReport, lang: Lang) -> str | None:
    if not report.tracking_number:
        return None
    carrier = report.carrier or ""
    url = report.tracking_url(lang)
    if lang == "fr":
        text = f"Numéro de suivi {carrier} : {report.tracking_number}".replace("  ", " ")
        if url:
            text += f". Suivez votre colis ici : {url}"
        return text + ("" if url else ".")
    text = f"{carrier} tracking number: {report.tracking_number}".strip()
    if url:
        text += f". Track your parcel here: {url}"
    return text + ("" if url else ".")


def _window_sentence(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> str | None:
    """btomic's indicative window: its FAQ's delays (usual, standard), then the dates."""
    if report.expected_from is None or report.expected_to is None:
        return None
    delivery = policy.delivery
    days = delivery.delivery_business_days
    if days is None:  # no window is computed then; kept for the type checker
        return None
    fr = lang == "fr"
    factors = delivery.delivery_time_factors
    depending = ""
    if factors is not None:
        depending = (
            f", selon {factors.in_language(lang)}"
            if fr
            else (f", depending on {factors.in_language(lang)}")
        )
    if report.window_basis is WindowBasis.SHIPPING_DATE:
        rule = (
            f"Selon notre FAQ, la livraison standard prend {_days(days, lang)} après "
            f"l'expédition{depending}"
            if fr
            else f"As our FAQ states, standard delivery takes {_days(days, lang)} after "
            f"dispatch{depending}"
        )
    else:
        processing = delivery.processing_business_days or days
        usually = delivery.processing_time_is_usual
        rule = (
            f"Selon notre FAQ, le traitement d'une commande prend "
            f"{'généralement ' if usually else ''}{_days(processing, lang)}, puis la livraison "
            f"standard {_days(days, lang)}{depending}"
            if fr
            else f"As our FAQ states, processing {'usually ' if usually else ''}takes "
            f"{_days(processing, lang)}, then standard delivery {_days(days, lang)}{depending}"
        )
    window = _between(report.expected_from, report.expected_to, lang)
    if fr:
        return f"{rule} : à titre indicatif, une livraison {window}."
    return f"{rule}: as a rough guide, delivery {window}."


def _delay_sentences(report: OrderStatusReport, policy: StorePolicy, lang: Lang) -> list[str]:
    """For an order still on its way: the FAQ's delays, as estimates, never as deadlines."""
    if report.status not in (OrderStatus.PLACED, OrderStatus.PROCESSING, OrderStatus.SHIPPED):
        return []
    # A store whose FAQ gives no start point (om-system's aim of 3 to 4 business days) gets
    # its delay quoted, with no date computed from it.
    window = _window_sentence(report, policy, lang) or _delay_sentence(policy, lang)
    parts = [window, _longer_delays_sentence(policy, lang)]
    if report.estimate_passed:
        route = _contact_route(policy, lang)
        parts.append(
            f"Pour toute question sur ce délai, contactez {route}."
            if lang == "fr"
            else f"If you have any questions about this, please contact {route}."
        )
    return [part for part in parts if part]


def _carrier_first_sentence(
    report: OrderStatusReport, policy: StorePolicy, lang: Lang
) -> str | None:
    """om-system Q12: with a tracking number, ask the carrier first, then the shop."""
    if not policy.tracking.carrier_first or not report.tracking_number:
        return None
    if report.status is not OrderStatus.SHIPPED:
        return None
    carrier = report.carrier or ("le transporteur" if lang == "fr" else "the carrier")
    route = _contact_route(policy, lang)
    if lang == "fr":
        return (
            f"Pour toute question sur la livraison, vérifiez d'abord auprès de {carrier} avec "
            f"votre numéro de suivi ; s'il ne peut pas vous aider, contactez {route}."
        )
    return (
        f"For any question about the delivery, check with {carrier} first using your tracking "
        f"number; if they can't help, please contact {route}."
    )


def _order_status_answer(
    report: OrderStatusReport, policy: StorePolicy, lang: Lang, *, conversation_store: str
) -> str:
    """See :func:`order_status_answer` (not yet set for its language)."""
    parts: list[str | None] = []
    if policy.id != conversation_store:
        parts.append(other_store_note(report.number, policy, lang))
    parts.append(_status_sentence(report, lang))
    parts.extend(_delay_sentences(report, policy, lang))
    parts.append(_carrier_first_sentence(report, policy, lang))
    # Last: it may end with the tracking link, which a trailing full stop would break in the
    # chat widget's and the e-mail client's link detection.
    if report.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        parts.append(_tracking_sentence(report, lang))
    return " ".join(part for part in parts if part)


# --- refunds ------------------------------------------------------------------------------------


def _return_window(summary: RefundPolicySummary, lang: Lang) -> str | None:
    """'... dans les 14 jours suivant l'achat, sous certaines conditions' (om-system Q14)."""
    days = summary.return_window_days
    if days is None:
        return None
    if lang == "fr":
        conditions = ", sous certaines conditions" if summary.return_window_conditional else ""
        return (
            f"Notre politique de retour autorise les retours dans les {days} jours suivant "
            f"l'achat{conditions}."
        )
    conditions = ", under certain conditions" if summary.return_window_conditional else ""
    return f"Our return policy allows returns within {days} days of purchase{conditions}."


def _return_route(summary: RefundPolicySummary, policy: StorePolicy, lang: Lang) -> str:
    """How to start a return, as the FAQ says: the window and policy page, or the service."""
    route = _contact_route(policy, lang)
    fr = lang == "fr"
    parts = [_return_window(summary, lang)]
    if summary.return_route == "policy_page":
        parts.append(
            "Les détails figurent sur notre page « Politique de retour » ; pour toute question, "
            f"contactez {route}."
            if fr
            else f"The details are on our Return Policy page; if you have any questions, please "
            f"contact {route}."
        )
    else:
        parts.append(
            f"Pour effectuer un retour, contactez {route}."
            if fr
            else f"To return an item, please contact {route}."
        )
    return " ".join(part for part in parts if part)


def _bank_note(summary: RefundPolicySummary, lang: Lang) -> str:
    # Only for a store whose FAQ says it (btomic, Retours 3): callers check
    # `timing_depends_on_bank` first.
    if lang == "fr":
        return (
            "Selon notre FAQ, le délai d'apparition sur votre compte dépend ensuite de votre "
            "banque émettrice ou de la plateforme de paiement."
        )
    return (
        "As our FAQ states, how long it then takes to appear on your account depends on your "
        "card issuer or payment platform."
    )


def _method_phrase(timeline: RefundTimeline, facts: OrderFacts, lang: Lang) -> str | None:
    if timeline.method is None:
        return None
    name = payment_method_name(timeline.method.value, lang)
    original = timeline.method == facts.payment_method
    if lang == "fr":
        return f"votre moyen de paiement d'origine ({name})" if original else name
    return f"your original payment method ({name})" if original else name


def _refund_no_return(
    timeline: RefundTimeline, policy: StorePolicy, lang: Lang, number: str
) -> str:
    if timeline.return_on_its_way:
        # What the order data says, and no more: when a refund starts is the FAQ's to say.
        first = (
            f"Nous n'avons pas encore reçu le retour de votre commande {number}."
            if lang == "fr"
            else f"We haven't received the return of your order {number} yet."
        )
        route = _contact_route(policy, lang)
        second = (
            f"Pour toute question sur ce retour, contactez {route}."
            if lang == "fr"
            else f"If you have any questions about this return, please contact {route}."
        )
        return f"{first} {second}"
    first = (
        f"Aucun retour n'est enregistré pour votre commande {number}, donc aucun remboursement "
        "n'est en cours."
        if lang == "fr"
        else f"No return has been recorded for your order {number}, so no refund is under way."
    )
    return f"{first} {_return_route(timeline.policy, policy, lang)}"


def _return_received_sentence(timeline: RefundTimeline, lang: Lang) -> str:
    """What the order data says of the return: received (and accepted) on which days."""
    number = timeline.order_number
    received, accepted = timeline.return_received_on, timeline.return_accepted_on
    fr = lang == "fr"
    if received is None:
        return (
            f"Le remboursement de votre commande {number} est en attente."
            if fr
            else f"The refund for your order {number} is pending."
        )
    if accepted is None:
        return (
            f"Nous avons bien reçu le retour de votre commande {number} le "
            f"{_date(received, lang)} ; son acceptation n'est pas encore enregistrée."
            if fr
            else f"We received the return of your order {number} on {_date(received, lang)}; "
            "its acceptance has not been recorded yet."
        )
    if accepted == received:
        return (
            f"Nous avons reçu et accepté le retour de votre commande {number} le "
            f"{_date(received, lang)}, et le remboursement est en attente."
            if fr
            else f"We received and accepted the return of your order {number} on "
            f"{_date(received, lang)}, and the refund is pending."
        )
    return (
        f"Nous avons reçu le retour de votre commande {number} le {_date(received, lang)} et "
        f"l'avons accepté le {_date(accepted, lang)} ; le remboursement est en attente."
        if fr
        else f"We received the return of your order {number} on {_date(received, lang)} and "
        f"accepted it on {_date(accepted, lang)}; the refund is pending."
    )


def _refund_rule(timeline: RefundTimeline, delay: BusinessDayRange, lang: Lang) -> str:
    """The FAQ's delay, counted from the acceptance, and what it gives for this return."""
    fr = lang == "fr"
    rule = (
        f"Selon notre FAQ, le remboursement est traité dans un délai de {_days(delay, lang)} "
        "une fois l'article retourné reçu et confirmé conforme aux critères de retour"
        if fr
        else f"As our FAQ states, the refund is processed within {_days(delay, lang)} once the "
        "returned item has been received and confirmed to meet the return criteria"
    )
    if timeline.expected_from is not None and timeline.expected_to is not None:
        window = _between(timeline.expected_from, timeline.expected_to, lang)
        return rule + (f", soit {window}." if fr else f", so {window}.")
    if timeline.expected_from is not None:  # acceptance awaited: only the earliest date
        earliest = _date(timeline.expected_from, lang)
        return rule + (
            f", donc au plus tôt le {earliest}." if fr else f", so {earliest} at the earliest."
        )
    return rule + "."


def _refund_pending(
    timeline: RefundTimeline, facts: OrderFacts, policy: StorePolicy, lang: Lang
) -> str:
    fr = lang == "fr"
    first = _return_received_sentence(timeline, lang)
    route = _contact_route(policy, lang)
    delay = timeline.policy.refund_business_days
    if delay is None:
        second = (
            f"Notre FAQ n'indique pas de délai de remboursement, {_NOT_DOCUMENTED['fr']} : "
            f"contactez {route} pour connaître la date prévue."
            if fr
            else "Our FAQ doesn't give a time frame for refunds, "
            f"{_NOT_DOCUMENTED['en']}: please contact {route} for the expected date."
        )
        return f"{first} {second}"
    parts = [first, _refund_rule(timeline, delay, lang)]
    method = _method_phrase(timeline, facts, lang)
    if method is not None and timeline.policy.refund_to_original_method:
        parts.append(f"Il sera versé sur {method}." if fr else f"It will go back to {method}.")
    if timeline.policy.timing_depends_on_bank:
        parts.append(_bank_note(timeline.policy, lang))
    if timeline.is_overdue:
        # Only counted from a recorded acceptance: the FAQ's "nous traiterons" is a commitment.
        parts.append(
            "Ce délai est écoulé, et j'en suis désolé : pour savoir où en est votre "
            f"remboursement, contactez {route}."
            if fr
            else "This time frame has passed, and I'm sorry about that: to find out where your "
            f"refund stands, please contact {route}."
        )
    return " ".join(parts)


def _refund_issued(
    timeline: RefundTimeline, facts: OrderFacts, policy: StorePolicy, lang: Lang
) -> str:
    number = timeline.order_number
    fr = lang == "fr"
    issued = f" le {_date(timeline.issued_on, lang)}" if fr and timeline.issued_on else ""
    if not fr and timeline.issued_on:
        issued = f" on {_date(timeline.issued_on, lang)}"
    amount = None
    if timeline.amount is not None and timeline.currency:
        amount = format_money(Decimal(timeline.amount), timeline.currency, lang)
    method = _method_phrase(timeline, facts, lang)
    if fr:
        text = f"Le remboursement de votre commande {number} a été effectué{issued}"
        if amount:
            text += f" : {amount}"
        if method:
            text += f" remboursés sur {method}" if amount else f", sur {method}"
    else:
        text = f"The refund for your order {number} was issued{issued}"
        if amount:
            text += f": {amount}"
        if method:
            text += f" refunded to {method}" if amount else f", to {method}"
    if not timeline.policy.timing_depends_on_bank:
        # om-system's FAQ says nothing about banks: nothing is added.
        return f"{text}."
    return f"{text}. {_bank_note(timeline.policy, lang)}"


def _refund_of_cancelled_order(timeline: RefundTimeline, policy: StorePolicy, lang: Lang) -> str:
    """A cancelled order: no return to wait for, and the FAQs say nothing of its refund."""
    number = timeline.order_number
    route = _contact_route(policy, lang)
    pending = timeline.state is RefundState.PENDING
    if lang == "fr":
        first = f"Votre commande {number} a été annulée" + (
            " et son remboursement est en attente." if pending else "."
        )
        return (
            f"{first} Notre FAQ ne dit rien du remboursement d'une commande annulée, "
            f"{_NOT_DOCUMENTED['fr']} : contactez {route}."
        )
    first = f"Your order {number} was cancelled" + (
        " and its refund is pending." if pending else "."
    )
    return (
        f"{first} Our FAQ doesn't say how a cancelled order is refunded, "
        f"{_NOT_DOCUMENTED['en']}: please contact {route}."
    )


def _refund_answer(
    timeline: RefundTimeline,
    facts: OrderFacts,
    policy: StorePolicy,
    lang: Lang,
    *,
    conversation_store: str,
) -> str:
    """See :func:`refund_answer` (not yet set for its language)."""
    parts: list[str] = []
    if policy.id != conversation_store:
        parts.append(other_store_note(timeline.order_number, policy, lang))
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
    """See :func:`refund_policy_answer` (not yet set for its language)."""
    fr = lang == "fr"
    route = _contact_route(policy, lang)
    delay = summary.refund_business_days
    parts: list[str] = []
    if delay is None:
        parts.append(
            f"Notre FAQ n'indique pas de délai de remboursement, {_NOT_DOCUMENTED['fr']} : "
            f"contactez {route}."
            if fr
            else f"Our FAQ doesn't give a time frame for refunds, {_NOT_DOCUMENTED['en']}: "
            f"please contact {route}."
        )
        window = _return_window(summary, lang)
        if window is not None:
            parts.append(window)
    else:
        sentence = (
            "Une fois l'article retourné reçu et confirmé conforme aux critères de retour, le "
            f"remboursement est traité dans un délai de {_days(delay, lang)}"
            if fr
            else "Once the returned item has been received and confirmed to meet the return "
            f"criteria, the refund is processed within {_days(delay, lang)}"
        )
        if summary.refund_to_original_method:
            sentence += (
                ", et il est effectué sur le moyen de paiement d'origine"
                if fr
                else ", and it is made to the original payment method"
            )
        parts.append(sentence + ".")
        if summary.timing_depends_on_bank:
            parts.append(_bank_note(summary, lang))
        parts.append(_return_route(summary, policy, lang))
    if offer_lookup:
        parts.append(
            "Si vous me donnez votre numéro de commande, je peux aussi vérifier où en est votre "
            "remboursement."
            if fr
            else "If you give me your order number, I can also check where your refund stands."
        )
    return " ".join(parts)


# --- delivery countries and Klarna ------------------------------------------------------------


def _delay_sentence(policy: StorePolicy, lang: Lang) -> str | None:
    """The FAQ's delivery delays as it words them: an aim, a usual time, standard delivery.

    None when the store documents no delay. Never a deadline: no start point, no date.
    """
    delivery = policy.delivery
    if delivery.delivery_business_days is None:
        return None
    fr = lang == "fr"
    days = _days(delivery.delivery_business_days, lang)
    if delivery.processing_business_days is not None:
        processing = _days(delivery.processing_business_days, lang)
        usually = delivery.processing_time_is_usual
        text = (
            f"Le traitement d'une commande prend {'généralement ' if usually else ''}"
            f"{processing}, puis la livraison standard prend {days}"
            if fr
            else f"Processing {'usually ' if usually else ''}takes {processing}, then "
            f"standard delivery takes {days}"
        )
    elif delivery.delivery_time_is_aim:
        text = (
            f"Nous nous efforçons de livrer dans un délai de {days}"
            if fr
            else f"We aim to deliver within {days}"
        )
    else:
        text = f"La livraison prend {days}" if fr else f"Delivery takes {days}"
    if delivery.delivery_time_factors is not None:
        factors = delivery.delivery_time_factors.in_language(lang)
        text += f", selon {factors}" if fr else f", depending on {factors}"
    return text + "."


def _longer_delays_sentence(policy: StorePolicy, lang: Lang) -> str | None:
    """When the FAQ warns that delays can be longer (sales, holidays, promotions)."""
    when = policy.delivery.delays_may_be_longer
    if when is None:
        return None
    period = when.in_language(lang)
    return (
        f"Les délais peuvent être plus longs {period}."
        if lang == "fr"
        else f"Delivery can take longer {period}."
    )


def _free_shipping_sentence(policy: StorePolicy, lang: Lang) -> str | None:
    threshold = policy.delivery.free_shipping_threshold
    if threshold is None:
        return None
    amount = _amount(threshold, lang)
    return (
        f"La livraison est gratuite pour les commandes supérieures à {amount}."
        if lang == "fr"
        else f"Shipping is free on orders over {amount}."
    )


def _delivery_facts(policy: StorePolicy, lang: Lang, *, free_shipping: bool) -> list[str]:
    """The delays, the warning about longer delays and (optionally) the free-shipping rule."""
    parts = [_delay_sentence(policy, lang), _longer_delays_sentence(policy, lang)]
    if free_shipping:
        parts.append(_free_shipping_sentence(policy, lang))
    return [part for part in parts if part]


def _excluded_areas_sentence(areas: Sequence[str], complete: bool | None, lang: Lang) -> str:
    """The refused areas as the FAQ gives them ("notamment": the list is not exhaustive)."""
    if lang == "fr":
        places = _join([_in(area, lang) for area in areas], lang)
        if complete:
            return f"Selon notre FAQ, nous ne livrons pas {places}."
        return (
            "Selon notre FAQ, nous ne livrons pas dans certains territoires, notamment "
            f"{places} (cette liste n'est pas exhaustive)."
        )
    places = _names(areas, lang)
    if complete:
        return f"As our FAQ states, we don't deliver to {places}."
    return (
        f"According to our FAQ, we don't deliver to some areas, including {places} (the list "
        "is not exhaustive)."
    )


def _store_countries(policy: StorePolicy, lang: Lang) -> str:
    """'Nous livrons dans ces 20 pays : ...', then the refused areas."""
    countries = policy.delivery.countries or ()
    excluded = policy.delivery.excluded_areas
    text = (
        f"Nous livrons dans ces {len(countries)} pays : {_names(countries, lang)}."
        if lang == "fr"
        else f"We deliver to these {len(countries)} countries: {_names(countries, lang)}."
    )
    if excluded:
        complete = policy.delivery.excluded_areas_complete
        text += " " + _excluded_areas_sentence(excluded, complete, lang)
    return text


def _no_country_list(policy: StorePolicy, lang: Lang, code: str | None) -> str:
    """A store whose FAQ lists no country: say so, give the route to confirm, then the facts."""
    route = _contact_route(policy, lang)
    if lang == "fr":
        about = f" pour une livraison {_in(code, lang)}" if code else ""
        parts = [
            "Notre FAQ ne donne pas la liste des pays où nous livrons, "
            f"{_NOT_DOCUMENTED['fr']}{about}.",
            f"Pour le confirmer, contactez {route}."
            if code
            else f"Pour confirmer une livraison dans votre pays, contactez {route}.",
        ]
    else:
        about = f" about delivery {_to(code, lang)}" if code else ""
        parts = [
            "Our FAQ doesn't give a list of the countries we deliver to, "
            f"{_NOT_DOCUMENTED['en']}{about}.",
            f"To confirm it, please contact {route}."
            if code
            else f"To confirm delivery to your country, please contact {route}.",
        ]
    return " ".join([*parts, *_delivery_facts(policy, lang, free_shipping=True)])


def _klarna_not_documented(policy: StorePolicy, lang: Lang, where: str | None) -> str:
    route = _contact_route(policy, lang)
    if lang == "fr":
        target = f" {where}" if where else ""
        return (
            "Klarna ne fait pas partie des moyens de paiement indiqués dans notre FAQ, "
            f"{_NOT_DOCUMENTED['fr']} pour Klarna{target} : contactez {route}."
        )
    target = f" {where}" if where else ""
    return (
        "Klarna isn't among the payment methods our FAQ lists, "
        f"{_NOT_DOCUMENTED['en']} about Klarna{target}: please contact {route}."
    )


def _klarna_sentence(policy: StorePolicy, code: str, delivers: bool, lang: Lang) -> str:
    if not policy.payment.klarna_countries:
        return _klarna_not_documented(policy, lang, _in(code, lang))
    offered = delivers and policy.klarna_offered_in(code)
    if lang == "fr":
        return (
            "Klarna y est proposé comme moyen de paiement."
            if offered
            else f"Klarna n'y est pas proposé (Klarna est proposé {_klarna_list(policy, lang)})."
        )
    return (
        "Klarna is offered there as a payment method."
        if offered
        else f"Klarna isn't offered there (Klarna is offered {_klarna_list(policy, lang)})."
    )


def _klarna_list(policy: StorePolicy, lang: Lang) -> str:
    codes = policy.payment.klarna_countries
    names = _names(codes, lang)
    return f"dans ces pays : {names}" if lang == "fr" else f"in these countries: {names}"


def _listed_answer(eligibility: DeliveryEligibility, policy: StorePolicy, lang: Lang) -> str:
    """A listed country: yes, the areas refused in it (UK), the delays, Klarna."""
    code = eligibility.country or ""
    fr = lang == "fr"
    within = eligibility.excluded_within
    parts: list[str] = []
    if within and not eligibility.postcode_checked:
        parts.append(
            f"Oui, nous livrons {_to(code, lang)}, mais pas partout."
            if fr
            else f"Yes, we deliver {_to(code, lang)}, but not everywhere."
        )
        parts.append(_excluded_areas_sentence(within, eligibility.exclusions_complete, lang))
        parts.append(
            "Indiquez-moi votre code postal et je vérifierai s'il se trouve dans l'une de ces "
            "zones."
            if fr
            else "Give me your postcode and I'll check whether it is in one of these areas."
        )
    else:
        parts.append(
            f"Oui, nous livrons {_to(code, lang)}." if fr else f"Yes, we deliver {_to(code, lang)}."
        )
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
        return (
            "Votre code postal ne se trouve dans aucune des zones où nous ne livrons pas."
            if lang == "fr"
            else "Your postcode is not in any of the areas we don't deliver to."
        )
    route = _contact_route(policy, lang)
    if lang == "fr":
        return (
            "Votre code postal ne se trouve dans aucune des zones que notre FAQ cite comme non "
            "livrées. Cette liste n'étant pas exhaustive, en cas de doute, contactez "
            f"{route}."
        )
    return (
        "Your postcode is not in any of the areas our FAQ names as not delivered. As that list "
        f"is not exhaustive, if in doubt, please contact {route}."
    )


def _delivery_answer(
    eligibility: DeliveryEligibility,
    policy: StorePolicy,
    lang: Lang,
    *,
    asked: str | None = None,
) -> str:
    """See :func:`delivery_answer` (not yet set for its language)."""
    fr = lang == "fr"
    reason = eligibility.reason
    code = eligibility.country
    if reason is EligibilityReason.NO_COUNTRY:
        if policy.delivery.countries is None:
            return _no_country_list(policy, lang, None)
        return _store_countries(policy, lang)
    if reason is EligibilityReason.UNKNOWN_COUNTRY or code is None:
        quoted = f" « {asked} »" if fr and asked else ""
        quoted = f' "{asked}"' if not fr and asked else quoted
        first = (
            f"Je ne reconnais pas le pays{quoted}, pouvez-vous l'écrire autrement (en français "
            "ou en anglais) ?"
            if fr
            else f"I don't recognise the country{quoted}: could you write it another way (in "
            "English or French)?"
        )
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
            first = (
                f"Votre code postal semble situé {_in(area, lang)}, une zone où nous ne livrons "
                "pas."
                if fr
                else f"Your postcode appears to be {_in(area, lang)}, an area we don't deliver to."
            )
        else:
            first = (
                f"Désolé, nous ne livrons pas {_to(area, lang)}."
                if fr
                else f"Sorry, we don't deliver {_to(area, lang)}."
            )
        second = _excluded_areas_sentence(
            eligibility.excluded_areas, eligibility.exclusions_complete, lang
        )
        return f"{first} {second}"
    if reason is EligibilityReason.NOT_LISTED:
        first = (
            f"Désolé, nous ne livrons pas {_to(code, lang)}."
            if fr
            else f"Sorry, we don't deliver {_to(code, lang)}."
        )
        return f"{first} {_store_countries(policy, lang)}"
    return _listed_answer(eligibility, policy, lang)


def _klarna_answer(
    eligibility: DeliveryEligibility, policy: StorePolicy, lang: Lang, *, asked: str | None = None
) -> str | None:
    """See :func:`klarna_answer` (not yet set for its language)."""
    if eligibility.reason is EligibilityReason.NO_COUNTRY:
        return None
    code = eligibility.country
    fr = lang == "fr"
    if code is None:
        quoted = f" « {asked} »" if fr and asked else ""
        quoted = f' "{asked}"' if not fr and asked else quoted
        return (
            f"Je ne reconnais pas le pays{quoted}, je ne peux donc pas vous dire si Klarna y est "
            "proposé."
            if fr
            else f"I don't recognise the country{quoted}, so I can't tell whether Klarna is "
            "offered there."
        )
    where = _in(code, lang)
    if not policy.payment.klarna_countries:
        return _klarna_not_documented(policy, lang, where)
    if eligibility.delivers is False:
        return (
            f"Nous ne livrons pas {_to(code, lang)}, Klarna n'y est donc pas proposé."
            if fr
            else f"We don't deliver {_to(code, lang)}, so Klarna isn't offered there."
        )
    if eligibility.klarna:
        return f"Oui, Klarna est proposé {where}." if fr else f"Yes, Klarna is offered {where}."
    return (
        f"Non, Klarna n'est pas proposé {where} : il l'est {_klarna_list(policy, lang)}."
        if fr
        else f"No, Klarna isn't offered {where}: it is offered {_klarna_list(policy, lang)}."
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
