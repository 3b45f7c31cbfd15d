"""Country names, variants and codes (bot.nlu.countries, re-exported by bot.countries)."""

from __future__ import annotations

import pytest

import bot.countries
import bot.nlu.countries
from bot.nlu.countries import (
    COUNTRIES,
    country_name,
    country_name_with_preposition,
    find_countries,
    is_known_code,
    normalise_country,
    parent_country,
    region_members,
)
from bot.stores import all_stores


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # French and English names, with and without articles and prepositions.
        ("Allemagne", "DE"),
        ("l'Allemagne", "DE"),
        ("l’Allemagne", "DE"),
        ("en Allemagne", "DE"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("au Danemark", "DK"),
        ("aux Pays-Bas", "NL"),
        ("les Pays-Bas", "NL"),
        ("Pays Bas", "NL"),
        ("Holland", "NL"),
        ("the Netherlands", "NL"),
        ("Suisse", "CH"),
        ("Switzerland", "CH"),
        ("Schweiz", "CH"),
        ("Royaume-Uni", "GB"),
        ("royaume uni", "GB"),
        ("au Royaume-Uni", "GB"),
        ("UK", "GB"),
        ("uk", "GB"),
        ("U.K.", "GB"),
        ("in the UK", "GB"),
        ("Grande-Bretagne", "GB"),
        ("Great Britain", "GB"),
        ("USA", "US"),
        ("usa", "US"),
        ("U.S.A.", "US"),
        ("États-Unis", "US"),
        ("Etats Unis", "US"),  # missing accent and hyphen
        ("etats-unis", "US"),
        ("aux États-Unis", "US"),
        ("the United States", "US"),
        ("République tchèque", "CZ"),
        ("Republique tcheque", "CZ"),
        ("Czechia", "CZ"),
        ("Suede", "SE"),
        ("Norvège", "NO"),
        ("Österreich", "AT"),
        ("Japon", "JP"),
        ("Japan", "JP"),
        ("Chine", "CN"),
        ("Brésil", "BR"),
        ("Brazil", "BR"),
        ("Mexique", "MX"),
        ("Inde", "IN"),
        ("Australie", "AU"),
        ("Canada", "CA"),
        ("Irlande", "IE"),
        ("Côte d'Ivoire", "CI"),
        ("cote d ivoire", "CI"),
        ("  FRANCE ?  ", "FR"),
        # UK areas and Crown dependencies.
        ("Écosse", "GB-SCT"),
        ("l'Écosse", "GB-SCT"),
        ("en Ecosse", "GB-SCT"),
        ("Scotland", "GB-SCT"),
        ("Irlande du Nord", "GB-NIR"),
        ("Northern Ireland", "GB-NIR"),
        ("île de Wight", "GB-IOW"),
        ("sur l'ile de Wight", "GB-IOW"),
        ("Isle of Wight", "GB-IOW"),
        ("England", "GB"),
        ("Angleterre", "GB"),
        ("Wales", "GB"),
        ("pays de Galles", "GB"),
        ("au pays de Galles", "GB"),
        ("Jersey", "JE"),
        ("Guernsey", "GG"),
        ("Guernesey", "GG"),
        ("Sark", "GG"),
        ("Isle of Man", "IM"),
        ("île de Man", "IM"),
        ("sur l'île de Man", "IM"),
        ("Channel Islands", "GB-CHI"),
        ("îles Anglo-Normandes", "GB-CHI"),
        ("dans les iles anglo-normandes", "GB-CHI"),
        # Codes as a whole value.
        ("DE", "DE"),
        ("gb", "GB"),
        ("GB-SCT", "GB-SCT"),
        ("gb-nir", "GB-NIR"),
        ("JE", "JE"),
        ("IM", "IM"),
        ("NO", "NO"),
        # A sentence naming exactly one country.
        ("je suis en Allemagne", "DE"),
        ("I live in Scotland", "GB-SCT"),
    ],
)
def test_normalise_country(text: str, code: str) -> None:
    assert normalise_country(text) == code


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Narnia",
        "Atlantide",
        "Mordor",
        "Amérique",  # a continent, not the United States
        "de",  # French words that are also codes mean the word as a whole answer
        "la",
        "es",
        "no",
        "it",
        "bonjour",
        "France ou Allemagne",  # two countries: not one value
    ],
)
def test_normalise_country_unknown_is_none(text: str) -> None:
    assert normalise_country(text) is None


