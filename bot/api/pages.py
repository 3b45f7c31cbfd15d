"""The demo shop pages' content and HTML rendering (no template engine needed).

The pages exist to show the widget embedded the way a shop would embed it: one `<script>`
tag. Their catalogue is illustrative; the products match the demo orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from html import escape
from string import Template

from bot.api.paths import TEMPLATES_DIR
from bot.i18n import Lang, format_money
from bot.typography import typeset


@dataclass(frozen=True)
class Product:
    """One product card."""

    name: str
    blurb: dict[Lang, str]
    price: Decimal
    image: str  # file name under static/img


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


DEMO_SHOPS: dict[str, DemoShop] = {
    "om-system": DemoShop(
        store_id="om-system",
        brand="OM SYSTEM",
        title={"fr": "E-Boutique OM SYSTEM", "en": "OM SYSTEM e-shop"},
        nav={
            "fr": ("Appareils photo", "Objectifs", "Accessoires", "Offres", "Assistance"),
            "en": ("Cameras", "Lenses", "Accessories", "Offers", "Support"),
        },
        hero_title={
            "fr": "OM-1 Mark II : le pro qui tient dans la main",
            "en": "OM-1 Mark II: pro performance that fits in your hand",
        },
        hero_text={
            "fr": "Hybrides et objectifs M.Zuiko, tropicalisés pour la nature et le voyage.",
            "en": "Mirrorless bodies and M.Zuiko lenses, weather-sealed for nature and travel.",
        },
        currency="EUR",
        products=(
            Product(
                "OM SYSTEM OM-1 Mark II",
                {
                    "fr": "Boîtier hybride professionnel, capteur empilé 20,4 Mpx, IP53.",
                    "en": "Professional mirrorless body, 20.4 MP stacked sensor, IP53.",
                },
                Decimal("2399.00"),
                "camera.svg",
            ),
            Product(
                "OM SYSTEM OM-5",
                {
                    "fr": "Compact et léger, stabilisation 5 axes, tropicalisé.",
                    "en": "Compact and light, 5-axis stabilisation, weather-sealed.",
                },
                Decimal("1299.00"),
                "camera-compact.svg",
            ),
            Product(
                "M.Zuiko Digital ED 12-45mm F4.0 PRO",
                {
                    "fr": "Zoom standard compact, ouverture constante f/4.",
                    "en": "Compact standard zoom, constant f/4 aperture.",
                },
                Decimal("749.00"),
                "lens.svg",
            ),
            Product(
                "BLX-1",
                {
                    "fr": "Batterie lithium-ion pour OM-1 et OM-1 Mark II.",
                    "en": "Lithium-ion battery for the OM-1 and OM-1 Mark II.",
                },
                Decimal("89.00"),
                "battery.svg",
            ),
        ),
        order_example="OM-104233",
        order_email="marie.dupont@example.fr",
    ),
    "btomic": DemoShop(
        store_id="btomic",
        brand="BTOMIC",
        title={"fr": "BTOMIC — Montres", "en": "BTOMIC — Watches"},
        nav={
            "fr": ("Montres", "Séries", "Bracelets", "Garantie", "Contact"),
            "en": ("Watches", "Collections", "Straps", "Warranty", "Contact"),
        },
        hero_title={
            "fr": "Série Énigme : le temps, autrement",
            "en": "The Énigme series: time, told differently",
        },
        hero_text={
            # The FAQ (Expédition 1): free delivery over $50; it names no delivery area.
            "fr": "Livraison offerte pour les commandes supérieures à 50 $ US.",
            "en": "Free delivery on orders over $50.",
        },
        currency="USD",
        products=(
            Product(
                "Série Énigme BA-793",
                {
                    "fr": "Lecture du temps par disques, boîtier acier, verre minéral.",
                    "en": "Disc time display, steel case, mineral glass.",
                },
                Decimal("199.00"),
                "watch.svg",
            ),
            Product(
                "Série Énigme BA-793 Noir",
                {
                    "fr": "La BA-793 en finition noire mate.",
                    "en": "The BA-793 in a matte black finish.",
                },
                Decimal("199.00"),
                "watch-dark.svg",
            ),
            Product(
                "Bracelet cuir 22 mm",
                {
                    "fr": "Cuir pleine fleur, boucle acier, pompes rapides.",
                    "en": "Full-grain leather, steel buckle, quick-release pins.",
                },
                Decimal("39.00"),
                "strap.svg",
            ),
        ),
        order_example="BT-200517",
        order_email="",
    ),
}

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
    links = "\n".join(
        f"""<li class="demo-card demo-{escape(shop.store_id)}">
  <h2>{escape(shop.title["fr"])}</h2>
  <p><a href="/shops/{escape(shop.store_id)}">Version française</a> ·
     <a href="/shops/{escape(shop.store_id)}?lang=en">English version</a></p>
</li>"""
        for shop in DEMO_SHOPS.values()
    )
    snippet = f'<script src="{gateway_origin}/widget.js" data-store="btomic" defer></script>'
    return _template("index.html").substitute(shops=links, snippet=escape(snippet))
