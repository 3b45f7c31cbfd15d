"""The chat widget in a real browser (Debian's Chromium driven by Playwright).

Three levels:
- end to end (`e2e`): the demo shop page of the real gateway, real Rasa and real actions;
- the widget's behaviour against a scripted Rasa (a real HTTP server the test starts): quick
  replies, safe links, persistence, keyboard, languages;
- what the customer sees when something fails: Rasa down, gateway down, timeout, 429, 413.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Route, expect

from bot.api.main import create_app
from tests.api.conftest import gateway_settings
from tests.api.servers import CuttingActionProxy, FakeRasa, GatewayServer, ShopPageServer
from tests.browser import ARTIFACTS
from tests.conftest import LiveStack, running_stack_behind_cutting_proxy

pytestmark = pytest.mark.browser

# A real Rasa answer (NLU + actions + database) can take a few seconds on a busy machine.
RASA_ANSWER_TIMEOUT_MS = 60_000


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile (empty localStorage) that fails the test on script errors."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"CSP violation: {message.text}")

    page.on("console", on_console)
    yield page
    context.close()
    assert problems == []


StartGateway = Callable[..., GatewayServer]


@pytest.fixture
def start_gateway(fake_rasa: FakeRasa) -> Iterator[StartGateway]:
    """Starts the real gateway app (uvicorn, free port) on the scripted Rasa by default."""
    servers: list[GatewayServer] = []

    def start(*, rasa_url: str | None = None, **overrides: Any) -> GatewayServer:
        app = create_app(gateway_settings(rasa_url or fake_rasa.url, **overrides))
        server = GatewayServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Widget:
    """The widget on a page, seen the way a customer uses it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator("#shop-support-chat")
        self.launcher = self.host.locator("button.launcher")
        self.panel = self.host.get_by_role("dialog")
        self.input = self.host.locator("textarea")
        self.error = self.host.get_by_role("alert")
        self.bot_messages = self.host.locator(".msg.bot:not(.welcome)")
        self.user_messages = self.host.locator(".msg.user")
        self.quick_replies = self.host.locator(".quick-reply")

    def open(self) -> None:
        if not self.panel.is_visible():
            self.launcher.click()
        expect(self.panel).to_be_visible()

    def wait_idle(self, timeout_ms: float = RASA_ANSWER_TIMEOUT_MS) -> None:
        expect(self.host).to_have_attribute("data-state", "idle", timeout=timeout_ms)

    def submit(self, text: str, timeout_ms: float = RASA_ANSWER_TIMEOUT_MS) -> None:
        """Types `text`, presses Enter and waits until the widget is idle (answered or not)."""
        self.input.fill(text)
        self.input.press("Enter")
        self.wait_idle(timeout_ms)

    def send(self, text: str, timeout_ms: float = RASA_ANSWER_TIMEOUT_MS) -> list[Locator]:
        """Types `text`, presses Enter, waits for the answer; returns the new bot bubbles."""
        before = self.bot_messages.count()
        self.submit(text, timeout_ms)
        expect(self.error).to_be_hidden()
        return [self.bot_messages.nth(i) for i in range(before, self.bot_messages.count())]

    def focused_class(self) -> str:
        """The class of the element focused inside the widget's shadow root."""
        return str(
            self.page.evaluate(
                "() => document.querySelector('#shop-support-chat')"
                ".shadowRoot.activeElement?.className ?? ''"
            )
        )


def open_widget(page: Page, url: str) -> Widget:
    """Goes to a shop page (`url`) and opens its widget."""
    page.goto(url)
    widget = Widget(page)
    widget.open()
    return widget


def joined_text(bubbles: list[Locator]) -> str:
    return "\n".join(bubble.inner_text() for bubble in bubbles)


# --- end to end: real gateway, Rasa, actions and orders database ---------------------------


@pytest.mark.e2e
def test_customer_asks_a_faq_and_tracks_an_order_on_the_om_system_page(
    live_stack: LiveStack, page: Page
) -> None:
    widget = open_widget(page, f"{live_stack.gateway_url}/shops/om-system")
    expect(widget.host.locator(".msg.welcome")).to_contain_text("OM SYSTEM")

    answer = joined_text(widget.send("Quels moyens de paiement acceptez-vous ?"))
    assert "Klarna" in answer and "PayPal" in answer, answer

    # Order status with verification: the order number, then the e-mail on the order.
    widget.send("Où en est ma commande OM-104233 ?")
    bubbles = widget.send("marie.dupont@example.fr")
    assert "JD014600003828461025" in joined_text(bubbles), joined_text(bubbles)
    links = [link for bubble in bubbles for link in bubble.locator("a[href^='http']").all()]
    assert links, "the tracking answer has no link"
    assert links[0].get_attribute("target") == "_blank"
    assert "noopener" in (links[0].get_attribute("rel") or "")

    # The conversation survives a reload (same shop, same browser).
    page.reload()
    widget = Widget(page)
    widget.open()
    expect(widget.bot_messages.filter(has_text="JD014600003828461025")).to_have_count(1)
    expect(widget.user_messages.filter(has_text="Quels moyens de paiement")).to_have_count(1)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget.png"))


@pytest.mark.e2e
def test_a_real_customers_message_with_the_bare_number_starts_the_order_lookup(
    live_stack: LiveStack, page: Page
) -> None:
    # Issue 11's "Done when": greeting, context, the number without its prefix in brackets.
    widget = open_widget(page, f"{live_stack.gateway_url}/shops/om-system")
    ask = joined_text(
        widget.send(
            "Bonjour, j'ai commandé il y a 10 jours (commande 104233) et toujours rien, "
            "c'est normal ?"
        )
    )
    # The lookup started with the number: only the proof is asked for.
    assert "code postal" in ask, ask
    assert "numéro" not in ask, ask
    answer = joined_text(widget.send("marie.dupont@example.fr"))
    assert "OM-104233" in answer and "JD014600003828461025" in answer, answer


