"""The answer service: rendering, the checks an edit must pass, saving, history, the endpoint.

Every test works on a copy of ``data/stores`` (``STORES_DIR``), never on the real files.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.answers import editing
from bot.answers.__main__ import main as answers_cli
from bot.answers.library import (
    check_shop,
    clear_caches,
    placeholders,
    render,
    response_names,
    texts_path,
)
from bot.answers.service import TOKEN_ENV_VAR, create_app, nlg_answer
from bot.replies import technical_problem
from bot.shops import DEFAULT_STORES_DIR
from bot.stores import facts_path
from bot.typography import NBSP, NNBSP


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of data/stores the registry, the policies and the texts are read from."""
    copy = tmp_path / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, copy)
    monkeypatch.setenv("STORES_DIR", str(copy))
    monkeypatch.setattr(editing, "HISTORY_DIR", tmp_path / "history")
    clear_caches()
    yield copy
    clear_caches()


def edit(path: Path, old: str, new: str) -> str:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


# --- rendering ---------------------------------------------------------------------------------


def test_a_fact_is_written_once_and_filled_in_every_text() -> None:
    template = texts_path("btomic").read_text(encoding="utf-8")
    assert "459-1491" not in template  # the phone number lives in facts.yml only
    assert "{contact.phone}" in template
    french = render("utter_default", "btomic", "fr")
    assert f"+1{NBSP}(347){NBSP}459-1491" in french  # French typography on the value
    assert "+1 (347) 459-1491, Monday to Friday" in render("utter_default", "btomic", "en")
    found = placeholders("au {contact.phone}, {contact.hours}.")
    assert found == ["contact.phone", "contact.hours"]


def test_every_shop_passes_the_checks() -> None:
    assert editing.check_all() == {"btomic": [], "om-system": []}
    assert answers_cli(["check"]) == 0


def test_the_store_and_language_are_chosen_from_the_tracker() -> None:
    def answer(slots: dict[str, object]) -> str:
        body = {"response": "utter_greet", "tracker": {"slots": slots}, "arguments": {}}
        return str(nlg_answer(body)["text"])

    assert "BTOMIC" in answer({"store": "btomic", "language": "en"})
    assert answer({"store": "btomic", "language": "en"}).startswith("Hello")
    assert answer({"store": "btomic", "language": None}).startswith("Bonjour")
    assert f"pour vous{NNBSP}?" in answer({"store": "om-system"})


@pytest.mark.parametrize("store", ["no-such-shop", None, " BTOMIC ", 42])
def test_a_store_no_entry_checked_gets_the_apology_of_no_shop(
    store: object, caplog: pytest.LogCaptureFixture
) -> None:
    # The store is checked where a message enters (bot.shops.resolve_store); the service
    # trusts the slot. A value that is not a shop is a bug upstream: said in the log, and the
    # customer gets an answer that names no shop (never another shop's contact).
    body = {
        "response": "utter_greet",
        "arguments": {},
        "tracker": {"slots": {"store": store, "language": "en"}},
    }
    with caplog.at_level(logging.ERROR, logger="bot.answers.service"):
        text = nlg_answer(body)["text"]
    assert text == technical_problem(None, "en")
    assert "the shop's customer service" in text
    assert not any(word in text for word in ("BTOMIC", "OM SYSTEM", "@"))
    assert f"the conversation's store {store!r} is not a shop" in caplog.text


def test_an_argument_of_the_action_is_filled_in() -> None:
    body = {
        "response": "utter_handoff_email_saved",
        "arguments": {"handoff_email": "marie@example.fr"},
        "tracker": {"slots": {"store": "btomic", "language": "en"}},
    }
    assert nlg_answer(body)["text"].endswith("at marie@example.fr.")


# --- what a check refuses ----------------------------------------------------------------------


