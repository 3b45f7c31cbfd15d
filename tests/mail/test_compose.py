"""The reply's text and headers, and the handoff forward."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser

import pytest

from bot.mail.compose import build_forward, build_reply, compose_body, reply_subject
from bot.mail.parsing import read_mail
from bot.stores import load_store
from tests.mail.helpers import make_mail

NOW = dt.datetime(2025, 2, 3, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Commande", "Re: Commande"),
        ("Re: Commande", "Re: Commande"),
        ("RE: Re: re : Commande", "Re: Commande"),
        ("Réf. : Commande", "Re: Commande"),
        ("AW: TR: Fwd: Order", "Re: Order"),
        ("Re[2]: Order", "Re: Order"),
        ("Recherche d'un objectif", "Re: Recherche d'un objectif"),  # "Re" inside a word
        ("", "Re: Votre message"),
    ],
)
def test_reply_subject_has_exactly_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject, "fr") == expected


def test_reply_subject_english_default() -> None:
    assert reply_subject("  ", "en") == "Re: Your message"


def test_body_in_french_for_om_system() -> None:
    parsed = read_mail(make_mail())
    body = compose_body(
        lang="fr",
        store=load_store("om-system"),
        answers=["Réponse 1.", "Réponse 2.", "Réponse 1."],
        parsed=parsed,
        customer_text="Question 1 ?\nQuestion 2 ?",
    )
    assert body.startswith("Bonjour,\n\nRéponse 1.\n\nRéponse 2.\n\nNous restons")
    assert body.count("Réponse 1.") == 1
    assert "Cordialement,\nL'équipe du service client de l'E-Boutique OM SYSTEM\n" in body
    # Our own sentence is set for French; the customer's words are quoted as written.
    quote = "Le lundi 3 février 2025, Marie Dupont a écrit\u00a0:\n> Question 1 ?\n> Question 2 ?"
    assert quote in body


def test_body_in_english_for_btomic() -> None:
    parsed = read_mail(make_mail(sender="john@example.com"))
    body = compose_body(
        lang="en",
        store=load_store("btomic"),
        answers=["Answer."],
        parsed=parsed,
        customer_text="Question?",
    )
    assert body.startswith("Hello,\n\nAnswer.\n\n")
    assert "Kind regards,\nThe BTOMIC customer service team" in body
    assert "On Monday 3 February 2025, john@example.com wrote:\n> Question?" in body


def test_reply_headers() -> None:
    parsed = read_mail(make_mail(subject="Re: Livraison", headers={"References": "<a@x> <b@x>"}))
    reply = build_reply(
        parsed=parsed, store=load_store("om-system"), lang="fr", body="Bonjour,\n", now=NOW
    )
    again = BytesParser(policy=policy.default).parsebytes(reply.as_bytes())
    # A French reply comes from the shop under its French name.
    assert again["From"] == "E-Boutique OM SYSTEM <eshop.support@om-digitalsolutions.com>"
    assert again["To"] == "Marie Dupont <marie.dupont@example.fr>"
    assert again["Subject"] == "Re: Livraison"
    assert again["In-Reply-To"] == "<q1@example.fr>"
    assert again["References"] == "<a@x> <b@x> <q1@example.fr>"
    assert again["Auto-Submitted"] == "auto-replied"
    assert again["Content-Language"] == "fr"
    assert again["Date"] == "Mon, 03 Feb 2025 09:30:00 +0000"
    message_id = again["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@om-digitalsolutions.com>")
    assert len(f"Message-ID: {message_id}") <= 78  # one line, never folded


def test_reply_goes_to_from_never_to_reply_to() -> None:
    # The order lookups took the From address as proof: the answer must go there only.
    parsed = read_mail(make_mail(headers={"Reply-To": "attacker@example.com"}))
    reply = build_reply(parsed=parsed, store=load_store("om-system"), lang="fr", body="x", now=NOW)
    assert "attacker" not in str(reply)


def test_long_reference_chains_are_cut() -> None:
    chain = " ".join(f"<r{i}@x>" for i in range(40))
    parsed = read_mail(make_mail(headers={"References": chain}))
    reply = build_reply(parsed=parsed, store=load_store("btomic"), lang="en", body="x", now=NOW)
    references = reply["References"].split()
    assert len(references) == 20
    assert references[0] == "<r0@x>" and references[-1] == "<q1@example.fr>"


def test_forward_attaches_the_original() -> None:
    parsed = read_mail(make_mail(subject="Scandale"))
    forward = build_forward(
        original=parsed.message,
        original_raw=make_mail(subject="Scandale"),
        store=load_store("om-system"),
        forward_to="agents@x.fr",
        reason="complaint",
        customer=parsed.sender,
        excerpt="C'est un scandale",
        now=NOW,
    )
    assert forward["To"] == "agents@x.fr"
    assert forward["Reply-To"] == "marie.dupont@example.fr"
    assert forward["Subject"] == "[OM SYSTEM e-shop] handoff (complaint): Scandale"
    (attachment,) = list(forward.iter_attachments())
    assert attachment.get_content_type() == "message/rfc822"
