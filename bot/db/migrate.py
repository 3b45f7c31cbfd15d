"""Brings the orders database schema up to date with the Alembic migrations.

``python -m bot.db.migrate`` upgrades ``DATABASE_URL`` (or the SQLite default) to the latest
revision; programs call :func:`upgrade`. The schema is never created any other way (no
``create_all``), so every database, test ones included, has exactly the migrated schema.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import PROJECT_ROOT, get_settings
from bot.db.session import make_engine

logger = logging.getLogger(__name__)

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """The project's Alembic configuration, aimed at ``url`` or ``connection``.

    Args:
        url: database to migrate; ``settings.database_url`` when None.
        connection: an open connection to migrate instead (tests); it wins over ``url`` and
            the caller commits.

    Returns:
        A configuration that works from any current directory and leaves logging alone.
    """
    config = Config(str(ALEMBIC_INI))
    # The URL goes in `attributes`, not in the ini options: ConfigParser would read a `%` of a
    # URL-encoded password as interpolation.
    config.attributes["url"] = url
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str | None = None, *, revision: str = "head") -> None:
    """Upgrades the database at ``url`` (default: ``settings.database_url``) to ``revision``."""
    target = url or get_settings().database_url
    logger.info(
        "Upgrading %s to %s", make_url(target).render_as_string(hide_password=True), revision
    )
    command.upgrade(alembic_config(target), revision)


def downgrade(url: str | None = None, *, revision: str = "base") -> None:
    """Downgrades the database at ``url`` (default: ``settings.database_url``) to ``revision``."""
    target = url or get_settings().database_url
    logger.info(
        "Downgrading %s to %s", make_url(target).render_as_string(hide_password=True), revision
    )
    command.downgrade(alembic_config(target), revision)


def current_revision(url: str | None = None) -> str | None:
    """The revision the database at ``url`` is at (None when it was never migrated)."""
    engine = make_engine(url or get_settings().database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: upgrade ``DATABASE_URL`` to head (or to ``--revision``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.db.migrate",
        description="Upgrade the orders database (DATABASE_URL) with the Alembic migrations.",
    )
    parser.add_argument("--revision", default="head", help="target revision (default: head)")
    args = parser.parse_args(argv)
    # Warnings and errors only: the one line printed below says what happened.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    url = get_settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        upgrade(url, revision=args.revision)
        revision = current_revision(url)
    except SQLAlchemyError as error:
        logger.error("Cannot migrate %s: %s", shown, error)
        return 1
    print(f"Orders database {shown} is at revision {revision}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
