"""Every composed answer the bot can send, rendered through the real actions.

The answers are produced the way the action server produces them: the real actions
(``actions/``) run on a rasa-sdk ``Tracker`` against a real SQLite orders database filled by
the demo CLI (``python -m bot.db.demo``), and what their ``CollectingDispatcher`` collects is
turned into text by :func:`message_text`: a ``text`` as is, a ``response`` rendered from the
shop's templates (``data/stores/<shop>/texts.yml``) by the answer service's renderer, as Rasa
gets it from the answer service. The matrix and the checks do not depend on where the texts
live.

The matrix:

* every demo order (the canonical ones and the generated ones) x purpose (status, refund) x
  language, in the order's shop, and for the canonical orders from the other shop's chat too;
  on three databases whose demo day is today, 12 and 45 days ago, so the same orders are also
  seen long after their estimates and refund delays;
* every country class (listed, listed with refused areas, a UK postcode inside or outside
  them, a refused area named, not listed, unknown, none) x store x language, for the delivery
  answer, the Klarna answer and a country given outside a question;
* the refund policy, the locked lookup, the failure apology and the tracking route, x store x
  language;
* the edge cases the demo data and the shops' facts never reach (:func:`edge_answers`): orders
  and timelines in rarer states, and shops whose facts differ (a phone without hours, one
  business day, a complete list of refused areas...), rendered by :mod:`bot.replies` directly.

While the matrix is built, every part (``part_...`` text) the answers are composed from is
recorded (:attr:`Matrix.parts`), so the tests know that every template of
``data/stores/_common/texts.yml`` was checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from actions.delivery import ActionDeliveryCountries
from actions.dispatch import ActionHandleInform
from actions.order_tracking import ActionAskOrderNumber
from actions.orders import ActionAnswerOrderLookup
from actions.payment import ActionPaymentMethods
from actions.refunds import ActionRefundStatus
from bot import replies
from bot.answers import library as answers
from bot.config import PROJECT_ROOT, get_settings
from bot.db.demo import shop_demo_files
from bot.db.models import Order, OrderStatus, PaymentMethod, RefundStatus
from bot.db.session import dispose_engines
from bot.delivery import delivery_eligibility
from bot.i18n import normalise_language
from bot.mail import compose as mail_compose
from bot.mail.parsing import read_mail
from bot.orders import (
    OrderFacts,
    RefundFacts,
    ReturnFacts,
    ShipmentFacts,
    order_facts,
    order_status_report,
)
from bot.refunds import refund_timeline
from bot.shops import DEFAULT_STORES_DIR
from bot.stores import StorePolicy, load_store, read_store_file, store_ids
from tests.actions.conftest import entity, make_tracker
from tests.conftest import load_demo_database
from tests.mail.helpers import make_mail

LANGUAGES = ("fr", "en")
# How old the demo data is on each database: the same orders, seen later and later.
AGES_IN_DAYS = (0, 12, 45)
DEAD_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:1/none"


@dataclass(frozen=True)
class Case:
    """What a composed answer is about: the facts its sentences may state."""

    kind: str
    store: str  # the shop the customer talks to
    lang: str
    order: OrderFacts | None = None
    purpose: str | None = None
    country: str | None = None  # as the customer named it
    postcode: str | None = None
    age: int = 0
    # The shop's facts when they are not its file's (an edge case's variant of the shop).
    facts: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def label(self) -> str:
        parts = [self.kind, self.store, self.lang]
        if self.order is not None:
            parts += [self.order.number, str(self.purpose), f"+{self.age}d"]
        if self.country or self.postcode:
            parts.append(f"{self.country}/{self.postcode}")
        return " ".join(parts)


@dataclass(frozen=True)
class Rendered:
    """One message the bot sends: its text, and whether it was composed by code."""

    case: Case
    text: str
    composed: bool  # a text built by the actions (not a domain response)


# --- responses, as Rasa picks them ------------------------------------------------------------


@cache
def domain() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text("utf-8"))
    return loaded


def response_text(name: str, store: str, lang: str, **values: Any) -> str:
    """A response as the answer service renders it for the shop and language."""
    return answers.render(name, store, normalise_language(lang), values)


def message_text(message: Mapping[str, Any], store: str, lang: str) -> str:
    """What the customer reads for one dispatched message."""
    if message.get("text"):
        return str(message["text"])
    name = message.get("response")
    assert name, f"a message with neither text nor response: {message}"
    values = {k: v for k, v in message.items() if k not in ("response", "buttons")}
    return response_text(name, store, lang, **values)


# --- running the actions ------------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str) -> Iterator[None]:
    """Points the actions' settings and engines at ``url`` for the block."""
    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    dispose_engines()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = before
        get_settings.cache_clear()
        dispose_engines()


