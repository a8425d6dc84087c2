"""POST /oauth/token: OAuth 2.0 client credentials in JSON (Deliverect style) or as a form
(RFC 6749 section 4.4), errors in RFC 6749's shape, and the per-client_id failure lockout."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import jwt
from sqlalchemy import select
from starlette.testclient import TestClient

from patron import tables
from patron.app import create_app
from patron.config import Settings
from patron.db import Database
from tests.conftest import make_settings
from tests.factories import Tenant, create_api_client

TOKEN = "/oauth/token"


def json_credentials(tenant: Tenant, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "audience": "https://api.deliverect.com",
        "grant_type": "client_credentials",
        **extra,
    }


def form_credentials(tenant: Tenant) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": tenant.client_id, "client_secret": tenant.client_secret}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert "access_token" not in body
    return body


def assert_token(response: Any, *, scope: str = "crm:read crm:write", ttl: int = 3600) -> str:
    before = int(time.time())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "expires_at", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ttl
    assert isinstance(body["expires_at"], int)
    # expires_at is an epoch second ttl after issue (issued within the last minute).
    assert before - 60 <= body["expires_at"] - ttl <= before + 60
    assert body["scope"] == scope
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- issuing ------------------------------------------------------------------------------


def test_json_deliverect_style_issues_a_bearer_token(client: TestClient, tenant: Tenant) -> None:
    assert_token(client.post(TOKEN, json=json_credentials(tenant)))


def test_json_without_audience_issues_a_token(client: TestClient, tenant: Tenant) -> None:
    body = json_credentials(tenant)
    del body["audience"]
    assert_token(client.post(TOKEN, json=body))


def test_json_with_charset_parameter_issues_a_token(client: TestClient, tenant: Tenant) -> None:
    import orjson

    response = client.post(
        TOKEN,
        content=orjson.dumps(json_credentials(tenant)),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert_token(response)


def test_form_with_credentials_in_the_body_issues_a_token(client: TestClient, tenant: Tenant) -> None:
    assert_token(client.post(TOKEN, data=form_credentials(tenant)))


def test_form_with_http_basic_issues_a_token(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic(tenant.client_id, tenant.client_secret)
    )
    assert_token(response)


def test_token_lifetime_is_configurable(database_url: str, tenant: Tenant) -> None:
    settings = make_settings(database_url, token_ttl_seconds=600)
    with TestClient(create_app(settings), raise_server_exceptions=False) as short:
        assert_token(short.post(TOKEN, json=json_credentials(tenant)), ttl=600)


def test_the_token_names_its_signing_key(client: TestClient, tenant: Tenant) -> None:
    token = assert_token(client.post(TOKEN, json=json_credentials(tenant)))
    assert isinstance(jwt.get_unverified_header(token).get("kid"), str)


def test_issued_token_works_on_the_crm_routes(client: TestClient, tenant: Tenant) -> None:
    token = assert_token(client.post(TOKEN, data=form_credentials(tenant)))
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=bearer(token))
    assert created.status_code == 200, created.text
    read = client.get(tenant.url(f"/customers/{created.json()['id']}"), headers=bearer(token))
    assert read.status_code == 200
    assert read.json()["contact"]["email"] == "ana@example.com"


def test_a_token_from_one_process_works_in_another_on_the_same_database(
    client: TestClient, settings: Settings, tenant: Tenant
) -> None:
    token = assert_token(client.post(TOKEN, json=json_credentials(tenant)))
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        created = second.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=bearer(token))
        assert created.status_code == 200, created.text


def test_client_created_with_only_read_scope_cannot_write(
    client: TestClient, database_url: str, tenant: Tenant
) -> None:
    existing = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    profile_id = existing.json()["id"]
    client_id, secret = create_api_client(database_url, account_ids=[tenant.account_id], scope=("crm:read",))
    token = assert_token(
        client.post(TOKEN, data={**form_credentials(tenant), "client_id": client_id, "client_secret": secret}),
        scope="crm:read",
    )
    reader = bearer(token)

    assert client.get(tenant.url(f"/customers/{profile_id}"), headers=reader).status_code == 200
    lookup = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=reader)
    assert lookup.status_code == 200

    writes = [
        client.post(tenant.url("/customers"), json={"email": "bo@example.com"}, headers=reader),
        client.patch(tenant.url(f"/customers/{profile_id}"), json={"externalId": "x"}, headers=reader),
        client.patch(tenant.url(f"/customers/{profile_id}/favorites"), json=[], headers=reader),
    ]
    for response in writes:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "insufficient_scope"
    after = client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers).json()
    assert after == existing.json()


def test_client_secrets_are_stored_as_argon2id_hashes(database_url: str, tenant: Tenant) -> None:
    async def stored_hash() -> str:
        db = Database(Settings(database_url=database_url))
        try:
            async with db.read() as conn:
                query = select(tables.api_clients.c.secret_hash).where(
                    tables.api_clients.c.client_id == tenant.client_id
                )
                return str((await conn.execute(query)).scalar_one())
        finally:
            await db.dispose()

    hashed = asyncio.run(stored_hash())
    assert hashed.startswith("$argon2id$")
    assert tenant.client_secret not in hashed


# --- refusals -----------------------------------------------------------------------------


NOT_A_JSON_OBJECT_OR_FORM: list[tuple[bytes, str | None]] = [
    (b"client_id=a&client_secret=b&grant_type=client_credentials", "text/plain"),
    (b"<token><grant_type>client_credentials</grant_type></token>", "application/xml"),
    (b"grant_type=client_credentials", None),
    (b"[1, 2]", "application/json"),
    (b'"client_credentials"', "application/json"),
    (b'{"grant_type": "client_credentials"', "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe", "application/x-www-form-urlencoded"),
    (b"grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded"),
]


def test_a_body_that_is_neither_a_json_object_nor_a_form_is_invalid_request(client: TestClient) -> None:
    for content, content_type in NOT_A_JSON_OBJECT_OR_FORM:
        headers = {"Content-Type": content_type} if content_type else {}
        assert_oauth_error(client.post(TOKEN, content=content, headers=headers), 400, "invalid_request")


def test_missing_grant_type_is_invalid_request(client: TestClient, tenant: Tenant) -> None:
    body = json_credentials(tenant)
    del body["grant_type"]
    assert_oauth_error(client.post(TOKEN, json=body), 400, "invalid_request")
    form = form_credentials(tenant)
    del form["grant_type"]
    assert_oauth_error(client.post(TOKEN, data=form), 400, "invalid_request")


def test_other_grant_types_are_unsupported(client: TestClient, tenant: Tenant) -> None:
    for grant_type in ("password", "authorization_code", "CLIENT_CREDENTIALS", ""):
        response = client.post(TOKEN, json=json_credentials(tenant, grant_type=grant_type))
        assert_oauth_error(response, 400, "unsupported_grant_type")
        response = client.post(TOKEN, data={**form_credentials(tenant), "grant_type": grant_type})
        assert_oauth_error(response, 400, "unsupported_grant_type")
    response = client.post(TOKEN, json=json_credentials(tenant, grant_type=["client_credentials"]))
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "unsupported_grant_type"}
    assert response.headers["cache-control"] == "no-store"


def test_wrong_or_unknown_credentials_are_invalid_client(client: TestClient, tenant: Tenant) -> None:
    assert_oauth_error(client.post(TOKEN, json=json_credentials(tenant, client_secret="wrong")), 401, "invalid_client")
    wrong_form = {**form_credentials(tenant), "client_secret": "wrong"}
    assert_oauth_error(client.post(TOKEN, data=wrong_form), 401, "invalid_client")
    unknown = json_credentials(tenant, client_id="000000000000000000000000")
    assert_oauth_error(client.post(TOKEN, json=unknown), 401, "invalid_client")


def test_missing_or_unreadable_credentials_are_invalid_client(client: TestClient, tenant: Tenant) -> None:
    changes: list[dict[str, Any]] = [
        {"client_id": None},
        {"client_secret": None},
        {"client_id": None, "client_secret": None},
        {"client_id": ""},
        {"client_secret": ""},
        {"client_id": 12345},
        {"client_secret": ["a", "b"]},
        {"client_id": {"id": "x"}},
    ]
    for change in changes:
        body = json_credentials(tenant)
        for name, value in change.items():
            if value is None:
                del body[name]
            else:
                body[name] = value
        assert_oauth_error(client.post(TOKEN, json=body), 401, "invalid_client")
    assert_oauth_error(client.post(TOKEN, data={"grant_type": "client_credentials"}), 401, "invalid_client")


def test_wrong_or_unreadable_basic_credentials_ask_for_basic(client: TestClient, tenant: Tenant) -> None:
    for authorization in (
        basic(tenant.client_id, "nope")["Authorization"],
        basic("000000000000000000000000", tenant.client_secret)["Authorization"],
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b":").decode(),
        "Basic",
        "basic    ",
    ):
        headers = {"Authorization": authorization}
        response = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers)
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic"), authorization


def test_credentials_in_basic_and_in_the_body_are_invalid_request(client: TestClient, tenant: Tenant) -> None:
    headers = basic(tenant.client_id, tenant.client_secret)
    response = client.post(TOKEN, data=form_credentials(tenant), headers=headers)
    assert_oauth_error(response, 400, "invalid_request")


def test_other_methods_are_405_allow_post(client: TestClient) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = client.request(method, TOKEN)
        assert_oauth_error(response, 405, "invalid_request")
        assert response.headers["allow"] == "POST"
    response = client.head(TOKEN)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["cache-control"] == "no-store"


def test_credentials_in_the_query_string_are_refused_and_no_token_is_issued(client: TestClient, tenant: Tenant) -> None:
    for query in (
        "client_secret={secret}",
        "client_id={id}",
        "client_id={id}&client_secret={secret}",
        "client_secret=",
    ):
        url = TOKEN + "?" + query.format(id=tenant.client_id, secret=tenant.client_secret)
        assert_oauth_error(client.post(url, json=json_credentials(tenant)), 400, "invalid_request")
        assert_oauth_error(client.post(url, data=form_credentials(tenant)), 400, "invalid_request")
        assert_oauth_error(client.post(url, data={"grant_type": "client_credentials"}), 400, "invalid_request")


ODD_BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b'{"grant_type":"client_credentials","client_id":"' + b"x" * 100_000 + b'","client_secret":"y"}', {}),
    (b'{"grant_type":"client_credentials","client_id":"a\\u0000b","client_secret":"y"}', {}),
    (b'{"grant_type":"client_credentials","client_id":"\\ud800","client_secret":"y"}', {}),
    (b'{"grant_type":"client_credentials","client_id":"' + "é".encode() * 300 + b'","client_secret":"y"}', {}),
    (b'{"grant_type":"client_credentials","client_id":"a","client_secret":"' + b"y" * 5000 + b'"}', {}),
    (b'{"grant_type":"client_credentials","client_id":true,"client_secret":1.5}', {}),
    (b'{"grant_type":"client_credentials","scope":["crm:read"],"client_id":"a","client_secret":"b"}', {}),
    (b'{"grant_type":null}', {}),
    (b"{}", {}),
    (b'{"grant_type":"client_credentials","client_id":"a","client_secret":"b"} trailing', {}),
]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ODD_FORMS: list[tuple[bytes, dict[str, str]]] = [
    (b"grant_type=client_credentials&client_id=a%00b&client_secret=y", FORM),
    (b"grant_type=client_credentials&client_id=%FF%FE&client_secret=y", FORM),
    (b"grant_type=client_credentials", {**FORM, **basic("a\x00b", "y")}),
    (b"grant_type=client_credentials", {**FORM, "Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}),
]


def test_odd_requests_never_cause_a_server_error(client: TestClient) -> None:
    for content, headers in ODD_BODIES + ODD_FORMS:
        response = client.post(TOKEN, content=content, headers={"Content-Type": "application/json", **headers})
        assert 400 <= response.status_code < 500, (content[:80], response.text)
        assert response.headers["cache-control"] == "no-store"
        assert "error" in response.json()
        assert "access_token" not in response.json()


# --- failure lockout ----------------------------------------------------------------------


def _fail(client: TestClient, tenant: Tenant, times: int) -> None:
    for _ in range(times):
        assert_oauth_error(
            client.post(TOKEN, json=json_credentials(tenant, client_secret="wrong")), 401, "invalid_client"
        )


def test_ten_failures_in_a_minute_lock_the_client_id_even_for_the_right_secret(
    client: TestClient, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    _fail(client, tenant, 9)
    assert_token(client.post(TOKEN, json=json_credentials(tenant)))  # nine are not enough
    _fail(client, tenant, 1)
    for response in (
        client.post(TOKEN, json=json_credentials(tenant)),
        client.post(TOKEN, data=form_credentials(tenant)),
        client.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=basic(tenant.client_id, tenant.client_secret)
        ),
        client.post(TOKEN, json=json_credentials(tenant, client_secret="wrong")),
    ):
        assert response.status_code == 429, response.text
        assert response.headers["cache-control"] == "no-store"
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert "access_token" not in response.json()
    # Another process on the same database sees the same lock.
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        response = second.post(TOKEN, json=json_credentials(tenant))
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 60
    # A body that is not a form is refused before credentials are read.
    refused = client.post(TOKEN, content=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert_oauth_error(refused, 400, "invalid_request")
    # Other clients are not affected.
    assert_token(client.post(TOKEN, json=json_credentials(other_tenant)))


def test_requests_refused_before_credentials_do_not_count_as_failures(client: TestClient, tenant: Tenant) -> None:
    for _ in range(11):
        wrong = json_credentials(tenant, client_secret="wrong", grant_type="password")
        assert_oauth_error(client.post(TOKEN, json=wrong), 400, "unsupported_grant_type")
    assert_token(client.post(TOKEN, json=json_credentials(tenant)))
