"""The orders database: SQLAlchemy 2.0 models, engines and sessions, migrations, demo data.

``models`` (the order tables), ``session`` (engines, session factories; the caller owns the
session), ``migrate`` (Alembic upgrade, ``python -m bot.db.migrate``), ``demo`` (the demo orders,
``python -m bot.db.demo --if-empty | --replace``). Nothing is imported here, so importing one
part does not pull in the others.
"""
