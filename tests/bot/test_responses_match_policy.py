"""The answers quote the facts of data/stores/<store>/facts.yml, and nothing else.

The texts are the templates of data/stores/<store>/texts.yml (and _common/texts.yml), checked
as the customer reads them: rendered by the answer service's renderer with the shop's facts.
Expected strings are derived from the facts files wherever possible, so a fact changed on one
side only (the policy file or the response text) fails here. Checks:

- every response has a text per (store, language); an undetected language gets the store's
  French text, a store no entry checked the apology that names no shop;
- every e-mail address, phone number, day range, duration and amount in a store's answers is one
  of that store's facts; no answer names another store's contact or brand;
- the facts each topic needs are in its answers (delays, Klarna countries, return window...);
- where a store's FAQ is silent, the answer says so and gives the full contact route, and it
  never states what the FAQ does not (warranty length, refund delay, phone number, fees);
- French variations are French and English ones English (a crude stop-word count).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.answers.library import render, response_names
from bot.answers.service import nlg_answer
from bot.replies import technical_problem
from bot.stores import read_store_file

ROOT = Path(__file__).resolve().parents[2]
DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
# The facts' values (data/stores/*/facts.yml without the FAQ quotes beside them).
STORES: dict[str, dict[str, Any]] = {
    path.parent.name: read_store_file(path).facts
    for path in sorted((ROOT / "data" / "stores").glob("*/facts.yml"))
}
LANGUAGES = ("fr", "en")


def contract_intents() -> dict[str, tuple[str, ...]]:
    """The intent lists of docs/contracts.md, "Intents" (read, not copied: the contract)."""
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    section = text.split("## Intents", 1)[1].split("\n## ", 1)[0]
    groups: dict[str, list[str]] = {}
    current = ""
    for line in section.splitlines():
        head, colon, rest = line.partition(": ")
        if colon and head in ("FAQ", "Lookup", "Conversation"):
            current, line = head, rest
        elif line.startswith("Extension"):
            current = "Extension"
        if not line.strip():
            current = ""
        elif current == "Extension":
            # Backquoted names: "`switch_language` ("in English please", ...), `stop` (...)".
            groups.setdefault(current, []).extend(re.findall(r"`(\w+)`", line))
            continue
        if current:
            groups.setdefault(current, []).extend(line.split())
    return {name: tuple(intents) for name, intents in groups.items()}


INTENT_GROUPS = contract_intents()
FAQ_INTENTS = INTENT_GROUPS["FAQ"]
LOOKUP_INTENTS = INTENT_GROUPS["Lookup"]
CONVERSATION_INTENTS = INTENT_GROUPS["Conversation"]
EXTENSION_INTENTS = INTENT_GROUPS["Extension"]
ALL_INTENTS = FAQ_INTENTS + LOOKUP_INTENTS + CONVERSATION_INTENTS + EXTENSION_INTENTS

# Responses that name the shop or its contact route: conditioned on store and language.
STORE_RESPONSES = tuple(f"utter_{intent}" for intent in FAQ_INTENTS) + (
    "utter_greet", "utter_human_handoff", "utter_out_of_scope", "utter_default",
    "utter_order_tracking", "utter_ask_order_number", "utter_invalid_order_number",
    "utter_lookup_help", "utter_human_handoff_ask_email", "utter_handoff_no_email",
)  # fmt: skip
# Responses conditioned on the language only.
LANGUAGE_RESPONSES = (
    "utter_goodbye", "utter_thank", "utter_bot_challenge", "utter_language_switched",
    "utter_other_language",
    "utter_ask_rephrase", "utter_anything_else", "utter_stopped", "utter_affirm_ack",
    "utter_deny_ack", "utter_clarify_intro", "utter_something_else",
    "utter_handoff_email_saved", "utter_handoff_email_invalid", "utter_ask_handoff_email",
    "utter_ask_order_proof", "utter_order_not_found",
) + tuple(f"utter_topic_{intent}" for intent in ALL_INTENTS)  # fmt: skip

# The fixed wording of the honest answer where a store's FAQ is silent.
NOT_DOCUMENTED = {"fr": "je préfère donc ne pas deviner", "en": "so I'd rather not guess"}

# Which fact says whether a store's FAQ answers a topic: documented when it is not null (false
# is an answer: "no customs duties"; a whole section is null when the FAQ skips the topic).
TOPIC_FACTS = {
    "payment_methods": "payment.methods",
    "delivery_time": "delivery.delivery_business_days",
    "shipping_cost": "delivery.free_shipping_threshold",
    "delivery_inspection": "delivery.refuse_damaged_parcel",
    "customs_duties": "delivery.customs_duties_charged",
    "cancel_order": "cancellation.possible_after_confirmation",
    "modify_order": "modification",
    "damaged_item": "damage.report_within_hours",
    "order_security": "payment.encrypted",
    "return_policy": "returns.route",
    "return_shipping_cost": "returns.return_shipping_paid_by",
    "warranty": "warranty",
    "repair_request": "repair",
    "repair_cost": "repair",
    "contact_support": "contact.email",
}
# Topics with no field in data/stores/*/facts.yml yet: the FAQ section answering them, per store
# (docs/intents.md). Move these into the store files if they gain a field.
UNFIELDED_TOPICS: dict[str, dict[str, str | None]] = {
    "how_to_order": {"om-system": "Q1", "btomic": None},
    "order_confirmation": {"om-system": "Q2", "btomic": None},
    "account_benefits": {"om-system": "Q6", "btomic": None},
    "discount_code": {"om-system": "Q13", "btomic": None},
}

# How the answers write a fact, per language.
FORMATS = {
    "fr": {"range": "{} à {} jours ouvrables", "days": "{} jours", "hours": "{} heures",
           "months": "{} mois", "free": "gratuit"},
    "en": {"range": "{} to {} business days", "days": "{} days", "hours": "{} hours",
           "months": "{} months", "free": "free"},
}  # fmt: skip
# One way per language: "$50" in English, "50 $ US" in French (the FAQ's "$50" is English
# order; French puts the sign after the amount, with the country).
AMOUNT_FORMATS = {"en": {"USD": "${}"}, "fr": {"USD": "{} $ US"}}
# Country names for the ISO codes of the facts (translations, not policy).
COUNTRY_NAMES = {
    "AT": ("Autriche", "Austria"), "CH": ("Suisse", "Switzerland"),
    "DE": ("Allemagne", "Germany"), "DK": ("Danemark", "Denmark"), "ES": ("Espagne", "Spain"),
    "FI": ("Finlande", "Finland"), "GB": ("Royaume-Uni", "United Kingdom"),
    "IT": ("Italie", "Italy"), "NL": ("Pays-Bas", "Netherlands"), "NO": ("Norvège", "Norway"),
    "PL": ("Pologne", "Poland"), "SE": ("Suède", "Sweden"),
}  # fmt: skip

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# An example of the order-number format ("OM-123456"): only the shop's own prefix.
ORDER_EXAMPLE_RE = re.compile(r"\b([A-Z]{2})-123456\b")
PHONE_RE = re.compile(r"\+?\d[\d ()-]{7,}\d")
RANGE_RE = re.compile(r"(\d+)\s*(?:à|to|-|–)\s*(\d+)\s*(?:jours|business days|working days|days)")
DAYS_RE = re.compile(r"(\d+)\s*(?:jours|days)\b")
HOURS_RE = re.compile(r"(\d+)\s*(?:heures|hours)\b")
MONTHS_RE = re.compile(r"(\d+)\s*(?:mois|months?)\b")
YEARS_RE = re.compile(r"(\d+)\s*(?:ans|années|years?)\b")
AMOUNT_RE = re.compile(r"[$€£]\s?(\d+)|(\d+)\s?(?:[$€£]|USD|EUR|dollars|euros?)")
NUMBER_RE = re.compile(r"\d+")
WORD_RE = re.compile(r"[a-zà-ÿœ]+")
FRENCH_WORDS = {"le", "la", "les", "vous", "votre", "vos", "de", "des", "du", "et", "est", "pour",
                "nous", "une", "dans", "sur", "pas", "ne", "je", "que", "qui", "avec", "au", "en",
                "ou"}  # fmt: skip
ENGLISH_WORDS = {"the", "you", "your", "and", "is", "are", "for", "we", "our", "to", "of", "with",
                 "in", "it", "can", "i", "that", "this", "have", "if"}  # fmt: skip


# ---- helpers -------------------------------------------------------------------------------


def fact(facts: dict[str, Any], dotted: str) -> Any:
    """The value at `a.b.c` in a store's facts (None when a level is missing)."""
    value: Any = facts
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar or list of scalars in the facts, with the key that holds it."""
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            yield from leaves(sub_value, str(sub_key))
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for item in value:
            yield from leaves(item, key)
    else:
        yield key, value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def fact_ranges(facts: dict[str, Any]) -> set[tuple[int, int]]:
    """Every `[N, M]` of the facts (delays in business days)."""
    return {
        (value[0], value[1])
        for _, value in leaves(facts)
        if isinstance(value, list) and len(value) == 2 and all(is_int(v) for v in value)
    }


def fact_ints(facts: dict[str, Any], key_suffix: str) -> set[int]:
    """The integers held by keys ending with `key_suffix` (`_hours`, `_days`, `months`...)."""
    return {value for key, value in leaves(facts) if key.endswith(key_suffix) and is_int(value)}


def fact_numbers(facts: dict[str, Any]) -> set[str]:
    """Every number written anywhere in the facts, including inside strings (phone, hours)."""
    numbers: set[str] = set()
    for _, value in leaves(facts):
        for item in value if isinstance(value, list) else [value]:
            if is_int(item) or isinstance(item, float):
                numbers.add(str(item))
            elif isinstance(item, str):
                numbers.update(NUMBER_RE.findall(item))
    return numbers


def country_codes(facts: dict[str, Any], dotted: str) -> list[str]:
    """ISO codes of a facts list; YAML 1.1 (PyYAML) reads an unquoted `NO` (Norway) as false."""
    codes = fact(facts, dotted) or []
    bad = [code for code in codes if not isinstance(code, str)]
    assert not bad, f'{facts["id"]}.yml {dotted}: {bad} are not codes; quote them ("NO")'
    return list(codes)


def amounts(facts: dict[str, Any]) -> set[int]:
    return fact_ints(facts, "amount")


def contact_strings(facts: dict[str, Any], language: str) -> list[str]:
    """The store's whole contact route as the answers must quote it (null facts left out)."""
    contact = facts["contact"]
    hours = contact.get("hours")
    route = [contact.get("email"), contact.get("phone"), hours.get(language) if hours else None]
    return [item for item in route if item]


