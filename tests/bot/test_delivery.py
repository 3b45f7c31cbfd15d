"""Delivery eligibility per store: listed countries, UK exclusions (names and postcodes), Klarna."""

from __future__ import annotations

import pytest

from bot.delivery import (
    EligibilityReason,
    delivery_eligibility,
    uk_postcode_area,
    uk_postcode_region,
)
from bot.stores import StorePolicy, load_store


@pytest.fixture(scope="module")
def om() -> StorePolicy:
    return load_store("om-system")


@pytest.fixture(scope="module")
def bt() -> StorePolicy:
    return load_store("btomic")


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("Allemagne", "DE"),
        ("aux Pays-Bas", "NL"),
        ("France", "FR"),
        ("Norway", "NO"),
        ("NO", "NO"),
        ("République tchèque", "CZ"),
        ("Irlande", "IE"),
        ("Suisse", "CH"),
        ("Royaume-Uni", "GB"),
        ("UK", "GB"),
        ("England", "GB"),  # England and Wales are delivered
        ("pays de Galles", "GB"),
    ],
)
def test_om_system_delivers_to_its_listed_countries(
    om: StorePolicy, country: str, code: str
) -> None:
    result = delivery_eligibility(om, country)
    assert result.delivers is True
    assert result.reason is EligibilityReason.LISTED
    assert result.country == code
    assert result.excluded_area is None


def test_om_system_delivers_to_each_of_its_20_countries(om: StorePolicy) -> None:
    assert len(om.delivery.countries or ()) == 20
    for code in om.delivery.countries or ():
        assert delivery_eligibility(om, code).delivers is True, code


@pytest.mark.parametrize("country", ["US", "Japon", "Portugal", "Luxembourg", "Canada", "Brésil"])
def test_om_system_refuses_unlisted_countries(om: StorePolicy, country: str) -> None:
    result = delivery_eligibility(om, country)
    assert result.delivers is False
    assert result.reason is EligibilityReason.NOT_LISTED
    assert result.klarna is False


@pytest.mark.parametrize(
    ("country", "area"),
    [
        ("Écosse", "GB-SCT"),
        ("Scotland", "GB-SCT"),
        ("GB-SCT", "GB-SCT"),
        ("Irlande du Nord", "GB-NIR"),
        ("Northern Ireland", "GB-NIR"),
        ("Jersey", "JE"),
        ("Guernesey", "GG"),
        ("Guernsey", "GG"),
        ("île de Man", "IM"),
        ("Isle of Man", "IM"),
        ("île de Wight", "GB-IOW"),
        ("Isle of Wight", "GB-IOW"),
        ("îles Anglo-Normandes", "GB-CHI"),
        ("Channel Islands", "GB-CHI"),
    ],
)
def test_om_system_refuses_the_uk_areas_by_name(om: StorePolicy, country: str, area: str) -> None:
    result = delivery_eligibility(om, country)
    assert result.delivers is False
    assert result.reason is EligibilityReason.EXCLUDED_AREA
    assert result.excluded_area == area
    assert result.excluded_by_postcode is False
    assert result.klarna is False


@pytest.mark.parametrize(
    ("postcode", "area"),
    [
        ("EH1 1YZ", "GB-SCT"),  # Edinburgh
        ("eh11yz", "GB-SCT"),
        ("G1 1AA", "GB-SCT"),  # Glasgow: a one-letter area
        ("AB10 1AA", "GB-SCT"),
        ("ZE1 0AA", "GB-SCT"),  # Shetland
        ("HS1 2AA", "GB-SCT"),  # Outer Hebrides
        ("TD1 1AA", "GB-SCT"),  # Galashiels: TD except TD15 is Scotland
        ("DG16 5AA", "GB-SCT"),  # Gretna: DG is treated as Scotland
        ("BT1 1AA", "GB-NIR"),  # Belfast
        ("PO30 1AA", "GB-IOW"),  # Newport, Isle of Wight
        ("PO41 0AA", "GB-IOW"),
        ("JE2 3AB", "JE"),
        ("GY1 1AA", "GG"),
        ("IM1 1AA", "IM"),
    ],
)
def test_om_system_refuses_the_uk_areas_by_postcode(
    om: StorePolicy, postcode: str, area: str
) -> None:
    for country in ("GB", "Royaume-Uni", "England"):
        result = delivery_eligibility(om, country, postcode)
        assert result.delivers is False, (country, postcode)
        assert result.reason is EligibilityReason.EXCLUDED_AREA
        assert result.excluded_area == area
        assert result.country == area
        assert result.excluded_by_postcode is True
        assert result.klarna is False


