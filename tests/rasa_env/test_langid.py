"""Language identification of short support messages (bot.nlu.langid, pure stdlib)."""

from __future__ import annotations

import pytest

from bot.nlu import langid
from bot.nlu.langid import fold_accents, language_of, switch_request

FRENCH_MESSAGES = [
    "Bonjour, où en est ma commande ?",
    "Je n'ai toujours pas reçu mon colis",
    "Quels sont les moyens de paiement ?",
    "Est-ce que vous livrez en Suisse ?",
    "Livrez-vous au Royaume-Uni ?",
    "mon code postal est 75011",
    "Je voudrais retourner un article",
    "Combien de temps pour la livraison ?",
    "Klarna est disponible en Belgique ?",
    "merci",
    "Merci beaucoup !",
    "bonjour",
    "oui",
    "non",
    "salut",
    "au revoir",
    "c'est quoi le délai de remboursement",
    "Mon appareil est arrivé cassé",
    "qu'est-ce que je dois faire ?",
    "ou est mon colis",  # no accents
    "OU EST MA COMMANDE",  # all capitals
    "je veux parler a un humain",
    "j'ai un code promo qui marche pas",
    "la garantie dure combien de temps",
    "Allemagne ?",
    "je vis en Écosse",
    "remboursements",
    "réexpédition",
    "ok merci",
    "parfait",
    "laisse tomber",
    "Pouvez-vous m’aider ? J’ai reçu un objectif rayé",  # typographic apostrophes
    "Ma commande OM-104233 n'est pas arrivée",
    "DHL ou UPS ?",
    "Puis-je modifier l'adresse de livraison ?",
    "Dois-je payer des frais de douane ?",
    "La montre ne marche plus, vous pouvez la réparer ?",
    "Hello, je voudrais savoir où est ma commande",
    "Klarna en Suisse ?",
    "ça marche",
    "à bientôt",
]

ENGLISH_MESSAGES = [
    "Hi, where is my order?",
    "Where is my parcel",
    "I never received my package",
    "How long does delivery take?",
    "Do you ship to Germany?",
    "ship to DE?",
    "thanks",
    "Thanks a lot!",
    "hello",
    "yes",
    "no",
    "Can I pay with Klarna?",
    "My camera arrived damaged",
    "I want to return an item",
    "What is your return policy?",
    "How much are the shipping costs",
    "Is it safe to pay on your website?",
    "I'd like to talk to a human",
    "Bonjour, where is my order?",  # a French greeting does not make it French
    "I live in Scotland",
    "Germany?",
    "ok thanks",
    "never mind",
    "Where's my order OM-104233? I can't find it",
    "WHERE IS MY REFUND",
    "Do you deliver to La Réunion?",
    "My discount code doesn't work",
    "Do I have to pay customs duties?",
    "Hi! Do you deliver to Switzerland? Merci",
    "What's the warranty?",
    "Are you a robot?",
    "No thanks",
]

AMBIGUOUS_MESSAGES = [
    "ok",
    "OK",
    "Klarna ?",
    "OM-104233",
    "#104233",
    "bt 200517",
    "marie.dupont@example.fr",
    "75011",
    "SW1A 1AA",
    "DHL",
    "😀👍",
    "?",
    "",
    "   ",
    "Marie Dupont",  # a name is no language
    "Jersey",
    "PayPal",
    "Apple Pay ?",
    "super",
    "Zürich",
    "Colissimo",
    "bye",
    "E-mail: jean@dupont.fr",
    "Jean Dupont, 75011 Paris",
    "John Smith, London SW1A 1AA",
]


@pytest.mark.parametrize("text", FRENCH_MESSAGES)
def test_french_messages_are_french(text: str) -> None:
    lang, confidence = language_of(text)
    assert lang == "fr", (text, langid.score_languages(text))
    assert 0.7 <= confidence <= 1.0


@pytest.mark.parametrize("text", ENGLISH_MESSAGES)
def test_english_messages_are_english(text: str) -> None:
    lang, confidence = language_of(text)
    assert lang == "en", (text, langid.score_languages(text))
    assert 0.7 <= confidence <= 1.0


