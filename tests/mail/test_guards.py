"""Loop guards (RFC 3834): robots get no automatic reply; angry customers get a human."""

from __future__ import annotations

import pytest

from bot.mail.guards import is_complaint, is_robot_address, no_reply_reason
from bot.mail.parsing import parse_bytes
from tests.mail.helpers import OM_SUPPORT, make_mail

OWN = frozenset({OM_SUPPORT, "service@btomic.com"})


def reason(
    headers: dict[str, str] | None = None, sender: str = "marie@example.fr", **kw: str
) -> str | None:
    message = parse_bytes(make_mail(sender=sender, headers=headers or {}, **kw))
    return no_reply_reason(message, sender=sender.lower(), own_addresses=OWN)


def test_a_customer_mail_may_be_answered() -> None:
    assert reason() is None
    assert reason({"Auto-Submitted": "no"}) is None
    assert reason({"Auto-Submitted": "No ; comment"}) is None
    assert reason({"Precedence": "first-class"}) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto_submitted"),
        ({"Auto-Submitted": "auto-generated"}, "auto_submitted"),
        ({"Auto-Submitted": "auto-notified; owner-email=x@y"}, "auto_submitted"),
        ({"Precedence": "bulk"}, "precedence_bulk"),
        ({"Precedence": "List"}, "precedence_list"),
        ({"Precedence": "junk"}, "precedence_junk"),
        ({"List-Id": "Promotions <promo.example.com>"}, "mailing_list"),
        ({"List-Unsubscribe": "<mailto:u@example.com>"}, "mailing_list"),
        ({"X-Autoreply": "yes"}, "autoreply_header"),
        ({"X-Autorespond": "Out of office"}, "autoreply_header"),
        ({"Return-Path": "<>"}, "null_return_path"),
    ],
)
def test_robot_headers(headers: dict[str, str], expected: str) -> None:
    assert reason(headers) == expected


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.com",
        "postmaster@example.com",
        "no-reply@shop.example.com",
        "noreply@example.com",
        "do-not-reply@example.com",
        "donotreply@example.com",
        "newsletter-noreply@example.com",
        "bounces+123@mail.example.com",
    ],
)
def test_robot_senders(sender: str) -> None:
    assert is_robot_address(sender.lower())
    assert reason(sender=sender) == "robot_sender"


@pytest.mark.parametrize("sender", ["noreen@example.com", "replyguy@example.com", "marie@x.fr"])
def test_people_are_not_robots(sender: str) -> None:
    assert not is_robot_address(sender)


def test_our_own_addresses() -> None:
    assert reason(sender=OM_SUPPORT) == "own_address"
    assert reason(sender="service@btomic.com") == "own_address"


@pytest.mark.parametrize(
    "subject",
    [
        "Réponse automatique : Commande",
        "Automatic reply: Order",
        "Out of Office: back Monday",
        "Absence du bureau : Re: commande",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert reason(subject=subject) == "auto_reply_subject"


@pytest.mark.parametrize(
    "text",
    [
        "C'est INADMISSIBLE !",
        "Quel scandale, je contacte mon avocat.",
        "Je vais porter plainte.",
        "Votre service est une honte.",
        "I am furious about this.",
        "This is unacceptable, my lawyer will contact you.",
        "Worst shop ever.",
        "C'est inacceptable et honteux",
    ],
)
def test_complaints(text: str) -> None:
    assert is_complaint(text)


@pytest.mark.parametrize(
    "text",
    [
        "Où en est ma commande ?",
        "I have an issue with my delivery.",  # "issue" is not "sue"
        "Can you process my return?",  # "process" is not "procès"
        "Le plaint... non, tout va bien.",
    ],
)
def test_ordinary_mails_are_no_complaints(text: str) -> None:
    assert not is_complaint(text)
