"""Debian's Chromium driven by Playwright, and the support console's steps that the browser tests
share (tests/api/test_widget_browser.py, tests/console/test_console_browser.py,
tests/scale/test_console_scale.py): an account made with the real command, a fresh browser
profile that records script errors, signing in, and a live takeover from the widget.

The ``browser`` and ``contexts`` fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping

from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.config import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
# The 2-second promise of a live takeover, with the console's poll interval (1 s) inside it.
LIVE_DELIVERY_MS = 2_000


def create_account(
    env: Mapping[str, str], email: str, role: str, shops: str, name: str, *, password: str
) -> None:
    """Creates a console account through the real command (`make user` runs it), on the
    database of ``env`` (``DATABASE_URL``)."""
    result = subprocess.run(  # noqa: S603 - this interpreter and the project's module
        [
            sys.executable,
            "-m",
            "bot.console.users",
            "create",
            "--email",
            email,
            "--name",
            name,
            "--role",
            role,
            "--shops",
            shops,
            "--password-stdin",
        ],
        input=password + "\n",
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Created {role} {email}" in result.stdout


def new_page(browser: Browser, contexts: list[BrowserContext], locale: str = "fr-FR") -> Page:
    """A page in a fresh browser profile; ``page.errors`` collects script errors and Content
    Security Policy violations (a test asserts it stays empty)."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    contexts.append(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.set_default_timeout(30_000)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def sign_in(page: Page, gateway_url: str, email: str, password: str) -> None:
    """Signs in to the console of ``gateway_url`` from its front door (redirected to log in)."""
    page.goto(f"{gateway_url}/console")
    expect(page).to_have_url(f"{gateway_url}/console/login?next=/console")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Handoff inbox")).to_be_visible()


def open_handoff(page: Page, gateway_url: str, text: str, *, timeout_s: float = 60) -> None:
    """Opens the newest inbox row whose excerpt shows ``text`` (reloading until it is there)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(f"{gateway_url}/console/handoffs?status=all")
        link = page.locator("table.list tbody tr", has_text=text).first.locator("a").first
        if link.count():
            link.click()
            return
        assert time.monotonic() < deadline, f"no handoff showing {text!r}"
        time.sleep(1)


def take_over_live(
    browser: Browser,
    contexts: list[BrowserContext],
    *,
    shop_url: str,
    console_url: str,
    agent_email: str,
    password: str,
    rasa_answer_ms: float,
) -> tuple[Page, Page]:
    """A customer on the widget of ``shop_url`` asks for a person; the agent (Bea), signed in
    to the console of ``console_url`` in another browser profile, opens the handoff, sees the
    customer on the page, takes the conversation over and greets the customer, which reaches
    the widget within the live-delivery promise. Returns the customer's page and the agent's."""
    from tests.api.test_widget_browser import Widget

    customer = new_page(browser, contexts)
    customer.goto(shop_url)
    widget = Widget(customer)
    widget.open()
    widget.send("Je veux parler à un conseiller", timeout_ms=rasa_answer_ms)

    agent = new_page(browser, contexts, locale="en-GB")
    sign_in(agent, console_url, agent_email, password)
    open_handoff(agent, console_url, "parler à un conseiller")
    expect(agent.locator("#presence")).to_have_text("customer on the page", timeout=10_000)
    agent.get_by_role("button", name="Take over live").click()
    expect(agent.locator(".notice")).to_contain_text("the bot is paused")
    expect(widget.host.locator(".msg.notice").last).to_contain_text(
        "a rejoint la conversation", timeout=5_000
    )
    agent.locator("#live-text").fill("Bonjour, ici Bea, je vous écoute.")
    agent.locator("#live-text").press("Enter")
    expect(widget.host.locator(".msg.agent").last).to_contain_text(
        "Bonjour, ici Bea, je vous écoute.", timeout=LIVE_DELIVERY_MS
    )
    return customer, agent