def run_action(action: Action, case: Case, **tracker_args: Any) -> list[Rendered]:
    dispatcher = CollectingDispatcher()
    slots = {"store": case.store, "language": case.lang, **tracker_args.pop("slots", {})}
    tracker = make_tracker(slots=slots, **tracker_args)
    asyncio.run(action.run(dispatcher, tracker, domain()))
    return [
        Rendered(case, message_text(m, case.store, case.lang), composed=bool(m.get("text")))
        for m in dispatcher.messages
    ]


# --- the matrix -------------------------------------------------------------------------------


def _orders(url: str) -> list[OrderFacts]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return [order_facts(o) for o in session.scalars(select(Order).order_by(Order.number))]
    finally:
        engine.dispose()


def _canonical_numbers() -> set[str]:
    return {
        entry["number"]
        for path in shop_demo_files()
        for entry in yaml.safe_load(path.read_text("utf-8"))["orders"]
    }


def order_answers(url: str, age: int) -> list[Rendered]:
    """Every order of the database x purpose x language (x the other shop for canonical ones)."""
    canonical = _canonical_numbers()
    rendered: list[Rendered] = []
    with database(url):
        for order in _orders(url):
            stores = store_ids() if order.number in canonical else (order.store_id,)
            for store in stores:
                for purpose in ("status", "refund"):
                    for lang in LANGUAGES:
                        case = Case("order", store, lang, order, purpose, age=age)
                        slots = {
                            "order_number": order.number,
                            "verified_order": order.number,
                            # The answer checks the stored proof against the order again.
                            "verified_proof": order.customer_email,
                            "lookup_purpose": purpose,
                        }
                        rendered += run_action(ActionAnswerOrderLookup(), case, slots=slots)
    return rendered


# (country as named, postcode): one per country class.
COUNTRY_CASES: Sequence[tuple[str | None, str | None]] = (
    ("CH", None),  # listed, Klarna
    ("France", None),  # listed, no Klarna
    ("GB", None),  # listed, with refused areas
    ("England", None),
    ("Wales", None),
    ("GB", "SW1A 1AA"),  # a UK postcode outside the refused areas
    ("GB", "EH1 1YZ"),  # ... in Scotland
    ("GB", "BT1 1AA"),  # ... in Northern Ireland
    ("GB", "JE2 3AB"),  # ... in Jersey
    ("GB", "GY1 1AA"),  # ... in Guernsey
    ("GB", "IM1 1AA"),  # ... on the Isle of Man
    ("GB", "PO30 1AA"),  # ... on the Isle of Wight
    ("Écosse", None),  # a refused area by name
    ("Jersey", None),
    ("Channel Islands", None),
    ("Isle of Man", None),
    ("US", None),  # not listed
    ("Japon", None),
    ("Australia", None),
    ("Narnia", None),  # not a country
    (None, None),  # no country: the list, or that there is none
)


def country_answers() -> list[Rendered]:
    """Every country class x store x language: delivery, Klarna, a country given alone."""
    rendered: list[Rendered] = []
    for store in store_ids():
        for lang in LANGUAGES:
            for country, postcode in COUNTRY_CASES:
                case = Case("country", store, lang, country=country, postcode=postcode)
                entities = [entity("country", country)] if country else []
                if postcode:
                    entities.append(entity("postcode", postcode))
                rendered += run_action(
                    ActionDeliveryCountries(), case, intent="delivery_countries", entities=entities
                )
                if country:
                    rendered += run_action(
                        ActionPaymentMethods(), case, intent="payment_methods", entities=entities
                    )
                    rendered += run_action(
                        ActionHandleInform(), case, intent="inform", entities=entities
                    )
    return rendered


def store_answers(orders_url: str) -> list[Rendered]:
    """The refund policy, the locked lookup, the failure apology, the tracking route."""
    rendered: list[Rendered] = []
    for store in store_ids():
        for lang in LANGUAGES:
            case = Case("store", store, lang)
            with database(orders_url):
                for locked in (False, True):
                    rendered += run_action(
                        ActionRefundStatus(),
                        case,
                        intent="refund_status",
                        slots={"lookup_locked": locked},
                    )
                rendered += run_action(
                    ActionAnswerOrderLookup(), case, slots={"lookup_locked": True}
                )
                rendered += run_action(
                    ActionAskOrderNumber(), case, intent="order_status", text="où en est-elle ?"
                )
            with database(DEAD_DATABASE_URL):
                rendered += run_action(
                    ActionAnswerOrderLookup(),
                    case,
                    slots={
                        "order_number": "OM-104233",
                        "verified_order": "OM-104233",
                        "verified_proof": "marie.dupont@example.fr",
                    },
                )
    return rendered


@dataclass
class Matrix:
    """Every rendered answer, by kind."""

    orders: list[Rendered] = field(default_factory=list)
    countries: list[Rendered] = field(default_factory=list)
    stores: list[Rendered] = field(default_factory=list)
    edges: list[Rendered] = field(default_factory=list)
    mails: list[Rendered] = field(default_factory=list)
    # (part, shop or None, language) of every part the answers were composed from.
    parts: set[tuple[str, str | None, str]] = field(default_factory=set)

    def all(self) -> list[Rendered]:
        return [*self.orders, *self.countries, *self.stores, *self.edges, *self.mails]


@contextlib.contextmanager
def recording_parts(seen: set[tuple[str, str | None, str]]) -> Iterator[None]:
    """Notes every part bot.replies renders in the block (the renderer itself is unchanged)."""
    render_part: Callable[..., str] = replies.render_part

    def recorded(name: str, store: str | None, lang: str, *args: Any, **kwargs: Any) -> str:
        seen.add((name, store, lang))
        return render_part(name, store, lang, *args, **kwargs)

    # The e-mail reply's frame (bot.mail.compose) renders its part_mail_... texts with the same
    # renderer, imported there under its own name.
    mail_render_part: Callable[..., str] = mail_compose.render_part

    def mail_recorded(name: str, store: str | None, lang: str, *args: Any, **kwargs: Any) -> str:
        seen.add((name, store, lang))
        return mail_render_part(name, store, lang, *args, **kwargs)

    replies.render_part = recorded  # type: ignore[assignment]
    mail_compose.render_part = mail_recorded  # type: ignore[assignment]
    try:
        yield
    finally:
        replies.render_part = render_part  # type: ignore[assignment]
        mail_compose.render_part = mail_render_part  # type: ignore[assignment]


# --- the edge cases ---------------------------------------------------------------------------

EDGE_DAY = dt.date(2026, 11, 23)


def _shop_variant(store: str, **changes: Any) -> tuple[StorePolicy, dict[str, Any]]:
    """A shop whose facts differ from its file's: ``changes`` by dotted path."""
    facts = copy.deepcopy(read_store_file(DEFAULT_STORES_DIR / store / "facts.yml").facts)
    for dotted, value in changes.items():
        node = facts
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    return StorePolicy.model_validate(facts), facts


def _edge_order(store: str, number: str, status: OrderStatus, **values: Any) -> OrderFacts:
    return OrderFacts(
        number=number,
        store_id=store,
        customer_email="edge@example.fr",
        postcode="75011",
        country="FR",
        status=status,
        placed_on=EDGE_DAY - dt.timedelta(days=20),
        payment_method=PaymentMethod.VISA,
        currency="EUR",
        **values,
    )


