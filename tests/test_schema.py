"""The migrated schema is the schema the code declares, and it keeps the account-first rule that
lets the data shard by account (docs/SCALING.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, inspect
from sqlalchemy.engine import Connection

from patron import tables
from patron.config import Settings
from patron.db import run_sync
from patron.migrate import alembic_config

T = TypeVar("T")


def _inspect_database(database_url: str, work: Callable[[Connection], T]) -> T:
    return run_sync(Settings(database_url=database_url), work)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, tables.metadata))


def test_the_migrations_form_one_line() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_the_migrated_database_is_at_the_newest_revision(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    current = _inspect_database(database_url, lambda c: MigrationContext.configure(c).get_current_revision())
    assert current == head


def test_the_migrated_schema_matches_the_declared_tables(database_url: str) -> None:
    diff = _inspect_database(database_url, _diff)
    assert diff == [], f"the migrations and tables.py disagree: {diff}"


def test_every_table_is_account_client_or_globally_scoped() -> None:
    groups = [tables.ACCOUNT_SCOPED, tables.CLIENT_SCOPED, tables.GLOBAL]
    named = [table.name for group in groups for table in group]
    assert sorted(named) == sorted(tables.metadata.tables), "each table belongs to exactly one scope"


def _leading_columns(table: Table) -> list[tuple[str, str]]:
    """(what, its first column) for the primary key and every index."""
    leading = [("primary key", next(iter(table.primary_key.columns)).name)]
    leading += [(f"index {index.name}", next(iter(index.columns)).name) for index in table.indexes]
    return leading


@pytest.mark.parametrize("table", tables.ACCOUNT_SCOPED, ids=lambda t: t.name)
def test_account_scoped_tables_lead_every_key_with_account_id(table: Table) -> None:
    for what, first in _leading_columns(table):
        assert first == "account_id", f"{table.name} {what} leads with {first}"


@pytest.mark.parametrize("table", tables.CLIENT_SCOPED, ids=lambda t: t.name)
def test_client_scoped_tables_lead_every_key_with_the_client(table: Table) -> None:
    for what, first in _leading_columns(table):
        assert first in ("client_id", "subject"), f"{table.name} {what} leads with {first}"


def test_the_database_keeps_the_account_first_rule(database_url: str) -> None:
    def keys(connection: Connection) -> dict[str, list[tuple[str, list[str], bool]]]:
        inspector = inspect(connection)
        found = {}
        for table in tables.ACCOUNT_SCOPED:
            pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
            indexes = [
                (index["name"], list(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table.name)
            ]
            found[table.name] = [("primary key", pk, True), *indexes]
        return found

    found = _inspect_database(database_url, keys)
    for table_name, table_keys in found.items():
        for name, columns, _ in table_keys:
            assert columns[0] == "account_id", f"{table_name} {name} is {columns}"
    # The uniqueness rules of the API are the database's own: one profile per email, one order per orderId.
    unique = {(table_name, tuple(columns)) for table_name, keys in found.items() for _, columns, u in keys if u}
    assert ("customers", ("account_id", "email_key")) in unique
    assert ("crm_orders", ("account_id", "order_id")) in unique