def brand(facts: dict[str, Any]) -> str:
    """The store's brand as written in every answer: the upper-case words of its name."""
    return " ".join(word for word in facts["name"].split() if word.isupper())


def documented(store: str, intent: str) -> bool:
    """Whether the store's FAQ answers the topic."""
    if intent in UNFIELDED_TOPICS:
        return UNFIELDED_TOPICS[intent][store] is not None
    return fact(STORES[store], TOPIC_FACTS[intent]) is not None


def plain(text: str) -> str:
    """The text with every space, no-break ones included, as one ordinary space.

    The facts are compared with the words; the no-break spaces of French typography are
    checked by tests/answers/test_typography.py.
    """
    return " ".join(str(text).split())


# A value for the texts that name one the action sends ({handoff_email}).
ARGUMENTS = {"handoff_email": "client@example.com"}


def text_for(response: str, *, language: str, store: str | None = None) -> str:
    """The text the customer reads for these slots (see `plain`); any store when not given."""
    return plain(render(response, store or sorted(STORES)[0], language, ARGUMENTS))  # type: ignore[arg-type]


def store_texts() -> Iterator[tuple[str, str, str]]:
    """(response, store, language) of every store- and language-conditioned variation."""
    for response in STORE_RESPONSES:
        for store in STORES:
            for language in LANGUAGES:
                yield response, store, language


