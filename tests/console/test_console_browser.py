"""The support console end to end, in Debian's Chromium (Playwright): real Rasa and action
servers (`live_stack`), a real gateway process with its local SMTP catcher (aiosmtpd), the
demo orders database the actions write handoffs to, and Rasa's SQLite tracker store.

- a customer on the widget asks for a person; an agent, in another browser context, takes the
  conversation over live: messages both ways, hand back, and the bot answers again;
- a visitor of the demo mailbox writes a complaint; it becomes an e-mail handoff; the agent's
  reply goes through SMTP and arrives in the visitor's mailbox;
- an editor teaches a misunderstood message and finds it in the training data;
- a BTOMIC agent is refused OM SYSTEM pages (403), a POST without CSRF token is refused;
- a BTOMIC editor changes an answer (refused first with a clear reason, previewed, saved): the
  customer on the widget gets the new text on the next message; putting the former version
  back brings the old text back;
- the analytics charts render (screenshot kept in tests/artifacts/).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, expect

from devstack.stack import Stack, free_port, gateway_service
from tests.api.test_widget_browser import Widget
from tests.browser import (
    ARTIFACTS,
    LIVE_DELIVERY_MS,
    create_account,
    new_page,
    open_handoff,
    sign_in,
    take_over_live,
)
from tests.conftest import LiveStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "console e2e password"
ADMIN = "ada@shops.example"
BT_AGENT = "bea@btomic.example"
BT_EDITOR = "eli@btomic.example"
RASA_ANSWER_MS = 60_000


@dataclass
class ConsoleGateway:
    """A gateway process with the console, on the live stack's Rasa and databases."""

    url: str
    training_file: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def console_gateway(
    live_stack: LiveStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleGateway]:
    work = tmp_path_factory.mktemp("console-gateway")
    port, smtp_port = free_port(), free_port()
    env = {
        "DATABASE_URL": live_stack.database_url,
        **live_stack.gateway_env,
        "TRACKER_STORE_URL": live_stack.tracker_url,
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "LOCAL_SMTP_PORT": str(smtp_port),
        "CONSOLE_TRAINING_FILE": str(work / "reviewed.yml"),
        "CONSOLE_IMPORT_INTERVAL_S": "1",
        "EMAIL_WORKER_POLL_S": "1",
        "DEFAULT_STORE": "om-system",
        "CORS_ORIGINS": f"http://127.0.0.1:{port}",
    }
    if os.environ.get("RASA_TOKEN"):
        env["RASA_TOKEN"] = os.environ["RASA_TOKEN"]
    if live_stack.stores_dir is not None:
        # The answer editor edits the shops' folders the live stack's answer service reads.
        env["STORES_DIR"] = str(live_stack.stores_dir)
        env["ANSWERS_HISTORY_DIR"] = str(work / "answers-history")
    create_account(env, ADMIN, "admin", "all", "Ada Martin", password=PASSWORD)
    create_account(env, BT_AGENT, "agent", "btomic", "Bea Lopez", password=PASSWORD)
    create_account(env, BT_EDITOR, "editor", "btomic", "Eli Moreau", password=PASSWORD)
    stack = Stack([gateway_service(port=port, env=env)], log_dir=work / "log")
    with stack.running():
        yield ConsoleGateway(f"http://127.0.0.1:{port}", work / "reviewed.yml", env)


