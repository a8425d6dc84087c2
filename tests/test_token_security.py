"""Bearer tokens that must not work, key rotation, revocation and how client secrets are kept."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from patron import tables
from patron.app import create_app
from patron.config import Settings
from tests.conftest import make_settings
from tests.factories import Tenant, mint_token, on_database


def signing_key(database_url: str) -> tuple[str, bytes]:
    """The (kid, secret) Patron signs with: forged tokens below are signed with the real key."""

    async def work(conn: Any) -> tuple[str, bytes]:
        t = tables.signing_keys
        row = (await conn.execute(select(t.c.kid, t.c.secret).order_by(t.c.created.desc()).limit(1))).one()
        return row.kid, bytes(row.secret)

    return on_database(database_url, work)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def patron(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "patron.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _read(client: TestClient, tenant: Tenant, token: str) -> Any:
    return client.post(
        tenant.url("/customers/lookup"),
        json={"email": "nobody@example.com"},
        headers={"Authorization": f"Bearer {token}"},
    )


def _assert_invalid_token(answer: Any) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "invalid_token"
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_the_minted_token_works(client: TestClient, tenant: Tenant) -> None:
    assert _read(client, tenant, tenant.token).status_code == 404  # authenticated: the lookup found nobody


def test_an_expired_token_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    expired = mint_token(database_url, tenant.client_id, ttl_seconds=-60)
    _assert_invalid_token(_read(client, tenant, expired))


def test_a_token_that_is_not_yet_valid_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    kid, secret = signing_key(database_url)
    claims = claims_of(tenant.token)
    now = int(time.time())
    claims.update(iat=now, nbf=now + 600, exp=now + 3600)
    early = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})
    _assert_invalid_token(_read(client, tenant, early))


def test_a_wrong_signature_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    kid, _ = signing_key(database_url)
    forged = jwt.encode(claims_of(tenant.token), b"x" * 32, algorithm="HS256", headers={"kid": kid})
    _assert_invalid_token(_read(client, tenant, forged))


def test_an_unknown_kid_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    _, secret = signing_key(database_url)
    for kid in ("0123456789abcdef", "", "'; DROP TABLE signing_keys; --", "k" * 5000):
        token = jwt.encode(claims_of(tenant.token), secret, algorithm="HS256", headers={"kid": kid})
        _assert_invalid_token(_read(client, tenant, token))
    assert _read(client, tenant, tenant.token).status_code == 404


def test_a_token_without_kid_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    _, secret = signing_key(database_url)
    token = jwt.encode(claims_of(tenant.token), secret, algorithm="HS256")
    _assert_invalid_token(_read(client, tenant, token))


def test_alg_none_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    kid, _ = signing_key(database_url)
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims_of(tenant.token)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}.{tenant.token.rsplit('.', 1)[1]}"):
        _assert_invalid_token(_read(client, tenant, token))


@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_another_hmac_algorithm_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    kid, secret = signing_key(database_url)
    token = jwt.encode(claims_of(tenant.token), secret, algorithm="HS512", headers={"kid": kid})
    _assert_invalid_token(_read(client, tenant, token))


def test_an_edited_accounts_claim_is_refused(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    header, _, signature = tenant.token.split(".")
    claims = claims_of(tenant.token)
    claims["accounts"] = [tenant.account_id, other_tenant.account_id]
    edited = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    _assert_invalid_token(_read(client, other_tenant, edited))
    _assert_invalid_token(_read(client, tenant, edited))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "iss"])
def test_a_token_missing_a_required_claim_is_refused(
    client: TestClient, tenant: Tenant, database_url: str, claim: str
) -> None:
    kid, secret = signing_key(database_url)
    claims = claims_of(tenant.token)
    del claims[claim]
    token = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})
    _assert_invalid_token(_read(client, tenant, token))


def test_a_token_from_another_issuer_is_refused(client: TestClient, tenant: Tenant, database_url: str) -> None:
    kid, secret = signing_key(database_url)
    token = jwt.encode({**claims_of(tenant.token), "iss": "elsewhere"}, secret, algorithm="HS256", headers={"kid": kid})
    _assert_invalid_token(_read(client, tenant, token))


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a.b.c", "Bearer \u00e9t\u00e9"],
)
def test_malformed_authorization_is_refused(client: TestClient, tenant: Tenant, authorization: str) -> None:
    answer = client.post(
        tenant.url("/customers/lookup"),
        json={"email": "nobody@example.com"},
        headers={"Authorization": authorization.encode("utf-8")},  # type: ignore[dict-item]
    )
    _assert_invalid_token(answer)


def test_a_rotated_key_signs_new_tokens_and_old_tokens_keep_working(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    old_kid = jwt.get_unverified_header(tenant.token)["kid"]
    rotated = patron(database_url, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]
    assert new_kid != old_kid

    issued = client.post(
        "/oauth/token",
        json={"client_id": tenant.client_id, "client_secret": tenant.client_secret, "grant_type": "client_credentials"},
    )
    assert issued.status_code == 200
    new_token = issued.json()["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert _read(client, tenant, new_token).status_code == 404
    assert _read(client, tenant, tenant.token).status_code == 404

    # Another process on the same database verifies both, with nothing configured.
    with TestClient(create_app(make_settings(database_url)), raise_server_exceptions=False) as elsewhere:
        assert _read(elsewhere, tenant, new_token).status_code == 404
        assert _read(elsewhere, tenant, tenant.token).status_code == 404


def test_a_revoked_client_is_locked_out_at_once(client: TestClient, tenant: Tenant, database_url: str) -> None:
    credentials = {
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "grant_type": "client_credentials",
    }
    issued = client.post("/oauth/token", json=credentials)
    assert issued.status_code == 200
    assert _read(client, tenant, issued.json()["access_token"]).status_code == 404

    revoked = patron(database_url, "clients", "revoke", tenant.client_id)
    assert revoked.returncode == 0, revoked.stderr

    _assert_invalid_token(_read(client, tenant, tenant.token))
    _assert_invalid_token(_read(client, tenant, issued.json()["access_token"]))
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    _assert_invalid_token(created)
    refused = client.post("/oauth/token", json=credentials)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert "access_token" not in refused.json()


def test_revoking_an_unknown_client_fails(database_url: str) -> None:
    answer = patron(database_url, "clients", "revoke", "000000000000000000000000")
    assert answer.returncode != 0


def test_secrets_are_stored_as_argon2id_hashes(tenant: Tenant, database_url: str) -> None:
    async def work(conn: Any) -> list[Any]:
        t = tables.api_clients
        return list((await conn.execute(select(t))).all())

    rows = on_database(database_url, work)
    row = next(r for r in rows if r.client_id == tenant.client_id)
    assert row.secret_hash.startswith("$argon2id$")
    for stored in rows:
        assert tenant.client_secret not in "|".join(str(value) for value in stored)


def test_the_token_lifetime_is_configurable(database_url: str, tenant: Tenant) -> None:
    with TestClient(create_app(make_settings(database_url, token_ttl_seconds=120))) as client:
        before = int(time.time())
        issued = client.post(
            "/oauth/token",
            json={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        )
        after = int(time.time())
    assert issued.status_code == 200
    body = issued.json()
    assert body["expires_in"] == 120
    assert before + 120 <= body["expires_at"] <= after + 120
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == 120
    assert claims["exp"] == body["expires_at"]


def test_the_token_lifetime_defaults_to_an_hour(client: TestClient, tenant: Tenant) -> None:
    issued = client.post(
        "/oauth/token",
        json={"client_id": tenant.client_id, "client_secret": tenant.client_secret, "grant_type": "client_credentials"},
    )
    assert issued.json()["expires_in"] == 3600


def test_the_environment_sets_the_token_lifetime(
    database_url: str, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_TOKEN_TTL_SECONDS", "600")
    with TestClient(create_app(Settings(database_url=database_url, rate_limit_per_second=0))) as client:
        issued = client.post(
            "/oauth/token",
            json={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        )
    assert issued.json()["expires_in"] == 600
