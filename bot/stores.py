"""The shops' documented policies, read from ``data/stores/<store id>/facts.yml``.

Each YAML file is the one place for a store's facts (contact, delays, countries, Klarna
countries, payment means, return window...). Each fact is written ``{value: ..., faq: "..."}``
with the FAQ's own words beside it (``data/stores/<store id>/faq.fr.txt`` is the FAQ page
they quote); the policy below holds the values, :func:`read_store_file` also gives the
quotes. ``null`` in the file means "the FAQ says nothing": the bot must then say so and give
the store's contact route, so every such field is ``Optional`` here and the callers have to
handle ``None``.

The files are validated when read, against the models below: an unknown key, a misspelled
country code or an inverted day range is a :class:`~bot.errors.ConfigurationError` rather than
a wrong answer to a customer. Which shops exist is the registry's business (:mod:`bot.shops`:
one folder per shop); the policies are read again when a ``facts.yml`` changes (its
modification time, looked at most every :data:`bot.shops.REGISTRY_TTL_S` seconds), so an edited
fact is live on the next turn without a restart.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import ConfigurationError, UnknownStoreError
from bot.nlu.countries import is_known_code, parent_country
from bot.shops import FACTS_FILE, FAQ_FILE, REGISTRY_TTL_S, shop_ids, stores_dir

__all__ = [
    "IDENTITY_KEYS",
    "BusinessDayRange",
    "StoreFile",
    "StorePolicy",
    "all_stores",
    "faq_path",
    "load_store",
    "load_stores_from",
    "read_store_file",
    "store_ids",
]

logger = logging.getLogger(__name__)


def _check_range(value: tuple[int, int]) -> tuple[int, int]:
    low, high = value
    if not 0 <= low <= high:
        raise ValueError(f"expected 0 <= low <= high, got {list(value)}")
    return value


def _check_codes(codes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [code for code in codes if not is_known_code(code)]
    if unknown:
        raise ValueError(f"unknown country or area codes {unknown}")
    return codes


#: ``[low, high]`` business days, as the FAQs give them ("3 à 4 jours ouvrables").
BusinessDayRange = Annotated[tuple[int, int], AfterValidator(_check_range)]
_CountryCodes = Annotated[tuple[str, ...], AfterValidator(_check_codes)]


class _Facts(BaseModel):
    # Frozen: the policies are shared by every conversation of the process. Extra keys are
    # refused so that a misspelled key in the YAML fails loudly instead of being ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Localised(_Facts):
    """A text given in both languages of the bot."""

    fr: str
    en: str

    def in_language(self, lang: str) -> str:
        """The English text for ``"en..."``, the French one otherwise (the bot's default)."""
        return self.en if lang.strip().lower().startswith("en") else self.fr


class Money(_Facts):
    """An amount in a currency."""

    amount: Decimal
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Contact(_Facts):
    """How customers reach the store's service; ``None`` = not in the FAQ."""

    email: str
    phone: str | None
    hours: Localised | None
    response_time: Localised | None


class Payment(_Facts):
    """The documented payment means (no Klarna country: Klarna is not documented)."""

    methods: tuple[str, ...]
    klarna_countries: _CountryCodes
    encrypted: bool


class Delivery(_Facts):
    """Where and how fast the store delivers, as its FAQ words it."""

    # Order processing before the parcel leaves; None when the FAQ gives one overall delay.
    processing_business_days: BusinessDayRange | None
    # "généralement": the processing time is usual, not guaranteed.
    processing_time_is_usual: bool | None
    delivery_business_days: BusinessDayRange | None
    # "Nous nous efforçons": the delay is an aim, not a commitment.
    delivery_time_is_aim: bool | None
    # The delivery time follows the processing time (so it runs from the dispatch). None: the
    # FAQ gives no start point, and no date may be computed from the delay.
    delivery_after_processing: bool | None
    # What the delay depends on ("votre adresse"), and when it may be longer.
    delivery_time_factors: Localised | None
    delays_may_be_longer: Localised | None
    # The countries delivered to; None when the FAQ gives no list (the bot must not guess).
    countries: _CountryCodes | None
    # Areas refused although their country is listed (or named by the FAQ as refused).
    excluded_areas: _CountryCodes
    # False when the FAQ's list of refused areas is not exhaustive ("notamment").
    excluded_areas_complete: bool | None
    free_shipping_threshold: Money | None
    shipping_fees: Localised | None
    customs_duties_charged: bool | None
    refuse_damaged_parcel: bool | None

    @model_validator(mode="after")
    def _exclusions_need_a_list(self) -> Delivery:
        if self.excluded_areas and self.countries is None:
            raise ValueError("`excluded_areas` needs a `countries` list")
        if self.delivery_after_processing and self.processing_business_days is None:
            raise ValueError("`delivery_after_processing` needs `processing_business_days`")
        return self


class Tracking(_Facts):
    """Where the FAQ sends a customer who wants to follow an order."""

    # The customer account shows the orders' status.
    account: bool | None
    # With a tracking number, ask the carrier first, then the shop.
    carrier_first: bool | None
    # An e-mail with the tracking number (and the carrier's link) is sent at dispatch.
    shipping_email: bool | None


class Returns(_Facts):
    """The return and refund policy."""

    window_days: int | None
    # "sous certaines conditions": the window is never stated without this.
    window_conditional: bool | None
    return_shipping_paid_by: Literal["store", "customer"] | None
    refund_business_days: BusinessDayRange | None
    # What the refund delay is counted from: the return received and accepted.
    refund_counted_from: Literal["acceptance"] | None
    refund_to_original_method: bool | None
    refund_timing_depends_on_bank: bool | None
    # What happens to the payment of a cancelled order (neither FAQ says).
    refund_after_cancellation: Localised | None
    # How a return is started: "contact" = through customer service (e-mail / phone);
    # "policy_page" = the shop's return policy page.
    route: Literal["contact", "policy_page"]

    @model_validator(mode="after")
    def _delay_needs_its_start(self) -> Returns:
        if (self.refund_business_days is None) != (self.refund_counted_from is None):
            raise ValueError("give `refund_counted_from` with `refund_business_days`, or neither")
        return self


class Cancellation(_Facts):
    """Whether an order can be cancelled once confirmed ("maybe" = ask service at once)."""

    possible_after_confirmation: bool | Literal["maybe"]


class Modification(_Facts):
    """Whether an order can be changed ("maybe" = ask service at once)."""

    possible: bool | Literal["maybe"]


class Damage(_Facts):
    """Damaged deliveries: the deadline to report them, who pays the shipping."""

    report_within_hours: int | None
    shipping_costs_covered: bool | None


class Warranty(_Facts):
    """The warranty, when the FAQ documents one."""

    months: int
    repair_days: int | None = None


class Repair(_Facts):
    """Repairs, when the FAQ documents them."""

    free_under_warranty: bool | None = None


_Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class WidgetColours(_Facts):
    """The chat widget's colours for a shop (``#rrggbb``); unset ones keep the widget's own."""

    accent: _Colour | None = None
    header_background: _Colour | None = None
    header_text: _Colour | None = None
    link: _Colour | None = None


class StorePolicy(_Facts):
    """Everything one store's FAQ documents, as typed values.

    ``None`` for a section (``warranty``, ``repair``, ``modification``) means the FAQ does not
    cover the topic at all.
    """

    id: str
    name: str
    display_name: Localised
    legal_name: str
    order_prefix: str = Field(pattern=r"^[A-Z]{2}$")
    support_team: Localised
    # The short name the chat widget shows ("OM SYSTEM"); the shop's `name` when not given.
    widget_name: str | None = None
    # The widget's colours on this shop's pages; the widget's default ones when not given.
    widget_colours: WidgetColours | None = None
    # Names customers use for the shop and its brands ("OM SYSTEM", "Olympus"): evidence of
    # no language for the NLU (bot.shops.shop_words, with the shop's id).
    brand_words: tuple[str, ...] = ()
    account_name: str
    contact: Contact
    payment: Payment
    delivery: Delivery
    tracking: Tracking
    returns: Returns
    cancellation: Cancellation
    modification: Modification | None
    damage: Damage
    warranty: Warranty | None
    repair: Repair | None

    def klarna_offered_in(self, country: str) -> bool:
        """Whether Klarna is a documented payment means for customers in ``country``.

        Areas count as their country ("GB-SCT" as "GB"); see
        :func:`bot.delivery.delivery_eligibility` for whether the store delivers there at all.
        """
        return parent_country(country.strip().upper()) in self.payment.klarna_countries


#: The keys of a store file that describe the shop's set-up rather than its FAQ: they carry
#: no FAQ quote.
IDENTITY_KEYS = frozenset(
    {
        "id",
        "name",
        "display_name",
        "legal_name",
        "order_prefix",
        "support_team",
        "widget_name",
        "widget_colours",
        "brand_words",
    }
)
_FACT_KEYS = frozenset({"value", "faq"})


class _FactsLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false.

    YAML 1.1 also reads yes/no/on/off as booleans, so Norway's code ``NO`` would become
    ``false`` in a country list.
    """


_FactsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FactsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True)
class StoreFile:
    """A store file as written: its plain facts and the FAQ quote behind each.

    Attributes:
        facts: the file with every ``{value, faq}`` fact replaced by its value (what
            :class:`StorePolicy` validates; tests read it too).
        sources: the FAQ quotes of each fact, by dotted path (``"delivery.countries"``).
    """

    facts: dict[str, Any]
    sources: dict[str, tuple[str, ...]]


def _unwrap(node: Any, path: str, sources: dict[str, tuple[str, ...]]) -> Any:
    if not isinstance(node, dict):
        return node
    if set(node) == _FACT_KEYS:
        quotes = node["faq"] if isinstance(node["faq"], list) else [node["faq"]]
        if (
            node["value"] is None
            or not quotes
            or not all(isinstance(quote, str) and quote.strip() for quote in quotes)
        ):
            # null is the FAQ's silence, which has no quote; a quote must be real text.
            raise ValueError(f"{path}: a fact needs a value and a non-empty `faq` quote")
        sources[path] = tuple(quotes)
        return node["value"]
    return {
        key: _unwrap(value, f"{path}.{key}" if path else str(key), sources)
        for key, value in node.items()
    }


def read_store_file(path: Path) -> StoreFile:
    """Reads a store file, separating each fact's value from its FAQ quote.

    Raises:
        ConfigurationError: the file cannot be read, is not a mapping, or has a fact without
            a value or a quote.
    """
    try:
        with path.open(encoding="utf-8") as stream:
            raw: Any = yaml.load(stream, Loader=_FactsLoader)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the store policy {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"invalid store policy {path}: not a mapping")
    sources: dict[str, tuple[str, ...]] = {}
    try:
        facts = _unwrap(raw, "", sources)
    except ValueError as exc:
        raise ConfigurationError(f"invalid store policy {path}: {exc}") from exc
    return StoreFile(facts=facts, sources=sources)


def faq_path(store_id: str, directory: Path | None = None) -> Path:
    """The verbatim copy of the store's FAQ page its facts quote (``<id>/faq.fr.txt``)."""
    return (directory or stores_dir()) / store_id / FAQ_FILE


def facts_path(store_id: str, directory: Path | None = None) -> Path:
    """The store's facts file (``<id>/facts.yml``)."""
    return (directory or stores_dir()) / store_id / FACTS_FILE


def _read(path: Path, store_id: str) -> StorePolicy:
    try:
        policy = StorePolicy.model_validate(read_store_file(path).facts)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid store policy {path}:\n{exc}") from exc
    if policy.id != store_id:
        raise ConfigurationError(
            f"{path} declares id {policy.id!r}; it must match its folder's name {store_id!r}"
        )
    return policy


def _check_prefixes(policies: dict[str, StorePolicy], directory: Path) -> None:
    prefixes = [policy.order_prefix for policy in policies.values()]
    if len(set(prefixes)) != len(prefixes):
        # The digits-alone lookup tries every prefix: two stores must never share one.
        raise ConfigurationError(f"stores in {directory} share an order prefix: {prefixes}")


def load_stores_from(directory: Path) -> dict[str, StorePolicy]:
    """Reads and validates every shop folder's ``facts.yml`` in ``directory`` (no cache).

    Args:
        directory: a folder of ``<store id>/facts.yml`` shop folders.

    Returns:
        The policies by store id, in :func:`bot.shops.shop_ids` order.

    Raises:
        ConfigurationError: a file cannot be read or is invalid, or two stores share an
            order prefix.
    """
    policies = {
        store_id: _read(facts_path(store_id, directory), store_id)
        for store_id in shop_ids(directory, fresh=True)
    }
    _check_prefixes(policies, directory)
    return policies


class _PolicyCache:
    """The policies of the registry's shops, read again when a ``facts.yml`` changes.

    The modification times are looked at most every :data:`REGISTRY_TTL_S` seconds, so a
    turn costs no file system call most of the time, and an edit (or a new shop folder) is
    seen within that delay by every process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = -1.0e9
        self._directory: Path | None = None
        self._stamps: dict[str, float] = {}
        self._policies: dict[str, StorePolicy] = {}

    def get(self) -> dict[str, StorePolicy]:
        now = time.monotonic()
        directory = stores_dir()
        if directory == self._directory and now - self._checked < REGISTRY_TTL_S:
            return self._policies
        with self._lock:
            ids = shop_ids(directory)
            stamps = {}
            for store_id in ids:
                try:
                    stamps[store_id] = facts_path(store_id, directory).stat().st_mtime
                except OSError:
                    continue
            if directory != self._directory or stamps != self._stamps:
                policies = {
                    store_id: (
                        self._policies[store_id]
                        if directory == self._directory
                        and self._stamps.get(store_id) == stamp
                        and store_id in self._policies
                        else _read(facts_path(store_id, directory), store_id)
                    )
                    for store_id, stamp in stamps.items()
                }
                _check_prefixes(policies, directory)
                self._policies, self._stamps, self._directory = policies, stamps, directory
                logger.debug("Loaded the store policies %s from %s", list(policies), directory)
            self._checked = now
            return self._policies

    def clear(self) -> None:
        with self._lock:
            self._directory = None
            self._stamps = {}
            self._policies = {}


_POLICIES = _PolicyCache()


def _policies() -> dict[str, StorePolicy]:
    return _POLICIES.get()


def load_store(store_id: str) -> StorePolicy:
    """The policy of one store (read again when its file changes).

    Args:
        store_id: a shop id of :func:`bot.shops.shop_ids` (exact).

    Raises:
        UnknownStoreError: no ``data/stores/<store_id>/facts.yml``.
        ConfigurationError: a policy file is invalid.
    """
    try:
        return _policies()[store_id]
    except KeyError:
        raise UnknownStoreError(f"unknown store {store_id!r}") from None


def all_stores() -> tuple[StorePolicy, ...]:
    """Every shop's policy, in :func:`bot.shops.shop_ids` order."""
    return tuple(_policies().values())


def store_ids() -> tuple[str, ...]:
    """The ids of every shop whose policy is valid, in :func:`all_stores` order."""
    return tuple(_policies())
