"""The benchmark's databases: created fresh with the schema of ``patron db upgrade``, given accounts
and API clients through Patron's own services, then filled in bulk with the documents that
bench.dataset builds in worker processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.dataset import COUNTRY, Built, Chunk, build
from patron import accounts, tables
from patron.auth import clients, tokens
from patron.config import Settings
from patron.db import Database

CUSTOMER_COLUMNS = [c.name for c in tables.customers.columns]
ORDER_COLUMNS = [c.name for c in tables.crm_orders.columns]
LOADED_TABLES = (tables.customers.name, tables.crm_orders.name)
TOKEN_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Target:
    """A database the benchmark fills and serves: ``name`` is "sqlite" or "postgresql"."""

    name: str
    url: str  # as PATRON_DATABASE_URL takes it

    @property
    def sqlite_path(self) -> str:
        return self.url.removeprefix("sqlite:///")


def patron_command() -> list[str]:
    installed = Path(sys.executable).with_name("patron")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "patron.cli"]


def patron_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
    return {**env, "PATRON_DATABASE_URL": url, "PATRON_LOG_LEVEL": "WARNING", **extra}


def postgres_admin_url(url: str) -> str:
    base, _, _name = url.rpartition("/")
    return base + "/postgres"


def _remove_sqlite_file(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


async def recreate(target: Target) -> None:
    """An empty database, with the schema made by ``patron db upgrade``."""
    await drop(target)
    if target.name == "postgresql":
        name = target.url.rpartition("/")[2]
        admin = await asyncpg.connect(postgres_admin_url(target.url))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    upgrade = [*patron_command(), "db", "upgrade"]
    done = await asyncio.to_thread(subprocess.run, upgrade, env=patron_env(target.url), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"patron db upgrade failed on {target.name}: {done.stderr[-3000:]}")


async def drop(target: Target) -> None:
    if target.name == "sqlite":
        _remove_sqlite_file(target.sqlite_path)
        return
    name = target.url.rpartition("/")[2]
    admin = await asyncpg.connect(postgres_admin_url(target.url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class SQLiteLoader:
    """Bulk inserts into one SQLite file: no journal while loading, indexes built at the end."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.indexes: list[str] = []

    def prepare(self) -> None:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
            self.conn.execute(f"PRAGMA {pragma}")
        placeholders = ",".join("?" * len(LOADED_TABLES))
        rows = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({placeholders})",
            LOADED_TABLES,
        ).fetchall()
        for name, sql in rows:
            self.conn.execute(f'DROP INDEX "{name}"')
            self.indexes.append(sql)

    def insert(self, built: Built) -> None:
        self.conn.execute("BEGIN")
        for table, columns, rows in (
            (tables.customers.name, CUSTOMER_COLUMNS, built.customers),
            (tables.crm_orders.name, ORDER_COLUMNS, built.orders),
        ):
            marks = ",".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)
        self.conn.execute("COMMIT")

    def finish(self) -> None:
        for sql in self.indexes:
            self.conn.execute(sql)
        # Back to the mode Patron runs in (it sets WAL on every connection anyway).
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()


