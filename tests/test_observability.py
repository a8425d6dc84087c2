"""Request ids, the JSON access log, Prometheus metrics and what a 5xx answer says."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from patron.app import create_app
from patron.config import Settings
from patron.db import Database
from patron.migrate import upgrade
from patron.observability import JsonFormatter
from tests.conftest import make_settings
from tests.factories import Tenant, create_tenant

EMAIL = "ana.secret-guest@example.com"


def _sql(database_url: str, statement: str) -> None:
    async def main() -> None:
        db = Database(Settings(database_url=database_url))
        try:
            async with db.write() as conn:
                await conn.execute(text(statement))
        finally:
            await db.dispose()

    asyncio.run(main())


@contextmanager
def customers_table_missing(database_url: str) -> Iterator[None]:
    """Every statement on customers fails until the table is put back."""
    _sql(database_url, "ALTER TABLE customers RENAME TO customers_away")
    try:
        yield
    finally:
        _sql(database_url, "ALTER TABLE customers_away RENAME TO customers")


@contextmanager
def captured_logs(name: str) -> Iterator[io.StringIO]:
    """Every line logger ``name`` writes, formatted as Patron formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def logged_client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(database_url, access_log=True)), raise_server_exceptions=False) as client:
        yield client


def test_metrics_need_no_token_and_count_requests_by_route_template(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"contact": {"email": EMAIL}}, headers=tenant.headers)
    profile_id = created.json()["id"]
    client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers)
    client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers)
    client.get(tenant.url("/customers/000000000000000000000000"), headers=tenant.headers)

    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    body = metrics.text
    assert 'patron_requests_total{method="POST",route="/crm/{accountId}/customers",status="200"} 1.0' in body
    assert (
        'patron_requests_total{method="GET",route="/crm/{accountId}/customers/{crmProfileId}",status="200"} 2.0' in body
    )
    assert (
        'patron_requests_total{method="GET",route="/crm/{accountId}/customers/{crmProfileId}",status="404"} 1.0' in body
    )
    assert (
        'patron_request_duration_seconds_bucket{le="+Inf",route="/crm/{accountId}/customers/{crmProfileId}"} 3.0'
        in body
    )
    assert "patron_request_duration_seconds_count" in body
    assert "# TYPE patron_request_duration_seconds histogram" in body
    assert "patron_db_pool_checked_out " in body
    assert "patron_db_pool_size " in body


def test_metrics_expose_no_personal_data(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"contact": {"email": EMAIL}}, headers=tenant.headers)
    profile_id = created.json()["id"]
    client.post(tenant.url("/customers/lookup"), json={"email": EMAIL}, headers=tenant.headers)
    client.get(f"/crm/{tenant.account_id}/no-such-route/{EMAIL}", headers=tenant.headers)
    client.get(tenant.url(f"/customers/{EMAIL}"), headers=tenant.headers)
    client.request("BREW", tenant.url(f"/customers/{profile_id}"), headers=tenant.headers)

    body = client.get("/metrics").text
    for secret in (EMAIL, "secret-guest", tenant.token, tenant.client_secret, profile_id, tenant.account_id):
        assert secret not in body
    assert 'route="unmatched"' in body
    assert "BREW" not in body


def test_metrics_can_be_turned_off(database_url: str, tenant: Tenant) -> None:
    with TestClient(create_app(make_settings(database_url, metrics=False))) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_patron_metrics_0_in_the_environment_turns_them_off(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_METRICS", "0")
    with TestClient(create_app(make_settings(database_url))) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_every_answer_carries_a_request_id(client: TestClient, tenant: Tenant) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    made = [client.get(path).headers["x-request-id"] for path in ("/healthz", "/nope", "/metrics")]
    assert all(made) and len(set(made)) == 3
    unauthorised = client.get(tenant.url("/customers/000000000000000000000000"))
    assert unauthorised.status_code == 401
    assert unauthorised.headers["x-request-id"]
    hostile = client.get("/healthz", headers={"X-Request-ID": "a\tb<script>"})
    assert hostile.headers["x-request-id"] != "a\tb<script>"


def test_access_log_lines_name_the_request_and_never_the_credentials(logged_client: TestClient, tenant: Tenant) -> None:
    with captured_logs("patron") as stream:
        created = logged_client.post(
            tenant.url("/customers"),
            json={"contact": {"email": EMAIL, "firstName": "Ana"}},
            headers={**tenant.headers, "X-Request-ID": "req-create-1"},
        )
        assert created.status_code == 200
        logged_client.post(tenant.url("/customers/lookup"), json={"email": EMAIL}, headers=tenant.headers)
        logged_client.post(
            "/oauth/token",
            json={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        )
        logged_client.post(
            "/oauth/token",
            json={
                "client_id": tenant.client_id,
                "client_secret": "wrong-" + tenant.client_secret,
                "grant_type": "client_credentials",
            },
        )
        logged_client.get(tenant.url(f"/customers/{EMAIL}"), headers={"Authorization": f"Bearer {tenant.token}x"})

    raw = stream.getvalue()
    for secret in (tenant.token, tenant.client_secret, EMAIL, "secret-guest"):
        assert secret not in raw

    access = [line for line in _lines(stream) if line["logger"] == "patron.access"]
    assert len(access) == 5
    first = access[0]
    assert first["request_id"] == "req-create-1"
    assert first["client_id"] == tenant.client_id
    assert first["account_id"] == tenant.account_id
    assert first["route"] == "/crm/{accountId}/customers"
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], int | float) and first["duration_ms"] >= 0
    assert first["method"] == "POST"
    assert [line["route"] for line in access[2:4]] == ["/oauth/token", "/oauth/token"]
    assert [line["status"] for line in access[2:]] == [200, 401, 401]
    assert access[4]["route"] == "/crm/{accountId}/customers/{crmProfileId}"


