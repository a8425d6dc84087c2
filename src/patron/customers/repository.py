"""Customer rows. Every statement starts from the account, so a foreign id is simply not found.

Statements are built once, with bound parameters: building a SQLAlchemy statement per request
costs several times more than running it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import BindParameter

from patron import tables
from patron.db import Connection

_c = tables.customers
_ACCOUNT: BindParameter[str] = bindparam("account_id")


@dataclass(frozen=True, slots=True)
class StoredProfile:
    id: str
    version: int
    document: str


_SELECT = select(_c.c.id, _c.c.version, _c.c.document)
_BY_ID = _SELECT.where(_c.c.account_id == _ACCOUNT, _c.c.id == bindparam("id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
_BY_EMAIL_KEY = _SELECT.where(_c.c.account_id == _ACCOUNT, _c.c.email_key == bindparam("email_key"))
_BY_PHONE = (
    _SELECT.where(_c.c.account_id == _ACCOUNT, _c.c.phone == bindparam("phone"))
    .order_by(_c.c.id)
    .limit(bindparam("limit"))
)
_INSERT = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(_c)
    .on_conflict_do_nothing(index_elements=[_c.c.account_id, _c.c.email_key])
    .returning(_c.c.id)
    for dialect in (postgresql, sqlite)
}
_REPLACE = (
    update(_c)
    .where(_c.c.account_id == bindparam("in_account"), _c.c.id == bindparam("profile_id"))
    .values(
        version=bindparam("version"),
        email_key=bindparam("email_key"),
        phone=bindparam("phone"),
        document=bindparam("document"),
    )
)


def _profile(row: Row | None) -> StoredProfile | None:
    return StoredProfile(row.id, row.version, row.document) if row is not None else None


async def get(conn: Connection, account_id: str, profile_id: str, *, for_update: bool = False) -> StoredProfile | None:
    stmt = _BY_ID_FOR_UPDATE if for_update else _BY_ID
    return _profile((await conn.execute(stmt, {"account_id": account_id, "id": profile_id})).first())


async def find_by_email_key(conn: Connection, account_id: str, email_key: str) -> StoredProfile | None:
    params = {"account_id": account_id, "email_key": email_key}
    return _profile((await conn.execute(_BY_EMAIL_KEY, params)).first())


async def find_by_phone(conn: Connection, account_id: str, phone: str, *, limit: int) -> list[StoredProfile]:
    rows = await conn.execute(_BY_PHONE, {"account_id": account_id, "phone": phone, "limit": limit})
    return [StoredProfile(row.id, row.version, row.document) for row in rows]


async def insert(
    conn: Connection, account_id: str, *, profile_id: str, email_key: str, phone: str | None, document: str
) -> bool:
    """Insert a new profile; False (and nothing written) when the email is already taken."""
    values = {
        "account_id": account_id,
        "id": profile_id,
        "email_key": email_key,
        "phone": phone,
        "version": 1,
        "document": document,
    }
    return (await conn.execute(_INSERT[conn.dialect.name], values)).first() is not None


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
        _REPLACE,
        {
            "in_account": account_id,
            "profile_id": profile_id,
            "version": version,
            "email_key": email_key,
            "phone": phone,
            "document": document,
        },
    )