def test_live_takeover_between_the_widget_and_the_console(
    console_gateway: ConsoleGateway, browser: Browser, contexts: list[BrowserContext]
) -> None:
    customer, agent = take_over_live(
        browser,
        contexts,
        shop_url=f"{console_gateway.url}/shops/btomic",
        console_url=console_gateway.url,
        agent_email=BT_AGENT,
        password=PASSWORD,
        rasa_answer_ms=RASA_ANSWER_MS,
    )
    widget = Widget(customer)
    expect(widget.host.locator(".msg.agent .agent-name").last).to_have_text(
        "Bea (service client)\u00a0: "
    )

    # The bot is paused: Rasa logs the customer's message but does not answer it.
    assert widget.send("Ma montre s'est arrêtée au bout de deux jours") == []
    expect(agent.locator("#thread .msg.customer").last).to_contain_text(
        "Ma montre s'est arrêtée", timeout=LIVE_DELIVERY_MS + 1_000
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    agent.screenshot(path=str(ARTIFACTS / "console-live-takeover.png"), full_page=True)

    agent.get_by_role("button", name="Hand back to the bot").click()
    expect(widget.host.locator(".msg.notice").last).to_contain_text(
        "reprend la conversation", timeout=5_000
    )
    answer = widget.send("Quels moyens de paiement acceptez-vous ?", timeout_ms=RASA_ANSWER_MS)
    assert "PayPal" in "\n".join(bubble.inner_text() for bubble in answer)
    assert customer.errors == [] and agent.errors == []  # type: ignore[attr-defined]


def test_an_email_handoff_is_answered_and_the_reply_reaches_the_mailbox(
    console_gateway: ConsoleGateway, browser: Browser, contexts: list[BrowserContext]
) -> None:
    visitor = new_page(browser, contexts)
    visitor.goto(f"{console_gateway.url}/mailbox")
    visitor.get_by_label("To").select_option("om-system")
    visitor.get_by_label("Subject").fill("Colis abîmé")
    visitor.get_by_label("Message").fill(
        "Bonjour, c'est inadmissible : mon boîtier est arrivé cassé. Je veux une solution."
    )
    visitor.get_by_role("button", name="Send").click()
    expect(visitor.locator(".notice")).to_contain_text("Sent")

    agent = new_page(browser, contexts, locale="en-GB")
    sign_in(agent, console_gateway.url, ADMIN, PASSWORD)
    open_handoff(agent, console_gateway.url, "boîtier est arrivé cassé")
    expect(agent.locator("pre.mail")).to_contain_text("mon boîtier est arrivé cassé")
    agent.locator("#email-text").fill(
        "Nous vous envoyons un boîtier neuf aujourd'hui, avec nos excuses."
    )
    agent.get_by_role("button", name="Send the e-mail").click()
    expect(agent.locator(".notice")).to_have_text("E-mail sent.")

    # The reply went through SMTP (the local aiosmtpd catcher) to the visitor's address.
    deadline = time.monotonic() + 30
    while True:
        visitor.goto(f"{console_gateway.url}/mailbox")
        reply = visitor.locator("#received .mail-item", has_text="boîtier neuf")
        if reply.count():
            break
        assert time.monotonic() < deadline, "the agent's reply never reached the mailbox"
        time.sleep(1)
    expect(reply.first.locator(".mailhead")).to_contain_text("Re: Colis abîmé")
    expect(reply.first.locator(".mailhead")).to_contain_text("from a person")
    expect(reply.first.locator("pre.mail")).to_contain_text("Bonjour,")


def test_the_demo_mailbox_gets_the_automatic_reply(
    console_gateway: ConsoleGateway, browser: Browser, contexts: list[BrowserContext]
) -> None:
    visitor = new_page(browser, contexts, locale="en-GB")
    visitor.goto(f"{console_gateway.url}/mailbox")
    visitor.get_by_label("To").select_option("btomic")
    visitor.get_by_label("Subject").fill("Payment")
    visitor.get_by_label("Message").fill("Hello, which payment methods do you accept?")
    visitor.get_by_role("button", name="Send").click()
    deadline = time.monotonic() + 90
    while True:
        visitor.goto(f"{console_gateway.url}/mailbox")
        reply = visitor.locator("#received .mail-item", has_text="Re: Payment")
        if reply.count():
            break
        assert time.monotonic() < deadline, "no automatic reply in the demo mailbox"
        time.sleep(1)
    expect(reply.first.locator("pre.mail")).to_contain_text("PayPal")


def test_an_editor_teaches_a_misunderstood_message(
    console_gateway: ConsoleGateway,
    live_stack: LiveStack,
    browser: Browser,
    contexts: list[BrowserContext],
) -> None:
    text = "est-ce que je peux régler avec des coquillages"
    live_stack.say(
        text, sender="web-om-system-teachme0001", metadata={"store": "om-system", "channel": "web"}
    )
    page = new_page(browser, contexts, locale="en-GB")
    sign_in(page, console_gateway.url, ADMIN, PASSWORD)
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{console_gateway.url}/console/conversations?q=coquillages")
        if page.locator("table.list tbody a").count():
            break
        assert time.monotonic() < deadline, "the conversation was never imported"
        time.sleep(1)
    # The list masks nothing here (no personal data) and links to the transcript.
    page.locator("table.list tbody a").first.click()
    customer = page.locator("li.msg.customer", has_text="coquillages")
    expect(customer.locator(".nlu")).to_contain_text("intent")
    customer.get_by_label("Right intent").select_option("payment_methods")
    customer.get_by_role("button", name="Teach").click()
    expect(page.locator(".notice")).to_have_text("Saved as a training example of payment_methods.")
    document = yaml.safe_load(console_gateway.training_file.read_text(encoding="utf-8"))
    assert {"intent": "payment_methods", "examples": f"- {text}\n"} in document["nlu"]


def test_a_btomic_agent_is_refused_om_system_pages_and_csrf_less_posts(
    console_gateway: ConsoleGateway, browser: Browser, contexts: list[BrowserContext]
) -> None:
    page = new_page(browser, contexts, locale="en-GB")
    sign_in(page, console_gateway.url, BT_AGENT, PASSWORD)
    for path in (
        "/console/handoffs?store=om-system",
        "/console/analytics?store=om-system",
        "/console/users",
    ):
        response = page.goto(f"{console_gateway.url}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("alert")).to_be_visible()
    refused = page.request.post(f"{console_gateway.url}/console/logout", form={"nothing": "here"})
    assert refused.status == 403
    # Still signed in: the forged logout did nothing.
    assert page.goto(f"{console_gateway.url}/console/handoffs").status == 200  # type: ignore[union-attr]


def test_the_analytics_charts_render(
    console_gateway: ConsoleGateway, browser: Browser, contexts: list[BrowserContext]
) -> None:
    page = new_page(browser, contexts, locale="en-GB")
    sign_in(page, console_gateway.url, ADMIN, PASSWORD)
    page.goto(f"{console_gateway.url}/console/analytics")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(5)
    assert int(page.locator("#kpi-conversations").inner_text()) > 0
    assert page.locator("svg.chart rect").count() > 3
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-analytics.png"), full_page=True)
    csv = httpx.get(
        f"{console_gateway.url}/console/analytics.csv",
        cookies={
            c["name"]: c["value"] for c in page.context.cookies() if c["name"] == "console_session"
        },
        timeout=10,
    )
    assert csv.status_code == 200 and csv.text.startswith(
        "day,store,language,channel,conversations"
    )
    assert page.errors == []  # type: ignore[attr-defined]


PAYMENT_QUESTION = "Quels moyens de paiement acceptez-vous ?"


def _answer_until(widget: Widget, wanted: str, attempts: int = 5) -> str:
    """Asks the payment question until the answer shows ``wanted`` (an edit reaches the answer
    service within its file cache's few seconds); returns the last answer."""
    answer = ""
    for _ in range(attempts):
        answer = "\n".join(b.inner_text() for b in widget.send(PAYMENT_QUESTION))
        if wanted in answer:
            break
        time.sleep(1)
    return answer


def test_an_editor_changes_an_answer_live_then_puts_it_back(
    console_gateway: ConsoleGateway, browser: Browser, contexts: list[BrowserContext]
) -> None:
    customer = new_page(browser, contexts)
    customer.goto(f"{console_gateway.url}/shops/btomic")
    widget = Widget(customer)
    widget.open()
    before = "\n".join(
        b.inner_text() for b in widget.send(PAYMENT_QUESTION, timeout_ms=RASA_ANSWER_MS)
    )
    assert "USDC" in before

    editor = new_page(browser, contexts, locale="en-GB")
    sign_in(editor, console_gateway.url, BT_EDITOR, PASSWORD)
    editor.get_by_role("link", name="Answers").click()
    expect(editor.get_by_role("heading", name="Answers · BTOMIC")).to_be_visible()
    row = editor.locator("#utter_payment_methods")
    expect(row.locator(".answer-fr")).to_contain_text("USDC")
    expect(row.locator(".answer-en")).to_contain_text("USDC")
    row.get_by_role("link", name="Edit").click()

    french = editor.get_by_label("French")
    english = editor.get_by_label("English")
    french.fill(
        "Chez BTOMIC, payez par carte ou PayPal. Une question ? Écrivez à {contact.email} !"
    )
    english.fill("At BTOMIC, pay by card or PayPal. Questions? Write to {contact.fax}!")
    editor.get_by_role("button", name="Save").click()
    # Refused, with the reason, and nothing typed is lost.
    expect(editor.get_by_role("alert")).to_contain_text("contact.fax")
    expect(english).to_have_value(
        "At BTOMIC, pay by card or PayPal. Questions? Write to {contact.fax}!"
    )
    english.fill("At BTOMIC, pay by card or PayPal. Questions? Write to {contact.email}!")
    editor.get_by_role("button", name="Preview").click()
    expect(editor.locator(".preview-fr")).to_have_text(
        "Chez BTOMIC, payez par carte ou PayPal. Une question\u202f? Écrivez à "
        "service@btomic.com\u202f!"
    )
    expect(editor.locator(".preview-en")).to_have_text(
        "At BTOMIC, pay by card or PayPal. Questions? Write to service@btomic.com!"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    editor.screenshot(path=str(ARTIFACTS / "console-answer-edit.png"))
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator(".notice")).to_contain_text("Saved utter_payment_methods")

    # The customer, still on the page, gets the new text on the next message.
    after = _answer_until(widget, "payez par carte ou PayPal")
    assert "Une question\u202f? Écrivez à service@btomic.com\u202f!" in after
    assert "USDC" not in after

    # The history puts the former version back; the customer gets the old text again.
    history = editor.locator("#history tbody tr").first
    expect(history).to_contain_text("texts.yml")
    history.get_by_role("button", name="Put this version back").click()
    expect(editor.locator(".notice")).to_contain_text("is back")
    expect(editor.locator("#utter_payment_methods .answer-fr")).to_contain_text("USDC")
    assert "USDC" in _answer_until(widget, "USDC")
    assert customer.errors == [] and editor.errors == []  # type: ignore[attr-defined]
