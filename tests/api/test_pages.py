"""The widget script and the demo shop pages."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.shops import DEFAULT_STORES_DIR
from tests.api.conftest import MakeClient

WIDGET_TAG = re.compile(r'<script src="/widget\.js" data-store="([a-z-]+)" defer></script>')


def test_widget_js_is_served_as_javascript(make_client: MakeClient) -> None:
    response = make_client().get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age" in response.headers["cache-control"]
    assert "document.currentScript" in response.text
    # Offline machine, any shop page: nothing fetched from elsewhere, nothing parsed as HTML.
    assert "innerHTML" not in response.text
    assert "cdn" not in response.text.lower()


def test_the_widget_names_the_shops_of_the_registry(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = make_client().get("/widget.js").text
    found = re.search(r"const SHOPS = (\{.*\});", script)
    assert found, "no shops in the widget"
    shops = json.loads(found.group(1))
    assert {shop: entry["name"] for shop, entry in shops.items()} == {
        "btomic": "BTOMIC",
        "om-system": "OM SYSTEM",
    }
    # The colours of each shop's facts.yml, as the widget's CSS variables.
    assert shops["btomic"]["colours"]["--accent"] == "#7a5a1e"
    assert shops["om-system"]["colours"]["--header-bg"] == "#111111"
    # A tag without data-store is for the deployment's default store.
    assert 'trim() || "om-system";' in script
    # A new shop's folder is enough for the widget to name it (in the widget's own colours).
    stores = tmp_path / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, stores)
    shutil.copytree(PROJECT_ROOT / "tests" / "fixtures" / "shops" / "lumen", stores / "lumen")
    monkeypatch.setenv("STORES_DIR", str(stores))
    script = make_client().get("/widget.js").text
    assert '"lumen": {"colours": {}, "name": "LUMEN"}' in script


def test_index_links_to_both_demo_shops(make_client: MakeClient) -> None:
    page = make_client().get("/").text
    for href in (
        "/shops/om-system",
        "/shops/om-system?lang=en",
        "/shops/btomic",
        "/shops/btomic?lang=en",
    ):
        assert f'href="{href}"' in page
    assert "data-store=&quot;btomic&quot;" in page  # the embed snippet, escaped in a <pre>


def test_om_system_page_is_french_with_the_products_and_one_widget_tag(
    make_client: MakeClient,
) -> None:
    page = make_client().get("/shops/om-system").text
    assert '<html lang="fr">' in page
    for product in ("OM-1 Mark II", "OM-5", "M.Zuiko Digital ED 12-45mm F4.0 PRO", "BLX-1"):
        assert product in page
    assert "2\u202f399,00\u00a0€" in page  # no line break inside an amount
    assert WIDGET_TAG.findall(page) == ["om-system"]
    assert 'href="/shops/om-system?lang=en"' in page


def test_btomic_page_in_english(make_client: MakeClient) -> None:
    page = make_client().get("/shops/btomic?lang=en").text
    assert '<html lang="en">' in page
    assert "Série Énigme BA-793" in page
    assert "$199.00" in page
    assert "Add to basket" in page
    assert WIDGET_TAG.findall(page) == ["btomic"]


def test_an_unknown_language_falls_back_to_french(make_client: MakeClient) -> None:
    page = make_client().get("/shops/btomic?lang=<script>").text
    assert '<html lang="fr">' in page
    assert "<script>" not in page.replace('<script src="/widget.js"', "")


def test_an_unknown_shop_is_a_json_404(make_client: MakeClient) -> None:
    response = make_client().get("/shops/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "unknown_store", "stores": ["btomic", "om-system"]}


def test_static_assets_are_served(make_client: MakeClient) -> None:
    client = make_client()
    assert client.get("/static/shop.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/img/watch.svg").headers["content-type"] == "image/svg+xml"
