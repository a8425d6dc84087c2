"""Every test runs twice: on a real SQLite file and on a real PostgreSQL database, both built
by the Alembic migrations. PostgreSQL comes from PATRON_TEST_POSTGRES_URL (default: the local
server at 127.0.0.1:5432); each run makes its own database and drops it afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from patron.app import create_app
from patron.config import Settings
from patron.migrate import upgrade
from tests.factories import Tenant, create_tenant

ADMIN_URL = os.environ.get("PATRON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("PATRON_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
_pg_skipped = False


def _postgres_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class Backend:
    name: str
    template: str  # a migrated database (SQLite: a file to copy; PostgreSQL: the database itself)
    workdir: Path

    def fresh_url(self) -> str:
        """A database URL with the migrated schema and no rows."""
        if self.name == "sqlite":
            path = self.workdir / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        names = "accounts, customers, crm_orders, api_clients, signing_keys, idempotency_keys, rate_limits"
        _run_sql(self.template, f"TRUNCATE {names}")
        return self.template


def _run_sql(url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    global _pg_skipped
    workdir = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        template = workdir / "template.db"
        upgrade(f"sqlite:///{template}")
        yield Backend("sqlite", str(template), workdir)
        return
    name = f"patron_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        _postgres_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc!r}; the PostgreSQL half of the suite did not run"
        if os.environ.get("CI"):
            pytest.fail(message)
        _pg_skipped = True
        pytest.skip(message)
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield Backend("postgresql", url, workdir)
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_skipped:
        terminalreporter.write_sep("!", "POSTGRESQL WAS NOT REACHABLE: ONLY THE SQLITE HALF OF THE SUITE RAN", red=True)


@pytest.fixture
def database_url(backend: Backend) -> str:
    return backend.fresh_url()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": database_url, "rate_limit_per_second": 0, "access_log": False}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def tenant(database_url: str) -> Tenant:
    """An account with a client holding both scopes, and a valid token for it."""
    return create_tenant(database_url)


@pytest.fixture
def other_tenant(database_url: str) -> Tenant:
    """A second account, with its own client, to prove isolation."""
    return create_tenant(database_url, name="Other restaurant")
