"""Restaurant accounts: the tenants. Created by operators with ``patron accounts create``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from patron import ids, tables
from patron.db import Connection, Database
from patron.timefmt import format_utc, utcnow


class AccountExists(Exception):
    pass


async def create(
    conn: Connection, *, name: str, account_id: str | None = None, default_country: str | None = None
) -> dict[str, Any]:
    account_id = account_id or ids.new_id()
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(tables.accounts)
    stmt = (
        insert.values(account_id=account_id, name=name, default_country=default_country, created=format_utc(utcnow()))
        .on_conflict_do_nothing(index_elements=[tables.accounts.c.account_id])
        .returning(tables.accounts.c.account_id)
    )
    if (await conn.execute(stmt)).first() is None:
        raise AccountExists(account_id)
    return {"accountId": account_id, "name": name, "defaultCountry": default_country}


async def existing(conn: Connection, account_ids: list[str]) -> set[str]:
    rows = await conn.execute(select(tables.accounts.c.account_id).where(tables.accounts.c.account_id.in_(account_ids)))
    return {row.account_id for row in rows}


_DEFAULT_COUNTRY = select(tables.accounts.c.default_country).where(
    tables.accounts.c.account_id == bindparam("account_id")
)


class DefaultCountries:
    """Each account's default country, cached in the process: it is set once, at creation."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    async def get(self, db: Database, account_id: str) -> str | None:
        if account_id not in self._known:
            async with db.single() as conn:
                row = (await conn.execute(_DEFAULT_COUNTRY, {"account_id": account_id})).first()
            if row is None:
                return None  # not cached: the account may be created later
            self._known[account_id] = row.default_country
        return self._known[account_id]