def test_a_missing_text_is_named(stores: Path) -> None:
    text = edit(
        texts_path("btomic"),
        "\nutter_greet:\n  fr: >-",
        "\nutter_greet:\n  fr_old: >-",
    )
    problems = editing.check_texts_text("btomic", text)
    assert problems and "unknown key" in problems[0] and "utter_greet" in problems[0]
    without = edit(texts_path("btomic"), "\nutter_greet:\n", "\nutter_greeting:\n")
    problems = editing.check_texts_text("btomic", without)
    assert "btomic: utter_greet has no text (neither the shop's nor a common one)" in problems
    assert any("utter_greeting is not a response of the domain" in p for p in problems)


def test_an_unknown_placeholder_is_named(stores: Path) -> None:
    text = edit(texts_path("btomic"), "au {contact.phone}", "au {contact.fax}")
    problems = editing.check_texts_text("btomic", text)
    assert problems and all("{contact.fax} is not a fact of the shop" in p for p in problems)


def test_french_typography_is_checked(stores: Path) -> None:
    text = edit(texts_path("btomic"), f"pour vous{NNBSP}?", "pour vous ?")
    problems = editing.check_texts_text("btomic", text)
    assert problems == [
        "btomic: utter_greet (fr): U+202F needed before '?': 's-je faire pour vous ?'"
    ]


def test_a_fact_still_used_cannot_be_removed(stores: Path) -> None:
    text = edit(
        facts_path("btomic"),
        '  phone:\n    value: "+1 (347) 459-1491"\n'
        '    faq: "ou par téléphone au +1 (347) 459-1491 (lun-ven, 8h00 à 17h00 PST)"\n',
        "  phone: null\n",
    )
    problems = editing.check_facts_text("btomic", text)
    assert problems
    assert all("{contact.phone} is null" in p for p in problems)
    assert any(p.startswith("btomic: utter_default (en)") for p in problems)
    with pytest.raises(editing.EditRefused):
        editing.save_facts("btomic", text)
    assert "459-1491" in facts_path("btomic").read_text(encoding="utf-8")  # nothing written


def test_a_fact_quote_must_be_the_faqs_words(stores: Path) -> None:
    text = edit(facts_path("btomic"), "Livraison standard : 7 à 12", "Livraison : 7 à 12")
    problems = editing.check_facts_text("btomic", text)
    assert problems and "delivery.delivery_business_days" in problems[0]


def test_invalid_yaml_is_a_clear_refusal(stores: Path) -> None:
    problems = editing.check_texts_text("btomic", "utter_greet: [unclosed")
    assert problems and "not valid YAML" in problems[0]


# --- saving, history, revert -------------------------------------------------------------------


def test_a_saved_edit_is_live_and_can_be_reverted(stores: Path) -> None:
    before = render("utter_thank", "btomic", "en")
    common = texts_path("_common")
    text = edit(common, "You're welcome!", "My pleasure!")
    editing.save_texts("_common", text)
    assert render("utter_thank", "btomic", "en").startswith("My pleasure!")
    assert render("utter_thank", "om-system", "en").startswith("My pleasure!")
    [version] = editing.history("_common")
    assert version.kind == "texts"
    editing.revert("_common", version.id)
    assert render("utter_thank", "btomic", "en") == before
    assert len(editing.history("_common")) == 2  # the reverted-from version is kept too


def test_a_refused_edit_writes_nothing(stores: Path) -> None:
    original = texts_path("om-system").read_text(encoding="utf-8")
    with pytest.raises(editing.EditRefused) as refused:
        editing.save_texts("om-system", original.replace("{contact.email}", "{contact.mail}"))
    assert any("{contact.mail} is not a fact" in p for p in refused.value.problems)
    assert texts_path("om-system").read_text(encoding="utf-8") == original
    assert editing.history("om-system") == []


