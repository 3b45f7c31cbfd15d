"""The demo shop pages' content and HTML rendering (no template engine needed).

The pages exist to show the widget embedded the way a shop would embed it: one `<script>`
tag. Each shop's page is the ``page:`` section of its folder's ``demo.yml``
(``data/stores/<shop>/demo.yml``, read through the registry, :mod:`bot.shops`): brand,
titles, products, the questions to try and the page's colours. A shop without one has no
demo page. The catalogue is illustrative; the products match the demo orders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from html import escape
from string import Template
from typing import Any

from bot.api.paths import TEMPLATES_DIR
from bot.errors import ConfigurationError
from bot.i18n import LANGUAGES, Lang, format_money
from bot.shops import DEMO_FILE, read_shop_yaml, shop_ids
from bot.typography import typeset


@dataclass(frozen=True)
class Product:
    """One product card."""

    name: str
    blurb: dict[Lang, str]
    price: Decimal
    image: str  # file name under static/img


#: The page's look a ``theme:`` may change: CSS variable of shop.css -> what it may hold.
THEME_VARIABLES: dict[str, str] = {
    "page_background": "--page-bg",
    "header_background": "--header-bg",
    "header_text": "--header-text",
    "hero_from": "--hero-from",
    "hero_to": "--hero-to",
    "hero_text": "--hero-text",
    "card_border": "--card-border",
    "image_background": "--image-bg",
    "accent": "--accent",
    "tips_background": "--tips-bg",
    "logo_letter_spacing": "--logo-spacing",
}
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_LENGTH = re.compile(r"^\d+(?:\.\d+)?em$")


@dataclass(frozen=True)
class DemoShop:
    """One demo shop page; every visible string in French and English."""

    store_id: str
    brand: str
    title: dict[Lang, str]
    nav: dict[Lang, tuple[str, ...]]
    hero_title: dict[Lang, str]
    hero_text: dict[Lang, str]
    currency: str
    products: tuple[Product, ...]
    order_example: str
    order_email: str
    theme: Mapping[str, str]


def _localised(raw: Any, key: str) -> dict[Lang, str]:
    value = raw[key]
    return {lang: str(value[lang]) for lang in LANGUAGES}


def _theme(raw: Mapping[str, Any]) -> dict[str, str]:
    theme: dict[str, str] = {}
    for key, value in raw.items():
        if key not in THEME_VARIABLES:
            raise ValueError(f"theme: unknown key {key!r} (known: {sorted(THEME_VARIABLES)})")
        text = str(value)
        if not (_COLOUR.match(text) or (key == "logo_letter_spacing" and _LENGTH.match(text))):
            raise ValueError(f"theme: {key} must be #rrggbb (or a length in em), not {text!r}")
        theme[THEME_VARIABLES[key]] = text
    return theme


def demo_shop(store_id: str) -> DemoShop | None:
    """The shop's demo page (``page:`` of its ``demo.yml``); None for no such shop or page.

    Raises:
        ConfigurationError: the section is incomplete or invalid.
    """
    if store_id not in shop_ids():
        return None
    raw = read_shop_yaml(store_id, DEMO_FILE).get("page")
    if raw is None:
        return None
    try:
        return DemoShop(
            store_id=store_id,
            brand=str(raw["brand"]),
            title=_localised(raw, "title"),
            nav={lang: tuple(str(item) for item in raw["nav"][lang]) for lang in LANGUAGES},
            hero_title=_localised(raw, "hero_title"),
            hero_text=_localised(raw, "hero_text"),
            currency=str(raw["currency"]),
            products=tuple(
                Product(
                    name=str(item["name"]),
                    blurb=_localised(item, "blurb"),
                    price=Decimal(str(item["price"])),
                    image=str(item["image"]),
                )
                for item in raw["products"]
            ),
            order_example=str(raw.get("order_example") or ""),
            order_email=str(raw.get("order_email") or ""),
            theme=_theme(raw.get("theme") or {}),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise ConfigurationError(
            f"{store_id}/{DEMO_FILE}: invalid `page` section: {error!r}"
        ) from error


def demo_shops() -> tuple[DemoShop, ...]:
    """The demo pages of every shop that has one, in the registry's order."""
    shops = (demo_shop(store_id) for store_id in shop_ids())
    return tuple(shop for shop in shops if shop is not None)


def theme_css(shop: DemoShop) -> str:
    """The shop page's colours as CSS variables (served beside ``shop.css``)."""
    values = "".join(f" {name}: {value};" for name, value in shop.theme.items())
    return f".shop-{shop.store_id}, .demo-{shop.store_id} {{{values} }}\n"


