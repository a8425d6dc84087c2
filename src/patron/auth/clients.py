"""API clients: who may ask for tokens, for which accounts and scopes. Secrets are argon2id hashes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update

from patron import ids, tables
from patron.db import Connection
from patron.timefmt import format_utc, utcnow

SCOPES = ("crm:read", "crm:write")
DEFAULT_CHANNEL = 10000

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    scope: tuple[str, ...]
    accounts: tuple[str, ...]
    channel: int
    revoked: bool


def _client(row: object) -> Client:
    return Client(
        client_id=row.client_id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        scope=tuple(row.scope.split()),  # type: ignore[attr-defined]
        accounts=tuple(orjson.loads(row.accounts)),  # type: ignore[attr-defined]
        channel=row.channel,  # type: ignore[attr-defined]
        revoked=row.revoked is not None,  # type: ignore[attr-defined]
    )


async def create(
    conn: Connection,
    *,
    accounts: list[str],
    scope: list[str],
    channel: int = DEFAULT_CHANNEL,
    name: str = "",
    hasher: PasswordHasher = _hasher,
) -> tuple[Client, str]:
    """Create a client; the secret is returned here once and only its hash is kept.

    ``hasher`` sets the argon2id cost; verification reads the cost from the stored hash."""
    client_id = ids.new_id()
    secret = secrets.token_urlsafe(32)
    ordered_scope = [s for s in SCOPES if s in scope]
    await conn.execute(
        tables.api_clients.insert().values(
            client_id=client_id,
            name=name or client_id,
            secret_hash=hasher.hash(secret),
            scope=" ".join(ordered_scope),
            accounts=orjson.dumps(list(dict.fromkeys(accounts))).decode(),
            channel=channel,
            created=format_utc(utcnow()),
            revoked=None,
        )
    )
    client = Client(client_id, name or client_id, tuple(ordered_scope), tuple(dict.fromkeys(accounts)), channel, False)
    return client, secret


async def get(conn: Connection, client_id: str) -> tuple[Client, str] | None:
    """The client and its secret hash."""
    row = (await conn.execute(select(tables.api_clients).where(tables.api_clients.c.client_id == client_id))).first()
    return (_client(row), row.secret_hash) if row is not None else None


def verify_secret(found: tuple[Client, str] | None, secret: str) -> Client | None:
    """The client if the secret is right and the client is not revoked (slow by design)."""
    # client_ids are not secret (every token names its client), so an unknown one is refused at
    # once: a flood of made-up ids costs no argon2 work. Known ids have the per-client lockout.
    if found is None:
        return None
    client, stored_hash = found
    ok: bool
    try:
        ok = _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or client is None or client.revoked:
        return None
    return client


_REVOKED = select(tables.api_clients.c.revoked).where(tables.api_clients.c.client_id == bindparam("client_id"))


async def is_active(conn: Connection, client_id: str) -> bool:
    revoked = (await conn.execute(_REVOKED, {"client_id": client_id})).first()
    return revoked is not None and revoked[0] is None


async def revoke(conn: Connection, client_id: str) -> bool:
    result = await conn.execute(
        update(tables.api_clients)
        .where(tables.api_clients.c.client_id == client_id, tables.api_clients.c.revoked.is_(None))
        .values(revoked=format_utc(utcnow()))
        .returning(tables.api_clients.c.client_id)
    )
    return result.first() is not None