def _codes(text: str) -> list[str]:
    return [code for _start, _end, _text, code in find_countries(text)]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Livrez-vous en Allemagne et aux Pays-Bas ?", ["DE", "NL"]),
        ("Do you ship to Germany?", ["DE"]),
        ("je viens de la France", ["FR"]),  # "de" and "la" are not DE / LA
        ("les frais de port pour la Suisse", ["CH"]),
        ("tu es livré ?", []),  # "es" is not ES
        ("Livraison DE ou ES ?", ["DE", "ES"]),  # upper-case codes count
        ("delivery to CH please", ["CH"]),
        ("I live in the uk", ["GB"]),
        ("shipping to the usa?", ["US"]),
        ("Do you ship to the U.S.?", ["US"]),
        ("Do you ship to the US?", ["US"]),
        ("can you send it to us", []),  # lower-case "us" is the pronoun
        ("J'habite en Irlande du Nord", ["GB-NIR"]),  # longest match, not "Irlande"
        ("I live in Northern Ireland", ["GB-NIR"]),
        ("Livrez-vous en Irlande ?", ["IE"]),
        ("I live in New Jersey", ["US"]),  # not Jersey
        ("I live in Jersey", ["JE"]),
        ("Nova Scotia or Scotland?", ["CA", "GB-SCT"]),
        ("Etats Unis", ["US"]),
        ("Royaume - Uni", ["GB"]),
        ("GB-SCT", ["GB-SCT"]),
        ("area GB-SCT, is it ok?", ["GB-SCT"]),
        ("l'Écosse et l'île de Man", ["GB-SCT", "IM"]),
        # Order numbers, e-mail addresses and web addresses are not countries.
        ("Ma commande OM-104233", []),
        ("order BT 200517 please", []),
        ("john.smith@example.co.uk", []),
        ("see www.example.de or https://shop.example.fr/fr", []),
        ("bought on amazon.co.uk", []),
        ("je suis en france.merci", ["FR"]),  # a missing space is not a domain name
        ("RE: ma commande", []),
        # Emphasis and shouting are not codes.
        ("I have NO tracking number, IS it late? SO annoying", []),
        ("Klarna en IT ?", ["IT"]),  # IT stays Italy: it is a delivery country
        ("LIVREZ-VOUS DE LA FRANCE ?", ["FR"]),
        ("IS IT SHIPPED TO ES", []),
        # Names that are more often people than countries.
        ("Bonjour, Dominique à l'appareil", []),
        ("Thanks, Jordan", []),
    ],
)
def test_find_countries(text: str, codes: list[str]) -> None:
    assert _codes(text) == codes


def test_find_countries_offsets_point_at_the_name_without_article() -> None:
    text = "Livrez-vous aux Pays-Bas et en Écosse ?"
    found = find_countries(text)
    assert found == [(16, 24, "Pays-Bas", "NL"), (31, 37, "Écosse", "GB-SCT")]
    for start, end, matched, _code in found:
        assert text[start:end] == matched


def test_find_countries_keeps_the_dot_of_an_abbreviation() -> None:
    assert find_countries("ship to the U.K. please") == [(12, 16, "U.K.", "GB")]


def test_find_countries_on_decomposed_accents() -> None:
    text = "E\u0301cosse"  # "É" written as E + combining acute accent
    assert find_countries(text) == [(0, len(text), text, "GB-SCT")]


