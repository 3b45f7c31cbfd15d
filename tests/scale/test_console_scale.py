"""The support console on the scaled deployment: 2 Rasa servers behind nginx sharing the
PostgreSQL tracker store and the Redis lock store, 2 gateways (production profile), in Debian's
Chromium (Playwright).

* conversations whose turns were handled by both Rasa servers appear, each whole and once, in
  the conversation review of a gateway, and in its analytics;
* a live takeover works whichever Rasa server handles the customer's turns: the customer is on
  the widget of gateway 1, the agent on the console of gateway 2; while the bot is paused, the
  customer's messages (sent until each Rasa server has handled at least one) get no answer from
  either server and reach the agent; after "hand back", both servers answer again.

Which server handled a turn is read from nginx's access log (one line per request with its
upstream). This module runs before test_scale_out.py on the same stack (the `scaled` fixture is
per package), so the failure tests there come after it. Every loop is bounded; all traffic stays
on 127.0.0.1.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.api.test_widget_browser import Widget
from tests.browser import (
    ARTIFACTS,
    LIVE_DELIVERY_MS,
    create_account,
    new_page,
    sign_in,
    take_over_live,
)
from tests.scale.conftest import Scaled, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.browser]

PASSWORD = "scaled console password"
ADMIN = "ada.scale@shops.example"
BT_AGENT = "bea.scale@btomic.example"
RASA_ANSWER_MS = 90_000
# The gateways import new tracker events every 5 s (CONSOLE_IMPORT_INTERVAL_S).
IMPORT_WAIT_S = 60.0
WEBHOOK = "POST /webhooks/rest/webhook"
_UPSTREAM = re.compile(r"upstream=(\S+)")


@pytest.fixture(scope="module")
def accounts(scaled: Scaled) -> None:
    env = {"DATABASE_URL": scaled.orders_url}
    create_account(env, ADMIN, "admin", "all", "Ada Martin", password=PASSWORD)
    create_account(env, BT_AGENT, "agent", "btomic", "Bea Lopez", password=PASSWORD)


class AccessLog:
    """nginx's access log, read from a position on: which Rasa server served which request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.position = path.stat().st_size if path.exists() else 0

    def webhook_upstreams(self) -> list[str]:
        """The upstreams of the REST-channel requests logged since the last call."""
        with self.path.open("rb") as log:
            log.seek(self.position)
            lines = log.read().decode("utf-8", "replace").splitlines()
            self.position = log.tell()
        found = []
        for line in lines:
            if WEBHOOK in line:
                match = _UPSTREAM.search(line)
                assert match, line
                found.append(match.group(1).split(",")[-1].strip())
        return found


def rasa_addresses(scaled: Scaled) -> set[str]:
    return {f"127.0.0.1:{port}" for port in scaled.stack.config.rasa_ports}


def kpi(page: Page, url: str) -> int:
    page.goto(url)
    return int(page.locator("#kpi-conversations").inner_text())


