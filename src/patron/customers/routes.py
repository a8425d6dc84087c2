"""The seed's customer routes: register, look up, read, update, and replace lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from patron.auth.deps import ReadPrincipal, WritePrincipal
from patron.body import read_json, validate, validate_as
from patron.customers import repository, service
from patron.customers.repository import StoredProfile
from patron.customers.schemas import (
    CustomerCreate,
    CustomerLookup,
    CustomerRead,
    CustomerUpdate,
    DeliveryAddressesAdapter,
    FavoritesAdapter,
    VehiclesAdapter,
)
from patron.db import Database
from patron.errors import CustomerAlreadyExists, ValidationFailed, field_error
from patron.fields import email_key
from patron.openapi import body_of, errors_of

router = APIRouter(prefix="/crm/{accountId}/customers", tags=["Customers"])

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='Only write if the profile is still at this version (its ETag, e.g. "3").'),
]


def profile_response(profile: StoredProfile) -> Response:
    return Response(
        profile.document,
        media_type="application/json",
        headers={"ETag": service.etag(profile.version)},
    )


async def _context(request: Request, account_id: str) -> dict[str, Any]:
    country = await request.app.state.default_countries.get(request.app.state.db, account_id)
    return {"default_country": country}


async def _on_email_race(db: Database, account_id: str, document_email: str | None) -> CustomerAlreadyExists:
    # The unique index refused a write another request raced us to; name the winner.
    async with db.read() as conn:
        taken = (
            await repository.find_by_email_key(conn, account_id, email_key(document_email)) if document_email else None
        )
    return CustomerAlreadyExists(context={"crmProfileId": taken.id if taken else None})


@router.post(
    "",
    summary="Deliverect Create Customer",
    description="Endpoint used to register a new customer",
    operation_id="post_crm_accountid_customers",
    response_model=CustomerRead,
    openapi_extra=body_of(CustomerCreate, example={"email": "email@email.com"}),
    responses=errors_of(400, 401, 403, 409, 413, 415, 422),
)
async def create_customer(request: Request, accountId: str, principal: WritePrincipal) -> Response:
    data = await read_json(request)
    body = validate(CustomerCreate, data, context=await _context(request, accountId))
    db: Database = request.app.state.db
    try:
        async with db.write() as conn:
            profile = await service.create(conn, principal, accountId, body)
    except IntegrityError:
        email = body.contact.email if body.contact and body.contact.email else body.email
        raise await _on_email_race(db, accountId, email) from None
    return profile_response(profile)


@router.post(
    "/lookup",
    summary="Deliverect Lookup Customer by Email",
    description="Find a profile by `email` (which decides when given) or by `phone` (E.164 comparison).",
    operation_id="post_crm_accountid_customers_lookup",
    response_model=CustomerRead,
    openapi_extra=body_of(CustomerLookup, example={"email": "email@email.com"}),
    responses=errors_of(400, 401, 403, 404, 409, 413, 415, 422),
)
async def lookup_customer(request: Request, accountId: str, principal: ReadPrincipal) -> Response:
    data = await read_json(request)
    query = validate(CustomerLookup, data, context=await _context(request, accountId))
    if query.email is None and query.phone is None:
        raise ValidationFailed(
            [field_error(["body"], "give an email or a phone to look up", "missing")],
            "Give an email or a phone to look up.",
        )
    db: Database = request.app.state.db
    async with db.single() as conn:
        profile = await service.lookup(conn, accountId, query)
    return profile_response(profile)


@router.get(
    "/{crmProfileId}",
    summary="Deliverect Customer Profile",
    description="Deliverect Customer Profile",
    operation_id="get_crm_accountid_customers_crmprofileid",
    response_model=CustomerRead,
    responses=errors_of(401, 403, 404),
)
async def get_customer(request: Request, accountId: str, crmProfileId: str, principal: ReadPrincipal) -> Response:
    db: Database = request.app.state.db
    async with db.single() as conn:
        profile = await service.get(conn, accountId, crmProfileId)
    return profile_response(profile)


async def _write(
    request: Request, account_id: str, profile_id: str, changes: dict[str, Any], if_match: str | None
) -> Response:
    db: Database = request.app.state.db
    try:
        async with db.write() as conn:
            profile = await service.update(conn, account_id, profile_id, changes, if_match=if_match)
    except IntegrityError:
        contact = changes.get("contact")
        raise await _on_email_race(db, account_id, getattr(contact, "email", None)) from None
    return profile_response(profile)


@router.patch(
    "/{crmProfileId}",
    summary="Deliverect Update Customer Profile",
    description=(
        "Partial update: an absent field is unchanged, `null` clears it. `contact` merges field by "
        "field; `billingAddress` and `metadata` are replaced whole; lists replace the stored list."
    ),
    operation_id="patch_crm_accountid_customers_crmprofileid",
    response_model=CustomerRead,
    openapi_extra=body_of(CustomerUpdate),
    responses=errors_of(400, 401, 403, 404, 409, 412, 413, 415, 422),
)
async def update_customer(
    request: Request,
    accountId: str,
    crmProfileId: str,
    principal: WritePrincipal,
    if_match: IfMatch = None,
) -> Response:
    data = await read_json(request)
    body = validate(CustomerUpdate, data, context=await _context(request, accountId))
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return await _write(request, accountId, crmProfileId, changes, if_match)


def _list_route(field: str, adapter: TypeAdapter[Any], summary: str, description: str, operation_id: str) -> None:
    async def replace_list(
        request: Request,
        accountId: str,
        crmProfileId: str,
        principal: WritePrincipal,
        if_match: IfMatch = None,
    ) -> Response:
        data = await read_json(request)
        items = validate_as(adapter, data, context=await _context(request, accountId))
        return await _write(request, accountId, crmProfileId, {field: items}, if_match)

    router.add_api_route(
        f"/{{crmProfileId}}/{field}",
        replace_list,
        methods=["PATCH"],
        summary=summary,
        description=description,
        operation_id=operation_id,
        response_model=CustomerRead,
        openapi_extra=body_of(adapter),
        responses=errors_of(400, 401, 403, 404, 412, 413, 415, 422),
    )


_list_route(
    "deliveryAddresses",
    DeliveryAddressesAdapter,
    "Deliverect Update Customer Delivery Addresses",
    "Replace the delivery addresses stored on a customer's profile.",
    "patch_crm_accountid_customers_crmprofileid_deliveryaddresses",
)
_list_route(
    "vehicles",
    VehiclesAdapter,
    "Deliverect Update Customer Vehicles",
    "Replace the vehicles stored on a customer's profile.",
    "patch_crm_accountid_customers_crmprofileid_vehicles",
)
_list_route(
    "favorites",
    FavoritesAdapter,
    "Deliverect Update Customer Favorites",
    "Replace a customer's favorites (items, orders and stores).",
    "patch_crm_accountid_customers_crmprofileid_favorites",
)
