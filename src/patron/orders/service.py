"""CRM orders: recording one (exactly once per orderId), reading one, and paging a guest's history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from patron import ids
from patron.customers import repository as customers
from patron.db import Connection
from patron.errors import CustomerNotFound, OrderConflict, OrderNotFound, PatronError
from patron.orders import repository
from patron.orders.schemas import OrderCreate, display_amount


def document_of(body: OrderCreate, *, account_id: str, default_channel: int) -> dict[str, Any]:
    """The order as Patron stores and serves it, without its own id."""
    amount = body.payment.amount
    return {
        "id": None,
        "crmProfileId": body.crmProfileId,
        "orderId": body.orderId,
        "accountId": account_id,
        "channel": body.channel if body.channel is not None else default_channel,
        "payment": {
            "amount": {
                "value": amount.value,
                "currency": amount.currency,
                "display": display_amount(amount.value, amount.currency),
            }
        },
        "orderDisplayId": body.orderDisplayId,
        "orderDate": body.orderDate,
        "orderType": body.orderType,
        "itemQuantity": body.itemQuantity,
        "locationId": body.locationId,
    }


def _same_content(stored: str, document: dict[str, Any]) -> bool:
    kept = orjson.loads(stored)
    return {**kept, "id": None} == document


async def record(conn: Connection, account_id: str, body: OrderCreate, *, default_channel: int) -> tuple[bool, str]:
    """(created, stored document). Re-recording the same content is a no-op; other content, 409."""
    if not ids.is_id(body.crmProfileId) or not await repository.profile_exists(conn, account_id, body.crmProfileId):
        raise CustomerNotFound(context={"crmProfileId": body.crmProfileId})
    document = document_of(body, account_id=account_id, default_channel=default_channel)
    for _ in range(2):
        existing = await repository.find_by_order_id(conn, account_id, body.orderId)
        if existing is not None:
            crm_order_id, stored = existing
            if not _same_content(stored, document):
                raise OrderConflict(context={"crmOrderId": crm_order_id})
            return False, stored
        crm_order_id = ids.new_id()
        text = orjson.dumps({**document, "id": crm_order_id}).decode()
        if await repository.insert(
            conn,
            account_id,
            crm_order_id=crm_order_id,
            profile_id=body.crmProfileId,
            order_id=body.orderId,
            order_date=body.orderDate,
            document=text,
        ):
            return True, text
        # Another request recorded this orderId between our read and our insert: compare with it.
    raise AssertionError("an orderId that is neither insertable nor readable")


async def record_many(
    conn: Connection, account_id: str, bodies: Sequence[OrderCreate], *, default_channel: int
) -> list[tuple[bool, str] | PatronError]:
    """Record several orders at once, each exactly as ``record`` would, with a few statements in all.

    One outcome per body, in order: (created, stored document), or the error ``record`` would raise."""
    profiles = await repository.existing_profiles(conn, account_id, {b.crmProfileId for b in bodies})
    known = await repository.find_by_order_ids(
        conn, account_id, {b.orderId for b in bodies if b.crmProfileId in profiles}
    )
    outcomes: list[tuple[bool, str] | PatronError] = []
    rows: list[dict[str, str]] = []
    for body in bodies:
        if body.crmProfileId not in profiles:
            outcomes.append(CustomerNotFound(context={"crmProfileId": body.crmProfileId}))
            continue
        document = document_of(body, account_id=account_id, default_channel=default_channel)
        existing = known.get(body.orderId)
        if existing is not None:
            crm_order_id, stored = existing
            same = _same_content(stored, document)
            outcomes.append((False, stored) if same else OrderConflict(context={"crmOrderId": crm_order_id}))
            continue
        crm_order_id = ids.new_id()
        text = orjson.dumps({**document, "id": crm_order_id}).decode()
        known[body.orderId] = (crm_order_id, text)
        rows.append(
            {
                "id": crm_order_id,
                "crm_profile_id": body.crmProfileId,
                "order_id": body.orderId,
                "order_date": body.orderDate,
                "document": text,
            }
        )
        outcomes.append((True, text))
    written = await repository.insert_many(conn, account_id, rows)
    if len(written) < len(rows):
        # Another transaction recorded some of these orderIds between our read and our insert:
        # those bodies (and any later body with the same orderId) go through record() one by one.
        raced = {row["order_id"] for row in rows} - written
        for n, body in enumerate(bodies):
            if body.orderId in raced and body.crmProfileId in profiles:
                try:
                    outcomes[n] = await record(conn, account_id, body, default_channel=default_channel)
                except PatronError as exc:
                    outcomes[n] = exc
    return outcomes


async def get(conn: Connection, account_id: str, crm_order_id: str) -> str:
    document = await repository.get(conn, account_id, crm_order_id) if ids.is_id(crm_order_id) else None
    if document is None:
        raise OrderNotFound()
    return document


async def history(
    conn: Connection, account_id: str, profile_id: str, *, page: int, size: int, favorites_only: bool = False
) -> tuple[int, list[str]]:
    profile = await customers.get(conn, account_id, profile_id) if ids.is_id(profile_id) else None
    if profile is None:
        raise CustomerNotFound()
    order_ids = None
    if favorites_only:
        favorites = orjson.loads(profile.document)["favorites"]
        order_ids = [f["orderId"] for f in favorites if f["type"] == "order"]
    return await repository.page_of_profile(
        conn, account_id, profile_id, offset=(page - 1) * size, limit=size, order_ids=order_ids
    )
