"""Alembic environment of the orders database.

Which database, first match wins:

1. ``config.attributes["connection"]``: an open connection a program (a test) passes; the
   migrations run on it, inside its transaction if it has one, and the caller commits;
2. ``config.attributes["url"]`` (set by :func:`bot.db.migrate.alembic_config`), else the
   ``sqlalchemy.url`` option of the ini file (unset in the project's ``alembic.ini``);
3. ``settings.database_url``, i.e. ``DATABASE_URL`` or its SQLite default.

The engine comes from :func:`bot.db.session.make_engine`, so migrations see the same SQLite
pragmas and PostgreSQL timeouts as the app. On SQLite, autogenerate writes batch operations
(``render_as_batch``) because SQLite cannot ALTER most things in place.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

import bot.db.mailbox  # noqa: F401  (declares its tables, and the console's, on Base.metadata)
from bot.config import get_settings
from bot.db.models import Base
from bot.db.session import make_engine

config = context.config
# Every module declaring tables on Base is imported above: autogenerate would otherwise take
# their tables for obsolete ones and write a revision dropping them.
target_metadata = Base.metadata

# Only the `alembic` command configures logging from alembic.ini; a program that migrates
# (bot.db.migrate, the tests) keeps its own logging, which fileConfig would otherwise replace.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The URL to migrate when no connection was passed in."""
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else get_settings().database_url


def run_migrations_offline() -> None:
    """Writes the SQL to standard output (``alembic upgrade head --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_on(connection: Connection) -> None:
    """Runs the pending migrations on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Runs the migrations on the passed connection or on a new engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations_on(connection)
        return
    engine = make_engine(database_url())
    try:
        with engine.connect() as new_connection:
            run_migrations_on(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
