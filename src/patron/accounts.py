"""Restaurant accounts: the tenants. Created by operators with ``patron accounts create``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from patron import ids, tables
from patron.timefmt import format_utc, utcnow


class AccountExists(Exception):
    pass


async def create(
    conn: AsyncConnection, *, name: str, account_id: str | None = None, default_country: str | None = None
) -> dict[str, Any]:
    account_id = account_id or ids.new_id()
    try:
        async with conn.begin_nested():
            await conn.execute(
                tables.accounts.insert().values(
                    account_id=account_id, name=name, default_country=default_country, created=format_utc(utcnow())
                )
            )
    except IntegrityError:
        raise AccountExists(account_id) from None
    return {"accountId": account_id, "name": name, "defaultCountry": default_country}


async def existing(conn: AsyncConnection, account_ids: list[str]) -> set[str]:
    rows = await conn.execute(select(tables.accounts.c.account_id).where(tables.accounts.c.account_id.in_(account_ids)))
    return {row.account_id for row in rows}


class DefaultCountries:
    """Each account's default country, cached in the process: it is set once, at creation."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    async def get(self, conn: AsyncConnection, account_id: str) -> str | None:
        if account_id not in self._known:
            row = (
                await conn.execute(
                    select(tables.accounts.c.default_country).where(tables.accounts.c.account_id == account_id)
                )
            ).first()
            if row is None:
                return None  # not cached: the account may be created later
            self._known[account_id] = row.default_country
        return self._known[account_id]
