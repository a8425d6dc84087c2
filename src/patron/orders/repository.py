"""CRM order rows, always reached through their account."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from patron import tables
from patron.db import Connection

_o = tables.crm_orders
_c = tables.customers


async def profile_exists(conn: Connection, account_id: str, profile_id: str) -> bool:
    stmt = select(_c.c.id).where(_c.c.account_id == account_id, _c.c.id == profile_id)
    return (await conn.execute(stmt)).first() is not None


async def get(conn: Connection, account_id: str, crm_order_id: str) -> str | None:
    stmt = select(_o.c.document).where(_o.c.account_id == account_id, _o.c.id == crm_order_id)
    return (await conn.execute(stmt)).scalar()


async def find_by_order_id(conn: Connection, account_id: str, order_id: str) -> tuple[str, str] | None:
    stmt = select(_o.c.id, _o.c.document).where(_o.c.account_id == account_id, _o.c.order_id == order_id)
    row = (await conn.execute(stmt)).first()
    return (row.id, row.document) if row is not None else None


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
    where = [_o.c.account_id == account_id, _o.c.crm_profile_id == profile_id]
    if order_ids is not None:
        where.append(_o.c.order_id.in_(order_ids))
    total = (await conn.execute(select(func.count()).select_from(_o).where(*where))).scalar_one()
    if offset >= total:
        return total, []
    rows = await conn.execute(
        select(_o.c.document).where(*where).order_by(_o.c.order_date.desc(), _o.c.id.desc()).offset(offset).limit(limit)
    )
    return total, [row.document for row in rows]