def without_contacts(text: str) -> str:
    return ORDER_EXAMPLE_RE.sub(" ", PHONE_RE.sub(" ", EMAIL_RE.sub(" ", text)))


def language_counts(text: str) -> tuple[int, int]:
    words = WORD_RE.findall(EMAIL_RE.sub(" ", text).lower().replace("'", " ").replace("’", " "))
    return sum(w in FRENCH_WORDS for w in words), sum(w in ENGLISH_WORDS for w in words)


def required_facts(intent: str, facts: dict[str, Any], language: str) -> list[str]:
    """The strings a documented answer on `intent` must contain, derived from the facts."""
    fmt = FORMATS[language]
    required: list[str] = []
    if intent == "delivery_time":
        for key in ("delivery.processing_business_days", "delivery.delivery_business_days"):
            if fact(facts, key):
                required.append(fmt["range"].format(*fact(facts, key)))
    elif intent == "payment_methods":
        required += [method.replace("_", " ") for method in fact(facts, "payment.methods")]
        index = LANGUAGES.index(language)
        klarna = country_codes(facts, "payment.klarna_countries")
        required += [COUNTRY_NAMES[code][index] for code in klarna]
    elif intent == "shipping_cost":
        threshold = fact(facts, "delivery.free_shipping_threshold")
        required.append(AMOUNT_FORMATS[language][threshold["currency"]].format(threshold["amount"]))
    elif intent == "damaged_item":
        required.append(fmt["hours"].format(fact(facts, "damage.report_within_hours")))
    elif intent == "return_policy":
        if fact(facts, "returns.window_days"):
            required.append(fmt["days"].format(fact(facts, "returns.window_days")))
        if fact(facts, "returns.route") == "contact":
            required.append(facts["contact"]["email"])
        if fact(facts, "returns.refund_business_days"):
            required.append(fmt["range"].format(*fact(facts, "returns.refund_business_days")))
    elif intent == "cancel_order" and fact(facts, "cancellation.possible_after_confirmation"):
        required += contact_strings(facts, language)  # "contact us immediately"
    elif intent == "modify_order":
        required += contact_strings(facts, language)
    elif intent == "warranty":
        required.append(fmt["months"].format(fact(facts, "warranty.months")))
        if fact(facts, "warranty.repair_days"):
            required.append(fmt["days"].format(fact(facts, "warranty.repair_days")))
    elif intent == "repair_cost" and fact(facts, "repair.free_under_warranty"):
        required.append(fmt["free"])
    elif intent == "contact_support":
        required += [facts["support_team"][language].lower(), *contact_strings(facts, language)]
    return required


