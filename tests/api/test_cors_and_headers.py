"""Who may call the gateway from a browser, and the headers that protect its pages."""

from __future__ import annotations

import pytest

from tests.api.conftest import MakeClient
from tests.api.test_chat import chat_body

SHOP = "https://shop.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


def test_the_default_origins_are_the_gateways_own(make_client: MakeClient) -> None:
    client = make_client()
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000"):
        response = client.options("/api/chat", headers={"Origin": origin, **PREFLIGHT})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin


def test_a_configured_shop_origin_may_call_the_chat(make_client: MakeClient) -> None:
    client = make_client(cors_origins=f" {SHOP}/ , https://other.example ")
    preflight = client.options("/api/chat", headers={"Origin": SHOP, **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "POST" in preflight.headers["access-control-allow-methods"]

    response = client.post("/api/chat", json=chat_body(), headers={"Origin": SHOP})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP


def test_errors_carry_cors_headers_so_the_widget_can_read_them(
    make_client: MakeClient, dead_rasa_url: str
) -> None:
    client = make_client(rasa_url=dead_rasa_url, cors_origins=SHOP, chat_rate_limit_messages=1)
    unavailable = client.post("/api/chat", json=chat_body(), headers={"Origin": SHOP})
    assert unavailable.status_code == 503
    assert unavailable.headers["access-control-allow-origin"] == SHOP
    limited = client.post("/api/chat", json=chat_body(), headers={"Origin": SHOP})
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == SHOP
    assert "retry-after" in limited.headers["access-control-expose-headers"].lower()
    too_long = client.post(
        "/api/chat",
        content=b"x" * 100_000,
        headers={"Origin": SHOP, "Content-Type": "application/json"},
    )
    assert too_long.status_code == 413
    assert too_long.headers["access-control-allow-origin"] == SHOP


def test_other_origins_are_refused(make_client: MakeClient) -> None:
    client = make_client(cors_origins=SHOP)
    evil = "https://evil.example"
    preflight = client.options("/api/chat", headers={"Origin": evil, **PREFLIGHT})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = client.post("/api/chat", json=chat_body(), headers={"Origin": evil})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/", "/shops/om-system", "/shops/btomic?lang=en"])
def test_html_pages_have_security_headers(make_client: MakeClient, path: str) -> None:
    response = make_client().get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_json_answers_are_not_sniffed_and_not_given_a_page_policy(make_client: MakeClient) -> None:
    response = make_client().get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers
