"""The console's answer editor (editors): previews in both languages, validation that keeps the
draft, history and revert, audit, shop boundaries; on a copy of ``data/stores`` (never the
real files). The browser test (test_console_browser.py) shows an edit live on the next turn
of a real conversation."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.answers import editing
from bot.answers.library import clear_caches, render
from bot.console.answers import with_response
from bot.db.console import AuditEntry
from bot.shops import DEFAULT_STORES_DIR
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of, login

NEW_FR = "Nous acceptons la carte et PayPal. Une question ? Écrivez à {contact.email} !"
NEW_EN = "We take cards and PayPal. Questions? Write to {contact.email}!"


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy = tmp_path / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, copy)
    monkeypatch.setenv("STORES_DIR", str(copy))
    monkeypatch.setattr(editing, "HISTORY_DIR", tmp_path / "history")
    clear_caches()
    yield copy
    clear_caches()


@pytest.fixture
def editor(make_console: MakeConsole, console_env: ConsoleEnv, stores: Path) -> TestClient:
    from bot.console.users import create_user
    from bot.db.console import Role

    with console_env.sessions() as session:
        create_user(
            session,
            email="bt.editor@btomic.example",
            name="Bruno Editor",
            role=Role.EDITOR,
            shops=["btomic"],
            password="correct horse battery",
        )
        session.commit()
    client = make_console()
    login(client, "bt.editor@btomic.example")
    return client


def save_form(editor: TestClient, url: str, **fields: str) -> Any:
    """Saves the answer editor's form at ``url`` with ``fields`` (and the page's CSRF token)."""
    return editor.post(
        url, data={"csrf_token": csrf_of(editor.get(url).text), **fields, "action": "save"}
    )


def test_the_answers_page_shows_every_answer_in_both_languages(editor: TestClient) -> None:
    page = editor.get("/console/answers")
    assert page.status_code == 200
    row = page.text.split('<tr id="utter_payment_methods">')[1].split("</tr>")[0]
    fr, en = (
        re.search(rf'class="answer-{lang}">(.*?)</td>', row, re.S).group(1)  # type: ignore[union-attr]
        for lang in ("fr", "en")
    )
    assert fr == render("utter_payment_methods", "btomic", "fr")
    assert en == render("utter_payment_methods", "btomic", "en")
    assert "Answers" in page.text.split("<main>")[0]  # in the editor's menu


def test_preview_renders_the_draft_with_the_facts_and_french_typography(
    editor: TestClient, stores: Path
) -> None:
    url = "/console/answers/btomic/texts/utter_payment_methods"
    form = editor.get(url)
    before = (stores / "btomic" / "texts.yml").read_bytes()
    preview = editor.post(
        url,
        data={"csrf_token": csrf_of(form.text), "fr": NEW_FR, "en": NEW_EN, "action": "preview"},
    )
    assert preview.status_code == 200
    fr = re.search(r'class="bubble preview-fr" lang="fr">(.*?)</p>', preview.text).group(1)  # type: ignore[union-attr]
    en = re.search(r'class="bubble preview-en" lang="en">(.*?)</p>', preview.text).group(1)  # type: ignore[union-attr]
    assert fr == (
        "Nous acceptons la carte et PayPal. Une question\u202f? Écrivez à service@btomic.com\u202f!"
    )
    assert en == "We take cards and PayPal. Questions? Write to service@btomic.com!"
    assert (stores / "btomic" / "texts.yml").read_bytes() == before  # a preview saves nothing


def test_a_refused_save_keeps_the_draft_and_says_why(
    editor: TestClient, stores: Path, console_env: ConsoleEnv
) -> None:
    url = "/console/answers/btomic/texts/utter_payment_methods"
    before = (stores / "btomic" / "texts.yml").read_bytes()
    refused = save_form(editor, url, fr="Appelez le {contact.fax}.", en=NEW_EN)
    assert refused.status_code == 400
    assert "Not saved" in refused.text and "contact.fax" in refused.text
    assert "Appelez le {contact.fax}.</textarea>" in refused.text  # nothing lost
    assert (stores / "btomic" / "texts.yml").read_bytes() == before
    with console_env.sessions() as session:
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action == "answers.save")
        ).all()


def test_save_is_live_kept_in_the_history_audited_and_revertible(
    editor: TestClient, stores: Path, console_env: ConsoleEnv
) -> None:
    url = "/console/answers/btomic/texts/utter_payment_methods"
    texts_file = stores / "btomic" / "texts.yml"
    original = texts_file.read_text(encoding="utf-8")
    old_fr = render("utter_payment_methods", "btomic", "fr")
    saved = save_form(editor, url, fr=NEW_FR, en=NEW_EN)
    assert saved.status_code == 303 and "next%20message" in saved.headers["location"]
    clear_caches()
    assert render("utter_payment_methods", "btomic", "fr").startswith("Nous acceptons la carte")
    # Only that response's block changed: the file's comments and other answers are intact.
    new_text = texts_file.read_text(encoding="utf-8")
    assert new_text.splitlines()[:8] == original.splitlines()[:8]
    assert (
        yaml.safe_load(new_text)["utter_how_to_order"]
        == yaml.safe_load(original)["utter_how_to_order"]
    )
    with console_env.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "answers.save"))
        assert (entry.actor, entry.store_id, entry.target) == (
            "bt.editor@btomic.example",
            "btomic",
            "utter_payment_methods",
        )

    page = editor.get("/console/answers?store=btomic")
    (version,) = re.findall(r'name="version" value="([^"]+)"', page.text)
    assert "USDC" in page.text.split('id="history"')[1]  # the diff shows what comes back
    reverted = editor.post(
        "/console/answers/btomic/revert",
        data={"csrf_token": csrf_of(page.text), "version": version},
    )
    assert "is%20back" in reverted.headers["location"]
    clear_caches()
    assert render("utter_payment_methods", "btomic", "fr") == old_fr
    assert texts_file.read_text(encoding="utf-8") == original
    with console_env.sessions() as session:
        assert session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "answers.revert")
        ).all() == [version]


def test_a_common_text_becomes_the_shops_own(editor: TestClient, stores: Path) -> None:
    common = yaml.safe_load((stores / "_common" / "texts.yml").read_text(encoding="utf-8"))
    name = next(
        n
        for n in common
        if n not in yaml.safe_load((stores / "btomic" / "texts.yml").read_text(encoding="utf-8"))
    )
    url = f"/console/answers/btomic/texts/{name}"
    page = editor.get(url)
    assert "uses the common text" in page.text
    saved = editor.post(
        url,
        data={
            "csrf_token": csrf_of(page.text),
            "fr": "Au revoir.",
            "en": "Goodbye.",
            "action": "save",
        },
    )
    assert saved.status_code == 303, saved.text
    own = yaml.safe_load((stores / "btomic" / "texts.yml").read_text(encoding="utf-8"))
    assert own[name]["fr"] == "Au revoir."
    assert yaml.safe_load((stores / "_common" / "texts.yml").read_text(encoding="utf-8")) == common


def test_facts_preview_lists_the_answers_they_change_and_a_used_fact_cannot_go(
    editor: TestClient, stores: Path
) -> None:
    url = "/console/answers/btomic/facts"
    page = editor.get(url)
    facts = (stores / "btomic" / "facts.yml").read_text(encoding="utf-8")
    assert "service@btomic.com" in facts
    changed = facts.replace("service@btomic.com", "help@btomic.com")
    preview = editor.post(
        url, data={"csrf_token": csrf_of(page.text), "text": changed, "action": "preview"}
    )
    assert preview.status_code == 200
    section = preview.text.split('id="preview"')[1]
    assert "help@btomic.com" in section and "utter_how_to_order" in section
    broken = re.sub(r"(?m)^(\s*)email:.*$", r"\1email: null", facts, count=1)
    refused = editor.post(
        url, data={"csrf_token": csrf_of(page.text), "text": broken, "action": "save"}
    )
    assert refused.status_code == 400 and "Not saved" in refused.text
    assert (stores / "btomic" / "facts.yml").read_text(encoding="utf-8") == facts


def test_editors_of_one_shop_cannot_touch_another_and_agents_cannot_edit(
    editor: TestClient, make_console: MakeConsole
) -> None:
    assert editor.get("/console/answers?store=om-system").status_code == 403
    assert editor.get("/console/answers/om-system/texts/utter_greet").status_code == 403
    token = csrf_of(editor.get("/console/answers").text)
    assert (
        editor.post(
            "/console/answers/om-system/texts/utter_greet",
            data={"csrf_token": token, "fr": "x", "en": "y", "action": "save"},
        ).status_code
        == 403
    )
    agent = make_console()
    login(agent, "bt.agent@btomic.example")
    assert agent.get("/console/answers").status_code == 403
    assert "/console/answers" not in agent.get("/console/handoffs").text


def test_a_block_is_replaced_with_every_other_line_kept() -> None:
    text = "# head\n\nutter_a:\n  fr: a\n  en: a\n\n# about b\nutter_b:\n  fr: b\n  en: b\n"
    replaced = with_response(text, "utter_a", "A :", "A:")
    assert replaced.startswith("# head\n\nutter_a:\n")
    assert replaced.endswith("\n\n# about b\nutter_b:\n  fr: b\n  en: b\n")
    assert yaml.safe_load(replaced)["utter_a"] == {"fr": "A :", "en": "A:"}
    added = with_response(text, "utter_c", "c", "c", ["handoff_email"])
    assert added.startswith(text)
    assert yaml.safe_load(added)["utter_c"] == {
        "fr": "c",
        "en": "c",
        "arguments": ["handoff_email"],
    }


# --- the wording a customer actually gets: every text, and a channel's own wording --------------

ORDER_TRACKING = "utter_order_tracking"  # BTOMIC's text has an e-mail wording of its own
NEW_EMAIL_FR = "Répondez à ce message avec le numéro de votre commande : nous la retrouvons."
NEW_EMAIL_EN = "Reply to this message with your order's number: we will find it."


def _cell(page: str, row_id: str, cls: str) -> str:
    row = page.split(f'<tr id="{row_id}"')[1].split("</tr>")[0]
    return re.search(rf'class="{cls}">(.*?)</td>', row, re.S).group(1)  # type: ignore[union-attr]


def test_the_answers_page_shows_each_channels_wording_faq_answers_and_parts(
    editor: TestClient,
) -> None:
    from html import unescape

    from bot.answers.library import faq_text_names, part_names, shop_texts

    page = editor.get("/console/answers")
    assert page.status_code == 200
    # The default wording and, below it, the one customers get in a reply to their e-mail.
    for lang in ("fr", "en"):
        assert unescape(_cell(page.text, ORDER_TRACKING, f"answer-{lang}")) == render(
            ORDER_TRACKING, "btomic", lang
        )
        email = unescape(_cell(page.text, f"{ORDER_TRACKING}--email", f"answer-email-{lang}"))
        assert email == render(ORDER_TRACKING, "btomic", lang, channel="email")
        assert email != render(ORDER_TRACKING, "btomic", lang)
    # A text without a channel's wording has no such row.
    assert '<tr id="utter_payment_methods--email"' not in page.text
    # The parts of composed answers (an order's status...) are there, values in brackets.
    part = "part_status_shipped"
    assert part in part_names()
    assert "[order]" in unescape(_cell(page.text, part, "answer-en"))
    # So are the FAQ answers that have no `responses` entry in the domain, if any.
    for name in faq_text_names([shop_texts("btomic")]):
        assert f'<tr id="{name}"' in page.text


def test_an_email_wording_is_edited_previewed_saved_and_reverted(
    editor: TestClient, stores: Path, console_env: ConsoleEnv
) -> None:
    from html import unescape

    url = f"/console/answers/btomic/texts/{ORDER_TRACKING}"
    texts_file = stores / "btomic" / "texts.yml"
    original = texts_file.read_text(encoding="utf-8")
    web_fr = render(ORDER_TRACKING, "btomic", "fr")
    form = editor.get(url)
    assert form.status_code == 200
    original_block = yaml.safe_load(original)[ORDER_TRACKING]
    # The form holds the e-mail wording as the shop's file has it, ready to change.
    email_en = re.search(r'<textarea name="email_en"[^>]*>(.*?)</textarea>', form.text, re.S)
    assert email_en and " ".join(unescape(email_en.group(1)).split()) == " ".join(
        original_block["email"]["en"].split()
    )
    data = {
        "csrf_token": csrf_of(form.text),
        "fr": original_block["fr"],
        "en": original_block["en"],
        "email_fr": NEW_EMAIL_FR,
        "email_en": NEW_EMAIL_EN,
    }
    preview = editor.post(url, data={**data, "action": "preview"})
    assert preview.status_code == 200
    assert re.search(r'class="bubble preview-email-fr" lang="fr">(.*?)</p>', preview.text).group(  # type: ignore[union-attr]
        1
    ) == ("Répondez à ce message avec le numéro de votre commande\u00a0: nous la retrouvons.")
    assert texts_file.read_text(encoding="utf-8") == original  # a preview saves nothing

    saved = editor.post(url, data={**data, "action": "save"})
    assert saved.status_code == 303, saved.text
    clear_caches()
    assert render(ORDER_TRACKING, "btomic", "en", channel="email") == NEW_EMAIL_EN
    assert render(ORDER_TRACKING, "btomic", "fr") == web_fr  # the chat's wording is unchanged
    assert yaml.safe_load(texts_file.read_text(encoding="utf-8"))[ORDER_TRACKING]["email"] == {
        "fr": "Répondez à ce message avec le numéro de votre commande\u00a0: nous la retrouvons.",
        "en": NEW_EMAIL_EN,
    }

    page = editor.get("/console/answers?store=btomic")
    assert _cell(page.text, f"{ORDER_TRACKING}--email", "answer-email-en") == (
        "Reply to this message with your order&#39;s number: we will find it."
    )
    (version,) = re.findall(r'name="version" value="([^"]+)"', page.text)
    editor.post(
        "/console/answers/btomic/revert",
        data={"csrf_token": csrf_of(page.text), "version": version},
    )
    clear_caches()
    assert texts_file.read_text(encoding="utf-8") == original
    assert render(ORDER_TRACKING, "btomic", "en", channel="email").startswith(
        "You can see the detailed status"
    )


def test_saving_the_chat_wording_keeps_the_email_wording(editor: TestClient, stores: Path) -> None:
    """The form posts the channel's wording back as it was: changing the chat text does not
    drop what e-mail customers get (the editor used to write the block without it)."""
    from html import unescape

    url = f"/console/answers/btomic/texts/{ORDER_TRACKING}"
    form = editor.get(url)
    fields = {
        name: " ".join(value.split())
        for name, value in re.findall(
            r'<textarea name="([a-z_]+)"[^>]*>(.*?)</textarea>', form.text, re.S
        )
    }
    email_before = render(ORDER_TRACKING, "btomic", "fr", channel="email")
    saved = editor.post(
        url,
        data={
            **{name: unescape(value) for name, value in fields.items()},
            "fr": "Où est ma commande ? Donnez-moi son numéro (par exemple {order_prefix}-123456).",
            "csrf_token": csrf_of(form.text),
            "action": "save",
        },
    )
    assert saved.status_code == 303, saved.text
    clear_caches()
    assert render(ORDER_TRACKING, "btomic", "fr").startswith("Où est ma commande\u202f?")
    assert render(ORDER_TRACKING, "btomic", "fr", channel="email") == email_before


def test_an_email_wording_in_one_language_only_is_refused(editor: TestClient, stores: Path) -> None:
    url = "/console/answers/btomic/texts/utter_payment_methods"
    before = (stores / "btomic" / "texts.yml").read_bytes()
    refused = save_form(
        editor,
        url,
        fr=NEW_FR,
        en=NEW_EN,
        email_fr="Par e-mail : nous acceptons la carte.",
        email_en="",
    )
    assert refused.status_code == 400
    assert "utter_payment_methods [email] has no en text" in refused.text
    assert "Par e-mail\u00a0: nous acceptons la carte.</textarea>" in refused.text  # kept
    assert (stores / "btomic" / "texts.yml").read_bytes() == before


def test_a_part_of_composed_answers_is_edited_for_one_shop(
    editor: TestClient, stores: Path
) -> None:
    from bot.answers.library import render_part

    url = "/console/answers/btomic/texts/part_status_shipped"
    form = editor.get(url)
    assert form.status_code == 200 and "{order}" in form.text  # a value the code sends
    common = yaml.safe_load((stores / "_common" / "texts.yml").read_text(encoding="utf-8"))
    block = common["part_status_shipped"]
    saved = editor.post(
        url,
        data={
            "csrf_token": csrf_of(form.text),
            "fr": block["fr"],
            "en": "Good news: your BTOMIC order {order} is on its way.",
            "action": "save",
        },
    )
    assert saved.status_code == 303, saved.text
    clear_caches()
    assert render_part("part_status_shipped", "btomic", "en", {"order": "BT-1"}) == (
        "Good news: your BTOMIC order BT-1 is on its way."
    )
    values = dict.fromkeys(block.get("arguments", []), "") | {"order": "OM-1"}
    assert not render_part("part_status_shipped", "om-system", "en", values).startswith(
        "Good news"
    )  # the other shop keeps the common wording
    assert editor.get("/console/answers/btomic/texts/part_nonexistent").status_code == 404


def test_an_email_wording_saved_in_the_console_is_live_in_the_running_answer_service(
    editor: TestClient, stores: Path, tmp_path: Path
) -> None:
    """A real answer service process (Rasa's NLG endpoint) on the same shop folders: the next
    e-mail turn gets the new wording, the chat keeps its own."""
    import time

    import httpx

    from devstack.stack import Stack, answer_service, free_port

    port = free_port()
    token = "answer-service-token-for-this-test"
    service = answer_service(
        port=port, env={"STORES_DIR": str(stores), "ANSWER_SERVICE_TOKEN": token}
    )

    def nlg(channel: str) -> str:
        body = {
            "response": ORDER_TRACKING,
            "arguments": {},
            "tracker": {
                "sender_id": "c1",
                "slots": {"store": "btomic", "language": "en"},
                "latest_message": {"text": "where is my order", "metadata": {"channel": channel}},
            },
            "channel": {"name": "rest"},
        }
        answer = httpx.post(f"http://127.0.0.1:{port}/nlg?token={token}", json=body, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["text"])

    with Stack([service], log_dir=tmp_path / "log").running():
        web_before = nlg("web")
        assert nlg("email").startswith("You can see the detailed status")
        url = f"/console/answers/btomic/texts/{ORDER_TRACKING}"
        block = yaml.safe_load((stores / "btomic" / "texts.yml").read_text(encoding="utf-8"))[
            ORDER_TRACKING
        ]
        saved = editor.post(
            url,
            data={
                "csrf_token": csrf_of(editor.get(url).text),
                "fr": block["fr"],
                "en": block["en"],
                "email_fr": NEW_EMAIL_FR,
                "email_en": NEW_EMAIL_EN,
                "action": "save",
            },
        )
        assert saved.status_code == 303, saved.text
        deadline = time.monotonic() + 15  # the service looks at the files every 2 s
        while nlg("email") != NEW_EMAIL_EN:
            assert time.monotonic() < deadline, "the e-mail wording never reached the service"
            time.sleep(0.5)
        assert nlg("web") == web_before
