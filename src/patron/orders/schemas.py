"""CRM order bodies: what clients record, and the stored order and history page they read."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from iso4217 import Currency as Iso4217
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints

from patron.fields import Text
from patron.timefmt import format_utc

MAX_AMOUNT = 2**53 - 1
MAX_CHANNEL = 2**31 - 1

_CURRENCIES = {c.code: (c.exponent or 0) for c in Iso4217}
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)


def normalize_currency(raw: str) -> str:
    code = raw.strip().upper()
    if code not in _CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code, like EUR")
    return code


def minor_units(currency: str) -> int:
    return _CURRENCIES[currency]


def display_amount(value: int, currency: str) -> str:
    """The amount in major units, with the currency's own number of decimals (EUR 100 -> "1.00")."""
    exponent = _CURRENCIES[currency]
    if exponent == 0:
        return str(value)
    major, minor = divmod(value, 10**exponent)
    return f"{major}.{minor:0{exponent}d}"


def normalize_order_date(raw: str) -> str:
    """RFC 3339 with an offset, returned in UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ."""
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise ValueError("must be an RFC 3339 date-time with an offset, like 2025-10-24T16:45:14.665Z")
    day, clock, fraction, offset = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    except ValueError:
        raise ValueError("is not a date-time that exists") from None
    if moment.utcoffset() is None:
        raise ValueError("needs an offset")
    try:
        return format_utc(moment.astimezone(UTC))
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("is out of range once converted to UTC") from None


CurrencyCode = Annotated[str, Strict(), StringConstraints(max_length=16), AfterValidator(normalize_currency)]
OrderDate = Annotated[str, Strict(), StringConstraints(max_length=64), AfterValidator(normalize_order_date)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0, le=MAX_AMOUNT)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class AmountIn(_Body):
    value: NonNegativeInt = Field(description="Integer minor units (cents): 1999 is 19.99 EUR.")
    currency: CurrencyCode = Field(description="ISO 4217, any case; stored upper case.")


class PaymentIn(_Body):
    amount: AmountIn


class OrderCreate(_Body):
    """Record a CRM order summary for a profile. ``orderId`` is unique per account."""

    crmProfileId: Text
    orderId: Annotated[Text, StringConstraints(min_length=1)]
    channel: Annotated[int, Strict(), Field(ge=0, le=MAX_CHANNEL)] | None = None
    payment: PaymentIn
    orderDisplayId: Text | None = None
    orderDate: OrderDate
    orderType: Annotated[int, Strict(), Field(ge=0, le=4)] = Field(
        0, description="0 unknown, 1 pickup, 2 delivery, 3 eat-in, 4 curbside"
    )
    itemQuantity: Annotated[int, Strict(), Field(ge=0, le=MAX_CHANNEL)] = 0
    locationId: Text | None = None


class AmountRead(BaseModel):
    value: int
    currency: str
    display: str


class PaymentRead(BaseModel):
    amount: AmountRead


class OrderRead(BaseModel):
    id: str
    crmProfileId: str
    orderId: str
    accountId: str
    channel: int
    payment: PaymentRead
    orderDisplayId: str | None
    orderDate: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ")
    orderType: int
    itemQuantity: int
    locationId: str | None


class OrderPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[OrderRead]