def test_access_log_names_the_client_of_a_refused_request(logged_client: TestClient, tenant: Tenant) -> None:
    with captured_logs("patron.access") as stream:
        forbidden = logged_client.get(
            "/crm/000000000000000000000000/customers/000000000000000000000000", headers=tenant.headers
        )
    assert forbidden.status_code == 403
    (line,) = _lines(stream)
    assert line["status"] == 403
    assert line["client_id"] == tenant.client_id
    assert line["account_id"] == "000000000000000000000000"


def test_a_replayed_answer_is_logged_with_its_route_and_client(logged_client: TestClient, tenant: Tenant) -> None:
    keyed = {**tenant.headers, "Idempotency-Key": "k1"}
    logged_client.post(tenant.url("/customers"), json={"email": EMAIL}, headers=keyed)
    with captured_logs("patron.access") as stream:
        replay = logged_client.post(tenant.url("/customers"), json={"email": EMAIL}, headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    (line,) = _lines(stream)
    assert line["route"] == "/crm/{accountId}/customers"
    assert line["client_id"] == tenant.client_id
    assert line["account_id"] == tenant.account_id
    assert line["status"] == 200
    assert line["request_id"] == replay.headers["x-request-id"]
    metrics = logged_client.get("/metrics").text
    assert 'patron_requests_total{method="POST",route="/crm/{accountId}/customers",status="200"} 2.0' in metrics


def test_a_5xx_says_internal_error_with_the_request_id_and_no_trace(
    logged_client: TestClient, tenant: Tenant, database_url: str
) -> None:
    with captured_logs("patron") as stream, customers_table_missing(database_url):
        failed = logged_client.post(
            tenant.url("/customers"),
            json={"contact": {"email": EMAIL, "firstName": "Ana"}},
            headers={**tenant.headers, "X-Request-ID": "req-boom"},
        )
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/json"
    assert failed.headers["x-request-id"] == "req-boom"
    body = failed.json()
    assert body["code"] == "internal_error"
    assert body["context"] == {"requestId": "req-boom"}
    assert set(body) == {"code", "message", "context"}
    for leak in ("Traceback", "customers", "sqlalchemy", "sqlite", "asyncpg", "File ", EMAIL):
        assert leak not in failed.text

    lines = _lines(stream)
    assert any(line.get("request_id") == "req-boom" and "exception" in line for line in lines)
    assert "secret-guest" not in stream.getvalue()  # the failing statement's parameters are not logged
    access = [line for line in lines if line["logger"] == "patron.access"]
    assert access[-1]["status"] == 500

    metrics = logged_client.get("/metrics").text
    assert 'patron_requests_total{method="POST",route="/crm/{accountId}/customers",status="500"} 1.0' in metrics


def test_a_busy_database_is_503_with_retry_after_and_the_request_id(tmp_path: Path) -> None:
    # SQLite's write lock is the contention a test can hold still; PostgreSQL waits on row locks instead.
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    tenant = create_tenant(url)
    holder = sqlite3.connect(path, isolation_level=None)
    with TestClient(create_app(make_settings(url, busy_timeout_ms=50)), raise_server_exceptions=False) as client:
        try:
            holder.execute("BEGIN IMMEDIATE")
            for headers in (tenant.headers, {**tenant.headers, "Idempotency-Key": "busy"}):
                busy = client.post(
                    tenant.url("/customers"),
                    json={"email": "ana@example.com"},
                    headers={**headers, "X-Request-ID": "req-busy"},
                )
                assert busy.status_code == 503, busy.text
                assert busy.json()["code"] == "unavailable"
                assert busy.json()["context"]["requestId"] == "req-busy"
                assert int(busy.headers["retry-after"]) >= 1
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        retried = client.post(
            tenant.url("/customers"),
            json={"email": "ana@example.com"},
            headers={**tenant.headers, "Idempotency-Key": "busy"},
        )
        assert retried.status_code == 200
        assert "idempotent-replayed" not in retried.headers
