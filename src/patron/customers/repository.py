"""Customer rows. Every statement starts from the account, so a foreign id is simply not found."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from patron import tables
from patron.db import Connection

_c = tables.customers


@dataclass(frozen=True, slots=True)
class StoredProfile:
    id: str
    version: int
    document: str


async def get(conn: Connection, account_id: str, profile_id: str, *, for_update: bool = False) -> StoredProfile | None:
    stmt = select(_c.c.id, _c.c.version, _c.c.document).where(_c.c.account_id == account_id, _c.c.id == profile_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return StoredProfile(row.id, row.version, row.document) if row is not None else None


async def find_by_email_key(conn: Connection, account_id: str, email_key: str) -> StoredProfile | None:
    stmt = select(_c.c.id, _c.c.version, _c.c.document).where(
        _c.c.account_id == account_id, _c.c.email_key == email_key
    )
    row = (await conn.execute(stmt)).first()
    return StoredProfile(row.id, row.version, row.document) if row is not None else None


async def find_by_phone(conn: Connection, account_id: str, phone: str, *, limit: int) -> list[StoredProfile]:
    stmt = (
        select(_c.c.id, _c.c.version, _c.c.document)
        .where(_c.c.account_id == account_id, _c.c.phone == phone)
        .order_by(_c.c.id)
        .limit(limit)
    )
    return [StoredProfile(row.id, row.version, row.document) for row in await conn.execute(stmt)]


async def insert(
    conn: Connection, account_id: str, *, profile_id: str, email_key: str, phone: str | None, document: str
) -> bool:
    """Insert a new profile; False (and nothing written) when the email is already taken."""
    insert_ = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_c)
    stmt = (
        insert_.values(
            account_id=account_id, id=profile_id, email_key=email_key, phone=phone, version=1, document=document
        )
        .on_conflict_do_nothing(index_elements=[_c.c.account_id, _c.c.email_key])
        .returning(_c.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def replace(
    conn: Connection,
    account_id: str,
    *,
    profile_id: str,
    version: int,
    email_key: str,
    phone: str | None,
    document: str,
) -> None:
    await conn.execute(
        update(_c)
        .where(_c.c.account_id == account_id, _c.c.id == profile_id)
        .values(version=version, email_key=email_key, phone=phone, document=document)
    )