_UI: dict[Lang, dict[str, str]] = {
    "fr": {
        "add_to_cart": "Ajouter au panier",
        "other_language": "English",
        "demo_note": (
            "Boutique de démonstration de l'assistant : les produits et les prix sont des "
            "exemples et aucune commande n'est passée. Ouvrez le chat en bas à droite."
        ),
        "try": "À essayer dans le chat",
        "q_payment": "Quels moyens de paiement acceptez-vous ?",
        "q_delivery": "Combien de temps prend la livraison ?",
        "q_order": "Où en est ma commande {order} ?",
        "q_email": "puis l'adresse e-mail de la commande : {email}",
        "products": "Nos produits",
        "home": "Toutes les démos",
    },
    "en": {
        "add_to_cart": "Add to basket",
        "other_language": "Français",
        "demo_note": (
            "The assistant's demo shop: products and prices are examples and no order is "
            "placed. Open the chat at the bottom right."
        ),
        "try": "Try in the chat",
        "q_payment": "Which payment methods do you accept?",
        "q_delivery": "How long does delivery take?",
        "q_order": "Where is my order {order}?",
        "q_email": "then the order's e-mail address: {email}",
        "products": "Our products",
        "home": "All demos",
    },
}


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def render_shop_page(shop: DemoShop, lang: Lang) -> str:
    """The shop's demo page in `lang`, with the widget's one-tag embed.

    Every visible French string is set with French typography (no line break before ":" or
    "?", inside « », before a currency sign).
    """
    ui = {key: typeset(text, lang) for key, text in _UI[lang].items()}

    def text(value: str) -> str:
        return escape(typeset(value, lang))

    nav = "\n".join(f'<li><a href="#">{text(item)}</a></li>' for item in shop.nav[lang])
    cards = "\n".join(
        f"""<li class="product">
  <img src="/static/img/{escape(p.image)}" alt="" width="240" height="180">
  <h3>{escape(p.name)}</h3>
  <p>{text(p.blurb[lang])}</p>
  <p class="price">{escape(format_money(p.price, shop.currency, lang))}</p>
  <button type="button">{escape(ui["add_to_cart"])}</button>
</li>"""
        for p in shop.products
    )
    questions = [ui["q_payment"], ui["q_delivery"], ui["q_order"].format(order=shop.order_example)]
    opening, closing = ("«\u202f", "\u202f»") if lang == "fr" else ("“", "”")
    tips = "\n".join(f"<li>{opening}{escape(q)}{closing}</li>" for q in questions)
    if shop.order_email:
        tips += f"\n<li>{escape(ui['q_email'].format(email=shop.order_email))}</li>"
    other_lang_href = f"/shops/{shop.store_id}" + ("" if lang == "en" else "?lang=en")
    return _template("shop.html").substitute(
        lang=lang,
        store=escape(shop.store_id),
        title=text(shop.title[lang]),
        brand=escape(shop.brand),
        nav=nav,
        other_lang_href=escape(other_lang_href),
        other_lang_code="fr" if lang == "en" else "en",
        other_language=escape(ui["other_language"]),
        home=escape(ui["home"]),
        hero_title=text(shop.hero_title[lang]),
        hero_text=text(shop.hero_text[lang]),
        products_heading=escape(ui["products"]),
        products=cards,
        try_heading=escape(ui["try"]),
        tips=tips,
        demo_note=escape(ui["demo_note"]),
    )


def render_index_page(*, gateway_origin: str) -> str:
    """The index: links to the demo shops and the embed snippet."""
    shops = demo_shops()
    links = "\n".join(
        f"""<li class="demo-card demo-{escape(shop.store_id)}">
  <h2>{escape(shop.title["fr"])}</h2>
  <p><a href="/shops/{escape(shop.store_id)}">Version française</a> ·
     <a href="/shops/{escape(shop.store_id)}?lang=en">English version</a></p>
</li>"""
        for shop in shops
    )
    example = shops[0].store_id if shops else "<shop>"
    snippet = f'<script src="{gateway_origin}/widget.js" data-store="{example}" defer></script>'
    store_ids = " ou ".join(f"<code>{escape(store_id)}</code>" for store_id in shop_ids())
    themes = "\n".join(
        f'<link rel="stylesheet" href="/shops/{escape(shop.store_id)}/theme.css">' for shop in shops
    )
    return _template("index.html").substitute(
        shops=links, snippet=escape(snippet), store_ids=store_ids, themes=themes
    )
