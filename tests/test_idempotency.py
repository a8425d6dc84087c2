"""Idempotency-Key on every POST and PATCH under /crm: a retry replays the first answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from patron import tables
from patron.auth import clients
from patron.idempotency import fingerprint
from tests.factories import Tenant, on_database


def count_profiles(database_url: str) -> int:
    async def work(conn: Any) -> int:
        return (await conn.execute(select(func.count()).select_from(tables.customers))).scalar_one()

    return on_database(database_url, work)


def stored_keys(database_url: str) -> list[Any]:
    async def work(conn: Any) -> list[Any]:
        t = tables.idempotency_keys
        return list((await conn.execute(select(t.c.client_id, t.c.key, t.c.status))).all())

    return on_database(database_url, work)


def put_key_row(database_url: str, **values: Any) -> None:
    async def work(conn: Any) -> None:
        await conn.execute(tables.idempotency_keys.insert().values(**values))

    on_database(database_url, work)


@contextmanager
def customers_table_missing(database_url: str) -> Iterator[None]:
    """Make every write to customers fail (a 500), then put the table back."""
    on_database(database_url, lambda conn: conn.execute(text("ALTER TABLE customers RENAME TO customers_away")))
    try:
        yield
    finally:
        on_database(database_url, lambda conn: conn.execute(text("ALTER TABLE customers_away RENAME TO customers")))


def keyed(tenant: Tenant, key: str, **extra: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key, **extra}


def _without_per_request(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in ("x-request-id", "idempotent-replayed")}


def test_a_retried_create_replays_the_first_answer_byte_for_byte(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    body = {"contact": {"email": "ana@example.com", "firstName": "Ana"}}
    first = client.post(
        tenant.url("/customers"), json=body, headers=keyed(tenant, "create-ana", **{"X-Request-ID": "a1"})
    )
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers

    again = client.post(
        tenant.url("/customers"), json=body, headers=keyed(tenant, "create-ana", **{"X-Request-ID": "a2"})
    )
    assert again.status_code == 200
    assert again.content == first.content
    assert _without_per_request(again.headers) == _without_per_request(first.headers)
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["x-request-id"] == "a1"
    assert again.headers["x-request-id"] == "a2"
    assert count_profiles(database_url) == 1


def test_a_replay_without_a_request_id_gets_a_fresh_one(client: TestClient, tenant: Tenant) -> None:
    body = {"email": "ana@example.com"}
    first = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "k"))
    again = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "k"))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] and again.headers["x-request-id"] != first.headers["x-request-id"]


def test_a_4xx_answer_is_kept_and_replayed(client: TestClient, tenant: Tenant) -> None:
    query = {"email": "late@example.com"}
    missing = client.post(tenant.url("/customers/lookup"), json=query, headers=keyed(tenant, "look-1"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "customer_not_found"

    created = client.post(tenant.url("/customers"), json=query, headers=tenant.headers)
    assert created.status_code == 200

    replayed = client.post(tenant.url("/customers/lookup"), json=query, headers=keyed(tenant, "look-1"))
    assert replayed.status_code == 404
    assert replayed.content == missing.content
    assert replayed.headers["idempotent-replayed"] == "true"

    fresh = client.post(tenant.url("/customers/lookup"), json=query, headers=keyed(tenant, "look-2"))
    assert fresh.status_code == 200
    assert fresh.json()["id"] == created.json()["id"]


def test_a_5xx_answer_is_not_kept_and_the_retry_runs_again(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    body = {"email": "ana@example.com"}
    with customers_table_missing(database_url):
        failed = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "flaky"))
        assert failed.status_code == 500
        assert failed.json()["code"] == "internal_error"
    assert stored_keys(database_url) == []

    retried = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "flaky"))
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert count_profiles(database_url) == 1


def test_the_same_key_with_another_body_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    first = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=keyed(tenant, "k1"))
    assert first.status_code == 200

    other = client.post(tenant.url("/customers"), json={"email": "bob@example.com"}, headers=keyed(tenant, "k1"))
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert set(other.json()) == {"code", "message", "context"}
    assert count_profiles(database_url) == 1
    lookup = client.post(tenant.url("/customers/lookup"), json={"email": "bob@example.com"}, headers=tenant.headers)
    assert lookup.status_code == 404


def test_the_same_key_on_another_route_is_refused(client: TestClient, tenant: Tenant) -> None:
    body = {"email": "ana@example.com"}
    assert client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "k1")).status_code == 200
    lookup = client.post(tenant.url("/customers/lookup"), json=body, headers=keyed(tenant, "k1"))
    assert lookup.status_code == 422
    assert lookup.json()["code"] == "idempotency_key_reused"


def test_the_same_key_while_the_first_request_runs_is_409(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    path = tenant.url("/customers")
    body = b'{"email":"ana@example.com"}'
    put_key_row(
        database_url,
        client_id=tenant.client_id,
        key="running",
        fingerprint=fingerprint("POST", path, body),
        created_at=time.time(),
        status=None,
        headers=None,
        body=None,
    )
    answer = client.post(path, content=body, headers=keyed(tenant, "running", **{"Content-Type": "application/json"}))
    assert answer.status_code == 409
    assert answer.json()["code"] == "idempotency_key_in_use"
    assert "idempotent-replayed" not in answer.headers
    assert count_profiles(database_url) == 0


def test_keys_are_scoped_to_the_client(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    body = {"email": "ana@example.com"}
    mine = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "shared-key"))
    theirs = client.post(other_tenant.url("/customers"), json=body, headers=keyed(other_tenant, "shared-key"))
    assert mine.status_code == theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["accountId"] == other_tenant.account_id


def test_an_expired_key_is_replaced(client: TestClient, tenant: Tenant, database_url: str) -> None:
    put_key_row(
        database_url,
        client_id=tenant.client_id,
        key="old",
        fingerprint="0" * 64,
        created_at=time.time() - 25 * 3600,
        status=200,
        headers='[["content-type","application/json"]]',
        body=b'{"stale":true}',
    )
    fresh = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=keyed(tenant, "old"))
    assert fresh.status_code == 200, fresh.text
    assert "idempotent-replayed" not in fresh.headers
    again = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=keyed(tenant, "old"))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == fresh.content


def test_a_key_younger_than_24_hours_still_replays(client: TestClient, tenant: Tenant, database_url: str) -> None:
    path = tenant.url("/customers")
    body = b'{"email":"ana@example.com"}'
    put_key_row(
        database_url,
        client_id=tenant.client_id,
        key="yesterday",
        fingerprint=fingerprint("POST", path, body),
        created_at=time.time() - 23 * 3600,
        status=201,
        headers='[["content-type","application/json"],["content-length","14"]]',
        body=b'{"kept":"yes"}',
    )
    answer = client.post(path, content=body, headers=keyed(tenant, "yesterday", **{"Content-Type": "application/json"}))
    assert answer.status_code == 201
    assert answer.content == b'{"kept":"yes"}'
    assert answer.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 256, b"with space", b"tab\there", "cl\u00e9".encode(), b"nul\x00byte", b"del\x7f"],
    ids=["empty", "too-long", "space", "tab", "non-ascii", "nul", "del"],
)
def test_a_malformed_key_is_400_and_nothing_runs(
    client: TestClient, tenant: Tenant, database_url: str, key: bytes
) -> None:
    answer = client.post(
        tenant.url("/customers"),
        json={"email": "ana@example.com"},
        headers={**tenant.headers, "Idempotency-Key": key},  # type: ignore[dict-item]
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_idempotency_key"
    assert count_profiles(database_url) == 0


@pytest.mark.parametrize("key", ["!", "~" * 255, "order:2024-05-01/" + uuid.uuid4().hex])
def test_keys_of_1_to_255_visible_characters_are_accepted(client: TestClient, tenant: Tenant, key: str) -> None:
    first = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=keyed(tenant, key))
    assert first.status_code == 200
    again = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=keyed(tenant, key))
    assert again.headers["idempotent-replayed"] == "true"


def test_a_retried_patch_is_applied_once(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    profile = tenant.url(f"/customers/{created.json()['id']}")
    patch = {"contact": {"firstName": "Ana"}}
    first = client.patch(profile, json=patch, headers=keyed(tenant, "p1"))
    again = client.patch(profile, json=patch, headers=keyed(tenant, "p1"))
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert client.get(profile, headers=tenant.headers).headers["etag"] == '"2"'


@pytest.mark.parametrize("field", ["deliveryAddresses", "vehicles", "favorites"])
def test_a_retried_list_replacement_is_applied_once(client: TestClient, tenant: Tenant, field: str) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    profile = tenant.url(f"/customers/{created.json()['id']}")
    items = {
        "deliveryAddresses": [{"street": "Main 1", "city": "Gent"}],
        "vehicles": [{"make": "Volvo"}],
        "favorites": [{"type": "item", "item": "PIZZA-1"}],
    }[field]
    first = client.patch(f"{profile}/{field}", json=items, headers=keyed(tenant, "list"))
    again = client.patch(f"{profile}/{field}", json=items, headers=keyed(tenant, "list"))
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    now = client.get(profile, headers=tenant.headers)
    assert now.headers["etag"] == '"2"'
    assert now.json()[field] == first.json()[field]


def test_a_retried_order_is_recorded_once(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    order = {
        "crmProfileId": created.json()["id"],
        "orderId": "POS-1",
        "orderDate": "2025-10-24T16:45:14Z",
        "payment": {"amount": {"value": 1999, "currency": "EUR"}},
    }
    first = client.post(tenant.url("/orders"), json=order, headers=keyed(tenant, "order-1"))
    again = client.post(tenant.url("/orders"), json=order, headers=keyed(tenant, "order-1"))
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    unkeyed = client.post(tenant.url("/orders"), json=order, headers=tenant.headers)
    assert unkeyed.status_code == 200  # the one stored order, not a second


def test_the_token_endpoint_ignores_idempotency_keys(client: TestClient, tenant: Tenant) -> None:
    credentials = {
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "grant_type": "client_credentials",
    }
    first = client.post("/oauth/token", json=credentials, headers={"Idempotency-Key": "tok"})
    again = client.post("/oauth/token", json=credentials, headers={"Idempotency-Key": "tok"})
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert again.json()["access_token"] != first.json()["access_token"]
    malformed = client.post("/oauth/token", json=credentials, headers={"Idempotency-Key": "has space"})
    assert malformed.status_code == 200


def test_get_requests_ignore_idempotency_keys(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    read = client.get(tenant.url(f"/customers/{created.json()['id']}"), headers=keyed(tenant, "has space"))
    assert read.status_code == 200
    assert "idempotent-replayed" not in read.headers


def test_a_bad_token_with_a_bad_key_is_401(client: TestClient, tenant: Tenant) -> None:
    answer = client.post(
        tenant.url("/customers"),
        json={"email": "ana@example.com"},
        headers={"Authorization": "Bearer not-a-token", "Idempotency-Key": "has space"},
    )
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_token"


def test_a_refused_token_does_not_use_up_the_key(client: TestClient, tenant: Tenant, database_url: str) -> None:
    body = {"email": "ana@example.com"}
    bad = client.post(
        tenant.url("/customers"), json=body, headers={"Authorization": "Bearer nope", "Idempotency-Key": "k"}
    )
    assert bad.status_code == 401
    assert stored_keys(database_url) == []
    good = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "k"))
    assert good.status_code == 200
    assert "idempotent-replayed" not in good.headers


def test_a_revoked_client_cannot_replay_a_stored_answer(client: TestClient, tenant: Tenant, database_url: str) -> None:
    body = {"contact": {"email": "ana@example.com", "firstName": "Ana"}}
    assert client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "k")).status_code == 200
    assert on_database(database_url, lambda conn: clients.revoke(conn, tenant.client_id))

    replay = client.post(tenant.url("/customers"), json=body, headers=keyed(tenant, "k"))
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_token"
    assert "ana@example.com" not in replay.text


def test_an_oversized_body_with_a_key_is_413_and_not_kept(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    huge = b'{"email":"ana@example.com","externalId":"' + b"x" * (1024 * 1024) + b'"}'
    answer = client.post(
        tenant.url("/customers"), content=huge, headers=keyed(tenant, "big", **{"Content-Type": "application/json"})
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"
    assert stored_keys(database_url) == []
    small = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=keyed(tenant, "big"))
    assert small.status_code == 200