class PostgresLoader:
    """COPY into one PostgreSQL database, indexes built at the end, then VACUUM ANALYZE so that
    autovacuum has nothing left to do while the load runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: asyncpg.Connection | None = None
        self.indexes: list[str] = []

    async def prepare(self) -> None:
        self.conn = await asyncpg.connect(self.url)
        rows = await self.conn.fetch(
            """
            SELECT i.relname AS name, pg_get_indexdef(i.oid) AS sql
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY($1::text[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
            """,
            list(LOADED_TABLES),
        )
        for row in rows:
            await self.conn.execute(f'DROP INDEX "{row["name"]}"')
            self.indexes.append(row["sql"])

    async def insert(self, built: Built) -> None:
        assert self.conn is not None
        await self.conn.copy_records_to_table(tables.customers.name, records=built.customers, columns=CUSTOMER_COLUMNS)
        await self.conn.copy_records_to_table(tables.crm_orders.name, records=built.orders, columns=ORDER_COLUMNS)

    async def finish(self) -> None:
        assert self.conn is not None
        await self.conn.execute("SET maintenance_work_mem = '512MB'")
        for sql in self.indexes:
            await self.conn.execute(sql)
        await self.conn.execute(f"VACUUM (ANALYZE) {', '.join(LOADED_TABLES)}")
        await self.conn.execute("CHECKPOINT")
        await self.conn.close()


def _next(results: Iterator[Built]) -> Built | None:
    return next(results, None)


async def load(
    targets: list[Target],
    chunks: list[Chunk],
    *,
    processes: int,
    progress: Callable[[int, int], None],
) -> tuple[list[tuple[str, str, str]], dict[str, float]]:
    """Build every chunk and load it into every target; (sample of guests, seconds per phase)."""
    timings: dict[str, float] = {}
    sqlite_loaders = [SQLiteLoader(t.sqlite_path) for t in targets if t.name == "sqlite"]
    postgres_loaders = [PostgresLoader(t.url) for t in targets if t.name == "postgresql"]
    for loader in sqlite_loaders:
        loader.prepare()
    for pg in postgres_loaders:
        await pg.prepare()
    sample: list[tuple[str, str, str]] = []
    total = sum(c.profiles for c in chunks)
    done = 0
    started = time.monotonic()
    # A fork server, not a fork of this (threaded, event-looped) process; the main process inserts.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bench.dataset"])
    with context.Pool(processes) as pool:
        results = pool.imap_unordered(build, chunks)
        while (built := await asyncio.to_thread(_next, results)) is not None:
            copies = [asyncio.create_task(pg.insert(built)) for pg in postgres_loaders]
            for loader in sqlite_loaders:
                await asyncio.to_thread(loader.insert, built)
            await asyncio.gather(*copies)
            sample.extend(built.sample)
            done += len(built.customers)
            progress(done, total)
    timings["build_and_insert"] = time.monotonic() - started
    started = time.monotonic()
    await asyncio.gather(
        *(asyncio.to_thread(loader.finish) for loader in sqlite_loaders), *(pg.finish() for pg in postgres_loaders)
    )
    timings["indexes_and_vacuum"] = time.monotonic() - started
    return sample, timings


@dataclass(frozen=True)
class Tenant:
    """An account and its API client, with a token minted as /oauth/token would issue it."""

    account_id: str
    client_id: str
    client_secret: str
    token: str


RESTAURANTS = ["Pizzeria", "Sushi Bar", "Burger Club", "Frituur", "Poké House", "Brasserie", "Kebab", "Bakery"]
# One API client per group of accounts (an ordering platform serving several restaurants): each
# client secret costs an argon2id hash to create, so a hundred clients would take a minute here.
ACCOUNTS_PER_CLIENT = 10


async def create_tenants(target: Target, account_ids: list[str]) -> list[Tenant]:
    rng = random.Random(len(account_ids))
    groups = [account_ids[i : i + ACCOUNTS_PER_CLIENT] for i in range(0, len(account_ids), ACCOUNTS_PER_CLIENT)]
    db = Database(Settings(database_url=target.url))
    try:
        async with db.write() as conn:
            for number, account_id in enumerate(account_ids, 1):
                name = f"{rng.choice(RESTAURANTS)} {number}"
                await accounts.create(conn, name=name, account_id=account_id, default_country=COUNTRY)
            made = [
                await clients.create(conn, accounts=group, scope=list(clients.SCOPES), name=f"Ordering platform {n}")
                for n, group in enumerate(groups, 1)
            ]
            kid, key = await tokens.SigningKeys().current(conn)
    finally:
        await db.dispose()
    found = []
    for client, secret in made:
        token = tokens.issue(client, kid=kid, secret=key, ttl_seconds=TOKEN_TTL_SECONDS, scope=client.scope)
        found += [Tenant(account_id, client.client_id, secret, token.access_token) for account_id in client.accounts]
    return found
