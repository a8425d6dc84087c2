"""Idempotency-Key for every POST and PATCH under /crm: a retry replays the first answer.

Keys are scoped to the API client and kept 24 hours in the database, so a retry that lands
on another process replays too. 2xx and 4xx answers are kept; 5xx and 429 are not (the retry
runs again). The fingerprint is method + path + body."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron import tables
from patron.auth.deps import admit
from patron.body import MAX_BODY_BYTES
from patron.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    PatronError,
    patron_error_response,
)

KEEP_SECONDS = 24 * 3600
# A claim older than this belongs to a request whose process died; a retry may take it over.
ABANDONED_SECONDS = 60
_t = tables.idempotency_keys


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all("\x21" <= ch <= "\x7e" for ch in key)


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class _Claimed:
    pass


async def _claim(db: Any, client_id: str, key: str, print_: str) -> _Claimed | tuple[int, list[list[str]], bytes]:
    """Claim the key for this request, or return the stored answer to replay."""
    now = time.time()
    async with db.write() as conn:
        await conn.execute(delete(_t).where(_t.c.client_id == client_id, _t.c.created_at < now - KEEP_SECONDS))
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_t)
        inserted = (
            await conn.execute(
                insert.values(client_id=client_id, key=key, fingerprint=print_, created_at=now)
                .on_conflict_do_nothing(index_elements=[_t.c.client_id, _t.c.key])
                .returning(_t.c.key)
            )
        ).first()
        if inserted is not None:
            return _Claimed()
        row = (
            await conn.execute(
                select(_t.c.fingerprint, _t.c.created_at, _t.c.status, _t.c.headers, _t.c.body).where(
                    _t.c.client_id == client_id, _t.c.key == key
                )
            )
        ).one()
        if row.fingerprint != print_:
            raise IdempotencyKeyReused()
        if row.status is None:
            if row.created_at > now - ABANDONED_SECONDS:
                raise IdempotencyKeyInUse()
            await conn.execute(update(_t).where(_t.c.client_id == client_id, _t.c.key == key).values(created_at=now))
            return _Claimed()
        return row.status, orjson.loads(row.headers), row.body


async def _settle(db: Any, client_id: str, key: str, status: int, headers: list[list[str]], body: bytes) -> None:
    async with db.write() as conn:
        where = (_t.c.client_id == client_id, _t.c.key == key)
        if status >= 500 or status == 429:
            await conn.execute(delete(_t).where(*where))
        else:
            await conn.execute(
                update(_t).where(*where).values(status=status, headers=orjson.dumps(headers).decode(), body=body)
            )


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PATCH") or not scope["path"].startswith("/crm/"):
            await self.app(scope, receive, send)
            return
        raw_key = next((v for k, v in scope["headers"] if k == b"idempotency-key"), None)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            principal = await admit(request)
        except PatronError:
            await self.app(scope, receive, send)  # the route answers 401 or 429 itself
            return
        key = raw_key.decode("latin-1")
        try:
            if not valid_key(key):
                raise InvalidIdempotencyKey()
            body, complete = await _read_body(receive)
            if not complete:  # over the limit: let the route refuse it, nothing to keep
                await self.app(scope, _replay_receive(body, receive, complete=False), send)
                return
            db = scope["app"].state.db
            claim = await _claim(db, principal.client_id, key, fingerprint(scope["method"], scope["path"], body))
        except PatronError as exc:
            request_id = scope.get("state", {}).get("request_id")
            await patron_error_response(exc, request_id)(scope, receive, send)
            return

        if not isinstance(claim, _Claimed):
            status, headers, stored = claim
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
                    + [(b"idempotent-replayed", b"true")],
                }
            )
            await send({"type": "http.response.body", "body": stored})
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay_receive(body, receive, complete=True), capture)
        finally:
            await _settle(
                db, principal.client_id, key, captured["status"], captured["headers"], b"".join(captured["body"])
            )


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client hung up mid-body: claim nothing, so its retry runs afresh.
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay_receive(body: bytes, receive: Receive, *, complete: bool) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
