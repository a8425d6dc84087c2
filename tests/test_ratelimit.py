"""The request limit per API client: a burst, then 429 rate_limited with Retry-After, shared by every
process on the database. A slow refill rate keeps these tests independent of the clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from starlette.testclient import TestClient

from patron.app import create_app
from patron.config import Settings
from tests.conftest import make_settings
from tests.factories import Tenant

SLOW = 0.01  # one request per 100 s once the burst is spent: no refill while a test runs


def _app(database_url: str, stack: ExitStack, **overrides: object) -> TestClient:
    settings = make_settings(database_url, **overrides)
    return stack.enter_context(TestClient(create_app(settings), raise_server_exceptions=False))


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def _read(client: TestClient, tenant: Tenant) -> int:
    return client.post(
        tenant.url("/customers/lookup"), json={"email": "nobody@example.com"}, headers=tenant.headers
    ).status_code


def test_requests_past_the_burst_are_429_with_retry_after(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=3)
    assert [_read(client, tenant) for _ in range(3)] == [404, 404, 404]

    limited = client.get(tenant.url("/customers/000000000000000000000000"), headers=tenant.headers)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert set(limited.json()) == {"code", "message", "context"}
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 100
    assert limited.headers["x-request-id"]


def test_a_limited_request_writes_nothing(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=1)
    assert (
        client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers).status_code
        == 200
    )
    limited = client.post(tenant.url("/customers"), json={"email": "bob@example.com"}, headers=tenant.headers)
    assert limited.status_code == 429

    unlimited = _app(database_url, stack)
    lookup = unlimited.post(tenant.url("/customers/lookup"), json={"email": "bob@example.com"}, headers=tenant.headers)
    assert lookup.status_code == 404


def test_another_client_is_not_affected(
    database_url: str, tenant: Tenant, other_tenant: Tenant, stack: ExitStack
) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=2)
    assert [_read(client, tenant) for _ in range(3)] == [404, 404, 429]
    assert [_read(client, other_tenant) for _ in range(2)] == [404, 404]
    assert _read(client, other_tenant) == 429


def test_the_limit_comes_before_authorisation(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=1)
    foreign = "/crm/000000000000000000000000/customers/lookup"
    first = client.post(foreign, json={"email": "a@example.com"}, headers=tenant.headers)
    assert first.status_code == 403
    second = client.post(foreign, json={"email": "a@example.com"}, headers=tenant.headers)
    assert second.status_code == 429


@pytest.mark.parametrize(("per_second", "burst"), [(0, 1), (0, 0), (0, 100), (SLOW, 0)])
def test_zero_turns_the_limit_off(
    database_url: str, tenant: Tenant, stack: ExitStack, per_second: float, burst: int
) -> None:
    client = _app(database_url, stack, rate_limit_per_second=per_second, rate_limit_burst=burst)
    assert {_read(client, tenant) for _ in range(5)} == {404}


def test_the_environment_sets_the_limit(
    database_url: str, tenant: Tenant, stack: ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_RATE_LIMIT_PER_SECOND", str(SLOW))
    monkeypatch.setenv("PATRON_RATE_LIMIT_BURST", "2")
    settings = Settings(database_url=database_url, access_log=False)
    client = stack.enter_context(TestClient(create_app(settings), raise_server_exceptions=False))
    assert [_read(client, tenant) for _ in range(3)] == [404, 404, 429]


def test_two_processes_on_one_database_share_the_bucket(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    one = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=3)
    two = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=3)
    assert [_read(one, tenant), _read(two, tenant), _read(one, tenant)] == [404, 404, 404]
    assert _read(two, tenant) == 429
    assert _read(one, tenant) == 429


def test_the_token_endpoint_is_not_counted(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=2)
    credentials = {
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "grant_type": "client_credentials",
    }
    assert [client.post("/oauth/token", json=credentials).status_code for _ in range(3)] == [200, 200, 200]
    assert [_read(client, tenant) for _ in range(3)] == [404, 404, 429]
    assert client.post("/oauth/token", json=credentials).status_code == 200


def test_idempotent_replays_are_counted(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=2)
    keyed = {**tenant.headers, "Idempotency-Key": "k"}
    body = {"email": "ana@example.com"}
    assert client.post(tenant.url("/customers"), json=body, headers=keyed).status_code == 200
    replay = client.post(tenant.url("/customers"), json=body, headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    limited = client.post(tenant.url("/customers"), json=body, headers=keyed)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert "idempotent-replayed" not in limited.headers


def test_a_limited_keyed_request_does_not_use_up_the_key(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    limited_app = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=1)
    assert _read(limited_app, tenant) == 404
    keyed = {**tenant.headers, "Idempotency-Key": "later"}
    body = {"email": "ana@example.com"}
    assert limited_app.post(tenant.url("/customers"), json=body, headers=keyed).status_code == 429

    unlimited = _app(database_url, stack)
    retried = unlimited.post(tenant.url("/customers"), json=body, headers=keyed)
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


def test_bad_tokens_are_401_not_counted(database_url: str, tenant: Tenant, stack: ExitStack) -> None:
    client = _app(database_url, stack, rate_limit_per_second=SLOW, rate_limit_burst=1)
    bad = {"Authorization": "Bearer forged"}
    for _ in range(3):
        answer = client.post(tenant.url("/customers/lookup"), json={"email": "a@example.com"}, headers=bad)
        assert answer.status_code == 401
    assert _read(client, tenant) == 404
