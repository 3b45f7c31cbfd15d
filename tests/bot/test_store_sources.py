"""Every fact of data/stores/<store>/facts.yml quotes the shop's FAQ, and every quote is in the FAQ.

The FAQ pages are the source of truth (``data/stores/<store>/faq.fr.txt``, verbatim copies).
A fact without a quote, or a quote the FAQ does not contain (a paraphrase, a quote copied
from the other shop), fails here, so a reviewer can trust the quote beside each value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigurationError
from bot.shops import DEFAULT_STORES_DIR as STORES_DIR
from bot.stores import IDENTITY_KEYS, faq_path, read_store_file, store_ids

# Spaces of any width, the FAQ's non-breaking hyphen and curly apostrophe are the same text.
_EQUIVALENT = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2011": "-", "\u2019": "'"})


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_EQUIVALENT)).strip()


def fact_paths(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every fact of the plain facts, by dotted path: null and empty lists claim nothing."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from fact_paths(value, f"{path}.{key}" if path else str(key))
    elif node is not None and node != []:
        yield path, node


def quoted(path: str, sources: dict[str, tuple[str, ...]]) -> bool:
    """Whether the fact at ``path``, or the fact that holds it, has a quote."""
    parts = path.split(".")
    return any(".".join(parts[:end]) in sources for end in range(len(parts), 0, -1))


@pytest.mark.parametrize("store", store_ids())
def test_every_fact_has_its_faq_quote(store: str) -> None:
    stored = read_store_file(STORES_DIR / store / "facts.yml")
    facts = {key: value for key, value in stored.facts.items() if key not in IDENTITY_KEYS}
    missing = [path for path, _ in fact_paths(facts) if not quoted(path, stored.sources)]
    assert not missing, f"{store}.yml: facts without a `faq` quote: {missing}"
    assert not set(stored.sources) & IDENTITY_KEYS


@pytest.mark.parametrize("store", store_ids())
def test_every_quote_is_in_the_shops_faq(store: str) -> None:
    faq = normalise(faq_path(store).read_text(encoding="utf-8"))
    stored = read_store_file(STORES_DIR / store / "facts.yml")
    assert stored.sources, "no quoted fact"
    wrong = {
        path: quote
        for path, quotes in stored.sources.items()
        for quote in quotes
        if normalise(quote) not in faq
    }
    assert not wrong, f"{store}.yml: quotes not in {faq_path(store).name}: {wrong}"


def test_a_quote_from_the_other_shop_is_caught() -> None:
    other = normalise(faq_path("btomic").read_text(encoding="utf-8"))
    om_quotes = read_store_file(STORES_DIR / "om-system" / "facts.yml").sources
    assert any(normalise(q) not in other for quotes in om_quotes.values() for q in quotes)


@pytest.mark.parametrize(
    ("fact", "message"),
    [
        ("  window_days:\n    value: 14\n    faq: ''\n", "quote"),
        ("  window_days:\n    value: null\n    faq: 'dans les 14 jours'\n", "value"),
    ],
)
def test_a_fact_without_a_real_quote_is_refused(tmp_path: Path, fact: str, message: str) -> None:
    path = tmp_path / "om-system.yml"
    path.write_text(f"id: om-system\nreturns:\n{fact}", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        read_store_file(path)


def test_the_quotes_are_kept_apart_from_the_values() -> None:
    stored = read_store_file(STORES_DIR / "om-system" / "facts.yml")
    assert stored.facts["delivery"]["delivery_business_days"] == [3, 4]
    assert stored.sources["delivery.delivery_business_days"] == (
        "Nous nous efforçons d'assurer les livraisons dans un délai de 3 à 4 jours ouvrables.",
    )
    assert stored.facts["contact"]["phone"] is None
