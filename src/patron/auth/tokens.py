"""Access tokens: HS256 JWTs signed with keys kept in the database, so every process that
shares the database verifies every other process's tokens. Each token names its key (kid)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
from sqlalchemy import bindparam, select

from patron import tables
from patron.auth.clients import Client
from patron.db import Connection
from patron.timefmt import format_utc, utcnow

ISSUER = "patron"
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of a /crm request."""

    client_id: str
    scope: frozenset[str]
    accounts: frozenset[str]
    channel: int
    expires_at: float = float("inf")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    expires_at: int
    scope: str


_SECRET_BY_KID = select(tables.signing_keys.c.secret).where(tables.signing_keys.c.kid == bindparam("kid"))


class SigningKeys:
    """Signing keys by kid, cached in the process; keys never change once written."""

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}

    async def current(self, conn: Connection) -> tuple[str, bytes]:
        row = (
            await conn.execute(
                select(tables.signing_keys.c.kid, tables.signing_keys.c.secret)
                .order_by(tables.signing_keys.c.created.desc(), tables.signing_keys.c.kid.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return await self.rotate(conn)
        self._secrets[row.kid] = row.secret
        return row.kid, row.secret

    async def find(self, conn_factory: object, kid: str) -> bytes | None:
        cached = self._secrets.get(kid)
        if cached is not None:
            return cached
        async with conn_factory.read() as conn:  # type: ignore[attr-defined]
            row = (await conn.execute(_SECRET_BY_KID, {"kid": kid})).first()
        if row is None:
            return None
        self._secrets[kid] = row.secret
        return row.secret

    async def rotate(self, conn: Connection) -> tuple[str, bytes]:
        """Add a new key that signs from now on; older keys keep verifying their tokens."""
        kid, secret = secrets.token_hex(8), secrets.token_bytes(32)
        await conn.execute(tables.signing_keys.insert().values(kid=kid, secret=secret, created=format_utc(utcnow())))
        self._secrets[kid] = secret
        return kid, secret


def issue(client: Client, *, kid: str, secret: bytes, ttl_seconds: int, scope: tuple[str, ...]) -> IssuedToken:
    now = int(time.time())
    scope_text = " ".join(scope)
    claims = {
        "iss": ISSUER,
        "sub": client.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_hex(8),
        "scope": scope_text,
        "accounts": list(client.accounts),
        "channel": client.channel,
    }
    token = jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})
    return IssuedToken(token, ttl_seconds, now + ttl_seconds, scope_text)


def unverified_kid(token: str) -> str | None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    # Our kids are short printable ASCII; anything else (a NUL byte, say) names no key.
    if not isinstance(kid, str) or not (0 < len(kid) <= 32 and kid.isascii() and kid.isprintable()):
        return None
    return kid if header.get("alg") == ALGORITHM else None


def verify(token: str, secret: bytes) -> Principal | None:
    """The principal a token names, or None for any token that is not valid right now."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "nbf", "sub", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    scope, accounts, channel = claims.get("scope"), claims.get("accounts"), claims.get("channel")
    if not isinstance(scope, str) or not isinstance(accounts, list) or not isinstance(channel, int):
        return None
    return Principal(
        client_id=str(claims["sub"]),
        scope=frozenset(scope.split()),
        accounts=frozenset(a for a in accounts if isinstance(a, str)),
        channel=channel,
        expires_at=claims["exp"],
    )


class VerifiedTokens:
    """Tokens this process has verified, until they expire: a signature is checked once, not on
    every request. Revocation is still checked on every request (auth/deps.py)."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}

    def get(self, token: str) -> Principal | None:
        principal = self._principals.get(token)
        if principal is not None and time.time() >= principal.expires_at:
            del self._principals[token]
            return None
        return principal

    def add(self, token: str, principal: Principal) -> None:
        if len(self._principals) >= self.MAX_ENTRIES:
            self._principals.clear()
        self._principals[token] = principal