# ---- structure -----------------------------------------------------------------------------


def test_store_and_language_slots() -> None:
    assert STORES, "no data/stores/*/facts.yml"
    for folder, facts in STORES.items():
        assert facts["id"] == folder
    slots = DOMAIN["slots"]
    # Any shop folder (bot/shops.py): a text slot, so a new shop needs no retraining.
    assert slots["store"]["type"] == "text"
    assert slots["language"]["type"] == "categorical"
    assert set(slots["language"]["values"]) == set(LANGUAGES)
    for name, entity in (("store", "store"), ("language", "language")):
        assert slots[name]["influence_conversation"] is False
        assert slots[name]["mappings"] == [{"type": "from_entity", "entity": entity}]


def test_domain_declares_the_contract_intents_and_only_them() -> None:
    declared = [i if isinstance(i, str) else next(iter(i)) for i in DOMAIN["intents"]]
    assert sorted(declared) == sorted(ALL_INTENTS)


def test_the_domain_lists_exactly_the_responses_of_the_contract() -> None:
    assert set(response_names()) == {*STORE_RESPONSES, *LANGUAGE_RESPONSES}
    # Names only: the texts are data (data/stores/), the model depends on none.
    assert all(variations == [] for variations in DOMAIN["responses"].values())


def nlg(response: str, slots: dict[str, Any]) -> str:
    """What the answer service answers Rasa for these slots."""
    body = {"response": response, "arguments": ARGUMENTS, "tracker": {"slots": slots}}
    return plain(nlg_answer(body)["text"])


@pytest.mark.parametrize("response", STORE_RESPONSES)
def test_store_response_has_every_variation(response: str) -> None:
    for store in STORES:
        for language in LANGUAGES:
            text = text_for(response, store=store, language=language)
            assert text.strip()
            assert nlg(response, {"store": store, "language": language}) == text
        # language not detected yet: the store's French text
        assert nlg(response, {"store": store, "language": None}) == text_for(
            response, store=store, language="fr"
        )
    # store unknown or unset (no entry checked it: a bug upstream): the apology that names
    # no shop, never another shop's text (the error is logged: tests/answers)
    for slots in ({"store": "amazon", "language": "en"}, {"language": "en"}):
        assert nlg(response, slots) == plain(technical_problem(None, "en"))


