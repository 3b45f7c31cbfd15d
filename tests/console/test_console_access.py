"""Accounts and access: login, sessions, CSRF, throttling, roles and shops, audit, logout."""

from __future__ import annotations

import datetime as dt

from fastapi.routing import APIRoute
from sqlalchemy import func, select

from bot.console import web
from bot.db.console import AuditEntry
from bot.db.mailbox import Handoff, HandoffChannel
from bot.handoffs import record_handoff
from tests.console.conftest import PASSWORD, ConsoleEnv, MakeConsole, csrf_of, login


def test_pages_need_a_login(make_console: MakeConsole) -> None:
    client = make_console()
    for path in ("/console", "/console/handoffs", "/console/analytics", "/console/conversations"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")


def test_login_sets_a_protected_session_cookie_and_logout_ends_it(
    make_console: MakeConsole,
) -> None:
    client = make_console()
    response = login(client, "admin@shops.example")
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "console_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # local profile: plain http on localhost
    inbox = client.get("/console/handoffs")
    assert inbox.status_code == 200 and "Handoff inbox" in inbox.text

    token = client.cookies.get("console_session")
    logout = client.post("/console/logout", data={"csrf_token": csrf_of(inbox.text)})
    assert logout.status_code == 303
    # The old cookie no longer opens anything, even sent by hand.
    client.cookies.set("console_session", token or "", path="/console")
    assert client.get("/console/handoffs").status_code == 303


def test_wrong_password_and_unknown_account_get_the_same_answer(make_console: MakeConsole) -> None:
    client = make_console()
    wrong = login(client, "admin@shops.example", "not the password")
    unknown = login(client, "nobody@shops.example", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail address or password" in wrong.text
    assert "console_session" not in client.cookies


def test_login_is_throttled_after_repeated_failures(make_console: MakeConsole) -> None:
    client = make_console(console_login_max_failures=3)
    for _ in range(3):
        assert login(client, "admin@shops.example", "guess").status_code == 401
    # Even the right password is refused while throttled.
    refused = login(client, "admin@shops.example", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.text


def test_a_post_without_the_csrf_token_is_refused(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    with console_env.sessions() as session:
        handoff = record_handoff(
            session=session,
            channel=HandoffChannel.WEB,
            conversation_id="web-om-system-abcdefgh1",
            store_id="om-system",
            reason="human_handoff",
        )
        session.commit()
        handoff_id = handoff.id
    client = make_console()
    login(client, "admin@shops.example")
    assert client.post(f"/console/handoffs/{handoff_id}/take", data={}).status_code == 403
    assert (
        client.post(
            f"/console/handoffs/{handoff_id}/take", data={"csrf_token": "forged"}
        ).status_code
        == 403
    )
    page = client.get(f"/console/handoffs/{handoff_id}")
    # Right token, but posted from another site's page.
    foreign = client.post(
        f"/console/handoffs/{handoff_id}/take",
        data={"csrf_token": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    with console_env.sessions() as session:
        assert session.get(Handoff, handoff_id).status == "open"  # type: ignore[union-attr]
    ok = client.post(
        f"/console/handoffs/{handoff_id}/take", data={"csrf_token": csrf_of(page.text)}
    )
    assert ok.status_code == 303
    with console_env.sessions() as session:
        assert session.get(Handoff, handoff_id).status == "assigned"  # type: ignore[union-attr]


def test_a_btomic_agent_never_sees_om_system_data(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    with console_env.sessions() as session:
        om = record_handoff(
            session=session,
            channel=HandoffChannel.EMAIL,
            conversation_id="email-om",
            store_id="om-system",
            reason="complaint",
            excerpt="Mon appareil OM est cassé",
        )
        bt = record_handoff(
            session=session,
            channel=HandoffChannel.EMAIL,
            conversation_id="email-bt",
            store_id="btomic",
            reason="complaint",
            excerpt="Ma montre BTOMIC est rayée",
        )
        session.commit()
        om_id, bt_id = om.id, bt.id
    client = make_console()
    login(client, "bt.agent@btomic.example")
    listing = client.get("/console/handoffs?status=all")
    assert "Ma montre BTOMIC" in listing.text and "Mon appareil OM" not in listing.text
    assert client.get(f"/console/handoffs/{bt_id}").status_code == 200
    assert client.get(f"/console/handoffs/{om_id}").status_code == 403
    assert client.get("/console/handoffs?store=om-system").status_code == 403
    assert client.get("/console/analytics?store=om-system").status_code == 403
    assert client.get("/console/conversations?store=om-system").status_code == 403
    # An agent is not an admin or an editor.
    assert client.get("/console/users").status_code == 403
    assert client.get("/console/privacy").status_code == 403
    assert client.get("/console/teaching").status_code == 403


def test_the_audit_log_records_logins_and_actions(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    client = make_console()
    login(client, "admin@shops.example", "bad password")
    login(client, "admin@shops.example")
    page = client.get("/console/audit")
    assert page.status_code == 200
    with console_env.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["login.failed", "login"]
    assert "login.failed" in page.text


def test_an_admin_creates_an_agent_who_can_then_log_in(make_console: MakeConsole) -> None:
    client = make_console()
    login(client, "admin@shops.example")
    page = client.get("/console/users")
    created = client.post(
        "/console/users",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "new@btomic.example",
            "name": "New Agent",
            "role": "agent",
            "shop_btomic": "1",
            "password": "a long enough password",
        },
    )
    assert created.status_code == 303 and "created" in created.headers["location"]
    other = make_console()
    assert login(other, "new@btomic.example", "a long enough password").status_code == 303
    assert other.get("/console/handoffs").status_code == 200
    assert dt.date.today()  # the account works today


def test_every_console_form_refuses_a_post_without_its_csrf_token(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    """Each POST route of the console, signed in as an admin (who may do everything): without
    the token, with a forged one, or from another site's page, nothing is done (403)."""
    client = make_console()
    login(client, "admin@shops.example")
    token = csrf_of(client.get("/console/handoffs").text)
    with console_env.sessions() as session:
        audited = session.scalar(select(func.count()).select_from(AuditEntry))
    posts = sorted(
        route.path
        for route in web.router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    )
    assert len(posts) >= 15, posts  # every form of the console (login included)
    for path in posts:
        url = path
        for name, value in (
            ("handoff_id", "1"),
            ("run_id", "1"),
            ("user_id", "1"),
            ("store_id", "btomic"),
            ("name", "utter_greet"),
        ):
            url = url.replace(f"{{{name}}}", value)
        assert "{" not in url, path
        for form, headers in (
            ({}, {}),
            ({"csrf_token": "forged"}, {}),
            ({"csrf_token": token}, {"Origin": "https://evil.example"}),
        ):
            response = client.post(url, data=form, headers=headers)
            assert response.status_code == 403, (path, form, headers, response.status_code)
    with console_env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audited
    # Still signed in: the forged logouts did nothing.
    assert client.get("/console/handoffs").status_code == 200
