"""Order numbers as customers write them (bot.nlu.order_numbers, through the extractor)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.nlu.entities import extract_shop_entities
from bot.nlu.order_numbers import find_order_numbers, read_prefixes, store_prefixes


def orders(text: str) -> list[tuple[str, str]]:
    """(matched text, value) of the order_number entities the extractor finds."""
    return [
        (text[e["start"] : e["end"]], e["value"])
        for e in extract_shop_entities(text)
        if e["entity"] == "order_number"
    ]


def test_the_prefixes_are_the_shops_own() -> None:
    stores = Path(__file__).resolve().parents[2] / "data" / "stores"
    declared = set()
    for path in stores.glob("*/facts.yml"):
        match = re.search(r"^order_prefix:\s*(\w+)", path.read_text(encoding="utf-8"), re.M)
        assert match, path
        declared.add(match.group(1).upper())
    assert set(store_prefixes()) == declared
    assert len(declared) >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The "Done when" message.
        (
            "Bonjour, j'ai commandé il y a 10 jours (commande 104233) et toujours rien, "
            "c'est normal ?",
            [("104233", "104233")],
        ),
        ("commande 104233", [("104233", "104233")]),
        ("n° 104233", [("104233", "104233")]),
        ("N°104233 svp", [("104233", "104233")]),
        ("nº 104233", [("104233", "104233")]),
        ("order no. 104233 please", [("104233", "104233")]),
        ("Bestellung Nr. 104233", [("104233", "104233")]),
        ("numéro de commande : 104233", [("104233", "104233")]),
        ("my order number is 200517", [("200517", "200517")]),
        ("n° 104 233", [("104 233", "104233")]),
        ("#104233", [("#104233", "104233")]),
        ("OM104233", [("OM104233", "OM-104233")]),
        ("om 104233", [("om 104233", "OM-104233")]),
        ("om104233 svp", [("om104233", "OM-104233")]),
        ("OM_104233", [("OM_104233", "OM-104233")]),
        ("OM 104 233", [("OM 104 233", "OM-104233")]),
        ("ma commande (OM-104233) n'est pas arrivée", [("OM-104233", "OM-104233")]),
        ("bt-200517", [("bt-200517", "BT-200517")]),
        ("Bt 200517", [("Bt 200517", "BT-200517")]),
        ("BT200517.", [("BT200517", "BT-200517")]),
        # Two orders in one message, one of each shop.
        (
            "OM-104233 et BT200517",
            [("OM-104233", "OM-104233"), ("BT200517", "BT-200517")],
        ),
        # A named number wins over other 6-digit numbers of the message.
        ("n° 104233, facture 555123", [("104233", "104233")]),
        # Not order numbers: too many or too few digits, amounts, dates, words, URLs.
        ("OM-1042334", []),
        ("OM-10423", []),
        ("n° 1042334", []),
        ("le 12/11/2026", []),
        ("1 049,00 €", []),
        ("3.141592", []),
        ("COM104233", []),
        ("https://shop.example.com/order/104233", []),
    ],
)
def test_order_number_shapes(text: str, expected: list[tuple[str, str]]) -> None:
    assert orders(text) == expected


def shop_folder(directory: Path, store_id: str, text: str) -> None:
    (directory / store_id).mkdir()
    (directory / store_id / "facts.yml").write_text(text, encoding="utf-8")


def test_a_new_shop_prefix_comes_from_its_store_file(tmp_path: Path) -> None:
    shop_folder(tmp_path, "a", "id: a\norder_prefix: OM\n")
    shop_folder(tmp_path, "zx", "id: zx\norder_prefix: zx\n")
    prefixes = read_prefixes(tmp_path)
    assert prefixes == ("OM", "ZX")
    assert [v for _s, _e, v in find_order_numbers("zx 300001 svp", prefixes)] == ["ZX-300001"]
    # BT is no prefix of these shops: its digits are then read as a bare number.
    assert [v for _s, _e, v in find_order_numbers("BT-200517", prefixes)] == []
    assert [v for _s, _e, v in find_order_numbers("BT 200517", prefixes)] == ["200517"]


def test_a_facts_file_is_parsed_again_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prefixes are looked at every few seconds; a facts file is parsed only when edited."""
    from bot.nlu import order_numbers

    shop_folder(tmp_path, "a", "id: a\norder_prefix: AA\n")
    shop_folder(tmp_path, "b", "id: b\norder_prefix: BB\n")
    parsed: list[str] = []
    real_load = order_numbers.yaml.safe_load

    def counting_load(text: str) -> object:
        parsed.append(text)
        return real_load(text)

    monkeypatch.setattr(order_numbers.yaml, "safe_load", counting_load)
    assert read_prefixes(tmp_path) == ("AA", "BB")
    assert len(parsed) == 2
    assert read_prefixes(tmp_path) == ("AA", "BB")
    assert len(parsed) == 2  # nothing changed: nothing parsed
    facts = tmp_path / "b" / "facts.yml"
    facts.write_text("id: b\norder_prefix: BEE\n", encoding="utf-8")
    assert read_prefixes(tmp_path) == ("AA", "BEE")  # the edit is seen
    assert parsed[2:] == ["id: b\norder_prefix: BEE\n"]  # only the edited file parsed
    shop_folder(tmp_path, "c", "id: c\norder_prefix: CC\n")
    assert read_prefixes(tmp_path) == ("AA", "BEE", "CC")  # a new shop too


def test_a_folder_without_prefix_is_an_error(tmp_path: Path) -> None:
    shop_folder(tmp_path, "a", "id: a\n")
    with pytest.raises(ValueError, match="order_prefix"):
        read_prefixes(tmp_path)


def test_long_noisy_input_keeps_only_the_real_number() -> None:
    # Near-misses of every shape, many times over: none of them is an order number.
    noisy = ("OM - - 12345 n° n° ## 10423 OM-1234567 " * 2000) + "OM-104233"
    assert [v for _s, _e, v in find_order_numbers(noisy)] == ["OM-104233"]