@pytest.mark.parametrize("response", LANGUAGE_RESPONSES)
def test_language_response_has_every_variation(response: str) -> None:
    for language in LANGUAGES:
        texts = {text_for(response, store=store, language=language) for store in STORES}
        assert len(texts) == 1 and next(iter(texts)).strip(), texts
    for store in STORES:
        assert nlg(response, {"store": store, "language": None}) == text_for(
            response, language="fr"
        )


# ---- every figure is a fact of the right store -----------------------------------------------


@pytest.mark.parametrize(("response", "store", "language"), list(store_texts()))
def test_store_answer_quotes_only_its_store_facts(response: str, store: str, language: str) -> None:
    facts = STORES[store]
    text = text_for(response, store=store, language=language)
    contact = facts["contact"]

    assert set(EMAIL_RE.findall(text)) <= {contact["email"]}
    phones = {phone.strip() for phone in PHONE_RE.findall(text)}
    assert phones <= ({contact["phone"]} if contact.get("phone") else set())
    if phones and contact.get("hours"):
        assert contact["hours"][language] in text, "a phone number goes with its opening hours"

    for other, other_facts in STORES.items():
        if other != store:
            assert brand(other_facts) not in text
            assert other_facts["contact"]["email"] not in text
            if other_facts["contact"].get("phone"):
                assert other_facts["contact"]["phone"] not in text

    # Only this shop's order-number format is shown (a customer of one shop has no use for
    # the other's).
    assert set(ORDER_EXAMPLE_RE.findall(text)) <= {facts["order_prefix"]}

    plain = without_contacts(text)
    ranges = {(int(a), int(b)) for a, b in RANGE_RE.findall(plain)}
    assert ranges <= fact_ranges(facts)
    single = RANGE_RE.sub(" ", plain)
    assert {int(n) for n in DAYS_RE.findall(single)} <= fact_ints(facts, "_days")
    assert {int(n) for n in HOURS_RE.findall(plain)} <= fact_ints(facts, "hours")
    assert {int(n) for n in MONTHS_RE.findall(plain)} <= fact_ints(facts, "months")
    assert not YEARS_RE.findall(plain), "no fact is written in years"
    assert {int(a or b) for a, b in AMOUNT_RE.findall(plain)} <= amounts(facts)
    # nothing else either: every number of the answer is written somewhere in the facts
    assert set(NUMBER_RE.findall(ORDER_EXAMPLE_RE.sub(" ", EMAIL_RE.sub(" ", text)))) <= (
        fact_numbers(facts)
    )


# ---- what each answer must say ---------------------------------------------------------------


def test_every_faq_intent_has_a_documentation_fact() -> None:
    assert set(TOPIC_FACTS) | set(UNFIELDED_TOPICS) == set(FAQ_INTENTS)
    for intent, per_store in UNFIELDED_TOPICS.items():
        assert set(per_store) == set(STORES), intent


@pytest.mark.parametrize("intent", FAQ_INTENTS)
@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_silent_faq_says_so_and_gives_the_contact(intent: str, store: str, language: str) -> None:
    text = text_for(f"utter_{intent}", store=store, language=language)
    if documented(store, intent):
        assert NOT_DOCUMENTED[language] not in text, "the FAQ answers this: give the answer"
    else:
        assert NOT_DOCUMENTED[language] in text
        for item in contact_strings(STORES[store], language):
            assert item in text


