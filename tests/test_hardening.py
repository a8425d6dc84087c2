"""What a careless or hostile client found: each of these once went through or cost too much."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from starlette.testclient import TestClient

from tests.factories import Tenant


def _profile(client: TestClient, tenant: Tenant) -> str:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert created.status_code == 200
    return str(created.json()["id"])


def test_order_type_refuses_a_boolean(client: TestClient, tenant: Tenant) -> None:
    order = {
        "crmProfileId": _profile(client, tenant),
        "orderId": "o-1",
        "orderDate": "2025-10-24T16:45:14Z",
        "orderType": True,
        "payment": {"amount": {"value": 100, "currency": "EUR"}},
    }
    answer = client.post(tenant.url("/orders"), json=order, headers=tenant.headers)
    assert answer.status_code == 422
    assert ["body", "orderType"] in [e["loc"] for e in answer.json()["context"]["errors"]]


def test_a_body_in_another_charset_is_unsupported(client: TestClient, tenant: Tenant) -> None:
    for charset in ("utf-16", "iso-8859-1"):
        answer = client.post(
            tenant.url("/customers"),
            content='{"email": "ana@example.com"}'.encode(charset),
            headers={**tenant.headers, "content-type": f"application/json; charset={charset}"},
        )
        assert answer.status_code == 415, charset
    utf8 = client.post(
        tenant.url("/customers"),
        content=b'{"email": "ana@example.com"}',
        headers={**tenant.headers, "content-type": 'application/json; charset="UTF-8"'},
    )
    assert utf8.status_code == 200


def test_an_unknown_client_id_is_refused_without_the_work_of_a_secret_check(client: TestClient) -> None:
    answer = client.post(
        "/oauth/token",
        json={"client_id": "nobody", "client_secret": "x", "grant_type": "client_credentials"},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "owner-only.db")
    env = {**os.environ, "PATRON_DATABASE_URL": f"sqlite:///{path}"}
    subprocess.run([sys.executable, "-m", "patron.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path: object) -> None:
    env = {**os.environ, "PATRON_LOG_LEVEL": "LOUD", "PATRON_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run(
        [sys.executable, "-m", "patron.cli", "db", "upgrade"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "PATRON_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr
