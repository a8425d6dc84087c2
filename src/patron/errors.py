"""The error tree and the handlers that render every error as {"code", "message", "context"}."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

log = logging.getLogger("patron.errors")


class PatronError(Exception):
    """A domain error that knows its HTTP status and its stable, snake_case code."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        context: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.context = context or {}
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidJson(PatronError):
    status, code, message = 400, "invalid_json", "The request body is not valid JSON."


class InvalidIdempotencyKey(PatronError):
    status, code = 400, "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 visible ASCII characters."


class InvalidToken(PatronError):
    status, code, message = 401, "invalid_token", "A valid bearer token is required."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Forbidden(PatronError):
    status, code, message = 403, "forbidden", "This client is not allowed to use this account."


class InsufficientScope(PatronError):
    status, code, message = 403, "insufficient_scope", "The token lacks the scope this route needs."


class NotFound(PatronError):
    status, code, message = 404, "not_found", "No such route."


class CustomerNotFound(PatronError):
    status, code, message = 404, "customer_not_found", "No customer profile with that id in this account."


class OrderNotFound(PatronError):
    status, code, message = 404, "order_not_found", "No CRM order with that id in this account."


class MethodNotAllowed(PatronError):
    status, code, message = 405, "method_not_allowed", "This route does not accept that method."


class CustomerAlreadyExists(PatronError):
    status, code = 409, "customer_already_exists"
    message = "A customer profile with this email already exists in this account."


class AmbiguousProfileLookup(PatronError):
    status, code = 409, "ambiguous_profile_lookup"
    message = "Several profiles share this phone number; look up by email instead."


class OrderConflict(PatronError):
    status, code = 409, "order_conflict"
    message = "An order with this orderId is already recorded with different content."


class IdempotencyKeyInUse(PatronError):
    status, code = 409, "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still being processed."


class PreconditionFailed(PatronError):
    status, code = 412, "precondition_failed"
    message = "If-Match does not name the profile's current version."


class PayloadTooLarge(PatronError):
    status, code, message = 413, "payload_too_large", "The request body is larger than 1 MiB."


class UnsupportedMediaType(PatronError):
    status, code = 415, "unsupported_media_type"
    message = "The request body must be JSON (Content-Type: application/json)."


class ValidationFailed(PatronError):
    status, code, message = 422, "validation_error", "The request has invalid fields."

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None) -> None:
        super().__init__(message, context={"errors": errors})


class IdempotencyKeyReused(PatronError):
    status, code = 422, "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request."


class RateLimited(PatronError):
    status, code, message = 429, "rate_limited", "Too many requests; retry after the given delay."


class Unavailable(PatronError):
    status, code, message = 503, "unavailable", "The database is busy; retry shortly."

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def field_error(loc: list[str | int], msg: str, type_: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def pydantic_errors(
    exc: ValidationError | RequestValidationError, prefix: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Our error items from Pydantic's, without echoing the rejected input back."""
    items = []
    for err in exc.errors():
        msg = err["msg"]
        # "Value error, <our text>" reads worse than our text alone.
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        items.append(field_error([*prefix, *err["loc"]], msg, err["type"]))
    return items


def error_response(
    status: int,
    code: str,
    message: str,
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = orjson.dumps({"code": code, "message": message, "context": context or {}})
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def patron_error_response(exc: PatronError, request_id: str | None) -> Response:
    context = exc.context
    if exc.status >= 500 and request_id:  # every 5xx names the request, so a report can be traced
        context = {**context, "requestId": request_id}
    return error_response(exc.status, exc.code, exc.message, context, exc.headers)


async def _patron_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PatronError)
    return patron_error_response(exc, getattr(request.state, "request_id", None))


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, ValidationFailed.code, ValidationFailed.message, {"errors": pydantic_errors(exc)})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allow = ", ".join(sorted(allowed_methods(request)))
        return error_response(405, MethodNotAllowed.code, MethodNotAllowed.message, headers={"Allow": allow})
    if exc.status_code == 404:
        return error_response(404, NotFound.code, NotFound.message)
    return error_response(exc.status_code, "http_error", str(exc.detail))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> set[str]:
    # Starlette names only the first matching route's methods; a path can have several routes.
    allowed = set()
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.add(method)
    return allowed


def internal_error_response(request_id: str) -> Response:
    return error_response(
        500,
        "internal_error",
        "Something went wrong on our side; quote the request id when reporting it.",
        {"requestId": request_id},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(PatronError, _patron_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
