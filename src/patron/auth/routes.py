"""POST /oauth/token: OAuth 2.0 client credentials (RFC 6749 section 4.4), JSON or form."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import anyio
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from patron import ratelimit
from patron.auth import clients, tokens
from patron.db import Database
from patron.errors import Unavailable

log = logging.getLogger("patron.auth")
router = APIRouter()

_MAX_BODY = 64 * 1024
_QUERY_CREDENTIALS = {"client_id", "client_secret"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.error, self.description, self.headers = status, error, description, headers or {}


def _oauth_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers={**_NO_STORE, **(headers or {})}, media_type="application/json")


def _invalid_request(description: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description)


async def _read_parameters(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise _invalid_request("The request body is too large.")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _invalid_request("The body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise _invalid_request("The body must be a JSON object.")
        return params
    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise _invalid_request("The body is not a valid form.") from None
        names = [name for name, _ in pairs]
        if len(names) != len(set(names)):
            raise _invalid_request("A parameter is repeated.")
        return dict(pairs)
    raise _invalid_request("Send the parameters as JSON or as a form (application/x-www-form-urlencoded).")


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        client_id, secret = decoded.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise OAuthError(
            401, "invalid_client", "The Basic credentials cannot be read.", {"WWW-Authenticate": "Basic"}
        ) from None
    # RFC 6749 section 2.3.1: both parts are form-encoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _requested_scope(params: dict[str, Any], granted: tuple[str, ...]) -> tuple[str, ...]:
    asked = params.get("scope")
    if asked is None or asked == "":
        return granted
    if not isinstance(asked, str) or not set(asked.split()) <= set(granted):
        raise OAuthError(400, "invalid_scope", "The requested scope is more than this client was given.")
    return tuple(s for s in granted if s in asked.split())


async def _issue(request: Request) -> Response:
    if _QUERY_CREDENTIALS & set(request.query_params.keys()):
        raise _invalid_request("Credentials are not accepted in the query string.")
    params = await _read_parameters(request)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise _invalid_request("grant_type is required.")
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")

    client_id: Any
    secret: Any
    authorization = request.headers.get("authorization", "")
    used_basic = authorization.partition(" ")[0].lower() == "basic"
    if used_basic:
        if "client_id" in params and params.get("client_secret") is not None:
            raise _invalid_request("Send the credentials once: in Basic or in the body, not both.")
        client_id, secret = _basic_credentials(authorization)
    else:
        client_id, secret = params.get("client_id"), params.get("client_secret")
    challenge = {"WWW-Authenticate": "Basic"} if used_basic else {}
    if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
        raise OAuthError(401, "invalid_client", "Client credentials are missing or unreadable.", challenge)
    if len(client_id) > 255 or len(secret) > 1024 or "\x00" in client_id:
        raise OAuthError(401, "invalid_client", "Client authentication failed.", challenge)

    db: Database = request.app.state.db
    async with db.read() as conn:
        retry_after = await ratelimit.token_retry_after(conn, client_id)
    if retry_after is not None:
        raise OAuthError(
            429,
            "rate_limited",
            "Too many failed attempts for this client; retry later.",
            {"Retry-After": str(retry_after)},
        )

    async with db.read() as conn:
        row = await clients.get(conn, client_id)
    # argon2 is deliberately slow: keep it off the event loop.
    client = await anyio.to_thread.run_sync(clients.verify_secret, row, secret, limiter=request.app.state.secret_checks)
    if client is None:
        async with db.write() as conn:
            await ratelimit.record_token_failure(conn, client_id)
        log.info("token refused", extra={"client_id": client_id[:24]})
        raise OAuthError(401, "invalid_client", "Client authentication failed.", challenge)

    scope = _requested_scope(params, client.scope)
    async with db.write() as conn:
        kid, key = await request.app.state.keys.current(conn)
    issued = tokens.issue(
        client, kid=kid, secret=key, ttl_seconds=request.app.state.settings.token_ttl_seconds, scope=scope
    )
    return _oauth_response(
        200,
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "expires_at": issued.expires_at,
            "scope": issued.scope,
        },
    )


@router.api_route(
    "/oauth/token",
    methods=["POST", "GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
async def token(request: Request) -> Response:
    """Exchange client credentials for a Bearer access token."""
    if request.method != "POST":
        return _oauth_response(405, {"error": "invalid_request", "error_description": "Use POST."}, {"Allow": "POST"})
    try:
        return await _issue(request)
    except OAuthError as exc:
        body = {"error": exc.error, "error_description": exc.description}
        return _oauth_response(exc.status, body, exc.headers)
    except Unavailable:
        return _oauth_response(
            503, {"error": "temporarily_unavailable", "error_description": "Retry shortly."}, {"Retry-After": "1"}
        )
