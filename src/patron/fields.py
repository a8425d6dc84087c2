"""Field types shared by every body: checked strings, emails, phones, dates, countries.

Each normaliser is a plain function (easy to test on its own) wrapped into an Annotated type
that Pydantic applies, so one validation pass names every bad field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Any

import email_validator
import orjson
import phonenumbers
import pycountry
from pydantic import AfterValidator, Strict, StringConstraints, ValidationInfo

# ".test" is reserved for testing, which is exactly what staging channels use it for.
email_validator.SPECIAL_USE_DOMAIN_NAMES = [d for d in email_validator.SPECIAL_USE_DOMAIN_NAMES if d != "test"]

NAME_MAX = 100
TEXT_MAX = 255
METADATA_MAX_KEYS = 50
METADATA_MAX_BYTES = 8 * 1024
METADATA_MAX_DEPTH = 5


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, Strict(), StringConstraints(max_length=TEXT_MAX), AfterValidator(_no_nul)]
Name = Annotated[str, Strict(), StringConstraints(max_length=NAME_MAX), AfterValidator(_no_nul)]


def _lower(value: str) -> str:
    return value.lower()


LowerText = Annotated[Text, AfterValidator(_lower)]


# --- email -------------------------------------------------------------------------------


def normalize_email(raw: str) -> str:
    """The address as stored: trimmed, case and domain kept as written. ValueError if invalid."""
    value = raw.strip()
    if not value:
        raise ValueError("must be an email address, not empty")
    try:
        _validated(value)
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    return value


# A write checks an address, then derives its key: parse each address once.
@lru_cache(maxsize=4096)
def _validated(address: str) -> email_validator.ValidatedEmail:
    return email_validator.validate_email(address, check_deliverability=False)


def email_key(address: str) -> str:
    """The form two addresses are compared in: local part case-folded, domain lower-case IDNA."""
    parsed = _validated(address.strip())
    return parsed.local_part.casefold() + "@" + parsed.ascii_domain.lower()


Email = Annotated[
    str, Strict(), StringConstraints(max_length=TEXT_MAX), AfterValidator(_no_nul), AfterValidator(normalize_email)
]


# --- phone -------------------------------------------------------------------------------

_FORMATTING = re.compile(r"[\s\-().\u00a0/]")


def normalize_phone(raw: str, default_country: str | None) -> str:
    """E.164 form of a phone number; national numbers need the account's default country."""
    value = raw.strip()
    if not value:
        raise ValueError("must be a phone number, not empty")
    compact = _FORMATTING.sub("", value)
    if compact.startswith("00"):
        value, region = "+" + compact[2:], None
    elif compact.startswith("+"):
        value, region = compact, None
    elif default_country:
        region = default_country
    else:
        raise ValueError(
            "needs the international form (+32 470 12 34 56): this account has no default country for national numbers"
        )
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone(value: str, info: ValidationInfo) -> str:
    context = info.context or {}
    return normalize_phone(value, context.get("default_country"))


Phone = Annotated[str, Strict(), StringConstraints(max_length=64), AfterValidator(_no_nul), AfterValidator(_phone)]


# --- birthdate ---------------------------------------------------------------------------

_BIRTHDATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def normalize_birthdate(raw: str, today: date | None = None) -> str:
    """The calendar date as written (any time and offset ignored), as YYYY-MM-DD."""
    match = _BIRTHDATE.fullmatch(raw)
    if match is None:
        raise ValueError("must be a date, YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ)")
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    try:
        value = date(year, month, day)
    except ValueError:
        raise ValueError("is not a date that exists") from None
    if match.group(4) is not None:
        hour, minute, second = (int(g) for g in match.group(4, 5, 6))
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError("has an impossible time")
    if value > (today or datetime.now(UTC).date()):
        raise ValueError("is in the future")
    return value.isoformat()


Birthdate = Annotated[str, Strict(), StringConstraints(max_length=64), AfterValidator(normalize_birthdate)]


# --- country and coordinates -------------------------------------------------------------


def normalize_country(raw: str) -> str:
    """ISO 3166-1 alpha-2, upper case."""
    value = raw.strip().upper()
    if len(value) != 2 or not value.isascii() or pycountry.countries.get(alpha_2=value) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, like BE or US")
    return value


Country = Annotated[str, Strict(), StringConstraints(max_length=TEXT_MAX), AfterValidator(normalize_country)]


def check_coordinates(value: list[float]) -> list[float]:
    if len(value) != 2:
        raise ValueError("must be [latitude, longitude]: two numbers")
    lat, lng = value
    if not -90 <= lat <= 90:
        raise ValueError("latitude must be between -90 and 90")
    if not -180 <= lng <= 180:
        raise ValueError("longitude must be between -180 and 180")
    return value


Coordinates = Annotated[list[Annotated[float, Strict()]], Strict(), AfterValidator(check_coordinates)]


# --- metadata ----------------------------------------------------------------------------


def _deeper_than(value: Any, levels: int) -> bool:
    """True when ``value`` nests more than ``levels`` objects or arrays; never looks further down."""
    if not isinstance(value, dict | list):
        return False
    if levels == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_deeper_than(child, levels - 1) for child in children)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"may have at most {METADATA_MAX_KEYS} top-level keys")
    # Depth first: encoding a deeply nested value would hit the JSON encoder's own recursion limit.
    if _deeper_than(value, METADATA_MAX_DEPTH):
        raise ValueError(f"may nest at most {METADATA_MAX_DEPTH} levels deep")
    if len(orjson.dumps(value)) > METADATA_MAX_BYTES:
        raise ValueError(f"may be at most {METADATA_MAX_BYTES} bytes as JSON")
    if _has_nul(value):
        raise ValueError("must not contain NUL characters")
    return value


Metadata = Annotated[dict[str, Any], Strict(), AfterValidator(check_metadata)]