def edge_answers() -> list[Rendered]:
    """The answers whose parts neither the demo orders nor the two shops' facts reach."""
    rendered: list[Rendered] = []

    def add(case: Case, text: str | None) -> None:
        if text is not None:
            rendered.append(Rendered(case, text, composed=True))

    refund = RefundFacts(RefundStatus.PENDING, PaymentMethod.VISA, Decimal("89.00"), "EUR")
    shipped = ShipmentFacts("", "00340434161094042557", shipped_on=EDGE_DAY - dt.timedelta(days=2))
    delivered = ShipmentFacts("DHL", "JD0147", shipped_on=EDGE_DAY - dt.timedelta(days=9))
    orders = [
        # Cancelled with a refund under way; a refund with no return received; a return on
        # its way back; a return received and not yet accepted.
        _edge_order("om-system", "OM-900001", OrderStatus.CANCELLED, refund=refund),
        _edge_order("btomic", "BT-900002", OrderStatus.DELIVERED, refund=refund),
        _edge_order("om-system", "OM-900003", OrderStatus.RETURNED, return_=ReturnFacts(None)),
        _edge_order(
            "btomic",
            "BT-900004",
            OrderStatus.RETURNED,
            return_=ReturnFacts(received_on=EDGE_DAY - dt.timedelta(days=1)),
            refund=refund,
        ),
        # Delivered with no delivery date; shipped with a tracking number and no carrier.
        _edge_order("om-system", "OM-900005", OrderStatus.DELIVERED, shipment=delivered),
        _edge_order("om-system", "OM-900006", OrderStatus.SHIPPED, shipment=shipped),
    ]
    for order in orders:
        policy = load_store(order.store_id)
        for lang in LANGUAGES:
            case = Case("edge", order.store_id, lang, order, "status")
            report = order_status_report(order, policy, EDGE_DAY)
            add(
                case,
                replies.order_status_answer(report, policy, lang, conversation_store=case.store),
            )
            timeline = refund_timeline(order, policy, EDGE_DAY)
            refund_case = dataclasses.replace(case, purpose="refund")
            add(
                refund_case,
                replies.refund_answer(timeline, order, policy, lang, conversation_store=case.store),
            )
    # An issued refund with no date recorded, and (as the timeline allows) no amount or no
    # means of payment.
    paid = RefundFacts(RefundStatus.ISSUED, PaymentMethod.VISA, Decimal("89.00"), "EUR")
    for store, number in (("om-system", "OM-900007"), ("btomic", "BT-900008")):
        order = _edge_order(store, number, OrderStatus.RETURNED, refund=paid)
        policy = load_store(store)
        timeline = refund_timeline(order, policy, EDGE_DAY)
        for lang in LANGUAGES:
            case = Case("edge", store, lang, order, "refund")
            for amount, method in ((None, None), (timeline.amount, None), (None, timeline.method)):
                variant = dataclasses.replace(
                    timeline, amount=amount, currency=timeline.currency if amount else None,
                    method=method,
                )  # fmt: skip
                text = replies.refund_answer(variant, order, policy, lang, conversation_store=store)
                add(case, text)
    variants = [
        _shop_variant("btomic", **{"contact.hours": None}),  # a phone without hours
        _shop_variant("om-system", **{"delivery.delivery_time_is_aim": False}),  # a plain delay
        _shop_variant("om-system", **{"delivery.delivery_business_days": [1, 1]}),  # one day
        _shop_variant("om-system", **{"delivery.delivery_business_days": [2, 2]}),
        _shop_variant("om-system", **{"delivery.excluded_areas_complete": True}),
    ]
    for policy, facts in variants:
        for lang in LANGUAGES:
            for country, postcode in (
                ("GB", None),
                ("GB", "SW1A 1AA"),
                ("Écosse", None),
                ("CH", None),
            ):
                case = Case(
                    "edge", policy.id, lang, country=country, postcode=postcode, facts=facts
                )
                eligibility = delivery_eligibility(policy, country, postcode)
                add(case, replies.delivery_answer(eligibility, policy, lang, asked=country))
    for lang in LANGUAGES:
        # The apology when even the shop is not known.
        store = store_ids()[0]
        add(Case("edge", store, lang), replies.technical_problem(None, normalise_language(lang)))
    return rendered


def mail_frames() -> list[Rendered]:
    """The e-mail reply's own sentences, x store x language.

    What bot.mail.compose puts around the answers: the greeting, the line saying the rest of
    the mail went to a person, the closing, the sign-off, the assistant's line, the subject of
    a mail that had none, the line above the quoted mail (with and without the mail's date).
    The customer's quoted text and the line naming its sender and date quote the customer's
    mail, not the shop: they are rendered (so their parts are recorded) but not part of the
    checked text.
    """
    rendered = []
    for store in store_ids():
        policy = load_store(store)
        for lang in LANGUAGES:
            language = normalise_language(lang)
            dated = read_mail(make_mail())
            bodies = [
                mail_compose.compose_body(
                    lang=language,
                    store=policy,
                    answers=[],
                    parsed=parsed,
                    customer_text="Bonjour",
                    rest_handed_over=True,
                )
                for parsed in (dated, dataclasses.replace(dated, date=None))
            ]
            # Each of the reply's own paragraphs, as its own text (the subject line and the
            # greeting end with no full stop); the signature's "-- " line is a delimiter.
            paragraphs = {mail_compose.reply_subject("", language, store).removeprefix("Re: ")}
            for body in bodies:
                *ours, _quote = body.rstrip("\n").split("\n\n")
                paragraphs.update(paragraph.removeprefix("-- \n") for paragraph in ours)
            rendered += [
                Rendered(Case("mail", store, lang), text, composed=True)
                for text in sorted(paragraphs)
            ]
    return rendered


def build_matrix(work: Path) -> Matrix:
    """Renders everything, creating the demo databases under ``work``."""
    matrix = Matrix()
    today = dt.date.today()
    first_url = ""
    with recording_parts(matrix.parts):
        for age in AGES_IN_DAYS:
            url = f"sqlite:///{work / f'orders-{age}.db'}"
            # The real CLI, as `make run` loads the demo data; --today makes the data that old.
            load_demo_database(url, today=today - dt.timedelta(days=age))
            first_url = first_url or url
            matrix.orders += order_answers(url, age)
        matrix.countries = country_answers()
        matrix.stores = store_answers(first_url)
        matrix.edges = edge_answers()
        matrix.mails = mail_frames()
    return matrix