def test_conversations_of_both_rasa_servers_appear_in_review_and_analytics(
    scaled: Scaled, accounts: None, browser: Browser, contexts: list[BrowserContext]
) -> None:
    gateway = scaled.stack.gateway_urls[1]
    page = new_page(browser, contexts, locale="en-GB")
    sign_in(page, gateway, ADMIN, PASSWORD)
    analytics = f"{gateway}/console/analytics?store=btomic&channel=web"
    before = kpi(page, analytics)

    marker = f"zq{uuid.uuid4().hex[:6]}"
    said = ["Quels moyens de paiement acceptez-vous ?", "Livrez-vous en Belgique ?"]
    senders = [f"web-btomic-scalecons{i}{marker}" for i in range(4)]
    turns: dict[str, list[Turn]] = {sender: [] for sender in senders}
    for sender in senders:
        for text in said:
            turn = scaled.say(sender, f"{text} {marker}", {"store": "btomic", "channel": "web"})
            assert turn.status == 200 and turn.answer, (sender, turn)
            turns[sender].append(turn)
    served = {turn.upstream for sender_turns in turns.values() for turn in sender_turns}
    assert served == rasa_addresses(scaled), served  # both Rasa servers handled turns

    # The review of the other gateway lists every conversation once, whole.
    deadline = time.monotonic() + IMPORT_WAIT_S
    while True:
        page.goto(f"{gateway}/console/conversations?q={marker}")
        rows = page.locator("table.list tbody tr")
        if rows.count() == len(senders) and "No conversation" not in rows.first.inner_text():
            break
        assert time.monotonic() < deadline, f"{rows.count()} of {len(senders)} imported"
        time.sleep(1)
    expect(page.locator("main")).to_contain_text(f"{len(senders)} conversation(s)")
    for sender in senders:
        page.goto(f"{gateway}/console/conversations/{sender}")
        customer = page.locator("li.msg.customer")
        expect(customer).to_have_count(len(said))
        for index, text in enumerate(said):
            expect(customer.nth(index)).to_contain_text(text)
        expect(customer.first.locator(".nlu")).to_contain_text("payment_methods")
        # The bot's answers from both servers are in the transcript, each once.
        expect(page.locator("li.msg.bot").first).to_contain_text("PayPal")

    # The analytics of the shop count them (summed from the tracker store both servers share).
    deadline = time.monotonic() + IMPORT_WAIT_S
    while (after := kpi(page, analytics)) != before + len(senders):
        assert after < before + len(senders), (before, after)
        assert time.monotonic() < deadline, (before, after)
        time.sleep(1)
    assert page.locator("svg.chart").count() >= 1
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_live_takeover_works_whichever_rasa_server_handles_the_customers_turns(
    scaled: Scaled, accounts: None, browser: Browser, contexts: list[BrowserContext]
) -> None:
    widget_gateway, console_gateway = scaled.stack.gateway_urls
    servers = rasa_addresses(scaled)
    log = AccessLog(scaled.stack.nginx_access_log)

    customer, agent = take_over_live(
        browser,
        contexts,
        shop_url=f"{widget_gateway}/shops/btomic",
        console_url=console_gateway,
        agent_email=BT_AGENT,
        password=PASSWORD,
        rasa_answer_ms=RASA_ANSWER_MS,
    )
    widget = Widget(customer)

    # Paused: whichever server gets the customer's turn logs it and does not answer.
    log.webhook_upstreams()
    paused_on: list[str] = []
    for number in range(1, 9):
        text = f"Ma montre s'est arrêtée, message {number}"
        assert widget.send(text, timeout_ms=RASA_ANSWER_MS) == [], f"the bot answered {text!r}"
        expect(agent.locator("#thread .msg.customer").last).to_contain_text(
            text, timeout=LIVE_DELIVERY_MS + 1_000
        )
        paused_on += log.webhook_upstreams()
        if set(paused_on) >= servers:
            break
    assert set(paused_on) == servers, f"the paused turns went only to {paused_on}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    agent.screenshot(path=str(ARTIFACTS / "console-scaled-live-takeover.png"), full_page=True)

    # Handed back: each server answers the customer again.
    agent.get_by_role("button", name="Hand back to the bot").click()
    expect(widget.host.locator(".msg.notice").last).to_contain_text(
        "reprend la conversation", timeout=5_000
    )
    log.webhook_upstreams()
    answered_on: list[str] = []
    for _ in range(8):
        answer = widget.send("Quels moyens de paiement acceptez-vous ?", timeout_ms=RASA_ANSWER_MS)
        assert "PayPal" in "\n".join(bubble.inner_text() for bubble in answer)
        answered_on += log.webhook_upstreams()
        if set(answered_on) >= servers:
            break
    assert set(answered_on) == servers, f"answered only by {answered_on}"
    assert customer.errors == [] and agent.errors == []  # type: ignore[attr-defined]
