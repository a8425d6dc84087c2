"""The Principal dependency: who is calling a /crm route, decided before the body is read.

The ladder: no or bad token 401, over the rate limit 429, account not granted 403 forbidden,
scope missing 403 insufficient_scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from patron import ids, ratelimit
from patron.auth import clients, tokens
from patron.auth.tokens import Principal
from patron.db import Database
from patron.errors import Forbidden, InsufficientScope, InvalidToken, RateLimited


async def authenticate(request: Request) -> Principal:
    """The verified principal of a bearer token (or 401); also used by middleware."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken()
    state = request.app.state
    known = state.verified_tokens.get(token)
    if known is not None:
        return known
    kid = tokens.unverified_kid(token)
    if kid is None:
        raise InvalidToken()
    secret = await state.keys.find(state.db, kid)
    principal = tokens.verify(token, secret) if secret is not None else None
    if principal is None:
        raise InvalidToken()
    state.verified_tokens.add(token, principal)
    return principal


async def admit(request: Request) -> Principal:
    """Token (401), revocation (401) and the request limit (429), once per request.

    The idempotency middleware admits a request before it replays a stored answer, so a
    replay is counted and a revoked client replays nothing; the route then reuses the result."""
    admitted: Principal | None = getattr(request.state, "admitted", None)
    if admitted is not None:
        return admitted
    principal = await authenticate(request)
    request.state.principal = principal  # the access log names the caller from here on
    db: Database = request.app.state.db
    settings = request.app.state.settings
    if settings.rate_limit_enabled:
        async with db.write() as conn:
            active = await clients.is_active(conn, principal.client_id)
            retry_after = (
                await ratelimit.take_request(
                    conn,
                    principal.client_id,
                    per_second=settings.rate_limit_per_second,
                    burst=settings.rate_limit_burst,
                )
                if active
                else None
            )
    else:
        async with db.single() as conn:
            active = await clients.is_active(conn, principal.client_id)
        retry_after = None
    if not active:
        raise InvalidToken("This client has been revoked.")
    if retry_after is not None:
        raise RateLimited(headers={"Retry-After": str(retry_after)})
    request.state.admitted = principal
    return principal


async def _principal(request: Request, accountId: str, scope: str) -> Principal:
    principal = await admit(request)
    if accountId not in principal.accounts or not ids.is_id(accountId):
        raise Forbidden()
    if scope not in principal.scope:
        raise InsufficientScope(context={"requiredScope": scope})
    return principal


async def read_principal(request: Request, accountId: str) -> Principal:
    return await _principal(request, accountId, "crm:read")


async def write_principal(request: Request, accountId: str) -> Principal:
    return await _principal(request, accountId, "crm:write")


ReadPrincipal = Annotated[Principal, Depends(read_principal)]
WritePrincipal = Annotated[Principal, Depends(write_principal)]