WRONG_PROOF = "Où en est ma commande OM-104233 ? Mon e-mail est devine{}@example.com"


@pytest.mark.e2e
def test_buttons_typed_commands_and_new_conversation_with_the_real_assistant(
    live_stack: LiveStack, page: Page
) -> None:
    widget = open_widget(page, f"{live_stack.gateway_url}/shops/om-system")
    for attempt in range(3):
        widget.send(WRONG_PROOF.format(attempt))
    first = stored_sender_id(page)
    conversation = f"web-om-system-{first}"
    assert live_stack.tracker(conversation)["slots"]["lookup_locked"] is True

    # The quick reply the bot offered reaches Rasa as its intent: a person is asked for.
    offered = widget.quick_replies.filter(has_text="Parler à un conseiller")
    expect(offered).to_have_count(1)
    offered.click()
    widget.wait_idle()
    expect(widget.bot_messages.last).to_contain_text("J'ai transmis cette conversation")
    tracker = live_stack.tracker(conversation, include_events="ALL")
    last_user = [e for e in tracker["events"] if e["event"] == "user"][-1]
    assert last_user["parse_data"]["intent"]["name"] == "human_handoff"

    # Typed, "/restart" is words: the conversation (its lock included) is not reset.
    widget.send("/restart")
    expect(widget.user_messages.last).to_have_text("Vous : /restart")
    tracker = live_stack.tracker(conversation, include_events="ALL")
    assert "restart" not in [e["event"] for e in tracker["events"]]
    assert tracker["slots"]["lookup_locked"] is True

    # The widget's "new conversation" button restarts it and starts another.
    widget.host.get_by_role("button", name="Nouvelle conversation").click()
    widget.wait_idle()
    expect(widget.user_messages).to_have_count(0)
    second = stored_sender_id(page)
    assert second != first
    old = live_stack.tracker(conversation, include_events="ALL")
    assert [e["event"] for e in old["events"]].count("restart") == 1
    assert old["events"][-1]["event"] == "restart"
    assert old["slots"]["lookup_locked"] in (None, False)

    # The order's own limit is not the conversation's: two more wrong proofs make five, and
    # the owner's proof then gets no order data.
    for attempt in range(3, 5):
        widget.send(WRONG_PROOF.format(attempt))
    answer = joined_text(widget.send("Où en est ma commande OM-104233 ? marie.dupont@example.fr"))
    assert "JD014600003828461025" not in answer, answer
    assert "JD014600003828461025" not in widget.host.inner_text()


# --- the widget against a scripted Rasa ----------------------------------------------------


def scripted_rasa(request: dict[str, Any]) -> list[dict[str, Any]]:
    message = request["message"]
    if message == "aide":
        return [
            {
                "text": "De quoi s'agit-il ?",
                "buttons": [
                    {"title": "Délais de livraison", "payload": "/delivery_time"},
                    {"title": "Retours", "payload": "/return_policy"},
                ],
            }
        ]
    if message == "/delivery_time":
        return [
            {
                "text": "Livraison en 3 à 4 jours ouvrables. "
                "Détails : https://example.com/livraison. "
                "Ou écrivez à eshop.support@om-digitalsolutions.com."
            }
        ]
    if message == "html":
        return [
            {
                "text": '<img src=x onerror="window.__pwned = 1"> <b>gras</b> '
                "[clic](javascript:alert(1))"
            }
        ]
    return [{"text": f"echo: {message}"}]


