"""A new FAQ intent is one NLU block plus one text per shop: no domain entry, no rule, no code.

The fixture ``tests/fixtures/faq_intent/`` holds what a shop's team writes for a made-up FAQ
topic (gift wrapping): the NLU block (``nlu.yml``) and one text per shop (``<shop>.yml``). The
test adds them to copies of the project's training data and shops, and nothing else: the
project's ``domain.yml``, rules and configuration are used as they are (the training's importer,
``bot/rasa_ext/faq_importer.py``, adds the NLU data's intents to the domain). It trains a model
on the copy (the real ``rasa train``, a minute or two: the training cache of
``make model`` serves the unchanged parts), starts the real stack on it and asks, through the
gateway, in French and English, in both shops, and in the middle of the order lookup. The
generic answer (``action_answer_faq``, the rule policy's fallback action) says the shop's text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answers.library import check_shop, clear_caches, render
from bot.config import PROJECT_ROOT
from bot.shops import DEFAULT_STORES_DIR
from devstack.stack import RASA_BIN
from tests.conftest import LiveStack, load_demo_database, running_stack

pytestmark = pytest.mark.e2e

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "faq_intent"
INTENT = "gift_wrapping"
TRAIN_TIMEOUT_S = 1200


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training data and shops with the fixture's NLU block and texts added."""
    work = tmp_path_factory.mktemp("faq-intent")
    shutil.copytree(PROJECT_ROOT / "data", work / "data", ignore=shutil.ignore_patterns("stores"))
    shutil.copy(FIXTURE / "nlu.yml", work / "data" / "nlu" / f"{INTENT}.yml")
    # The project's domain and configuration, unchanged.
    shutil.copy(PROJECT_ROOT / "domain.yml", work / "domain.yml")
    shutil.copy(PROJECT_ROOT / "config.yml", work / "config.yml")
    stores = work / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, stores)
    for shop_text in sorted(FIXTURE.glob("*.yml")):
        if shop_text.name == "nlu.yml":
            continue
        texts = stores / shop_text.stem / "texts.yml"
        block = shop_text.read_text(encoding="utf-8")
        texts.write_text(texts.read_text(encoding="utf-8") + "\n" + block, encoding="utf-8")
    return work


@pytest.fixture(scope="module")
def faq_model(project_copy: Path) -> Path:
    """A model trained on the copy, with the project's own training command."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(
        [
            str(RASA_BIN), "train", "--quiet",
            "--config", str(project_copy / "config.yml"),
            "--domain", str(project_copy / "domain.yml"),
            "--data", str(project_copy / "data"),
            "--out", str(project_copy / "models"),
            "--fixed-model-name", "bot",
        ],
        cwd=PROJECT_ROOT,  # the training cache of `make model`
        env=env,
        capture_output=True,
        text=True,
        timeout=TRAIN_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    model = project_copy / "models" / "bot.tar.gz"
    assert result.returncode == 0 and model.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    # The copy differs from the project by the NLU block only (domain, rules, config as they are).
    for name in ("domain.yml", "config.yml", "data/rules.yml", "data/stories.yml"):
        assert (project_copy / name).read_bytes() == (PROJECT_ROOT / name).read_bytes(), name
    assert INTENT not in (project_copy / "domain.yml").read_text(encoding="utf-8")
    return model


@pytest.fixture(scope="module")
def faq_stack(project_copy: Path, faq_model: Path) -> Iterator[LiveStack]:
    """The real stack on the copy's model and shops."""
    database_url = f"sqlite:///{project_copy / 'orders.db'}"
    load_demo_database(database_url)
    with running_stack(
        project_copy,
        model=faq_model,
        database_url=database_url,
        stores=project_copy / "stores",
        gateway_env={"CHAT_RATE_LIMIT_MESSAGES": "1000"},
    ) as live:
        yield live


def faq_stack_stores(stack: LiveStack) -> Path:
    assert stack.stores_dir is not None
    return stack.stores_dir


