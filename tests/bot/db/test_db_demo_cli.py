"""`python -m bot.db.demo`: migrates, loads once with --if-empty, reloads with --replace."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import PROJECT_ROOT, get_settings
from bot.db import demo
from bot.db.models import Order, Shipment
from bot.db.session import make_engine, session_factory

TODAY = dt.date(2024, 3, 1)
CANONICAL_COUNT = sum(len(demo.read_canonical_orders(path)) for path in demo.shop_demo_files())


def order_count(url: str) -> int:
    """How many orders the committed database at ``url`` holds."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(Order)) or 0
    finally:
        engine.dispose()


def shipped_on(url: str, number: str) -> dt.date:
    """The shipping date of order ``number`` in the database at ``url``."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            statement = select(Shipment.shipped_on).join(Order).where(Order.number == number)
            return session.scalars(statement).one()
    finally:
        engine.dispose()


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Runs the command line in-process; returns the one line it printed."""
    assert demo.main(list(argv)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_if_empty_loads_once_and_never_duplicates(
    database_url_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_main(capsys, "--if-empty", "--today", TODAY.isoformat())
    loaded = order_count(database_url_env)
    assert loaded >= CANONICAL_COUNT + 200
    assert f"loaded {loaded} demo orders" in first

    second = run_main(capsys, "--if-empty")
    assert order_count(database_url_env) == loaded
    assert f"already holds {loaded} orders: nothing loaded" in second


def test_replace_reloads_for_another_day(
    database_url_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_main(capsys, "--if-empty", "--today", TODAY.isoformat())
    loaded = order_count(database_url_env)
    assert shipped_on(database_url_env, "OM-104233") == TODAY - dt.timedelta(days=2)

    later = TODAY + dt.timedelta(days=10)
    line = run_main(capsys, "--replace", "--today", later.isoformat())
    assert f"(replacing {loaded})" in line
    assert order_count(database_url_env) == loaded
    assert shipped_on(database_url_env, "OM-104233") == later - dt.timedelta(days=2)


def test_a_mode_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        demo.main([])
    assert exit_info.value.code == 2
    assert "--if-empty" in capsys.readouterr().err


def test_an_unreachable_database_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A SQLite "database" that is a folder cannot be opened: exit 1, no traceback, no stdout.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}")
    get_settings.cache_clear()
    try:
        assert demo.main(["--if-empty"]) == 1
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().out == ""


def test_the_real_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/var/orders.db"
    command = [sys.executable, "-m", "bot.db.demo", "--if-empty", "--today", "2024-03-01"]
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(PROJECT_ROOT)}
    for expected in ("loaded", "nothing loaded"):
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
        )
        (line,) = result.stdout.splitlines()
        assert expected in line
        assert result.stderr == ""