def test_a_failed_render_gives_a_safe_text_and_logs_the_error(
    stores: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A file broken behind the checks' back (edited by hand on the server).
    path = texts_path("btomic")
    path.write_text(edit(path, "at {contact.email} or {contact.phone}", "{contact.fax}"), "utf-8")
    clear_caches()
    body = {
        "response": "utter_how_to_order",
        "arguments": {},
        "tracker": {"slots": {"store": "btomic", "language": "en"}},
    }
    with caplog.at_level(logging.ERROR, logger="bot.answers.service"):
        text = nlg_answer(body)["text"]
    assert "service@btomic.com" in text  # the shop's contact route, never nothing
    assert "Cannot render 'utter_how_to_order' for store btomic" in caplog.text
    assert "{contact.fax} is not a fact of the shop" in caplog.text


def test_every_response_of_the_domain_renders_for_every_shop() -> None:
    names = response_names()
    assert "utter_greet" in names and len(names) > 70
    for store in ("btomic", "om-system"):
        assert check_shop(store) == []


# --- the HTTP endpoint -------------------------------------------------------------------------


def test_the_endpoint_needs_the_token_when_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {
        "response": "utter_goodbye",
        "tracker": {"slots": {"store": "btomic", "language": "en"}},
    }
    monkeypatch.setenv(TOKEN_ENV_VAR, "s3cret-token")
    client = TestClient(create_app())
    assert client.post("/nlg", json=body).status_code == 401
    assert client.post("/nlg?token=wrong", json=body).status_code == 401
    answer = client.post("/nlg?token=s3cret-token", json=body)
    assert answer.status_code == 200
    assert answer.json() == {"text": "Goodbye, and thanks for your visit!"}


def test_production_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import get_settings

    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    monkeypatch.setenv("BOT_PROFILE", "production")
    monkeypatch.setattr(
        "bot.answers.service.get_settings",
        lambda: get_settings().model_copy(update={"bot_profile": "production"}),
    )
    with pytest.raises(SystemExit, match=f"{TOKEN_ENV_VAR} must be set"):
        create_app()
    # A placeholder or short token is refused the same way (one line naming it).
    monkeypatch.setenv(TOKEN_ENV_VAR, "change-me-long-random-string")
    with pytest.raises(SystemExit, match=f"{TOKEN_ENV_VAR} is a placeholder"):
        create_app()
    monkeypatch.setenv(TOKEN_ENV_VAR, "t0ken")
    with pytest.raises(SystemExit, match=f"{TOKEN_ENV_VAR} is too short"):
        create_app()


# --- the parts of the composed answers -----------------------------------------------------------


def _shop_part(store: str, block: str, stores: Path) -> str:
    """The shop's texts.yml with ``block`` (a part in the shop's wording) added."""
    return texts_path(store).read_text(encoding="utf-8") + "\n" + block


def test_a_shop_words_a_composed_answer_its_own_way_live(stores: Path) -> None:
    from bot.replies import technical_problem
    from bot.stores import load_store

    before = technical_problem(load_store("btomic"), "en")
    assert before.startswith("Sorry, a technical problem")
    block = (
        "part_technical_problem:\n"
        '  fr: "Oups, un souci technique. Contactez {route}."\n'
        '  en: "Oops, a technical hitch. Please contact {route}."\n'
    )
    editing.save_texts("btomic", _shop_part("btomic", block, stores))
    after = technical_problem(load_store("btomic"), "en")
    assert after.startswith("Oops, a technical hitch. Please contact the BTOMIC customer")
    assert "+1 (347) 459-1491" in after  # the route is still filled from the facts
    # The other shop keeps the common wording.
    assert technical_problem(load_store("om-system"), "en").startswith("Sorry, a technical")


def test_a_part_is_checked_like_a_response(stores: Path) -> None:
    unknown = 'part_status_shiped:\n  fr: "Expédiée."\n  en: "Shipped."\n'
    problems = editing.check_texts_text("btomic", _shop_part("btomic", unknown, stores))
    assert any("part_status_shiped is not a part of the common texts" in p for p in problems)
    extra = (
        "part_status_shipped:\n  arguments: [order, weight]\n"
        '  fr: "Votre commande {order} pèse {weight}."\n'
        '  en: "Your order {order} weighs {weight}."\n'
    )
    problems = editing.check_texts_text("btomic", _shop_part("btomic", extra, stores))
    assert any("part_status_shipped: the code sends no ['weight']" in p for p in problems)
    undeclared = (
        'part_status_shipped:\n  fr: "Votre commande {order} est partie {colour}."\n'
        '  en: "Your order {order} has left {colour}."\n'
    )
    problems = editing.check_texts_text("btomic", _shop_part("btomic", undeclared, stores))
    assert any("{colour} is not a fact of the shop" in p for p in problems)
    spacing = 'part_status_returned:\n  fr: "Votre commande {order} est retournée !"\n'
    problems = editing.check_texts_text("btomic", _shop_part("btomic", spacing, stores))
    assert "btomic: part_status_returned has no en text" in problems
    assert any("part_status_returned (fr): U+202F needed before '!'" in p for p in problems)


def test_a_broken_apology_still_answers(stores: Path) -> None:
    from bot.replies import technical_problem
    from bot.stores import load_store

    common = texts_path("_common")
    common.write_text(
        edit(common, "\npart_technical_problem:\n", "\npart_technical_problem_old:\n"), "utf-8"
    )
    clear_caches()
    text = technical_problem(load_store("btomic"), "fr")
    assert text.startswith("Désolé, un problème technique m'empêche de vous répondre")


# --- a channel's own wording ---------------------------------------------------------------------


def _nlg_body(response: str, metadata: dict[str, object], **slots: object) -> dict[str, object]:
    """An NLG request as Rasa posts it (the tracker's latest message carries the metadata)."""
    return {
        "response": response,
        "arguments": {},
        "tracker": {
            "sender_id": "c1",
            "slots": slots,
            "latest_message": {"text": "où est ma commande ?", "metadata": metadata},
        },
        "channel": {"name": "rest"},
    }


def test_the_channel_of_the_conversation_chooses_the_wording() -> None:
    def answer(metadata: dict[str, object], lang: str = "fr") -> str:
        body = _nlg_body("utter_ask_order_number", metadata, store="btomic", language=lang)
        return str(nlg_answer(body)["text"])

    chat = answer({"channel": "web", "store": "btomic"})
    mail = answer({"channel": "email", "store": "btomic", "sender_email": "a@example.fr"})
    assert chat == f"Quel est le numéro de votre commande{NNBSP}? (par exemple BT-123456)"
    assert mail.startswith("Pour que je puisse la retrouver, répondez à ce message")
    assert "BT-123456" in mail  # the channel's wording is filled from the facts as well
    assert answer({}) == chat  # no channel said: the plain text
    assert answer({"channel": "EMAIL "}) == mail
    assert answer({"channel": "email"}, "en").startswith("So that I can find it, please reply")
    # A text without an e-mail wording is the same on every channel.
    plain = _nlg_body("utter_goodbye", {"channel": "email"}, store="btomic", language="fr")
    assert nlg_answer(plain)["text"] == render("utter_goodbye", "btomic", "fr")


def test_a_channels_wording_is_checked(stores: Path) -> None:
    common = texts_path("_common")
    text = edit(common, "répondez à ce message en indiquant le numéro", "répondez : le numéro")
    problems = editing.check_texts_text("_common", text)
    assert any(
        "utter_ask_order_number [email] (fr): U+00A0 needed before ':'" in p for p in problems
    ), problems
    unknown = edit(
        common,
        "\n  email:\n    fr: >-\n      Pour que je",
        "\n  fax:\n    fr: >-\n      Pour que je",
    )
    problems = editing.check_texts_text("_common", unknown)
    assert problems and "unknown key(s) ['fax']" in problems[0]
    missing = edit(
        common,
        "{order_prefix}-123456).\n    en: >-\n      So that",
        "{order_prefix}-123456).\n    xx: >-\n      So that",
    )
    problems = editing.check_texts_text("_common", missing)
    assert problems and "utter_ask_order_number.email: expected `fr:` and `en:`" in problems[0]