def test_quick_replies_links_and_untrusted_text(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    fake_rasa.reply = scripted_rasa
    gateway = start_gateway()
    page.goto(f"{gateway.url}/shops/om-system")
    widget = Widget(page)

    expect(widget.launcher).to_have_attribute("aria-label", "Discuter avec l'assistant OM SYSTEM")
    expect(widget.launcher).to_have_attribute("aria-expanded", "false")
    widget.launcher.click()
    expect(widget.panel).to_be_visible()
    expect(widget.launcher).to_have_attribute("aria-expanded", "true")
    expect(widget.host.get_by_role("log")).to_have_attribute("aria-live", "polite")
    expect(widget.input).to_be_focused()

    widget.send("aide")
    # The page's language goes with the conversation's first message only.
    assert fake_rasa.messages()[-1]["metadata"]["ui_language"] == "fr"
    expect(widget.quick_replies).to_have_count(2)
    widget.quick_replies.filter(has_text="Délais de livraison").click()
    widget.wait_idle()
    # The payload went to Rasa, the title is what the customer sees as their message.
    assert fake_rasa.messages()[-1]["message"] == "/delivery_time"
    metadata = dict(fake_rasa.messages()[-1]["metadata"])
    # One id per message, the widget's client message id (its resends are answered once).
    assert re.fullmatch(r"web:m[0-9a-f]{32}:0", metadata.pop("message_id"))
    assert metadata == {
        "store": "om-system",
        "ui_language": None,
        "channel": "web",
        "client": "127.0.0.1",
    }
    expect(widget.user_messages.last).to_contain_text("Délais de livraison")
    expect(widget.quick_replies).to_have_count(0)

    answer = widget.bot_messages.last
    link = answer.locator("a[href^='https://']")
    expect(link).to_have_attribute("href", "https://example.com/livraison")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(answer.locator("a[href^='mailto:']")).to_have_text(
        "eshop.support@om-digitalsolutions.com"
    )

    # Untrusted text is shown as text: no element, no script, no javascript: link.
    widget.send("html")
    unsafe = widget.bot_messages.last
    expect(unsafe).to_contain_text('<img src=x onerror="window.__pwned = 1">')
    expect(unsafe.locator("img, b, a")).to_have_count(0)
    assert page.evaluate("() => window.__pwned") is None


def test_conversation_survives_reloads_and_pages_of_the_same_shop_only(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    widget.send("premier message")
    widget.send("deuxième message")
    first_sender = fake_rasa.messages()[-1]["sender"]

    page.reload()
    widget = Widget(page)
    expect(widget.panel).to_be_visible()  # it was open: it stays open
    expect(widget.user_messages).to_have_count(2)
    expect(widget.bot_messages.last).to_have_text("Assistant : echo: deuxième message")
    expect(widget.input).not_to_be_focused()  # reopening on load does not steal the focus

    # Another page of the same shop, in English: same conversation, English interface.
    page.goto(f"{gateway.url}/shops/om-system?lang=en")
    widget = Widget(page)
    expect(widget.launcher).to_have_attribute("aria-label", "Chat with the OM SYSTEM assistant")
    expect(widget.user_messages).to_have_count(2)
    widget.send("third")
    assert fake_rasa.messages()[-1]["sender"] == first_sender
    # The conversation has its language: the English page does not send its own.
    assert fake_rasa.messages()[-1]["metadata"]["ui_language"] is None

    # The other shop has its own conversation.
    widget = open_widget(page, f"{gateway.url}/shops/btomic")
    expect(widget.host.locator(".title")).to_have_text("Assistance BTOMIC")
    expect(widget.user_messages).to_have_count(0)
    widget.send("bonjour")
    assert fake_rasa.messages()[-1]["sender"].startswith("web-btomic-")

    # "New conversation": the gateway restarts the old one in Rasa and gives a new sender id.
    page.goto(f"{gateway.url}/shops/om-system")
    widget = Widget(page)
    widget.host.get_by_role("button", name="Nouvelle conversation").click()
    expect(widget.user_messages).to_have_count(0)
    expect(widget.input).to_be_focused()
    assert fake_rasa.events_for(first_sender) == [{"event": "restart"}]
    widget.send("on recommence")
    assert fake_rasa.messages()[-1]["sender"] not in (first_sender,)
    assert fake_rasa.messages()[-1]["sender"].startswith("web-om-system-")
    assert stored_sender_id(page) in fake_rasa.messages()[-1]["sender"]


def stored_sender_id(page: Page, store: str = "om-system") -> str:
    """The widget's conversation id, as kept in the page's localStorage."""
    return str(
        page.evaluate(
            f"() => JSON.parse(localStorage.getItem('shop-support-chat:{store}')).senderId"
        )
    )


def test_a_typed_slash_text_is_words_and_a_failed_new_conversation_keeps_the_old(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    fake_rasa.reply = scripted_rasa
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    # Typed, even a payload the bot offers elsewhere is the customer's words.
    widget.send("/delivery_time")
    assert fake_rasa.messages()[-1]["message"] == "\u2060/delivery_time"
    expect(widget.user_messages.last).to_have_text("Vous : /delivery_time")
    widget.send("/restart")
    assert fake_rasa.messages()[-1]["message"] == "\u2060/restart"
    sender = fake_rasa.messages()[-1]["sender"]
    assert fake_rasa.events_for(sender) == []  # no restart

    # Rasa unreachable: the conversation stays, the customer is told and may retry.
    fake_rasa.status_code = 503
    widget.host.get_by_role("button", name="Nouvelle conversation").click()
    widget.wait_idle()
    expect(widget.error).to_be_visible()
    expect(widget.error).to_contain_text("Impossible de commencer une nouvelle conversation")
    expect(widget.user_messages).to_have_count(2)
    assert sender.endswith(stored_sender_id(page))
    fake_rasa.status_code = 200
    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.user_messages).to_have_count(0)
    assert not sender.endswith(stored_sender_id(page))


def test_keyboard_only_use(start_gateway: StartGateway, page: Page) -> None:
    gateway = start_gateway()
    page.goto(f"{gateway.url}/shops/btomic?lang=en")
    widget = Widget(page)
    widget.launcher.focus()
    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    expect(widget.panel).to_have_accessible_name("BTOMIC support")
    # The shop's colours, from its facts.yml (widget_colours), not from the widget's code.
    expect(widget.launcher).to_have_css("background-color", "rgb(122, 90, 30)")  # #7a5a1e
    expect(widget.host.locator(".header")).to_have_css("color", "rgb(244, 234, 215)")
    expect(widget.input).to_be_focused()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("line two")
    expect(widget.input).to_have_value("line one\nline two")
    page.keyboard.press("Enter")
    widget.wait_idle()
    expect(widget.user_messages.last).to_contain_text("line one\nline two")
    expect(widget.input).to_have_value("")
    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    assert widget.focused_class() == "launcher"
    expect(widget.launcher).to_have_attribute("aria-expanded", "false")


def test_one_tag_embeds_the_widget_on_another_sites_page(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    # A shop page on another origin, in French, asking for the English interface with
    # data-lang; the gateway allows that origin (CORS_ORIGINS).
    shop = ShopPageServer().start()
    try:
        gateway = start_gateway(cors_origins=shop.url)
        shop.html = (
            '<!doctype html><html lang="fr"><head><title>Boutique</title></head><body>'
            "<h1>Une boutique</h1>"
            f'<script src="{gateway.url}/widget.js" data-store="btomic" data-lang="en" defer>'
            "</script></body></html>"
        )
        page.goto(f"{shop.url}/")
        widget = Widget(page)
        expect(widget.launcher).to_have_attribute("aria-label", "Chat with the BTOMIC assistant")
        widget.open()
        assert "echo: Hello" in joined_text(widget.send("Hello"))
        metadata = dict(fake_rasa.messages()[-1]["metadata"])
        assert re.fullmatch(r"web:m[0-9a-f]{32}:0", metadata.pop("message_id"))
        assert metadata == {
            "store": "btomic",
            "ui_language": "en",
            "channel": "web",
            "client": "127.0.0.1",
        }
    finally:
        shop.stop()


# --- failures the customer can see ---------------------------------------------------------


def test_rasa_down_shows_a_french_error_and_keeps_the_typed_text(
    start_gateway: StartGateway, dead_rasa_url: str, page: Page
) -> None:
    # Sent again for 2 s (WIDGET_RESEND_FOR_S), "reconnecting" meanwhile, then the error.
    gateway = start_gateway(rasa_url=dead_rasa_url, widget_resend_for_s=2)
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    widget.submit("Livrez-vous en Suisse ?")
    expect(widget.error).to_be_visible()
    expect(widget.error).to_contain_text("L'assistant est momentanément indisponible")
    expect(widget.input).to_have_value("Livrez-vous en Suisse ?")
    expect(widget.user_messages).to_have_count(0)  # not sent, so not shown as sent
    expect(widget.error.get_by_role("button", name="Réessayer")).to_be_visible()


def test_a_retry_sends_the_kept_text_once_the_assistant_answers_again(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    fake_rasa.delay_s = 5.0
    gateway = start_gateway(rasa_timeout_s=0.5)
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    widget.submit("Où est mon colis ?")
    expect(widget.error).to_contain_text("met trop de temps à répondre")
    expect(widget.input).to_have_value("Où est mon colis ?")

    fake_rasa.delay_s = 0.0
    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("")
    expect(widget.bot_messages.last).to_contain_text("echo: Où est mon colis ?")


def test_a_message_the_assistant_could_not_process_is_kept_and_resent_with_its_id(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    """An action of the turn failed (bot/rasa_ext/action_failures.py): the widget says so, keeps
    the text, does not resend by itself, and the customer's resend carries the same id."""
    answers = iter(
        [
            [
                {"text": "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le."},
                {"custom": {"turn_failed": "action_human_handoff"}},
            ]
        ]
    )

    def failing_once(request: dict[str, Any]) -> list[dict[str, Any]]:
        return next(answers, None) or [{"text": f"echo: {request['message']}"}]

    fake_rasa.reply = failing_once
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    widget.submit("Je veux parler à un conseiller")
    expect(widget.error).to_contain_text(
        "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le, s'il vous plaît."
    )
    expect(widget.input).to_have_value("Je veux parler à un conseiller")
    expect(widget.user_messages).to_have_count(0)
    assert len(fake_rasa.messages()) == 1  # not resent by the widget itself

    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.bot_messages.last).to_contain_text("echo: Je veux parler à un conseiller")
    first, again = (m["metadata"]["message_id"] for m in fake_rasa.messages())
    assert first == again  # Rasa processes a failed turn's id again


def test_too_many_messages_and_too_long_messages_are_explained(
    start_gateway: StartGateway, page: Page
) -> None:
    # Refused messages count too (a flood of junk is still a flood): 2 = the long one + "short".
    gateway = start_gateway(chat_rate_limit_messages=2, max_message_chars=20)
    widget = open_widget(page, f"{gateway.url}/shops/om-system?lang=en")

    widget.submit("This message is far longer than twenty characters")
    expect(widget.error).to_contain_text("too long (20 characters at most)")
    expect(widget.input).to_have_value("This message is far longer than twenty characters")

    widget.send("short one")
    widget.input.fill("another")
    with page.expect_response(
        lambda response: response.url.endswith("/api/chat") and response.status == 429
    ) as refused:
        widget.input.press("Enter")
    widget.wait_idle()
    # The wait the gateway computed (a full token takes 30 s to come back at 2 a minute,
    # minus the time since the refusals began): the widget shows exactly that number.
    retry_after = int(refused.value.headers["retry-after"])
    assert 1 <= retry_after <= 30
    expect(widget.error).to_contain_text(f"Please wait {retry_after} s")
    expect(widget.input).to_have_value("another")


def test_gateway_down_keeps_the_typed_text(start_gateway: StartGateway, page: Page) -> None:
    gateway = start_gateway(widget_resend_for_s=2)
    widget = open_widget(page, f"{gateway.url}/shops/btomic")
    gateway.stop()
    widget.submit("Quelle est la garantie ?")
    expect(widget.error).to_contain_text("momentanément indisponible")
    expect(widget.input).to_have_value("Quelle est la garantie ?")


# --- resends: the gateway or Rasa restarting during a turn ---------------------------------


def chat_requests(page: Page, refuse: Callable[[int], bool]) -> list[dict[str, Any]]:
    """Routes the page's chat requests: request n (from 0) is refused as by a gateway that is
    down when `refuse(n)`, sent on otherwise. Returns the bodies sent, in order."""
    bodies: list[dict[str, Any]] = []

    def handle(route: Route) -> None:
        bodies.append(route.request.post_data_json)
        if refuse(len(bodies) - 1):
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route("**/api/chat", handle)
    return bodies


def test_a_gateway_restarting_shows_reconnecting_then_the_one_answer(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    down = True
    bodies = chat_requests(page, lambda _n: down)
    widget.input.fill("Livrez-vous en Suisse ?")
    widget.input.press("Enter")
    # Refused: the customer is told the widget reconnects, not shown an error.
    reconnecting = widget.host.locator(".reconnecting")
    expect(reconnecting).to_be_visible(timeout=RASA_ANSWER_TIMEOUT_MS)
    expect(reconnecting).to_contain_text("reconnexion en cours")
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("Livrez-vous en Suisse ?")
    down = False  # the gateway is back
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(reconnecting).to_be_hidden()
    expect(widget.user_messages).to_have_count(1)
    expect(widget.bot_messages).to_have_count(1)
    expect(widget.bot_messages.last).to_contain_text("echo: Livrez-vous en Suisse ?")
    expect(widget.input).to_have_value("")
    # Every try carried the same client message id; the assistant got the message once.
    assert len(bodies) >= 2
    ids = {body["client_message_id"] for body in bodies}
    assert len(ids) == 1 and re.fullmatch(r"m[0-9a-f]{32}", ids.pop())
    assert len(fake_rasa.messages()) == 1


def test_a_gateway_down_too_long_gives_the_error_and_keeps_the_id_for_the_retry(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    gateway = start_gateway(widget_resend_for_s=1.5)
    widget = open_widget(page, f"{gateway.url}/shops/om-system?lang=en")
    down = True
    bodies = chat_requests(page, lambda _n: down)
    widget.submit("Do you ship to Switzerland?")
    expect(widget.error).to_contain_text("The assistant is unavailable right now")
    expect(widget.host.locator(".reconnecting")).to_be_hidden()
    expect(widget.input).to_have_value("Do you ship to Switzerland?")  # nothing lost
    expect(widget.user_messages).to_have_count(0)
    tries = len(bodies)
    assert tries >= 2
    down = False
    widget.error.get_by_role("button", name="Try again").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.bot_messages.last).to_contain_text("echo: Do you ship to Switzerland?")
    # The retry is the same message: the same id, in case the assistant did get it.
    assert {body["client_message_id"] for body in bodies} == {bodies[0]["client_message_id"]}
    assert len(bodies) == tries + 1 and len(fake_rasa.messages()) == 1


@pytest.mark.e2e
def test_a_turn_whose_answer_the_gateway_lost_is_answered_once_on_the_resend(
    live_stack: LiveStack, page: Page
) -> None:
    """The gateway ran the turn with the real Rasa, then died before its answer reached the
    browser (the connection reset): the widget resends it with the same id and shows the
    answer once; Rasa's tracker holds the message once (its idempotency, keyed by the id)."""
    widget = open_widget(page, f"{live_stack.gateway_url}/shops/om-system")
    bodies: list[dict[str, Any]] = []
    lost: list[int] = []

    def handle(route: Route) -> None:
        bodies.append(route.request.post_data_json)
        if len(bodies) == 1:
            answered = route.fetch(timeout=RASA_ANSWER_TIMEOUT_MS)  # the whole turn runs
            lost.append(answered.status)
            route.abort("connectionreset")  # ...and its answer never arrives
        else:
            route.continue_()

    page.route("**/api/chat", handle)
    bubbles = widget.send("Livrez-vous en Suisse ?")
    assert lost == [200] and len(bodies) == 2
    assert bodies[0]["client_message_id"] == bodies[1]["client_message_id"]
    assert "Suisse" in joined_text(bubbles), joined_text(bubbles)
    expect(widget.user_messages).to_have_count(1)
    sender = f"web-om-system-{stored_sender_id(page)}"
    tracker = httpx.get(
        f"{live_stack.rasa_url}/conversations/{sender}/tracker",
        params=live_stack.token_param,
        timeout=30,
    ).json()
    users = [e for e in tracker["events"] if e["event"] == "user"]
    bots = [e for e in tracker["events"] if e["event"] == "bot"]
    assert [e["text"] for e in users] == ["Livrez-vous en Suisse ?"]  # one turn, not two
    assert len(bubbles) == len(bots)  # the answers shown are the turn's, once


@pytest.fixture(scope="module")
def cutting_stack(
    trained_model: Path, demo_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveStack, CuttingActionProxy]]:
    """A real stack of its own whose Rasa calls the action server through a proxy that can cut
    a call (the shared one must not lose a call of another test)."""
    with running_stack_behind_cutting_proxy(
        tmp_path_factory.mktemp("cutting-stack"),
        model=trained_model,
        database_url=demo_database_url,
    ) as stack_and_proxy:
        yield stack_and_proxy


NOT_PROCESSED_FR = (
    "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le, s'il vous plaît."
)
TWO_REQUESTS = "Livrez-vous en Suisse ? Où en est ma commande OM-104233 ?"


def bot_texts(widget: Widget) -> list[str]:
    """The bot bubbles' texts as the customer reads them (with the screen-reader label)."""
    return [widget.bot_messages.nth(i).inner_text() for i in range(widget.bot_messages.count())]


def bubble_text(inner_text: str) -> str:
    """A bot bubble's text without its screen-reader label, spaces collapsed."""
    label, _, text = inner_text.partition("\n")
    assert label.startswith("Assistant"), inner_text
    return " ".join(text.split())


def answered_texts(events: list[dict[str, Any]]) -> list[str]:
    """The bot's texts of each turn in a tracker's events, leaving out a turn answered "send it
    again" (action_failures' notice: not processed, its answers not shown)."""
    turns: list[list[str]] = []
    for event in events:
        if event["event"] == "user":
            turns.append([])
        elif event["event"] == "bot" and event.get("text") and turns:
            turns[-1].append(" ".join(event["text"].split()))
    return [text for turn in turns if not any("renvoyez-le" in t for t in turn) for text in turn]


def reloaded_with_unsent(page: Page, text: str, error: str) -> Widget:
    """Reloads the page: the widget, open as it was, gives the unsent message's ``text`` back
    in the input with the ``error`` the customer saw and its "Try again" button."""
    page.reload()
    widget = Widget(page)
    expect(widget.panel).to_be_visible()
    expect(widget.input).to_have_value(text)
    expect(widget.error).to_contain_text(error)
    expect(widget.error.get_by_role("button", name="Réessayer")).to_be_visible()
    return widget


def send_two_requests_whose_second_is_cut(
    stack: LiveStack, proxy: CuttingActionProxy, page: Page
) -> tuple[list[dict[str, Any]], list[str]]:
    """The customer sends TWO_REQUESTS (cut into two parts by the gateway,
    bot/api/several_requests.py) while the second part's action with effects (the order
    lookup's proof check) is cut mid-call, so that part was not processed
    (bot/rasa_ext/action_failures.py): the first part's answer is shown at once, the customer
    asked to send the message again (text kept). Returns the chat requests' bodies (routed)
    and the answers shown."""
    widget = open_widget(page, f"{stack.gateway_url}/shops/om-system")
    proxy.cut = "validate_order_lookup_form"
    bodies = chat_requests(page, lambda _n: False)
    widget.submit(TWO_REQUESTS)
    assert proxy.cuts[-1:] == ["validate_order_lookup_form"] and proxy.cut is None, proxy.calls
    expect(widget.error).to_contain_text(NOT_PROCESSED_FR)
    expect(widget.input).to_have_value(TWO_REQUESTS)  # kept for the resend
    expect(widget.user_messages).to_have_count(1)  # the message: partly answered
    first = bot_texts(widget)
    assert first and "Oui, nous livrons en Suisse" in "\n".join(first), first
    assert "renvoyez-le" not in "\n".join(first)  # the notice is the error, not an answer
    return bodies, first


def resend_runs_the_cut_part_only(
    stack: LiveStack,
    proxy: CuttingActionProxy,
    page: Page,
    bodies: list[dict[str, Any]],
    first: list[str],
) -> list[str]:
    """The customer's "Try again": the same id, so Rasa answers the first part with its stored
    answers and runs the cut second part again; the first answers stay as they were, once,
    then the second part's (the lookup asks for a proof of the order). Returns the answers."""
    checks = proxy.calls.count("validate_order_lookup_form")
    widget = Widget(page)
    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("")
    expect(widget.user_messages).to_have_count(1)
    expect(widget.user_messages.first).to_contain_text(TWO_REQUESTS)
    shown = bot_texts(widget)
    assert shown[: len(first)] == first, shown
    later = "\n".join(shown[len(first) :])
    assert later and "Suisse" not in later, later
    assert "\n".join(shown).count("nous livrons en Suisse") == 1, shown
    assert len(bodies) == 2 and bodies[0]["client_message_id"] == bodies[1]["client_message_id"]
    # Rasa: the first part stored once, the second twice (its cut turn, then the resend, which
    # ran it: the proof check called again, which it never is by Rasa itself).
    sender = f"web-om-system-{stored_sender_id(page)}"
    events = stack.tracker(sender)["events"]
    users = [e for e in events if e["event"] == "user"]
    cid = bodies[0]["client_message_id"]
    ids = [e["metadata"]["message_id"] for e in users]
    assert ids == [f"web:{cid}:0", f"web:{cid}:1", f"web:{cid}:1"], ids
    assert [e["text"] for e in users] == [
        "Livrez-vous en Suisse ?",
        "Où en est ma commande OM-104233 ?",
        "Où en est ma commande OM-104233 ?",
    ]
    assert proxy.calls.count("validate_order_lookup_form") == checks + 1, proxy.calls
    # Each answer once, in order: the bubbles are the answers of the turns Rasa stored but the
    # cut one (what it said before its notice was not shown: the gateway answered "resend").
    assert [bubble_text(b) for b in shown] == answered_texts(events), shown
    return shown


@pytest.mark.e2e
def test_a_message_in_two_parts_whose_second_was_cut_shows_the_first_answer_once(
    cutting_stack: tuple[LiveStack, CuttingActionProxy], page: Page
) -> None:
    """Two requests in one message; the second part's proof check is cut. The customer reads
    the first part's answer at once, is asked to send the message again (text kept); the
    resend (same id) runs the second part only: the first part's answer is not shown again,
    nor its turn run or stored twice."""
    stack, proxy = cutting_stack
    bodies, first = send_two_requests_whose_second_is_cut(stack, proxy, page)
    resend_runs_the_cut_part_only(stack, proxy, page, bodies, first)


@pytest.mark.e2e
def test_a_partly_answered_message_resent_after_a_reload_is_processed_and_shown_once(
    cutting_stack: tuple[LiveStack, CuttingActionProxy], page: Page
) -> None:
    """As above, with a reload between the partial answer and the resend: the reloaded page
    shows the message and the first part's answer, the text back in the input with "send it
    again"; the resend keeps the message's id, so the first part is processed once and the
    customer's message and each answer are shown once, after another reload too. Before the
    message was kept with the conversation, the reload lost its text and id: retyped, it was
    a new message (shown twice, sent whole to Rasa under a new id)."""
    stack, proxy = cutting_stack
    bodies, first = send_two_requests_whose_second_is_cut(stack, proxy, page)

    widget = reloaded_with_unsent(page, TWO_REQUESTS, NOT_PROCESSED_FR)
    expect(widget.user_messages).to_have_count(1)
    assert bot_texts(widget) == first
    assert len(bodies) == 1  # not resent by the widget itself

    shown = resend_runs_the_cut_part_only(stack, proxy, page, bodies, first)

    page.reload()
    widget = Widget(page)
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("")
    expect(widget.user_messages).to_have_count(1)
    assert bot_texts(widget) == shown
    assert stored_entry(page)["pending"] is None


# --- a reload between a try and its resend: the message kept with the conversation ----------

STORAGE_KEY = "shop-support-chat:om-system"


def stored_entry(page: Page) -> dict[str, Any]:
    """The widget's stored conversation of the om-system shop, as the page's localStorage holds
    it."""
    entry: dict[str, Any] = page.evaluate(
        f"() => JSON.parse(localStorage.getItem('{STORAGE_KEY}'))"
    )
    return entry


def store_pending(page: Page, pending: Any) -> None:
    """Writes ``pending`` as the stored conversation's waiting message (what another script of
    the page, an old version or a broken write could leave there)."""
    page.evaluate(
        """([key, pending]) => {
            const entry = JSON.parse(localStorage.getItem(key));
            entry.pending = pending;
            localStorage.setItem(key, JSON.stringify(entry));
        }""",
        [STORAGE_KEY, pending],
    )


def failing_first(count: int) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """A scripted Rasa whose first ``count`` turns failed (an action of the turn failed:
    "send it again", bot/rasa_ext/action_failures.py), then echoes."""
    failures = [0]

    def reply(request: dict[str, Any]) -> list[dict[str, Any]]:
        if failures[0] < count:
            failures[0] += 1
            return [
                {"text": "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le."},
                {"custom": {"turn_failed": "action_human_handoff"}},
            ]
        return [{"text": f"echo: {request['message']}"}]

    return reply


def message_ids(fake_rasa: FakeRasa) -> list[str]:
    return [m["metadata"]["message_id"] for m in fake_rasa.messages()]


def test_a_message_not_processed_is_kept_across_reloads_and_pages_and_resent_with_its_id(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    """The turn failed, the customer reloads, then goes to another page of the shop: the text is
    back in the input with the same "send it again" error each time, nothing is resent by the
    widget itself, and the customer's resend carries the message's first id."""
    fake_rasa.reply = failing_first(1)
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    text = "Je veux parler à un conseiller"
    widget.submit(text)
    expect(widget.error).to_contain_text(NOT_PROCESSED_FR)

    widget = reloaded_with_unsent(page, text, NOT_PROCESSED_FR)
    expect(widget.user_messages).to_have_count(0)  # nothing of it was processed

    page.goto(f"{gateway.url}/shops/om-system?lang=en")
    widget = Widget(page)
    expect(widget.input).to_have_value(text)
    expect(widget.error).to_contain_text(
        "I couldn't process that message just now: please send it again."
    )
    assert len(fake_rasa.messages()) == 1  # not resent by the widget itself

    widget.error.get_by_role("button", name="Try again").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("")
    expect(widget.user_messages).to_have_count(1)
    expect(widget.bot_messages).to_have_count(1)
    expect(widget.bot_messages.last).to_contain_text(f"echo: {text}")
    first, again = message_ids(fake_rasa)
    assert first == again and re.fullmatch(r"web:m[0-9a-f]{32}:0", first), (first, again)
    assert stored_entry(page)["pending"] is None  # answered: forgotten

    page.reload()
    widget = Widget(page)
    expect(widget.user_messages).to_have_count(1)
    expect(widget.bot_messages).to_have_count(1)
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("")


def test_a_kept_message_older_than_rasas_session_is_sent_again_as_a_new_message(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    """The id is kept for 60 min after the message's latest try (Rasa's session,
    domain.yml's session_expiration_time), in memory as in storage; later, sending the text
    again is a new message (a new id), its text still in the input (nothing typed is lost)."""
    fake_rasa.reply = failing_first(2)
    gateway = start_gateway()
    page.clock.install()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    text = "Où est mon colis ?"
    widget.submit(text)
    expect(widget.error).to_contain_text(NOT_PROCESSED_FR)

    # In memory: the page left open for more than an hour, then "Try again".
    page.clock.fast_forward("01:01:00")
    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_contain_text(NOT_PROCESSED_FR)  # the second failed turn
    first, second = message_ids(fake_rasa)
    assert first != second

    # Stored: its latest try 61 min ago, then a reload.
    store_pending(page, {**stored_entry(page)["pending"], "at": 1})
    assert stored_entry(page)["pending"]["at"] == 1
    page.reload()
    widget = Widget(page)
    expect(widget.input).to_have_value(text)  # a draft now
    expect(widget.error).to_be_hidden()
    assert stored_entry(page)["pending"] is None
    widget.input.press("Enter")
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.user_messages).to_have_count(1)
    expect(widget.bot_messages.last).to_contain_text(f"echo: {text}")
    third = message_ids(fake_rasa)[-1]
    assert third not in (first, second) and re.fullmatch(r"web:m[0-9a-f]{32}:0", third)


VALID_PENDING: dict[str, Any] = {
    "text": "Le message en attente",
    "shown": "Le message en attente",
    "fromInput": True,
    "signature": None,
    "id": "abcdefghijklmnop",
    "shownParts": [],
    "at": 0,  # set to the page's now
    "kind": "not_processed",
    "details": {},
}

CORRUPT_PENDING: list[Any] = [
    "not an object",
    42,
    True,
    [VALID_PENDING],
    {},
    {**VALID_PENDING, "id": "bad id with spaces"},
    {**VALID_PENDING, "id": "short"},
    {**VALID_PENDING, "id": "m" * 65},
    {**VALID_PENDING, "id": ["m" * 32]},
    {**VALID_PENDING, "id": "web:m0123456789abcdef:0"},
    {**VALID_PENDING, "text": "x" * 20_001},
    {**VALID_PENDING, "text": "   "},
    {**VALID_PENDING, "text": 12345},
    {**VALID_PENDING, "shown": None},
    {**VALID_PENDING, "fromInput": "yes"},
    {**VALID_PENDING, "signature": "s" * 513},
    {**VALID_PENDING, "shownParts": "0"},
    {**VALID_PENDING, "shownParts": [-1]},
    {**VALID_PENDING, "shownParts": [1.5]},
    {**VALID_PENDING, "shownParts": ["0"]},
    {**VALID_PENDING, "shownParts": list(range(1000))},
    {**VALID_PENDING, "at": "now"},
    {**VALID_PENDING, "at": None},
    {**VALID_PENDING, "at": 9_999_999_999_999},  # the year 2286: a clock or a writer gone wrong
    {**VALID_PENDING, "kind": "<img src=x onerror=alert(1)>"},
    {**VALID_PENDING, "kind": None},
]


def test_a_corrupted_stored_message_is_dropped_and_the_conversation_kept(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    """What is read back from localStorage is untrusted: a stored waiting message of the wrong
    shape, id format or size is dropped (no script error: the page fixture fails on one), the
    conversation stays, and the next message is sent with a fresh id. A well-formed one is
    restored as text."""
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    widget.send("premier message")
    sender = stored_sender_id(page)

    for bad in CORRUPT_PENDING:
        if isinstance(bad, dict) and bad.get("at") == 0:
            bad = {**bad, "at": page.evaluate("() => Date.now()")}
        store_pending(page, bad)
        page.reload()
        widget = Widget(page)
        expect(widget.panel).to_be_visible()
        expect(widget.user_messages).to_have_count(1)
        expect(widget.bot_messages.last).to_have_text("Assistant : echo: premier message")
        expect(widget.error).to_be_hidden()
        expect(widget.input).to_have_value("")
        assert stored_sender_id(page) == sender, bad

    widget.send("deuxième message")
    assert re.fullmatch(r"web:m[0-9a-f]{32}:0", message_ids(fake_rasa)[-1])
    assert stored_entry(page)["pending"] is None  # the bad entry is gone from storage

    # Well-formed, with markup in its text: restored as text, resent with its id.
    hostile = '<img src=x onerror="window.__pwned = 1">'
    now = page.evaluate("() => Date.now()")
    store_pending(page, {**VALID_PENDING, "text": hostile, "shown": hostile, "at": now})
    page.reload()
    widget = Widget(page)
    expect(widget.input).to_have_value(hostile)
    expect(widget.error).to_contain_text(NOT_PROCESSED_FR)
    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.user_messages.last).to_have_text(f"Vous : {hostile}")
    expect(widget.user_messages.last.locator("img")).to_have_count(0)
    assert message_ids(fake_rasa)[-1] == "web:abcdefghijklmnop:0"
    assert page.evaluate("() => window.__pwned") is None
    expect(widget.user_messages).to_have_count(3)


def test_a_message_whose_answer_had_not_come_when_the_page_was_left_is_resent_with_its_id(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    """The customer reloads while the assistant is still answering: the message was kept when
    its try started, so the reloaded page gives its text back with "the page was left...",
    and the resend carries the same id (Rasa answers an id it processed with its stored
    answers)."""
    fake_rasa.delay_s = 3.0
    gateway = start_gateway()
    widget = open_widget(page, f"{gateway.url}/shops/om-system")
    text = "Où est mon colis ?"
    widget.input.fill(text)
    widget.input.press("Enter")
    deadline = time.monotonic() + 30
    while not fake_rasa.messages():  # the assistant has it, its answer not yet sent
        assert time.monotonic() < deadline, "the message never reached the assistant"
        time.sleep(0.05)
    widget = reloaded_with_unsent(
        page,
        text,
        "La page a été quittée avant la réponse de l'assistant\u00a0: votre message n'a "
        "peut-être pas été traité. Renvoyez-le, s'il vous plaît.",
    )
    expect(widget.user_messages).to_have_count(0)

    fake_rasa.delay_s = 0.0
    widget.error.get_by_role("button", name="Réessayer").click()
    widget.wait_idle()
    expect(widget.error).to_be_hidden()
    expect(widget.input).to_have_value("")
    expect(widget.user_messages).to_have_count(1)
    expect(widget.bot_messages.last).to_contain_text(f"echo: {text}")
    first, again = message_ids(fake_rasa)
    assert first == again, (first, again)
    assert stored_entry(page)["pending"] is None


def test_a_message_answered_in_another_tab_is_not_left_to_resend_in_this_one(
    start_gateway: StartGateway, fake_rasa: FakeRasa, page: Page
) -> None:
    """A second tab of the shop opened while the first waits for its answer shows that
    message as left unsent (the stored state); once the first tab has its answer, the second
    shows the message and its answer once and has nothing left to resend."""
    fake_rasa.delay_s = 6.0
    gateway = start_gateway(rasa_timeout_s=30.0)
    first = open_widget(page, f"{gateway.url}/shops/om-system")
    text = "Où est mon colis ?"
    first.input.fill(text)
    first.input.press("Enter")
    other = page.context.new_page()
    second = open_widget(other, f"{gateway.url}/shops/om-system")
    expect(second.input).to_have_value(text)
    expect(second.error).to_contain_text("La page a été quittée")

    first.wait_idle()
    expect(first.bot_messages.last).to_contain_text(f"echo: {text}")
    expect(second.error).to_be_hidden()
    expect(second.input).to_have_value("")
    expect(second.user_messages).to_have_count(1)
    expect(second.bot_messages).to_have_count(1)
    expect(second.bot_messages.last).to_contain_text(f"echo: {text}")
    assert len(fake_rasa.messages()) == 1
    other.close()