@pytest.mark.parametrize(
    "postcode",
    [
        "SW1A 1AA",  # London
        "M1 1AE",  # Manchester
        "PO1 1AA",  # Portsmouth: PO outside 30-41
        "PO29 1AA",
        "TD15 1AA",  # Berwick-upon-Tweed: treated as England
        "CF10 1AA",  # Cardiff
        "not a postcode",
    ],
)
def test_om_system_delivers_to_other_uk_postcodes(om: StorePolicy, postcode: str) -> None:
    result = delivery_eligibility(om, "GB", postcode)
    assert result.delivers is True
    assert result.reason is EligibilityReason.LISTED
    assert result.country == "GB"
    assert result.klarna is True
    # Checked against the refused areas only when it is a UK postcode.
    assert result.postcode_checked is (postcode != "not a postcode")
    assert result.exclusions_complete is False  # "notamment"


@pytest.mark.parametrize("country", ["GB", "Royaume-Uni", "England", "Wales", "UK"])
def test_the_uk_without_a_postcode_carries_its_refused_areas(om: StorePolicy, country: str) -> None:
    result = delivery_eligibility(om, country)
    assert result.delivers is True
    assert result.reason is EligibilityReason.LISTED
    # Scotland, Northern Ireland, the Channel Islands, Man and Wight: the answer names them.
    assert set(result.excluded_within) == set(om.delivery.excluded_areas)
    assert result.postcode_checked is False
    assert delivery_eligibility(om, "DE").excluded_within == ()


def test_a_named_area_is_not_overridden_by_a_postcode(om: StorePolicy) -> None:
    result = delivery_eligibility(om, "Écosse", "SW1A 1AA")
    assert result.delivers is False
    assert result.excluded_area == "GB-SCT"
    assert result.excluded_by_postcode is False


def test_postcodes_of_other_countries_are_not_read_as_uk_ones(om: StorePolicy) -> None:
    # "BT1 1AA" would be Belfast, but the customer says the parcel goes to Germany.
    assert delivery_eligibility(om, "DE", "BT1 1AA").delivers is True
    assert delivery_eligibility(om, "FR", "75011").postcode_area is None


@pytest.mark.parametrize(("country", "klarna"), [("CH", True), ("GB", True), ("DE", True),
                                                 ("FR", False), ("BE", False)])  # fmt: skip
def test_klarna_per_country(om: StorePolicy, country: str, klarna: bool) -> None:
    result = delivery_eligibility(om, country)
    assert result.delivers is True
    assert result.klarna is klarna


def test_no_country_gives_the_list(om: StorePolicy) -> None:
    result = delivery_eligibility(om, None)
    assert result.delivers is None
    assert result.reason is EligibilityReason.NO_COUNTRY
    assert result.countries == om.delivery.countries
    assert result.excluded_areas == om.delivery.excluded_areas
    assert delivery_eligibility(om, "  ").reason is EligibilityReason.NO_COUNTRY


@pytest.mark.parametrize("store", ["om-system", "btomic"])
@pytest.mark.parametrize("country", ["Narnia", "Atlantide", "bonjour"])
def test_unknown_country(store: str, country: str) -> None:
    result = delivery_eligibility(load_store(store), country)
    assert result.delivers is None
    assert result.reason is EligibilityReason.UNKNOWN_COUNTRY
    assert result.country is None


@pytest.mark.parametrize(
    ("country", "postcode"),
    [("Japon", None), ("US", "10001"), ("France", "69002"), ("Écosse", None), ("GB", "EH1 1YZ"),
     ("Brésil", None), ("Isle of Man", None)],
)  # fmt: skip
def test_btomic_faq_gives_no_country_list(
    bt: StorePolicy, country: str, postcode: str | None
) -> None:
    # "nos clients du monde entier" is about payment options: the FAQ lists no delivery
    # country, so whether btomic delivers there cannot be said (neither yes nor no).
    result = delivery_eligibility(bt, country, postcode)
    assert result.delivers is None
    assert result.reason is EligibilityReason.NO_LIST
    assert result.has_list is False
    assert result.country is not None
    assert result.klarna is False  # Klarna is not among btomic's documented means
    assert result.countries == ()


@pytest.mark.parametrize(
    ("postcode", "area"),
    [("SW1A 1AA", "SW"), ("sw1a1aa", "SW"), ("EH1 1YZ", "EH"), ("G1 1AA", "G"), ("M1 1AE", "M"),
     ("PO30", "PO"), ("EC1A 1BB", "EC"), ("75011", None), ("1010", None), ("K1A 0B1", None),
     ("150-0001", None), ("", None), ("SW1A 1AAA", None)],
)  # fmt: skip
def test_uk_postcode_area(postcode: str, area: str | None) -> None:
    assert uk_postcode_area(postcode) == area


@pytest.mark.parametrize(
    ("postcode", "region"),
    [("KW15 1AA", "GB-SCT"), ("PO30 1AA", "GB-IOW"), ("PO3 1AA", None), ("TD15 1AA", None),
     ("TD12 4AA", "GB-SCT"), ("GY9 3AA", "GG"), ("NE1 1AA", None), ("75011", None)],
)  # fmt: skip
def test_uk_postcode_region(postcode: str, region: str | None) -> None:
    assert uk_postcode_region(postcode) == region
