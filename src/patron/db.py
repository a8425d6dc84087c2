"""The database: engine factory (SQLite pragmas, PostgreSQL pool) and the request transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from patron.config import Settings
from patron.errors import Unavailable

# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_PG_CODES = {"40001", "40P01", "55P03"}
_WRITE_ATTEMPTS = 3


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.async_database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=settings.pool_size, max_overflow=settings.pool_max_overflow)
        _configure_sqlite(engine, settings.busy_timeout_ms, settings.sqlite_synchronous)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves, so writes can take the lock up front (BEGIN IMMEDIATE)
        # instead of failing when a read transaction tries to upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL keeps every commit through a crash of the process; only a power
        # cut can lose the last commits, so operators who need that set PATRON_SQLITE_SYNCHRONOUS.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("patron_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_busy(exc: BaseException) -> bool:
    """True for lock time-outs and serialisation failures: the caller may retry or answer 503."""
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower():
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        return code in _RETRYABLE_PG_CODES
    return False


class Database:
    """One per process: the engine and the way requests open their single transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.is_sqlite = settings.is_sqlite

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as conn:
                async with conn.begin():
                    yield conn
        except DBAPIError as exc:
            if is_busy(exc):
                raise Unavailable() from exc
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: SQLite takes the write lock at BEGIN, waiting up to the busy timeout."""
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(patron_write=True)
                async with conn.begin():
                    yield conn
        except DBAPIError as exc:
            if is_busy(exc):
                raise Unavailable() from exc
            raise

    async def dispose(self) -> None:
        await self.engine.dispose()


async def retry_busy(operation: Any, attempts: int = _WRITE_ATTEMPTS) -> Any:
    """Run ``operation()`` again when the database reports a serialisation failure or deadlock."""
    for attempt in range(attempts):
        try:
            return await operation()
        except Unavailable:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")
