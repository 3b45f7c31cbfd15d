"""Whether a store delivers to a country (or a UK area), and whether Klarna is offered there.

The facts come from ``data/stores/<store>/facts.yml`` (``delivery.countries``,
``delivery.excluded_areas``, ``delivery.excluded_areas_complete``,
``payment.klarna_countries``); this module only applies them:

* om-system (FAQ Q9) delivers to its 20 listed countries. The United Kingdom is listed but
  areas "notamment" Scotland, Northern Ireland, the Channel Islands (Jersey, Guernsey), the
  Isle of Man and the Isle of Wight are not delivered; the list is not exhaustive. They are
  recognised by name (``GB-SCT``, ``GB-NIR``, ``JE``, ``GG``, ``GB-CHI``, ``IM``, ``GB-IOW``)
  or, when the country is the UK (or England or Wales), from a UK postcode
  (:func:`uk_postcode_region`).
* btomic's FAQ gives no list of countries ("nos clients du monde entier" is about payment
  options): whether it delivers to a country cannot be said (``NO_LIST``), and the answer
  gives the contact route to confirm it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bot.nlu.countries import normalise_country, parent_country, region_members
from bot.stores import StorePolicy

__all__ = [
    "DeliveryEligibility",
    "EligibilityReason",
    "delivery_eligibility",
    "uk_postcode_area",
    "uk_postcode_region",
]


class EligibilityReason(enum.StrEnum):
    """Why :func:`delivery_eligibility` answered as it did."""

    LISTED = "listed"  # the country is in the store's list
    NOT_LISTED = "not_listed"  # the store has a list and the country is not in it
    EXCLUDED_AREA = "excluded_area"  # an area the FAQ names as not delivered
    NO_LIST = "no_list"  # the store's FAQ gives no country list: it cannot be said
    UNKNOWN_COUNTRY = "unknown_country"  # a country was given but not recognised
    NO_COUNTRY = "no_country"  # no country given: the answer is the store's list


@dataclass(frozen=True, slots=True)
class DeliveryEligibility:
    """The answer to "do you deliver to ...?" for one store.

    Attributes:
        store_id: the store asked about.
        delivers: True / False, or None when it cannot be said (no or unknown country, or
            no country list in the store's FAQ).
        reason: why.
        country: the recognised code ("DE", "GB", "GB-SCT"...); after a UK postcode, the
            area the postcode lies in ("GB-SCT" for "EH1 1YZ"); None when unknown.
        excluded_area: the refused area ("GB-SCT", "JE", "GB-CHI"...) when the reason is
            ``EXCLUDED_AREA``.
        excluded_by_postcode: the area was found from the postcode, not named.
        postcode_area: the UK postcode area ("EH", "SW") when a UK postcode was given.
        klarna: Klarna is offered for this delivery: the store delivers there and the
            country is in its Klarna list (False when unknown).
        has_list: the store's FAQ lists the countries it delivers to.
        countries: the store's country list, in the FAQ's order (empty without a list).
        excluded_areas: the areas the store refuses.
        excluded_within: for a listed country, the refused areas in or attached to it ("the
            UK, except ..."): the answer names them.
        exclusions_complete: whether the FAQ's list of refused areas is exhaustive (False
            for "notamment"; None when the FAQ does not say).
        postcode_checked: a postcode of the country was given and lies in none of
            ``excluded_within``.
    """

    store_id: str
    delivers: bool | None
    reason: EligibilityReason
    country: str | None
    excluded_area: str | None
    excluded_by_postcode: bool
    postcode_area: str | None
    klarna: bool
    has_list: bool
    countries: tuple[str, ...]
    excluded_areas: tuple[str, ...]
    excluded_within: tuple[str, ...] = ()
    exclusions_complete: bool | None = None
    postcode_checked: bool = False


# Outward code (area letters, district) and optional inward code of a UK postcode, spaces
# removed: "SW1A1AA", "EH11YZ", "PO30", "M11AE".
_UK_POSTCODE = re.compile(r"([A-Z]{1,2})([0-9])([0-9A-Z]?)(?:([0-9])([A-Z]{2}))?")

# Postcode areas of Scotland. TD (Borders) and DG (Dumfries and Galloway) straddle the border:
# TD15 (Berwick-upon-Tweed) is mostly in England and is treated as England; the rest of TD
# and all of DG are treated as Scotland, although TD12 and DG16 hold a few English
# addresses. Conversely the English areas (CA, NE) hold a few Scottish addresses and are
# treated as England. A postcode answer is always worded "your postcode appears to be in
# ...", and the customer can still contact the store.
_SCOTTISH_AREAS = frozenset(
    {"AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD"}
    | {"ZE"}
)
_ENGLISH_TD_DISTRICTS = frozenset({15})
_ISLE_OF_WIGHT_DISTRICTS = range(30, 42)  # PO30 to PO41
_AREA_REGIONS = {"BT": "GB-NIR", "IM": "IM", "JE": "JE", "GY": "GG"}
# Names that refer to the whole UK or a delivered part of it: a postcode there can only make
# the answer more precise. A named excluded area (GB-SCT...) is never overridden.
_REFINABLE_BY_POSTCODE = frozenset({"GB"})


def _parse_uk_postcode(postcode: str) -> tuple[str, int] | None:
    compact = "".join(postcode.split()).upper()
    match = _UK_POSTCODE.fullmatch(compact)
    if match is None:
        return None
    area, district_digit, district_rest = match.group(1), match.group(2), match.group(3)
    # The district number: "30" in PO30, "1" in SW1A (a trailing letter is a sub-district).
    district = district_digit + (district_rest if district_rest.isdigit() else "")
    return area, int(district)


def uk_postcode_area(postcode: str) -> str | None:
    """The postcode area (the leading letters) of a UK postcode, or None if it is not one.

    Accepts full postcodes with or without the space ("EH1 1YZ", "eh11yz") and outward codes
    alone ("PO30").

    Args:
        postcode: the postcode as the customer wrote it.

    Returns:
        "EH", "SW", "G"... or None when ``postcode`` does not have the UK format.
    """
    parsed = _parse_uk_postcode(postcode)
    return parsed[0] if parsed else None


def uk_postcode_region(postcode: str) -> str | None:
    """The area code of a UK postcode outside England and Wales, else None.

    ``BT`` -> ``GB-NIR``; ``IM`` -> ``IM``; ``JE`` -> ``JE``; ``GY`` -> ``GG``; ``PO30`` to
    ``PO41`` -> ``GB-IOW``; the Scottish areas (AB, DD, DG, EH, FK, G, HS, IV, KA, KW, KY,
    ML, PA, PH, TD except TD15, ZE) -> ``GB-SCT``. See the comment on ``_SCOTTISH_AREAS``
    for the border areas.

    Args:
        postcode: the postcode as the customer wrote it.

    Returns:
        The code, or None for England and Wales and for text that is not a UK postcode.
    """
    parsed = _parse_uk_postcode(postcode)
    if parsed is None:
        return None
    area, district = parsed
    if area in _AREA_REGIONS:
        return _AREA_REGIONS[area]
    if area == "PO":
        return "GB-IOW" if district in _ISLE_OF_WIGHT_DISTRICTS else None
    if area == "TD" and district in _ENGLISH_TD_DISTRICTS:
        return None
    return "GB-SCT" if area in _SCOTTISH_AREAS else None


# The Crown dependencies are not part of the United Kingdom, but customers and the om-system
# FAQ name them with it: a question about the UK must mention them when they are refused.
_ATTACHED_TO = {"JE": "GB", "GG": "GB", "IM": "GB", "GB-CHI": "GB"}


def _excluded(code: str, excluded_areas: tuple[str, ...]) -> bool:
    # Jersey is refused when the Channel Islands (GB-CHI) are, and GB-CHI named as a whole is
    # refused when all its members are.
    if code in excluded_areas or all(m in excluded_areas for m in region_members(code)):
        return True
    return any(code in region_members(area) for area in excluded_areas)


def _areas_within(country: str, excluded_areas: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        area
        for area in excluded_areas
        if parent_country(area) == country or _ATTACHED_TO.get(area) == country
    )


def delivery_eligibility(
    policy: StorePolicy, country: str | None, postcode: str | None = None
) -> DeliveryEligibility:
    """Whether ``policy``'s store delivers to ``country`` (refined by a UK ``postcode``).

    Args:
        policy: the store's policy (:func:`bot.stores.load_store`).
        country: a code or a name in French or English ("DE", "Écosse", "the UK"); None or
            empty when the customer named none.
        postcode: the delivery postcode, if known. It is only used when the country is the
            United Kingdom, England or Wales, to find a refused area; other countries'
            postcodes are not checked.

    Returns:
        The eligibility; ``delivers`` is None when no country or an unknown one was given.
    """
    if country is None or not country.strip():
        return _eligibility(policy, delivers=None, reason=EligibilityReason.NO_COUNTRY)
    code = normalise_country(country)
    if code is None:
        return _eligibility(policy, delivers=None, reason=EligibilityReason.UNKNOWN_COUNTRY)

    postcode_area = None
    by_postcode = False
    if postcode and parent_country(code) == "GB":
        postcode_area = uk_postcode_area(postcode)
        region = uk_postcode_region(postcode)
        if region is not None and code in _REFINABLE_BY_POSTCODE:
            code, by_postcode = region, True

    delivery = policy.delivery
    if delivery.countries is None:
        # No list in the FAQ: neither yes nor no (a named area or country changes nothing).
        return _eligibility(policy, delivers=None, reason=EligibilityReason.NO_LIST, country=code)
    if _excluded(code, delivery.excluded_areas):
        return _eligibility(
            policy,
            delivers=False,
            reason=EligibilityReason.EXCLUDED_AREA,
            country=code,
            excluded_area=code,
            excluded_by_postcode=by_postcode,
            postcode_area=postcode_area,
        )
    if parent_country(code) not in delivery.countries:
        return _eligibility(
            policy,
            delivers=False,
            reason=EligibilityReason.NOT_LISTED,
            country=code,
            postcode_area=postcode_area,
        )
    within = _areas_within(code, delivery.excluded_areas)
    return _eligibility(
        policy,
        delivers=True,
        reason=EligibilityReason.LISTED,
        country=code,
        postcode_area=postcode_area,
        # Klarna pays for an order: where the store does not deliver, there is no order.
        klarna=policy.klarna_offered_in(code),
        excluded_within=within,
        postcode_checked=bool(within) and postcode_area is not None,
    )


def _eligibility(
    policy: StorePolicy,
    *,
    delivers: bool | None,
    reason: EligibilityReason,
    country: str | None = None,
    excluded_area: str | None = None,
    excluded_by_postcode: bool = False,
    postcode_area: str | None = None,
    klarna: bool = False,
    excluded_within: tuple[str, ...] = (),
    postcode_checked: bool = False,
) -> DeliveryEligibility:
    return DeliveryEligibility(
        store_id=policy.id,
        delivers=delivers,
        reason=reason,
        country=country,
        excluded_area=excluded_area,
        excluded_by_postcode=excluded_by_postcode,
        postcode_area=postcode_area,
        klarna=klarna,
        has_list=policy.delivery.countries is not None,
        countries=policy.delivery.countries or (),
        excluded_areas=policy.delivery.excluded_areas,
        excluded_within=excluded_within,
        exclusions_complete=policy.delivery.excluded_areas_complete,
        postcode_checked=postcode_checked,
    )