@pytest.mark.parametrize("text", AMBIGUOUS_MESSAGES)
def test_ambiguous_messages_have_no_language(text: str) -> None:
    assert language_of(text) == (None, 0.0), langid.score_languages(text)


def test_confidence_grows_with_evidence() -> None:
    one_word = language_of("merci")[1]
    sentence = language_of("Je n'ai toujours pas reçu mon colis")[1]
    assert one_word < sentence


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in English please", "en"),
        ("In english pls", "en"),
        ("can you answer in French", "fr"),
        ("Can you answer in French?", "fr"),
        ("en français svp", "fr"),
        ("en francais stp", "fr"),
        ("en anglais stp", "en"),
        ("En anglais s'il vous plaît", "en"),
        ("English?", "en"),
        ("english", "en"),
        ("French please", "fr"),
        ("Anglais ?", "en"),
        ("parlez-vous anglais", "en"),
        ("Parlez vous anglais ?", "en"),
        ("tu parles anglais ?", "en"),
        ("Do you speak English?", "en"),
        ("Could you please reply in English?", "en"),
        ("switch to French", "fr"),
        ("I'd rather continue in French", "fr"),
        ("Est-ce que je peux écrire en anglais ?", "en"),
        ("pouvez-vous me répondre en anglais", "en"),
        ("On peut parler français ?", "fr"),
        ("EN", "en"),
        ("fr ?", "fr"),
        # Negations ask for the other language.
        ("I don't speak French", "en"),
        ("je ne parle pas anglais", "fr"),
        ("Je parle pas anglais", "fr"),
    ],
)
def test_switch_requests_name_the_target_language(text: str, expected: str) -> None:
    assert switch_request(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Do you have the manual in French?",  # a product question, not a request
        "Je voudrais la notice en anglais",
        "Do you ship to France?",
        "where is my order",
        "ok",
        "",
    ],
)
def test_other_messages_are_no_switch_request(text: str) -> None:
    assert switch_request(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Écosse", "ecosse"),
        ("livraisón", "livraison"),
        ("Œuvre", "oeuvre"),
        ("l’adresse", "l'adresse"),
    ],
)
def test_fold_accents(text: str, expected: str) -> None:
    assert fold_accents(text) == expected


def test_vocabularies_do_not_overlap() -> None:
    assert not langid.FR_WORDS & langid.EN_WORDS
    assert not (langid.FR_WORDS | langid.EN_WORDS) & langid.SHARED_WORDS


def _imports(path: str) -> set[str]:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    return imported


def test_module_is_standard_library_and_the_shop_registry() -> None:
    """The app environment (no rasa, no spaCy) imports this module: it needs the standard
    library and the shop registry (`bot.shops`: standard library, PyYAML, `bot.errors`)."""
    import sys

    import bot.shops

    allowed = set(sys.stdlib_module_names) | {"__future__"}
    assert {name.split(".")[0] for name in _imports(langid.__file__) - {"bot.shops"}} <= allowed
    registry = {name.split(".")[0] for name in _imports(bot.shops.__file__) - {"bot.errors"}}
    assert registry <= allowed | {"yaml"}


def test_a_shops_names_are_no_evidence_and_come_from_its_folder(add_shop) -> None:
    from bot.shops import shop_words

    # The project's shops: their ids and brand_words (data/stores/*/facts.yml).
    assert {"om-system", "om", "system", "olympus", "zuiko", "btomic"} <= shop_words()
    assert language_of("Olympus Zuiko OM SYSTEM") == (None, 0.0)
    assert language_of("merci beaucoup")[0] == "fr"
    # A made-up shop named with French words: its names stop being French evidence as soon
    # as its folder exists (no code lists the shops, no retraining).
    stores = add_shop("merci-beaucoup", "[Bonjour]")
    assert {"merci-beaucoup", "merci", "beaucoup", "bonjour"} <= shop_words(stores)
    assert language_of("merci beaucoup") == (None, 0.0)
    assert language_of("Bonjour")[0] is None


def test_package_init_imports_nothing() -> None:
    """`import bot.nlu.langid` runs bot/nlu/__init__.py first, in the app env too."""
    import ast
    from pathlib import Path

    import bot.nlu

    tree = ast.parse(Path(bot.nlu.__file__).read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
