"""Customer profiles: the rules of creation, partial update, list replacement and lookup.

A profile is kept as the JSON document the API serves; every write rebuilds that document
inside the request's transaction, from the stored one under a row lock, so concurrent
writes of different fields all land. Services never commit."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import orjson

from patron import ids
from patron.auth.tokens import Principal
from patron.customers import repository
from patron.customers.repository import StoredProfile
from patron.customers.schemas import (
    BillingAddressIn,
    ContactIn,
    CustomerCreate,
    CustomerLookup,
    DeliveryAddressIn,
    FavoriteIn,
    VehicleIn,
)
from patron.db import Connection
from patron.errors import (
    AmbiguousProfileLookup,
    CustomerAlreadyExists,
    CustomerNotFound,
    PreconditionFailed,
)
from patron.fields import email_key
from patron.timefmt import format_utc, utcnow

_BILLING_FIELDS = ("street", "subpremise", "area", "city", "postalCode", "stateOrProvince", "country", "coordinates")
_VEHICLE_FIELDS = ("make", "model", "color")
LIST_FIELDS = ("deliveryAddresses", "vehicles", "favorites")
# RFC 9110 entity-tag: an optional weak prefix and an opaque quoted string (no DQUOTE inside).
_ENTITY_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')


def full_name(first: str | None, last: str | None) -> str | None:
    parts = [p.strip() for p in (first, last) if p is not None and p.strip()]
    return " ".join(parts) or None


def _contact(
    email: str, first: str | None, last: str | None, birthdate: str | None, phone: str | None
) -> dict[str, Any]:
    return {
        "email": email,
        "firstName": first,
        "lastName": last,
        "birthdate": birthdate,
        "phone": phone,
        "fullName": full_name(first, last),
    }


def _billing(address: BillingAddressIn | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {name: getattr(address, name) for name in _BILLING_FIELDS}


def _with_ids_and_default(
    items: list[dict[str, Any]], requested: list[str | None], existing: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Keep the id of an item that names an existing one; new ids for the rest; one default."""
    known = {item["id"] for item in existing}
    used: set[str] = set()
    for item, wanted in zip(items, requested, strict=True):
        item_id = wanted if wanted is not None and wanted in known and wanted not in used else ids.new_id()
        used.add(item_id)
        item["id"] = item_id
    if items and not any(item["default"] for item in items):
        items[0]["default"] = True
    return items


def delivery_addresses(items: list[DeliveryAddressIn], existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    built = [{**_billing(a), "id": "", "default": bool(a.default)} for a in items]  # type: ignore[dict-item]
    return _with_ids_and_default(built, [a.id for a in items], existing)


def vehicles(items: list[VehicleIn], existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    built = [
        {"id": "", **{name: getattr(v, name) for name in _VEHICLE_FIELDS}, "default": bool(v.default)} for v in items
    ]
    return _with_ids_and_default(built, [v.id for v in items], existing)


def favorites(items: list[FavoriteIn]) -> list[dict[str, Any]]:
    unique: dict[bytes, dict[str, Any]] = {}
    for item in items:
        document = item.as_document()
        unique.setdefault(orjson.dumps(document), document)
    return list(unique.values())


def _list_value(field: str, items: list[Any] | None, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if items is None:
        return []
    if field == "deliveryAddresses":
        return delivery_addresses(items, existing)
    if field == "vehicles":
        return vehicles(items, existing)
    return favorites(items)


def _next_updated(previous: str) -> str:
    # "updated" moves on every write, even two in the same microsecond.
    now = utcnow()
    last = datetime.strptime(previous, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=now.tzinfo)
    return format_utc(max(now, last + timedelta(microseconds=1)))


def check_if_match(if_match: str | None, version: int) -> None:
    """RFC 9110 strong comparison; a weak or malformed tag never matches."""
    if if_match is None:
        return
    value = if_match.strip(" \t")
    if value == "*":
        return
    # If-Match = "*" / #entity-tag: any element that is not an entity-tag makes the whole value malformed.
    tags = [tag for tag in (part.strip(" \t") for part in value.split(",")) if tag]
    if not all(_ENTITY_TAG.fullmatch(tag) for tag in tags) or f'"{version}"' not in tags:
        raise PreconditionFailed(context={"currentETag": f'"{version}"'})


def etag(version: int) -> str:
    return f'"{version}"'


async def _raise_taken(conn: Connection, account_id: str, key: str) -> None:
    existing = await repository.find_by_email_key(conn, account_id, key)
    raise CustomerAlreadyExists(context={"crmProfileId": existing.id if existing else None})


def new_profile(channel: int, account_id: str, body: CustomerCreate) -> tuple[StoredProfile, str, str | None]:
    """A new profile's (stored form, email key, phone) from a validated create body."""
    contact = body.contact or ContactIn()
    email = contact.email if "email" in contact.model_fields_set else body.email
    assert email is not None, "CustomerCreate requires an email"

    profile_id = ids.new_id()
    now = format_utc(utcnow())
    document = {
        "externalId": body.externalId,
        "loyaltyProviderId": body.loyaltyProviderId,
        "deliveryAddresses": _list_value("deliveryAddresses", body.deliveryAddresses, []),
        "billingAddress": _billing(body.billingAddress),
        "metadata": body.metadata or {},
        "vehicles": _list_value("vehicles", body.vehicles, []),
        "id": profile_id,
        "accountId": account_id,
        "channel": channel,
        "created": now,
        "updated": now,
        "contact": _contact(email, contact.firstName, contact.lastName, contact.birthdate, contact.phone),
        "favorites": _list_value("favorites", body.favorites, []),
    }
    return StoredProfile(profile_id, 1, orjson.dumps(document).decode()), email_key(email), contact.phone


async def create(conn: Connection, principal: Principal, account_id: str, body: CustomerCreate) -> StoredProfile:
    profile, key, phone = new_profile(principal.channel, account_id, body)
    if not await repository.insert(
        conn, account_id, profile_id=profile.id, email_key=key, phone=phone, document=profile.document
    ):
        await _raise_taken(conn, account_id, key)
    return profile


async def get(conn: Connection, account_id: str, profile_id: str) -> StoredProfile:
    stored = await repository.get(conn, account_id, profile_id) if ids.is_id(profile_id) else None
    if stored is None:
        raise CustomerNotFound()
    return stored


async def update(
    conn: Connection,
    account_id: str,
    profile_id: str,
    changes: dict[str, Any],
    *,
    if_match: str | None,
) -> StoredProfile:
    """Apply ``changes`` (validated models and values, only the fields the client sent)."""
    stored = await repository.get(conn, account_id, profile_id, for_update=True) if ids.is_id(profile_id) else None
    if stored is None:
        raise CustomerNotFound()
    check_if_match(if_match, stored.version)
    document = orjson.loads(stored.document)
    old_key = email_key(document["contact"]["email"])

    for field, value in changes.items():
        if field == "contact":
            contact = document["contact"]
            contact.update(value.model_dump(include=value.model_fields_set))
            contact["fullName"] = full_name(contact["firstName"], contact["lastName"])
        elif field in LIST_FIELDS:
            document[field] = _list_value(field, value, document[field])
        elif field == "billingAddress":
            document[field] = _billing(value)
        elif field == "metadata":
            document[field] = value or {}
        else:
            document[field] = value

    key = email_key(document["contact"]["email"])
    if key != old_key:
        taken = await repository.find_by_email_key(conn, account_id, key)
        if taken is not None and taken.id != profile_id:
            raise CustomerAlreadyExists(context={"crmProfileId": taken.id})
    document["updated"] = _next_updated(document["updated"])
    text = orjson.dumps(document).decode()
    version = stored.version + 1
    await repository.replace(
        conn,
        account_id,
        profile_id=profile_id,
        version=version,
        email_key=key,
        phone=document["contact"]["phone"],
        document=text,
    )
    return StoredProfile(profile_id, version, text)


async def lookup(conn: Connection, account_id: str, query: CustomerLookup) -> StoredProfile:
    if query.email is not None:
        found = await repository.find_by_email_key(conn, account_id, email_key(query.email))
        if found is None:
            raise CustomerNotFound("No customer profile with that email in this account.")
        return found
    assert query.phone is not None
    matches = await repository.find_by_phone(conn, account_id, query.phone, limit=2)
    if not matches:
        raise CustomerNotFound("No customer profile with that phone number in this account.")
    if len(matches) > 1:
        raise AmbiguousProfileLookup()
    return matches[0]
