"""Reading and validating request bodies, after the caller is authenticated.

Order of refusals: 415 not JSON, 413 over 1 MiB, 400 malformed JSON, 422 invalid fields."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request

from patron.errors import (
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    field_error,
    pydantic_errors,
)

MAX_BODY_BYTES = 1024 * 1024

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def is_json_media_type(content_type: str | None) -> bool:
    """application/json (or a +json type), in UTF-8: JSON has no other encoding on the wire."""
    media_type, _, parameters = (content_type or "").partition(";")
    media_type = media_type.strip().lower()
    if not (
        media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
    ):
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


async def read_bytes(request: Request) -> bytes:
    """The raw body, refused with 413 as soon as it passes the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    if not is_json_media_type(request.headers.get("content-type")):
        raise UnsupportedMediaType()
    raw = await read_bytes(request)
    if not raw.strip():
        raise InvalidJson("The request body is empty; send a JSON document.")
    return parse_json(raw)


# orjson reads an integer past 64 bits as a float, silently; such a body takes the exact parser.
_LONG_NUMBER = re.compile(rb"\d{19}")
_INT64 = 2**63


def _exact_int(text: str) -> int:
    value = int(text)
    if not -_INT64 <= value < 2 * _INT64:
        raise OverflowError(text)
    return value


def _no_constant(name: str) -> None:
    raise ValueError(name)


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """The JSON value of ``raw``: 400 invalid_json if it is not JSON, 422 for numbers past 64 bits."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"The {what} is not valid JSON: {exc.msg} at character {exc.pos}.") from None
    if _LONG_NUMBER.search(raw):
        try:
            json.loads(raw, parse_int=_exact_int, parse_constant=_no_constant)
        except OverflowError:
            raise ValidationFailed(
                [field_error(["body"], "integers must fit in 64 bits", "int_too_large")],
                f"The {what} has an integer too large to keep exactly.",
            ) from None
    return value


def validate(model: type[M], data: Any, *, context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc, ("body",))) from None


def validate_as(adapter: TypeAdapter[T], data: Any, *, context: dict[str, Any] | None = None) -> T:
    try:
        return adapter.validate_python(data, context=context, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc, ("body",))) from None
