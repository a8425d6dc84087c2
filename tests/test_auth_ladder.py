"""The auth ladder, once per /crm route: no or bad token 401, another account 403, another
account's id under your own account 404, the right scope 2xx. Authentication and authorisation
are decided before the body is read."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
import pytest
from starlette.testclient import TestClient

from tests.factories import Tenant, create_api_client, mint_token
from tests.test_errors_and_limits import assert_error


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # under /crm/{accountId}; {profile} and {order} are filled in per tenant
    scope: str
    body: Any = None
    # For a route naming a profile or order: the 404 code of an unknown one.
    not_found: str | None = None

    def url(self, account_id: str, *, profile: str, order: str) -> str:
        return f"/crm/{account_id}" + self.path.format(profile=profile, order=order)

    def json(self, *, profile: str) -> Any:
        if self.body is None:
            return None
        return orjson.loads(orjson.dumps(self.body).decode().replace("{profile}", profile))


NEW_ORDER = {
    "crmProfileId": "{profile}",
    "orderId": "order-2",
    "orderDate": "2025-10-24T16:45:14.665Z",
    "payment": {"amount": {"value": 100, "currency": "EUR"}},
}

ROUTES = [
    Route("create", "POST", "/customers", "crm:write", {"email": "new-guest@example.com"}),
    Route("lookup", "POST", "/customers/lookup", "crm:read", {"email": "ana@example.com"}),
    Route("get", "GET", "/customers/{profile}", "crm:read", not_found="customer_not_found"),
    Route("patch", "PATCH", "/customers/{profile}", "crm:write", {"externalId": "x"}, "customer_not_found"),
    Route(
        "addresses",
        "PATCH",
        "/customers/{profile}/deliveryAddresses",
        "crm:write",
        [{"street": "Main Street", "country": "BE"}],
        "customer_not_found",
    ),
    Route("vehicles", "PATCH", "/customers/{profile}/vehicles", "crm:write", [{"make": "Audi"}], "customer_not_found"),
    Route(
        "favorites",
        "PATCH",
        "/customers/{profile}/favorites",
        "crm:write",
        [{"type": "item", "item": "PLU-1"}],
        "customer_not_found",
    ),
    Route("order-create", "POST", "/orders", "crm:write", NEW_ORDER),
    Route("history", "GET", "/customers/{profile}/orders", "crm:read", not_found="customer_not_found"),
    Route(
        "favorite-orders", "GET", "/customers/{profile}/orders/favorites", "crm:read", not_found="customer_not_found"
    ),
    Route("order", "GET", "/orders/{order}", "crm:read", not_found="order_not_found"),
]


def by_name(routes: list[Route]) -> Any:
    return pytest.mark.parametrize("route", routes, ids=[r.name for r in routes])


@dataclass
class World:
    tenant: Tenant
    other: Tenant
    profile: str
    order: str
    other_profile: str
    other_order: str

    def url(self, route: Route, *, account_id: str | None = None, profile: str | None = None) -> str:
        return route.url(account_id or self.tenant.account_id, profile=profile or self.profile, order=self.order)


def _seed(client: TestClient, tenant: Tenant) -> tuple[str, str]:
    profile = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert profile.status_code == 200, profile.text
    profile_id = profile.json()["id"]
    order = client.post(
        tenant.url("/orders"),
        json={**NEW_ORDER, "crmProfileId": profile_id, "orderId": "order-1"},
        headers=tenant.headers,
    )
    assert order.status_code == 201, order.text
    return profile_id, order.json()["id"]


@pytest.fixture
def world(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> World:
    profile, order = _seed(client, tenant)
    other_profile, other_order = _seed(client, other_tenant)
    return World(tenant, other_tenant, profile, order, other_profile, other_order)


def send(client: TestClient, route: Route, url: str, headers: dict[str, str], *, profile: str) -> Any:
    payload = route.json(profile=profile)
    if payload is None:
        return client.request(route.method, url, headers=headers)
    return client.request(route.method, url, json=payload, headers=headers)


def assert_invalid_token(response: Any) -> None:
    assert_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(tenant: Tenant) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "patron",
        "sub": tenant.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "scope": "crm:read crm:write",
        "accounts": [tenant.account_id],
        "channel": 10000,
    }


def bad_tokens(tenant: Tenant, database_url: str) -> dict[str, str]:
    """Authorization header values that must all be refused with 401."""
    kid = jwt.get_unverified_header(tenant.token)["kid"]
    header, payload, signature = tenant.token.split(".")
    claims = _claims(tenant)
    tampered = dict(claims, accounts=[tenant.account_id, "0" * 24])
    expired = mint_token(database_url, tenant.client_id, ttl_seconds=-120)
    return {
        "empty-bearer": "Bearer ",
        "not-a-jwt": "Bearer not-a-token",
        "wrong-scheme": "Basic " + base64.b64encode(b"a:b").decode(),
        "token-without-scheme": tenant.token,
        "forged-signature": "Bearer " + jwt.encode(claims, secrets.token_bytes(32), "HS256", headers={"kid": kid}),
        "unknown-kid": "Bearer " + jwt.encode(claims, secrets.token_bytes(32), "HS256", headers={"kid": "nope"}),
        "nul-kid": "Bearer " + jwt.encode(claims, secrets.token_bytes(32), "HS256", headers={"kid": "a\x00b"}),
        "alg-none": "Bearer " + f"{_b64(orjson.dumps({'alg': 'none', 'kid': kid}))}.{_b64(orjson.dumps(claims))}.",
        "tampered-payload": f"Bearer {header}.{_b64(orjson.dumps(tampered))}.{signature}",
        "truncated-signature": f"Bearer {header}.{payload}.{signature[:-4]}",
        "expired": f"Bearer {expired}",
    }


ACCOUNT_IDS = ["not-an-account", "0" * 24, "0" * 25, "%00", "%E2%82%AC", "{own_upper}"]
BAD_IDS = ["abc", "z" * 24, "{upper}", "{id}0", "{short}", "%00", "%E2%82%AC", "lookup", "-1", "{id}%20"]
BAD_BODIES = [
    (b'{"broken": ', "application/json"),
    (b"", "application/json"),
    (b"hello", "text/plain"),
    (b"<a/>", "application/xml"),
    (b'{"contact": {"email": 5}, "email": []}', "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'{"x": "' + b"y" * (1024 * 1024 + 10) + b'"}', "application/json"),
    (b"{}", None),
]


def _profile_document(client: TestClient, world: World) -> Any:
    return client.get(world.tenant.url(f"/customers/{world.profile}"), headers=world.tenant.headers).json()


@by_name(ROUTES)
def test_auth_ladder(client: TestClient, world: World, database_url: str, route: Route) -> None:
    url = world.url(route)
    before = _profile_document(client, world)

    # 401: no token, and every malformed, forged or expired one.
    assert_invalid_token(send(client, route, url, {}, profile=world.profile))
    tokens = bad_tokens(world.tenant, database_url)
    for name, value in tokens.items():
        response = send(client, route, url, {"Authorization": value}, profile=world.profile)
        assert response.status_code == 401, (name, response.text)
        assert_invalid_token(response)

    # 401 beats a bad body: the body is read only after authentication.
    if route.body is not None:
        for content, content_type in BAD_BODIES:
            headers = {"Authorization": "Bearer not-a-token"}
            if content_type:
                headers["Content-Type"] = content_type
            assert_invalid_token(client.request(route.method, url, content=content, headers=headers))

    # 403 forbidden: another account, or an account id that is not well formed.
    other_url = route.url(world.other.account_id, profile=world.other_profile, order=world.other_order)
    assert_error(send(client, route, other_url, world.tenant.headers, profile=world.other_profile), 403, "forbidden")
    for account_id in ACCOUNT_IDS:
        account_url = world.url(route, account_id=account_id.format(own_upper=world.tenant.account_id.upper()))
        response = send(client, route, account_url, world.tenant.headers, profile=world.profile)
        assert response.status_code == 403, (account_id, response.text)
        assert_error(response, 403, "forbidden")
    if route.body is not None:
        broken = {**world.tenant.headers, "Content-Type": "application/json"}
        assert_error(client.request(route.method, other_url, content=b"{", headers=broken), 403, "forbidden")

    # 403 insufficient_scope: a token without this route's scope, bad body or not.
    wrong_scope = "crm:read" if route.scope == "crm:write" else "crm:write"
    client_id, _ = create_api_client(database_url, account_ids=[world.tenant.account_id], scope=(wrong_scope,))
    scoped = {"Authorization": f"Bearer {mint_token(database_url, client_id)}"}
    assert_error(send(client, route, url, scoped, profile=world.profile), 403, "insufficient_scope")
    if route.body is not None:
        broken = {**scoped, "Content-Type": "application/json"}
        assert_error(client.request(route.method, url, content=b"{", headers=broken), 403, "insufficient_scope")

    # None of the refused requests changed anything.
    assert _profile_document(client, world) == before

    # 404: another account's id under your own account, an unknown id and a malformed one all
    # answer exactly alike.
    if route.not_found is not None:
        foreign_url = route.url(world.tenant.account_id, profile=world.other_profile, order=world.other_order)
        foreign = send(client, route, foreign_url, world.tenant.headers, profile=world.other_profile)
        expected = assert_error(foreign, 404, route.not_found)
        real = world.order if "{order}" in route.path else world.profile
        for bad in ["0" * 24, *BAD_IDS]:
            value = bad.format(upper=real.upper(), id=real, short=real[:-1])
            bad_url = route.url(world.tenant.account_id, profile=value, order=value)
            response = send(client, route, bad_url, world.tenant.headers, profile=value)
            assert response.status_code == 404, (value, response.text)
            assert assert_error(response, 404, route.not_found) == expected

    # 2xx with the right token, account and scope.
    response = send(client, route, url, world.tenant.headers, profile=world.profile)
    assert response.status_code in (200, 201), response.text
    assert response.json()


def test_recording_an_order_for_another_accounts_profile_is_404(client: TestClient, world: World) -> None:
    body = {**NEW_ORDER, "crmProfileId": world.other_profile}
    response = client.post(world.tenant.url("/orders"), json=body, headers=world.tenant.headers)
    assert_error(response, 404, "customer_not_found")


def test_looking_up_another_accounts_guest_is_404(client: TestClient, world: World) -> None:
    # Both accounts have ana@example.com; a third address exists only in the other account.
    created = client.post(world.other.url("/customers"), json={"email": "bo@example.com"}, headers=world.other.headers)
    assert created.status_code == 200
    response = client.post(
        world.tenant.url("/customers/lookup"), json={"email": "bo@example.com"}, headers=world.tenant.headers
    )
    assert_error(response, 404, "customer_not_found")
    mine = client.post(
        world.tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=world.tenant.headers
    )
    assert mine.status_code == 200
    assert mine.json()["id"] == world.profile


def test_a_client_granted_two_accounts_works_on_both(client: TestClient, world: World, database_url: str) -> None:
    client_id, _ = create_api_client(database_url, account_ids=[world.tenant.account_id, world.other.account_id])
    headers = {"Authorization": f"Bearer {mint_token(database_url, client_id)}"}
    mine = client.get(world.tenant.url(f"/customers/{world.profile}"), headers=headers)
    theirs = client.get(world.other.url(f"/customers/{world.other_profile}"), headers=headers)
    assert mine.status_code == theirs.status_code == 200
    crossed = client.get(world.tenant.url(f"/customers/{world.other_profile}"), headers=headers)
    assert_error(crossed, 404, "customer_not_found")