def expected(stores: Path, store: str, lang: str) -> str:
    """The fixture's text as the answer service renders it for the shop (spaces collapsed)."""
    previous = os.environ.get("STORES_DIR")
    os.environ["STORES_DIR"] = str(stores)
    clear_caches()
    try:
        return " ".join(render(f"utter_{INTENT}", store, lang).split())  # type: ignore[arg-type]
    finally:
        if previous is None:
            os.environ.pop("STORES_DIR", None)
        else:
            os.environ["STORES_DIR"] = previous
        clear_caches()


def test_the_fixture_texts_pass_the_checks(project_copy: Path) -> None:
    # The new texts are checked like any other: every shop, both languages, typography.
    stores, domain = project_copy / "stores", project_copy / "domain.yml"
    previous = os.environ.get("STORES_DIR")
    os.environ["STORES_DIR"] = str(stores)
    clear_caches()
    try:
        for shop in ("btomic", "om-system"):
            assert check_shop(shop, directory=stores, domain_file=domain) == []
        # A shop without the text is named: once one shop answers the intent, all must.
        texts = stores / "btomic" / "texts.yml"
        texts.write_text(
            texts.read_text("utf-8").replace(f"utter_{INTENT}:", "utter_gift_wrappin:"), "utf-8"
        )
        clear_caches()
        problems = check_shop("btomic", directory=stores, domain_file=domain)
        assert f"btomic: utter_{INTENT} has no text (neither the shop's nor a common one)" in (
            problems
        )
        assert any("utter_gift_wrappin is not a response of the domain" in p for p in problems)
    finally:
        texts = stores / "btomic" / "texts.yml"
        texts.write_text(
            texts.read_text("utf-8").replace("utter_gift_wrappin:", f"utter_{INTENT}:"), "utf-8"
        )
        if previous is None:
            os.environ.pop("STORES_DIR", None)
        else:
            os.environ["STORES_DIR"] = previous
        clear_caches()


@pytest.mark.parametrize(
    ("store", "question", "lang"),
    [
        ("btomic", "Proposez-vous un emballage cadeau pour une montre ?", "fr"),
        ("btomic", "Do you offer gift wrapping for a watch?", "en"),
        ("om-system", "c'est pour offrir, vous pouvez faire un paquet cadeau ?", "fr"),
        ("om-system", "Can you gift wrap my order please?", "en"),
    ],
)
def test_the_new_intent_is_answered_with_the_shops_text(
    faq_stack: LiveStack, store: str, question: str, lang: str
) -> None:
    answer = faq_stack.chat(question, sender=f"faq-{uuid.uuid4().hex[:8]}", store=store)
    assert expected(faq_stack_stores(faq_stack), store, lang) in answer, answer


def test_the_new_intent_during_the_order_lookup_then_the_lookup_goes_on(
    faq_stack: LiveStack,
) -> None:
    sender = f"faq-lookup-{uuid.uuid4().hex[:8]}"
    ask = faq_stack.chat("Où en est ma commande ?", sender=sender, store="om-system")
    assert "numéro" in ask and "OM-123456" in ask  # the lookup asks for the number
    answer = faq_stack.chat("Proposez-vous un emballage cadeau ?", sender=sender, store="om-system")
    assert expected(faq_stack_stores(faq_stack), "om-system", "fr") in answer
    after = answer.split(expected(faq_stack_stores(faq_stack), "om-system", "fr"), 1)[1]
    assert "numéro" in after and "OM-123456" in after  # then the lookup asks again
    found = faq_stack.chat("OM-104233 marie.dupont@example.fr", sender=sender, store="om-system")
    assert "JD014600003828461025" in found


def test_the_existing_faq_is_unchanged(faq_stack: LiveStack) -> None:
    answer = faq_stack.chat(
        "Quels moyens de paiement acceptez-vous ?", sender=f"faq-{uuid.uuid4().hex[:8]}",
        store="btomic",
    )  # fmt: skip
    assert "PayPal" in answer
