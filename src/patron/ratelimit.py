"""Limits kept in the database, so every process on it shares them.

Request limit per client: GCRA (a token bucket kept as one "theoretical arrival time").
Token failures per client_id: a one-minute window that blocks after too many failures."""

from __future__ import annotations

import math
import time

from sqlalchemy import case, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from patron import tables
from patron.db import Connection

FAILURE_WINDOW_SECONDS = 60.0
MAX_FAILURES = 10

_t = tables.rate_limits


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_t)


async def take_request(conn: Connection, subject: str, *, per_second: float, burst: int) -> int | None:
    """Count one request; None when allowed, else the seconds to wait before retrying."""
    now = time.time()
    interval = 1.0 / per_second
    slack = burst * interval - interval  # how far ahead of now the bucket may run
    start = case((_t.c.moment > now, _t.c.moment), else_=literal(now))
    stmt = (
        _insert(conn)
        .values(subject=subject, moment=now + interval, hits=0)
        .on_conflict_do_update(
            index_elements=[_t.c.subject],
            set_={"moment": start + interval},
            where=(start - now) <= slack,
        )
        .returning(_t.c.moment)
    )
    if (await conn.execute(stmt)).first() is not None:
        return None
    moment = (await conn.execute(select(_t.c.moment).where(_t.c.subject == subject))).scalar_one()
    return max(1, math.ceil(moment - now - slack))


def _failure_subject(client_id: str) -> str:
    return "token:" + client_id


async def token_retry_after(conn: Connection, client_id: str) -> int | None:
    """Seconds until this client_id may ask for a token again, or None if it may now."""
    now = time.time()
    row = (
        await conn.execute(select(_t.c.moment, _t.c.hits).where(_t.c.subject == _failure_subject(client_id)))
    ).first()
    if row is None or row.hits < MAX_FAILURES or row.moment + FAILURE_WINDOW_SECONDS <= now:
        return None
    return max(1, math.ceil(row.moment + FAILURE_WINDOW_SECONDS - now))


async def record_token_failure(conn: Connection, client_id: str) -> None:
    now = time.time()
    expired = _t.c.moment <= now - FAILURE_WINDOW_SECONDS
    stmt = (
        _insert(conn)
        .values(subject=_failure_subject(client_id), moment=now, hits=1)
        .on_conflict_do_update(
            index_elements=[_t.c.subject],
            set_={
                "hits": case((expired, literal(1)), else_=_t.c.hits + 1),
                "moment": case((expired, literal(now)), else_=_t.c.moment),
            },
        )
    )
    await conn.execute(stmt)
