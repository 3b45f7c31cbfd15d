"""The Alembic migrations: they build exactly the models' schema and undo it cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import bot.db.mailbox  # noqa: F401  (its tables are part of the migrated schema too)
from bot.config import PROJECT_ROOT
from bot.db.migrate import alembic_config, current_revision, downgrade, upgrade
from bot.db.models import Base
from bot.db.session import make_engine

# The orders tables (revision 0001); later revisions add other parts' tables (the mailbox).
TABLES = {"stores", "orders", "order_lines", "shipments", "returns", "refunds"}


def head_revision() -> str:
    """The single head of the migration history."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"the migration history has several heads: {heads}"
    return heads[0]


def table_names(url: str) -> set[str]:
    """The tables of the database at ``url``."""
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_schema_and_downgrade_removes_it(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None

    upgrade(empty_database_url, revision="0001")
    assert table_names(empty_database_url) == TABLES | {"alembic_version"}
    assert current_revision(empty_database_url) == "0001"

    upgrade(empty_database_url)
    assert table_names(empty_database_url) >= TABLES | {"alembic_version"}
    assert current_revision(empty_database_url) == head_revision()

    downgrade(empty_database_url)
    assert table_names(empty_database_url) == {"alembic_version"}
    assert current_revision(empty_database_url) is None

    # And back up again: the downgrade left nothing behind that blocks a new upgrade.
    upgrade(empty_database_url)
    assert table_names(empty_database_url) >= TABLES | {"alembic_version"}


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()


def test_migrated_schema_matches_the_models(migrated_engine: Engine) -> None:
    # Autogenerate's comparison finds any table, column, type, index, unique constraint or
    # foreign key that differs between the migrations and the models.
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrated_schema_has_the_named_constraints(migrated_engine: Engine) -> None:
    # Autogenerate does not compare CHECK constraints: check their names here.
    inspector = inspect(migrated_engine)
    checks = {
        table: {check["name"] for check in inspector.get_check_constraints(table)}
        for table in TABLES
    }
    assert checks["orders"] >= {
        "ck_orders_status",
        "ck_orders_payment_method",
        "ck_orders_email_lower_case",
        "ck_orders_currency_code",
    }
    assert checks["order_lines"] == {
        "ck_order_lines_quantity_positive",
        "ck_order_lines_unit_price_not_negative",
    }
    assert "ck_refunds_amount_not_negative" in checks["refunds"]
    assert "ck_refunds_issued_on_matches_status" in checks["refunds"]
    for table in ("order_lines", "shipments", "returns", "refunds"):
        (foreign_key,) = inspector.get_foreign_keys(table)
        assert foreign_key["referred_table"] == "orders"
        assert foreign_key["options"].get("ondelete") == "CASCADE"
    indexes = {index["name"] for index in inspector.get_indexes("orders")}
    assert {"ix_orders_number", "ix_orders_customer_email", "ix_orders_store_id_status"} <= indexes


def test_offline_sql_for_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    # `alembic upgrade head --sql` must work for a DBA who applies the DDL by hand.
    command.upgrade(alembic_config("postgresql+psycopg2://"), "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE orders" in sql
    assert "ON DELETE CASCADE" in sql


def test_migrate_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/orders.db"
    result = subprocess.run(
        [sys.executable, "-m", "bot.db.migrate"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines() == [
        f"Orders database {url} is at revision {head_revision()}."
    ]
    assert table_names(url) >= TABLES | {"alembic_version"}
