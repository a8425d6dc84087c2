"""Alembic environment: one history for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from patron.config import Settings
from patron.db import run_sync
from patron.tables import metadata

config = context.config


# Any constant: the key of the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK = 7_203_114_052


def _lock(connection: Connection) -> None:
    """Serialise migrations between processes started together (``patron serve`` migrates on
    start): the first migrates, the others wait and then find the schema up to date. The lock
    opens the transaction the whole run uses, and goes with its commit."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA busy_timeout=60000")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # Requests give up on a lock after the busy timeout; a migration waits its turn instead.
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")


def _migrate(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    _lock(connection)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_sync(Settings(database_url=config.attributes.get("database_url") or Settings().database_url), _migrate)
