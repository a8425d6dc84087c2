"""Patron's own OpenAPI document: the seed's paths and shapes, with bodies we parse ourselves.

Routes read their JSON bodies after authentication (so a bad token beats a bad body), which
FastAPI cannot see; ``body_of`` documents those bodies and ``errors_of`` the error answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, TypeAdapter

REF_TEMPLATE = "#/components/schemas/{model}"
_defs: dict[str, Any] = {}


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error of the /crm API."""

    code: str = Field(description="Stable snake_case code, e.g. customer_not_found.")
    message: str = Field(description="A human sentence.")
    context: dict[str, Any] = Field(
        description="Details: `errors` (a list of {loc, msg, type}) for validation_error, "
        "`crmProfileId` for customer_already_exists, `requestId` for internal_error."
    )


_ERROR_TEXT = {
    400: "Malformed JSON (invalid_json) or a bad Idempotency-Key.",
    401: "Missing, malformed, forged or expired token (invalid_token).",
    403: "Account not granted to this client (forbidden) or scope missing (insufficient_scope).",
    404: "No such profile or order in this account.",
    409: "Conflict with the stored data or a request still in flight.",
    412: "If-Match does not name the current version (precondition_failed).",
    413: "Body over 1 MiB (payload_too_large).",
    415: "Body is not JSON (unsupported_media_type).",
    422: "Invalid fields (validation_error, context.errors names each).",
    429: "Too many requests (rate_limited); see Retry-After.",
    503: "Database busy (unavailable); see Retry-After.",
}


def body_of(model: type[BaseModel] | TypeAdapter[Any], example: Any = None) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON request body of this model."""
    if isinstance(model, TypeAdapter):
        schema = model.json_schema(ref_template=REF_TEMPLATE)
    else:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    _defs.update(schema.pop("$defs", {}))
    if isinstance(model, type):
        _defs[model.__name__] = schema
        schema = {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


def errors_of(*statuses: int) -> dict[int | str, dict[str, Any]]:
    codes = sorted({*statuses, 422, 429, 503})
    return {status: {"model": ErrorBody, "description": _ERROR_TEXT[status]} for status in codes}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title="Patron CRM API",
                version=app.version,
                openapi_version="3.1.0",
                description=(
                    "A self-hosted guest CRM that speaks the Deliverect CRM API. Authenticate with "
                    "OAuth 2.0 client credentials at `POST /oauth/token`, then send "
                    "`Authorization: Bearer <token>` on every /crm route."
                ),
                routes=app.routes,
                tags=[
                    {"name": "Customers", "description": "Guest profiles, their addresses, vehicles and favorites."},
                    {"name": "Orders", "description": "A guest's order history and favorite orders."},
                ],
            )
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(_defs)
            components["securitySchemes"] = {
                "oauth2": {
                    "type": "oauth2",
                    "description": "OAuth 2.0 client credentials: exchange client_id and client_secret "
                    "at POST /oauth/token for a Bearer access token.",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "/oauth/token",
                            "scopes": {
                                "crm:read": "Read profiles and orders",
                                "crm:write": "Write profiles and orders",
                            },
                        }
                    },
                }
            }
            document["security"] = [{"oauth2": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
