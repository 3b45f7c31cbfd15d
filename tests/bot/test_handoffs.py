"""The address a chat customer gives for a handoff: validated before it is stored."""

from __future__ import annotations

import pytest

from bot.handoffs import contact_email


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("marie.dupont@example.fr", "marie.dupont@example.fr"),
        ("Marie.Dupont@Example.FR", "marie.dupont@example.fr"),
        ("  <john+shop@mail.example.co.uk> ", "john+shop@mail.example.co.uk"),
        ("c'est marie.dupont@example.fr, merci", "marie.dupont@example.fr"),
        ("my e-mail is o'brien@example.ie.", "o'brien@example.ie"),
        ("same twice: a@example.com a@example.com", "a@example.com"),
    ],
)
def test_valid_addresses(text: str, expected: str) -> None:
    assert contact_email(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "marie@example",  # no top-level domain
        "marie.dupont@@example.fr",
        "marie@.example.fr",
        "marie@example..fr",
        "@example.fr",
        "marie @ example.fr",
        "a@example.com and b@example.com",  # which one?
        "marie@-example.fr",
        "x" * 65 + "@example.fr",  # local part over 64 characters
        "no address here",
        "",
    ],
)
def test_invalid_addresses(text: str) -> None:
    assert contact_email(text) is None
