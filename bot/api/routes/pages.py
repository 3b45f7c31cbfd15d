"""The demo pages: an index and one shop page per store, each embedding the widget."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.api.errors import ApiError
from bot.api.pages import DEMO_SHOPS, render_index_page, render_shop_page
from bot.i18n import normalise_language

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """Links to the demo shops and the embed snippet."""
    origin = str(request.base_url).rstrip("/")
    return HTMLResponse(render_index_page(gateway_origin=origin))


@router.get("/shops/{store}", response_class=HTMLResponse)
def shop_page(store: str, lang: str = "fr") -> HTMLResponse:
    """A demo shop page in French, or in English with `?lang=en`."""
    shop = DEMO_SHOPS.get(store)
    if shop is None:
        raise ApiError(404, "unknown_store", stores=sorted(DEMO_SHOPS))
    return HTMLResponse(render_shop_page(shop, normalise_language(lang)))
