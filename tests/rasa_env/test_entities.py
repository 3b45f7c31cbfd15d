"""ShopEntityExtractor: order numbers, e-mails, postcodes and countries by rules."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.entities import (
    ShopEntityExtractor,
    TypedEntitySynonymMapper,
    extract_shop_entities,
)


def found(text: str) -> list[tuple[str, str, str]]:
    """(entity, matched text, value) triples, in text order."""
    return [
        (e["entity"], text[e["start"] : e["end"]], e["value"]) for e in extract_shop_entities(text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "mon code postal est 75011 et ma commande OM-104233",
            [("postcode", "75011", "75011"), ("order_number", "OM-104233", "OM-104233")],
        ),
        ("#104233", [("order_number", "#104233", "104233")]),
        ("bt 200517", [("order_number", "bt 200517", "BT-200517")]),
        ("BT200517", [("order_number", "BT200517", "BT-200517")]),
        ("om – 104233", [("order_number", "om – 104233", "OM-104233")]),
        ("ma commande est la 104233", [("order_number", "104233", "104233")]),
        ("n°104233", [("order_number", "104233", "104233")]),
        # A prefixed number in the message: other 6-digit numbers are not order numbers.
        ("OM-104233 (ref 555123)", [("order_number", "OM-104233", "OM-104233")]),
        ("OM-1042334", []),  # seven digits
        ("3.141592", []),
        ("https://shop.example.com/order/104233", []),
    ],
)
def test_order_numbers(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "marie.Dupont@Example.fr",
            [("email", "marie.Dupont@Example.fr", "marie.dupont@example.fr")],
        ),
        # The digits of an address are neither an order number nor a postcode.
        (
            "mail: jean104233@gmail.com.",
            [("email", "jean104233@gmail.com", "jean104233@gmail.com")],
        ),
        (
            "john@example.co.uk 75011",
            [("email", "john@example.co.uk", "john@example.co.uk"), ("postcode", "75011", "75011")],
        ),
    ],
)
def test_emails(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SW1A 1AA", [("postcode", "SW1A 1AA", "SW1A 1AA")]),
        ("sw1a   1aa", [("postcode", "sw1a   1aa", "SW1A 1AA")]),
        ("M1 1AE", [("postcode", "M1 1AE", "M1 1AE")]),
        ("EH1 1YZ", [("postcode", "EH1 1YZ", "EH1 1YZ")]),
        ("1012 AB", [("postcode", "1012 AB", "1012 AB")]),
        ("j'habite au 1012 AB Amsterdam", [("postcode", "1012 AB", "1012 AB")]),
        ("75011 Paris", [("postcode", "75011", "75011")]),
        # Four digits, PL and JP shapes: only with a cue word or alone.
        ("1010", [("postcode", "1010", "1010")]),
        ("code postal 1010", [("postcode", "1010", "1010")]),
        ("CP : 1000 Bruxelles", [("postcode", "1000", "1000")]),
        ("1010 is my postcode", [("postcode", "1010", "1010")]),
        ("my zip is 02-950", [("postcode", "02-950", "02-950")]),
        ("150-0001", [("postcode", "150-0001", "150-0001")]),
        ("mon code postal est 1010, client depuis 2024", [("postcode", "1010", "1010")]),
        ("customer since 2024", []),
        ("call 555-1234", []),
        ("2024-05-12", []),
        ("it costs 10000 €", []),
        ("I paid 129,99", []),
        ("de la part de 2 personnes", []),
    ],
)
def test_postcodes(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("je vis en Écosse", [("country", "Écosse", "GB-SCT")]),
        ("ship to DE?", [("country", "DE", "DE")]),
        ("Livrez-vous au Royaume-Uni ?", [("country", "Royaume-Uni", "GB")]),
        ("Do you deliver to the Isle of Man?", [("country", "Isle of Man", "IM")]),
        ("Klarna in Switzerland?", [("country", "Switzerland", "CH")]),
        ("de la part de Marie", []),  # French "de" is no country code
        (
            "Irlande du Nord BT1 1AA",
            [("country", "Irlande du Nord", "GB-NIR"), ("postcode", "BT1 1AA", "BT1 1AA")],
        ),
        (
            "order 104233, postcode 75011, France",
            [
                ("order_number", "104233", "104233"),
                ("postcode", "75011", "75011"),
                ("country", "France", "FR"),
            ],
        ),
    ],
)
def test_countries_and_mixed(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


def test_entities_never_overlap() -> None:
    text = "OM-104233 75011 SW1A 1AA marie@example.fr Allemagne #104234 1012 AB"
    entities = extract_shop_entities(text)
    spans = sorted((e["start"], e["end"]) for e in entities)
    assert all(
        end <= next_start for (_s, end), (next_start, _e) in zip(spans, spans[1:], strict=False)
    )


def test_component_appends_entities_with_extractor_name() -> None:
    extractor = ShopEntityExtractor(ShopEntityExtractor.get_default_config())
    earlier = {"entity": "language", "value": "fr", "start": 0, "end": 0}
    message = Message(data={TEXT: "commande OM-104233, code postal 75011"})
    message.set(ENTITIES, [earlier], add_to_output=True)
    extractor.process([message])
    entities = message.get(ENTITIES)
    assert entities[0] is earlier
    assert [(e["entity"], e["value"], e["extractor"], e["confidence"]) for e in entities[1:]] == [
        ("order_number", "OM-104233", "ShopEntityExtractor", 1.0),
        ("postcode", "75011", "ShopEntityExtractor", 1.0),
    ]
    assert ENTITIES in message.output_properties


def test_component_can_leave_an_entity_type_to_another_extractor() -> None:
    extractor = ShopEntityExtractor({"entities": ["order_number"]})
    message = Message(data={TEXT: "OM-104233 marie@example.fr Allemagne"})
    extractor.process([message])
    assert [e["entity"] for e in message.get(ENTITIES)] == ["order_number"]


def test_unknown_entity_type_in_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot extract"):
        ShopEntityExtractor({"entities": ["order_number", "phone"]})


def test_typed_synonym_mapper_leaves_language_and_store_alone() -> None:
    """A country annotated with value "FR" makes Rasa's mapper turn "fr" into "FR"."""
    synonyms = {"france": "FR", "fr": "FR", "allemagne": "DE"}
    entities = [
        {"entity": "language", "value": "fr", "start": 0, "end": 0},
        {"entity": "store", "value": "btomic", "start": 0, "end": 0},
        {"entity": "country", "value": "Allemagne", "start": 3, "end": 12},
    ]
    mapper = TypedEntitySynonymMapper({}, None, None, synonyms)  # type: ignore[arg-type]
    mapper.replace_synonyms(entities)
    assert [e["value"] for e in entities] == ["fr", "btomic", "DE"]
