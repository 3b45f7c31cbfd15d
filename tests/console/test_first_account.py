"""Getting started with the console: what `make run` prints, and `make user` creating the first
admin interactively (in a pseudo-terminal, as a person types it), who can then sign in."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

from sqlalchemy import select as sql_select

from bot.config import PROJECT_ROOT, Settings
from bot.db.console import ConsoleUser, ConsoleUserShop, Role
from bot.db.session import make_engine, session_factory
from bot.stores import store_ids
from devstack.stack import banner
from tests.console.conftest import MakeConsole, login


def test_make_run_prints_the_console_url_and_how_to_create_the_first_account() -> None:
    text = banner(Settings(_env_file=None, gateway_port=8123))  # type: ignore[call-arg]
    assert "Support console:      http://localhost:8123/console\n" in text
    assert "first account: `make user` in another terminal" in text
    assert "Demo mailbox:         http://localhost:8123/mailbox" in text
    configured = banner(Settings(_env_file=None, smtp_url="smtp://mail.example.com:25"))  # type: ignore[call-arg]
    assert "/mailbox" not in configured and "through SMTP_URL" in configured


def _converse(fd: int, answers: list[tuple[str, str]], timeout_s: float = 120) -> str:
    """Answers each prompt as it appears on the terminal; returns everything shown."""
    shown = ""
    pending = list(answers)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk.decode("utf-8", "replace")
        while pending and pending[0][0] in shown:
            prompt, answer = pending.pop(0)
            shown = shown.replace(prompt, f"<{prompt}>", 1)  # each prompt answered once
            os.write(fd, answer.encode() + b"\r")
    return shown


def test_make_user_creates_the_first_admin_who_can_sign_in(
    tmp_path: Path, make_console: MakeConsole
) -> None:
    database = tmp_path / "first.db"
    url = f"sqlite:///{database}"
    password = "first admin password"
    pid, fd = os.forkpty()
    if pid == 0:  # the child: `make user`, on the pseudo-terminal
        os.chdir(PROJECT_ROOT)
        env = {**os.environ, "DATABASE_URL": url, "MAKEFLAGS": ""}
        os.execvpe("make", ["make", "--no-print-directory", "user"], env)
    try:
        shown = _converse(
            fd,
            [
                ("E-mail address:", "Chloe.Admin@shops.example"),
                ("Name [", "Chloé Admin"),
                ("Role (agent, editor, admin) [admin]:", ""),
                ("or all) [all]:", ""),
                ("Password (10 characters or more):", password),
                ("Password again:", password),
            ],
        )
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    # `all` = every shop of the registry, in its order (the shop folders, alphabetically).
    shops_said = ", ".join(store_ids())
    assert f"Created admin chloe.admin@shops.example for {shops_said}." in shown
    assert password not in shown  # typed without echo

    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            user = session.scalars(sql_select(ConsoleUser)).one()
            shops = session.scalars(sql_select(ConsoleUserShop.store_id)).all()
    finally:
        engine.dispose()
    assert (user.email, user.name, user.role) == (
        "chloe.admin@shops.example",
        "Chloé Admin",
        Role.ADMIN,
    )
    assert user.password_hash.startswith("$argon2id$")
    assert sorted(shops) == ["btomic", "om-system"]

    # The account signs in to a console on that database.
    console = make_console(database_url=url)
    signed_in = login(console, "chloe.admin@shops.example", password)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"
    assert console.get("/console/users").status_code == 200
