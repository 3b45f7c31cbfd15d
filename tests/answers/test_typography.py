"""French typography in every French text the bot can send (bot/typography.py).

No line may break before ``? ! ; :``, inside ``« »``, in "8 h", before a currency sign or
inside a phone number: U+202F before ``? ! ;`` and inside guillemets, U+00A0 before ``:``
and in the others. Checked on every French text, wherever it lives:

* every response of ``domain.yml`` for every shop and language, as the answer service renders
  it from the templates (``data/stores/<shop>/texts.yml``, ``data/stores/_common/texts.yml``)
  and the shop's facts;
* every composed answer (the rendered matrix of tests/answers/renders.py);
* the e-mail reply's own sentences (bot/mail/compose.py);
* the chat widget's strings (``bot/api/static/widget.js``);
* the demo shop pages and the index page, as served.

English texts must not carry French spacing.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from bot.answers.library import find_template, response_names
from bot.api.pages import demo_shops, render_index_page, render_shop_page
from bot.api.paths import STATIC_DIR
from bot.mail.compose import compose_body
from bot.mail.parsing import read_mail
from bot.stores import load_store, store_ids
from bot.typography import NBSP, NNBSP, french_typography, typeset, typography_errors
from tests.answers.renders import Matrix, response_text
from tests.mail.helpers import make_mail

# --- the helper --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Que puis-je faire pour vous ?", f"Que puis-je faire pour vous{NNBSP}?"),
        ("Bonjour!", f"Bonjour{NNBSP}!"),
        ("oui ; non", f"oui{NNBSP}; non"),
        ("Attention : ici", f"Attention{NBSP}: ici"),
        ("« Mon compte »", f"«{NNBSP}Mon compte{NNBSP}»"),
        ("de 8 h à 17 h", f"de 8{NBSP}h à 17{NBSP}h"),
        ("50 $ US", f"50{NBSP}${NBSP}US"),
        ("749,00 €", f"749,00{NBSP}€"),
        ("au +1 (347) 459-1491.", f"au +1{NBSP}(347){NBSP}459-1491."),
        # Left alone: a URL's "?" and "://", a time, English in the text.
        ("ici : https://x.fr/a?b=1", f"ici{NBSP}: https://x.fr/a?b=1"),
        ("10:30", "10:30"),
    ],
)
def test_french_typography(text: str, expected: str) -> None:
    assert french_typography(text) == expected
    assert french_typography(expected) == expected  # idempotent
    assert typography_errors(expected) == []
    if text != expected:
        assert typography_errors(text), text


def test_english_is_left_alone() -> None:
    text = "Do you deliver to Japan? Yes: $50, 8 am."
    assert typeset(text, "en") == text
    assert typography_errors(text, "en") == []
    assert typography_errors(f"Hello{NNBSP}?", "en")


# --- the responses, as the answer service renders them ------------------------------------------


def response_texts() -> list[tuple[str, str, str]]:
    """(response for a shop, language, text) of every response x shop x language, rendered."""
    texts = []
    for store in store_ids():
        for name in response_names():
            values = dict.fromkeys(find_template(store, name).arguments, "client@example.fr")
            for lang in ("fr", "en"):
                texts.append((f"{store} {name}", lang, response_text(name, store, lang, **values)))
    return texts


def test_every_response_is_set_for_its_language() -> None:
    texts = response_texts()
    assert sum(lang == "fr" for _, lang, _ in texts) > 100
    # The templates fill in facts: a French phone number gets its no-break spaces.
    assert any("+1\u00a0(347)\u00a0459-1491" in text for _, lang, text in texts if lang == "fr")
    wrong = {
        f"{name} ({lang})": errors
        for name, lang, text in texts
        if (errors := typography_errors(text, lang))
    }
    assert not wrong, wrong


# --- composed answers --------------------------------------------------------------------------


def test_every_composed_answer_is_set_for_its_language(matrix: Matrix) -> None:
    french = [r for r in matrix.all() if r.case.lang == "fr"]
    assert french and any(NNBSP in r.text for r in french)
    wrong = [
        f"[{r.case.label()}] {errors}"
        for r in matrix.all()
        if (errors := typography_errors(r.text, r.case.lang))
    ]
    assert not wrong, f"{len(wrong)} answers, e.g.:\n" + "\n".join(wrong[:10])


# --- the e-mail reply --------------------------------------------------------------------------


@pytest.mark.parametrize("store", store_ids())
def test_the_french_reply_mail_is_set(store: str, matrix: Matrix) -> None:
    answers = [r.text for r in matrix.stores if r.case.store == store and r.case.lang == "fr"]
    parsed = read_mail(make_mail(sender="marie.dupont@example.fr"))
    body = compose_body(
        lang="fr",
        store=load_store(store),
        answers=answers,
        parsed=parsed,
        customer_text="Bonjour, où est ma commande? Merci!",
    )
    ours = "\n".join(line for line in body.split("\n") if not line.startswith(">"))
    assert "a écrit" in ours
    assert typography_errors(ours) == []


# --- the chat widget ---------------------------------------------------------------------------


def widget_strings(lang: str) -> dict[str, str]:
    """The widget's interface strings for ``lang``, as the browser reads them."""
    source = (STATIC_DIR / "widget.js").read_text("utf-8")
    block = re.search(rf"\n    {lang}: \{{(.*?)\n    \}},", source, re.DOTALL)
    assert block, f"no {lang} strings in widget.js"
    strings = {}
    entry = re.compile(r'(\w+):\s*((?:"(?:[^"\\]|\\.)*"\s*\+?\s*)+),')
    for match in entry.finditer(block.group(1)):
        parts = re.findall(r'"(?:[^"\\]|\\.)*"', match.group(2))
        strings[match.group(1)] = "".join(json.loads(part) for part in parts)
    return strings


def test_every_french_widget_string_is_set() -> None:
    strings = widget_strings("fr")
    assert {"welcome", "errUnavailable", "you", "bot"} <= set(strings)
    wrong = {key: errors for key, text in strings.items() if (errors := typography_errors(text))}
    assert not wrong, wrong
    english = widget_strings("en")
    assert set(english) == set(strings)
    assert not {k: e for k, t in english.items() if (e := typography_errors(t, "en"))}


# --- the demo pages ----------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    """The visible French text of a page: not the scripts, the code, or lang="en" parts."""

    SKIPPED = {"script", "style", "code", "pre"}

    def __init__(self, lang: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = [("", lang)]
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        lang = dict(attrs).get("lang") or self.stack[-1][1]
        if tag not in ("br", "img", "meta", "link", "input"):
            self.stack.append((tag, lang))

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        tags = {tag for tag, _ in self.stack}
        if self.stack[-1][1] == "fr" and not tags & self.SKIPPED and data.strip():
            self.texts.append(" ".join(data.replace("\n", " ").split(" ")))


def french_page_texts() -> dict[str, str]:
    pages = {shop.store_id: render_shop_page(shop, "fr") for shop in demo_shops()} | {
        "index": render_index_page(gateway_origin="http://127.0.0.1:8000")
    }
    texts = {}
    for name, html in pages.items():
        parser = _VisibleText("fr")
        parser.feed(html)
        texts[name] = " ".join(parser.texts)
    return texts


def test_the_french_demo_pages_are_set() -> None:
    texts = french_page_texts()
    assert "Attributs" in texts["index"] and "50" in texts["btomic"]
    wrong = {name: errors for name, text in texts.items() if (errors := typography_errors(text))}
    assert not wrong, wrong
