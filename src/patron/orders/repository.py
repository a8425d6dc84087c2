"""CRM order rows, always reached through their account."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Select, String, bindparam, func, select, true
from sqlalchemy.dialects import postgresql, sqlite

from patron import tables
from patron.db import Connection

_o = tables.crm_orders
_c = tables.customers
_CHUNK = 1000
T = TypeVar("T")


# Statements of the request paths, built once (building one costs more than running it).
_PROFILE_EXISTS = select(_c.c.id).where(_c.c.account_id == bindparam("account_id"), _c.c.id == bindparam("id"))
_GET = select(_o.c.document).where(_o.c.account_id == bindparam("account_id"), _o.c.id == bindparam("id"))
_BY_ORDER_ID = select(_o.c.id, _o.c.document).where(
    _o.c.account_id == bindparam("account_id"), _o.c.order_id == bindparam("order_id")
)
_OF_PROFILE = (_o.c.account_id == bindparam("account_id"), _o.c.crm_profile_id == bindparam("profile_id"))
_AMONG = _o.c.order_id.in_(bindparam("order_ids", expanding=True))
_NEWEST_FIRST = (_o.c.order_date.desc(), _o.c.id.desc())
_COUNT = select(func.count()).select_from(_o).where(*_OF_PROFILE)
_COUNT_AMONG = _COUNT.where(_AMONG)
_DOCUMENTS = (
    select(_o.c.document)
    .where(*_OF_PROFILE)
    .order_by(*_NEWEST_FIRST)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_DOCUMENTS_AMONG = (
    select(_o.c.document)
    .where(*_OF_PROFILE, _AMONG)
    .order_by(*_NEWEST_FIRST)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)


async def profile_exists(conn: Connection, account_id: str, profile_id: str) -> bool:
    return (await conn.execute(_PROFILE_EXISTS, {"account_id": account_id, "id": profile_id})).first() is not None


async def get(conn: Connection, account_id: str, crm_order_id: str) -> str | None:
    return (await conn.execute(_GET, {"account_id": account_id, "id": crm_order_id})).scalar()


async def find_by_order_id(conn: Connection, account_id: str, order_id: str) -> tuple[str, str] | None:
    row = (await conn.execute(_BY_ORDER_ID, {"account_id": account_id, "order_id": order_id})).first()
    return (row.id, row.document) if row is not None else None


async def existing_profiles(conn: Connection, account_id: str, profile_ids: Collection[str]) -> set[str]:
    """Which of these profile ids exist in the account."""
    found: set[str] = set()
    for chunk in _chunks(sorted(profile_ids)):
        rows = await conn.execute(_each_by_key(conn, account_id, _c.c.id, chunk, [_c.c.id]))
        found.update(row.id for row in rows)
    return found


async def find_by_order_ids(
    conn: Connection, account_id: str, order_ids: Collection[str]
) -> dict[str, tuple[str, str]]:
    """orderId -> (crm order id, document) for those of these orderIds already recorded."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(sorted(order_ids)):
        columns = [_o.c.order_id, _o.c.id, _o.c.document]
        rows = await conn.execute(_each_by_key(conn, account_id, _o.c.order_id, chunk, columns))
        found.update((row.order_id, (row.id, row.document)) for row in rows)
    return found


async def insert_many(conn: Connection, account_id: str, rows: Sequence[dict[str, str]]) -> set[str]:
    """Insert orders (keys as the table's columns, account_id aside); the orderIds actually written.

    An orderId recorded meanwhile by another transaction is skipped, not an error."""
    if not rows:
        return set()
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert_(_o).on_conflict_do_nothing(index_elements=[_o.c.account_id, _o.c.order_id]).returning(_o.c.order_id)
    # One compiled statement for all rows: SQLAlchemy sends them as multi-row VALUES batches.
    result = await conn.execute(stmt, [{"account_id": account_id, **row} for row in rows])
    return {row.order_id for row in result}


def _each_by_key(
    conn: Connection, account_id: str, key: Column[str], values: Sequence[str], columns: list[Column[Any]]
) -> Select[Any]:
    """The rows of ``key``'s table in the account whose ``key`` is among ``values`` (one index probe each).

    On PostgreSQL, ``key IN (...)`` is planned from statistics, and a table filling up in a bulk
    import has none yet: the planner then reads every row of the account for each batch. A lateral
    probe per value (LIMIT 1 keeps it from being flattened into a join) uses the unique index
    whatever the statistics say."""
    table = key.table
    scope = table.c.account_id == account_id
    if conn.dialect.name != "postgresql":
        return select(*columns).where(scope, key.in_(values))
    wanted = (
        func.unnest(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
        .table_valued("value")
        .render_derived()
    )
    probe = select(*columns).where(scope, key == wanted.c.value).limit(1).lateral()
    return select(*(probe.c[column.name] for column in columns)).select_from(wanted).join(probe, true())


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    # Well under the bound-parameter limits of SQLite (32766) and asyncpg (32767).
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def insert(
    conn: Connection,
    account_id: str,
    *,
    crm_order_id: str,
    profile_id: str,
    order_id: str,
    order_date: str,
    document: str,
) -> bool:
    """Insert the order; False (nothing written) when its orderId is already recorded."""
    insert_ = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_o)
    stmt = (
        insert_.values(
            account_id=account_id,
            id=crm_order_id,
            crm_profile_id=profile_id,
            order_id=order_id,
            order_date=order_date,
            document=document,
        )
        .on_conflict_do_nothing(index_elements=[_o.c.account_id, _o.c.order_id])
        .returning(_o.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def page_of_profile(
    conn: Connection,
    account_id: str,
    profile_id: str,
    *,
    offset: int,
    limit: int,
    order_ids: list[str] | None = None,
) -> tuple[int, list[str]]:
    """(total, documents) of a profile's orders, newest orderDate first, ties by id descending.

    With ``order_ids``, only the orders whose commerce orderId is among them."""
    params: dict[str, Any] = {"account_id": account_id, "profile_id": profile_id}
    if order_ids is not None:
        if not order_ids:
            return 0, []
        params["order_ids"] = order_ids
    count, documents = (_COUNT, _DOCUMENTS) if order_ids is None else (_COUNT_AMONG, _DOCUMENTS_AMONG)
    total = (await conn.execute(count, params)).scalar_one()
    if offset >= total:
        return total, []
    rows = await conn.execute(documents, {**params, "offset": offset, "limit": limit})
    return total, [row.document for row in rows]
