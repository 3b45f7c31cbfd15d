"""The console's answer editor (editors): previews in both languages, validation that keeps the
draft, history and revert, audit, shop boundaries; on a copy of ``data/stores`` (never the
real files). The browser test (test_console_browser.py) shows an edit live on the next turn
of a real conversation."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

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
    refused = editor.post(
        url,
        data={
            "csrf_token": csrf_of(editor.get(url).text),
            "fr": "Appelez le {contact.fax}.",
            "en": NEW_EN,
            "action": "save",
        },
    )
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
    saved = editor.post(
        url,
        data={
            "csrf_token": csrf_of(editor.get(url).text),
            "fr": NEW_FR,
            "en": NEW_EN,
            "action": "save",
        },
    )
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
