"""The demo pages: an index and one shop page per store, each embedding the widget."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.api.errors import ApiError
from bot.api.pages import (
    DemoShop,
    demo_shop,
    demo_shops,
    render_index_page,
    render_shop_page,
    theme_css,
)
from bot.i18n import normalise_language

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """Links to the demo shops and the embed snippet."""
    origin = str(request.base_url).rstrip("/")
    return HTMLResponse(render_index_page(gateway_origin=origin))


def _shop(store: str) -> DemoShop:
    shop = demo_shop(store)
    if shop is None:
        stores = sorted(page.store_id for page in demo_shops())
        raise ApiError(404, "unknown_store", stores=stores)
    return shop


@router.get("/shops/{store}", response_class=HTMLResponse)
def shop_page(store: str, lang: str = "fr") -> HTMLResponse:
    """A demo shop page in French, or in English with `?lang=en`."""
    return HTMLResponse(render_shop_page(_shop(store), normalise_language(lang)))


@router.get("/shops/{store}/theme.css")
def shop_theme(store: str) -> Response:
    """The demo shop page's colours (the `theme` of its demo.yml), as CSS variables."""
    return Response(
        theme_css(_shop(store)),
        media_type="text/css",
        headers={"Cache-Control": "no-cache"},
    )
