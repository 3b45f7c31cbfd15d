"""Only the customer's new words reach the bot: no quoted history, no signature."""

from __future__ import annotations

import pytest

from bot.mail.cleaning import strip_quotes_and_signature

QUESTION = "Où en est ma commande OM-104233 ?"


@pytest.mark.parametrize(
    "history",
    [
        # Gmail, French, attribution wrapped over two lines.
        "Le lun. 3 févr. 2025 à 10:12, Service client <eshop.support@om-digitalsolutions.com> a\n"
        "écrit :\n> Bonjour,\n> Votre commande est expédiée.",
        # Gmail, English.
        "On Mon, Feb 3, 2025 at 10:12 AM BTOMIC <service@btomic.com> wrote:\n> Hello,\n> Old.",
        # Outlook, French header block.
        "De : Service client <eshop.support@om-digitalsolutions.com>\n"
        "Envoyé : lundi 3 février 2025 10:12\nÀ : Marie Dupont\nObjet : RE: commande\n\nAncien.",
        # Outlook, English, behind the underscore separator.
        "________________________________\nFrom: BTOMIC <service@btomic.com>\n"
        "Sent: Monday, February 3, 2025 10:12 AM\nTo: John\nSubject: Order\n\nOld text.",
        # Classic separators.
        "-----Original Message-----\nFrom: x@y.z\nOld text.",
        "----- Message d'origine -----\nDe : x@y.z\nAncien texte.",
        "-------- Message transféré --------\nSujet : x\nAncien texte.",
    ],
)
def test_quoted_history_is_removed(history: str) -> None:
    assert strip_quotes_and_signature(f"Bonjour,\n{QUESTION}\n\n{history}") == (
        f"Bonjour,\n{QUESTION}"
    )


def test_quoted_lines_in_the_middle_are_removed() -> None:
    text = f"> Votre colis est parti.\nMerci, mais {QUESTION}\n>> plus ancien"
    assert strip_quotes_and_signature(text) == f"Merci, mais {QUESTION}"


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nMarie Dupont\n06 12 34 56 78",
        "--\nMarie",
        "Cordialement,\nMarie Dupont",
        "Bien cordialement\nMarie Dupont\nResponsable achats\nSociété X",
        "Best regards,\nJohn Smith",
        "Kind regards, John",
        "Envoyé de mon iPhone",
        "Sent from my Galaxy",
        "Get Outlook for Android",
        "Merci d'avance,\nMarie",
    ],
)
def test_signatures_are_removed(signature: str) -> None:
    assert strip_quotes_and_signature(f"Bonjour,\n{QUESTION}\n\n{signature}") == (
        f"Bonjour,\n{QUESTION}"
    )


def test_signature_then_history() -> None:
    text = (
        f"{QUESTION}\n\nCordialement,\nMarie\n\nEnvoyé de mon iPhone\n\n"
        "Le 3 févr. 2025 à 10:12, Service <s@om> a écrit :\n> Ancien"
    )
    assert strip_quotes_and_signature(text) == QUESTION


@pytest.mark.parametrize(
    "text",
    [
        # A polite word followed by a real question is no signature.
        "Bonjour,\nMerci\nPouvez-vous me dire où est mon colis ?",
        "Thanks\nCan you help with my order BT-200517?",
        # "Merci de ..." is a request, not a sign-off.
        "Merci de me dire où est ma commande OM-104233.",
        # "On ..." and "Le ..." sentences without "wrote"/"a écrit".
        "On my order OM-104233 the tracking does not work.",
        "Le colis est arrivé abîmé, que faire ?",
        # "From:" in the text without a header block after it.
        "From: my phone, I cannot log in. Help?",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert strip_quotes_and_signature(text) == text


def test_only_history_leaves_nothing() -> None:
    assert strip_quotes_and_signature("> old\n> older\n") == ""


def test_a_reply_to_our_own_french_mail_drops_its_quotation() -> None:
    # Our French replies say "a écrit :" with a no-break space (French typography).
    text = f"{QUESTION}\n\nLe lundi 3 février 2025, Service a écrit\u00a0:\n> Bonjour,"
    assert strip_quotes_and_signature(text) == QUESTION
