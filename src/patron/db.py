"""The database: engines (SQLite pragmas, PostgreSQL pool) and the request transaction.

PostgreSQL runs through asyncpg. SQLite runs on the event loop's own thread: its statements take
microseconds and, in WAL mode, readers never wait for the writer, so handing each one to a thread
(as an async SQLite driver does) would cost far more than it saves. The one wait SQLite has, for
the write lock, is done without blocking: BEGIN IMMEDIATE is tried and retried with asyncio.sleep
until the busy timeout, then the request answers 503."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, TypeVar

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, Result
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from patron.config import Settings
from patron.errors import Unavailable

T = TypeVar("T")
log = logging.getLogger("patron.db")

# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_PG_CODES = {"40001", "40P01", "55P03"}
_WRITE_ATTEMPTS = 3


class Connection(Protocol):
    """What services and repositories use: a dialect and awaitable statements."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]: ...


class _SQLiteConnection:
    """A SQLite connection behind the async interface; each statement runs at once."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlalchemy.Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]:
        return self._conn.execute(statement, parameters)


def sqlite_path_url(settings: Settings) -> str:
    url = settings.database_url
    return "sqlite://" + url[len("sqlite://") :] if url.startswith("sqlite") else url


def _sqlite_engine(settings: Settings, *, busy_timeout_ms: int, write: bool) -> Engine:
    engine = sqlalchemy.create_engine(
        sqlite_path_url(settings),
        poolclass=sqlalchemy.QueuePool,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        connect_args={"check_same_thread": False},
        hide_parameters=True,  # a failed statement's values (emails, profiles) never reach the logs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (deferred for reads, IMMEDIATE for writes).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Opening may meet another connection's lock: wait for it here, once per connection.
        cursor.execute(f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL keeps every commit through a crash of the process; only a power
        # cut can lose the last commits, so operators who need that set PATRON_SQLITE_SYNCHRONOUS.
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.connection.driver_connection.execute(begin)

    return engine


def create_async_postgres_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        # No pre-ping (a round trip on every checkout): a connection found dead answers 503 once
        # and the pool replaces it.
        # A write stuck behind another transaction's row lock gives up like SQLite's busy timeout: 503.
        connect_args={"server_settings": {"lock_timeout": f"{settings.busy_timeout_ms}ms"}},
        hide_parameters=True,  # a failed statement's values (emails, profiles) never reach the logs
    )


def run_sync(settings: Settings, work: Callable[[sqlalchemy.Connection], T]) -> T:
    """Run ``work`` on a plain synchronous connection and commit: migrations and schema checks."""
    if settings.is_sqlite:
        engine = sqlalchemy.create_engine(sqlite_path_url(settings))
        try:
            with engine.connect() as connection:
                result = work(connection)
                connection.commit()
                return result
        finally:
            engine.dispose()

    async def run() -> T:
        engine = create_async_postgres_engine(settings)
        try:
            async with engine.connect() as connection:
                result = await connection.run_sync(work)
                await connection.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _is_locked(exc: BaseException) -> bool:
    # BEGIN runs on the driver connection itself (see _on_begin), so its error arrives unwrapped.
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower()


def _retryable(exc: DBAPIError | sqlite3.OperationalError) -> bool:
    """What a retry can get past (a lock, a serialisation failure, a dropped connection): 503."""
    if is_busy(exc) or getattr(exc, "connection_invalidated", False):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return True
    return False


@contextmanager
def _retryable_as_503() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, sqlite3.OperationalError) as exc:
        if _retryable(exc):
            raise Unavailable() from exc
        raise


def is_busy(exc: BaseException) -> bool:
    """True for lock time-outs and serialisation failures: the caller may retry or answer 503."""
    if _is_locked(exc):
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        return code in _RETRYABLE_PG_CODES
    return False


class Database:
    """One per process: the engines, and the way a request opens its single transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_sqlite = settings.is_sqlite
        if self.is_sqlite:
            self._reader = _sqlite_engine(settings, busy_timeout_ms=settings.busy_timeout_ms, write=False)
            # Writers never block the event loop: they poll for the lock instead (see write()).
            self._writer = _sqlite_engine(settings, busy_timeout_ms=0, write=True)
            # SQLite has one writer at a time; a process queues its own writers here, so they wait
            # without holding pool connections (a pool checkout would block the event loop).
            self._write_turn = asyncio.Lock()
        else:
            self.engine = create_async_postgres_engine(settings)

    @property
    def pool(self) -> Any:
        return self._reader.pool if self.is_sqlite else self.engine.pool

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A read transaction: one consistent snapshot for several statements."""
        with _retryable_as_503():
            if self.is_sqlite:
                with self._reader.connect() as conn, conn.begin():
                    yield _SQLiteConnection(conn)
            else:
                async with self._postgres() as aconn, aconn.begin():
                    yield aconn

    @asynccontextmanager
    async def single(self) -> AsyncIterator[Connection]:
        """For one read statement, which is its own snapshot: no BEGIN and COMMIT around it."""
        with _retryable_as_503():
            if self.is_sqlite:
                with self._reader.connect() as conn:
                    yield _SQLiteConnection(conn)
            else:
                async with self._postgres() as aconn:
                    yield await aconn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def _postgres(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; when none can be had (server down or refusing, pool exhausted),
        the request answers 503 with Retry-After rather than 500."""
        aconn = self.engine.connect()
        try:
            await aconn.start()
        except (DBAPIError, SQLAlchemyTimeoutError, OSError) as exc:
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise Unavailable("The database cannot be reached; retry shortly.") from exc
        try:
            yield aconn
        finally:
            await aconn.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        """A write transaction. On SQLite it holds the write lock from BEGIN to COMMIT."""
        with _retryable_as_503():
            if self.is_sqlite:
                deadline = time.monotonic() + self.settings.busy_timeout_ms / 1000
                try:
                    async with asyncio.timeout(self.settings.busy_timeout_ms / 1000):
                        await self._write_turn.acquire()
                except TimeoutError:
                    raise Unavailable() from None
                try:
                    with self._writer.connect() as conn:
                        await self._begin_immediate(conn, deadline)
                        try:
                            yield _SQLiteConnection(conn)
                        except BaseException:
                            conn.rollback()
                            raise
                        conn.commit()
                finally:
                    self._write_turn.release()
            else:
                async with self._postgres() as aconn, aconn.begin():
                    yield aconn

    async def _begin_immediate(self, conn: sqlalchemy.Connection, deadline: float) -> None:
        pause = 0.001
        while True:
            try:
                conn.begin()
                return
            except (OperationalError, sqlite3.OperationalError) as exc:
                if not _is_locked(exc):
                    raise
                conn.rollback()
                if time.monotonic() >= deadline:
                    raise Unavailable() from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def dispose(self) -> None:
        if self.is_sqlite:
            self._reader.dispose()
            self._writer.dispose()
        else:
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