@pytest.mark.parametrize(
    ("code", "fr", "en"),
    [
        ("DE", "Allemagne", "Germany"),
        ("NL", "Pays-Bas", "Netherlands"),
        ("GB", "Royaume-Uni", "United Kingdom"),
        ("US", "États-Unis", "United States"),
        ("GB-SCT", "Écosse", "Scotland"),
        ("GB-NIR", "Irlande du Nord", "Northern Ireland"),
        ("IM", "île de Man", "Isle of Man"),
        ("GB-CHI", "îles Anglo-Normandes", "Channel Islands"),
        ("de", "Allemagne", "Germany"),  # any case
    ],
)
def test_country_name(code: str, fr: str, en: str) -> None:
    assert country_name(code, "fr") == fr
    assert country_name(code, "en") == en


def test_country_name_falls_back_to_french_and_to_the_code() -> None:
    assert country_name("DE", "de") == "Allemagne"
    assert country_name("XX", "fr") == "XX"


@pytest.mark.parametrize(
    ("code", "fr", "en"),
    [
        ("DE", "en Allemagne", "in Germany"),
        ("DK", "au Danemark", "in Denmark"),
        ("NL", "aux Pays-Bas", "in the Netherlands"),
        ("US", "aux États-Unis", "in the United States"),
        ("GB", "au Royaume-Uni", "in the United Kingdom"),
        ("CZ", "en République tchèque", "in the Czech Republic"),
        ("IR", "en Iran", "in Iran"),  # masculine before a vowel
        ("EC", "en Équateur", "in Ecuador"),
        ("HN", "au Honduras", "in Honduras"),  # h aspiré
        ("MT", "à Malte", "in Malta"),
        ("JE", "à Jersey", "in Jersey"),
        ("IM", "sur l'île de Man", "on the Isle of Man"),
        ("GB-IOW", "sur l'île de Wight", "on the Isle of Wight"),
        ("GB-SCT", "en Écosse", "in Scotland"),
        ("GB-CHI", "dans les îles Anglo-Normandes", "in the Channel Islands"),
    ],
)
def test_country_name_with_preposition(code: str, fr: str, en: str) -> None:
    assert country_name_with_preposition(code, "fr") == fr
    assert country_name_with_preposition(code, "en") == en


@pytest.mark.parametrize("code", sorted(COUNTRIES))
def test_every_name_and_phrase_reads_back_as_its_code(code: str) -> None:
    entry = COUNTRIES[code]
    for lang in ("fr", "en"):
        assert normalise_country(country_name(code, lang)) == code
        assert normalise_country(country_name_with_preposition(code, lang)) == code
    for variant in entry.variants:
        assert normalise_country(variant) == code, variant


def test_codes_are_iso_shaped() -> None:
    for code in COUNTRIES:
        assert code.isupper()
        assert len(code) == 2 or (code.startswith("GB-") and len(code) == 6), code


def test_the_table_covers_every_country_of_the_stores_and_major_countries() -> None:
    for policy in all_stores():
        codes = (
            *(policy.delivery.countries or ()),
            *policy.delivery.excluded_areas,
            *policy.payment.klarna_countries,
        )
        for code in codes:
            assert is_known_code(code), (policy.id, code)
    major = "US CA MX BR AR JP CN KR IN AU NZ ZA EG MA NG RU TR SA AE IL SG HK TW TH VN ID PH"
    for code in major.split():
        assert is_known_code(code), code


def test_parent_country_and_region_members() -> None:
    assert parent_country("GB-SCT") == "GB"
    assert parent_country("GB") == "GB"
    assert parent_country("JE") == "JE"  # a Crown dependency, not part of the UK
    assert parent_country("DE") == "DE"
    assert region_members("GB-CHI") == ("JE", "GG")
    assert region_members("DE") == ("DE",)


def test_the_app_module_re_exports_the_nlu_one() -> None:
    assert bot.countries.normalise_country is bot.nlu.countries.normalise_country
    assert bot.countries.COUNTRIES is bot.nlu.countries.COUNTRIES