# Only the (intent, store) pairs the store's FAQ documents: the silent ones are checked by
# test_silent_faq_says_so_and_gives_the_contact above.
@pytest.mark.parametrize(
    ("intent", "store"),
    [(i, s) for i in FAQ_INTENTS for s in sorted(STORES) if documented(s, i)],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_documented_answer_quotes_the_facts(intent: str, store: str, language: str) -> None:
    text = text_for(f"utter_{intent}", store=store, language=language)
    for item in required_facts(intent, STORES[store], language):
        assert item.lower() in text.lower(), f"{item!r} missing"


@pytest.mark.parametrize(("response", "store", "language"), list(store_texts()))
def test_answer_does_not_state_what_the_faq_does_not(
    response: str, store: str, language: str
) -> None:
    facts = STORES[store]
    plain = without_contacts(text_for(response, store=store, language=language))
    if not fact(facts, "warranty.months"):
        assert not MONTHS_RE.findall(plain) and not YEARS_RE.findall(plain)
    if not fact(facts, "returns.refund_business_days"):
        for sentence in re.split(r"[.!?;:]", plain):
            if re.search(r"rembours|refund", sentence, re.IGNORECASE):
                assert not NUMBER_RE.search(sentence), sentence
    if not facts["contact"].get("phone"):
        assert not PHONE_RE.findall(text_for(response, store=store, language=language))
    if not fact(facts, "payment.klarna_countries"):
        assert "klarna" not in plain.lower()
    if not fact(facts, "delivery.free_shipping_threshold") and not fact(
        facts, "delivery.shipping_fees"
    ):
        assert not AMOUNT_RE.findall(plain)


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("utter_greet", lambda facts, language: [brand(facts)]),
        ("utter_out_of_scope", lambda facts, language: [brand(facts), facts["contact"]["email"]]),
        ("utter_human_handoff", contact_strings),
        # The chat: an address is asked for, and the route to write in is given too.
        ("utter_human_handoff_ask_email", contact_strings),
        ("utter_handoff_no_email", contact_strings),
        ("utter_default", lambda facts, language: [facts["contact"]["email"]]),
    ],
)
def test_conversation_answer_names_the_store(
    response: str,
    expected: Callable[[dict[str, Any], str], list[str]],
    store: str,
    language: str,
) -> None:
    text = text_for(response, store=store, language=language)
    for item in expected(STORES[store], language):
        assert item in text


# What each tracking fact of the store file makes utter_order_tracking say.
TRACKING_WORDS = {
    "tracking.carrier_first": {"fr": "vérifiez d'abord auprès du transporteur",
                               "en": "check with the carrier first"},
    "tracking.shipping_email": {"fr": "e-mail contenant un numéro de suivi",
                                "en": "e-mail with a tracking number"},
}  # fmt: skip


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_tracking_route_is_the_shops_faq_route_then_the_offer(store: str, language: str) -> None:
    facts = STORES[store]
    text = text_for("utter_order_tracking", store=store, language=language)
    assert fact(facts, "tracking.account")
    assert facts["account_name"] in text
    for key, words in TRACKING_WORDS.items():
        assert (words[language] in text) is bool(fact(facts, key)), key
    # The offer comes last, with the shop's format only.
    assert text.rstrip().endswith(f"{facts['order_prefix']}-123456)")


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("key", ["payment.klarna_countries", "delivery.countries"])
def test_country_codes_are_strings(store: str, key: str) -> None:
    country_codes(STORES[store], key)


def test_klarna_countries_have_names() -> None:
    for facts in STORES.values():
        assert set(country_codes(facts, "payment.klarna_countries")) <= set(COUNTRY_NAMES)


# ---- language --------------------------------------------------------------------------------


def conditioned_language_texts() -> Iterator[tuple[str, str, str]]:
    for response in (*STORE_RESPONSES, *LANGUAGE_RESPONSES):
        for store in STORES:
            for language in LANGUAGES:
                yield response, language, text_for(response, store=store, language=language)


# Texts of fewer than five words ("OK.", "Merci !") carry too few stop words to count.
@pytest.mark.parametrize(
    ("response", "language", "text"),
    [t for t in conditioned_language_texts() if len(WORD_RE.findall(t[2].lower())) >= 5],
)
def test_variation_is_in_its_language(response: str, language: str, text: str) -> None:
    words = len(WORD_RE.findall(text.lower()))
    minimum = 1 if words < 8 else 2
    french, english = language_counts(text)
    if language == "fr":
        assert french >= minimum and french > english, (french, english)
    else:
        assert english >= minimum and english > french, (french, english)


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_chat_handoff_asks_for_an_address_instead_of_promising_a_reply(
    store: str, language: str
) -> None:
    # The chat knows no address: nothing may say that someone will get back to the customer.
    text = text_for("utter_human_handoff_ask_email", store=store, language=language)
    assert ("indiquez-moi votre adresse e-mail" if language == "fr" else "give me your e-mail") in (
        text
    )
    for promise in ("reviendra vers vous", "vous répondra", "will follow up", "will reply"):
        assert promise not in text
