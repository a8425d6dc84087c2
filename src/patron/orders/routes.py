"""Order routes: the seed's reads (history, one order, favorite orders) and Patron's write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from patron.auth.deps import ReadPrincipal, WritePrincipal
from patron.body import read_json, validate
from patron.db import Database
from patron.openapi import body_of, errors_of
from patron.orders import service
from patron.orders.schemas import OrderCreate, OrderPage, OrderRead

router = APIRouter(prefix="/crm/{accountId}", tags=["Orders"])

Page = Annotated[int, Query(ge=1, description="1-based page number.")]
Size = Annotated[int, Query(ge=1, le=100, description="Orders per page, 1 to 100.")]


def _json(document: str, status: int = 200) -> Response:
    return Response(document, status_code=status, media_type="application/json")


def _page(total: int, page: int, size: int, documents: list[str]) -> Response:
    head = f'{{"total":{total},"page":{page},"size":{size},"items":['
    return _json(head + ",".join(documents) + "]}")


@router.post(
    "/orders",
    summary="Record a CRM order",
    description=(
        "Patron's addition to the seed: record a CRM order summary for a profile. 201 with the stored "
        "order; posting an `orderId` already recorded with the same content answers 200 with the stored "
        "one; with different content, 409 `order_conflict`."
    ),
    operation_id="post_crm_accountid_orders",
    status_code=201,
    response_model=OrderRead,
    responses={
        200: {"model": OrderRead, "description": "Already recorded with the same content."},
        **errors_of(400, 401, 403, 404, 409, 413, 415, 422),
    },
    openapi_extra=body_of(OrderCreate),
)
async def record_order(request: Request, accountId: str, principal: WritePrincipal) -> Response:
    data = await read_json(request)
    body = validate(OrderCreate, data)
    db: Database = request.app.state.db
    async with db.write() as conn:
        created, document = await service.record(conn, accountId, body, default_channel=principal.channel)
    return _json(document, 201 if created else 200)


@router.get(
    "/customers/{crmProfileId}/orders",
    summary="Deliverect Customer Order History",
    description="The profile's orders, newest `orderDate` first (ties by id, descending).",
    operation_id="get_crm_accountid_customers_crmprofileid_orders",
    response_model=OrderPage,
    responses=errors_of(401, 403, 404),
)
async def order_history(
    request: Request,
    accountId: str,
    crmProfileId: str,
    principal: ReadPrincipal,
    page: Page = 1,
    size: Size = 50,
) -> Response:
    db: Database = request.app.state.db
    async with db.read() as conn:
        total, documents = await service.history(conn, accountId, crmProfileId, page=page, size=size)
    return _page(total, page, size, documents)


@router.get(
    "/customers/{crmProfileId}/orders/favorites",
    summary="Deliverect Customer Favorite Orders",
    description=(
        "The profile's recorded orders whose `orderId` is among its order favorites, in the same "
        "envelope and order as the history."
    ),
    operation_id="get_crm_accountid_customers_crmprofileid_orders_favorites",
    response_model=OrderPage,
    responses=errors_of(401, 403, 404),
)
async def favorite_orders(
    request: Request,
    accountId: str,
    crmProfileId: str,
    principal: ReadPrincipal,
    page: Page = 1,
    size: Size = 50,
) -> Response:
    db: Database = request.app.state.db
    async with db.read() as conn:
        total, documents = await service.history(
            conn, accountId, crmProfileId, page=page, size=size, favorites_only=True
        )
    return _page(total, page, size, documents)


@router.get(
    "/orders/{crmOrderId}",
    summary="Deliverect CRM Order",
    description="One CRM order.",
    operation_id="get_crm_accountid_orders_crmorderid",
    response_model=OrderRead,
    responses=errors_of(401, 403, 404),
)
async def get_order(request: Request, accountId: str, crmOrderId: str, principal: ReadPrincipal) -> Response:
    db: Database = request.app.state.db
    async with db.single() as conn:
        document = await service.get(conn, accountId, crmOrderId)
    return _json(document)
