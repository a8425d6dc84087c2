"""Errors and limits: the one error shape, 422 naming every bad field, 400 / 413 / 415 for bodies,
404 and 405 for routes, the size limits (exactly at the limit is fine), NUL bytes and wrong JSON
types, nothing written by a failed request, and X-Request-ID on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.factories import Tenant

JSON = {"Content-Type": "application/json"}
MIB = 1024 * 1024


@pytest.fixture
def profile(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    body = {
        "contact": {"email": "ana@example.com", "firstName": "Ana", "phone": "+32470123456"},
        "externalId": "ext-1",
        "deliveryAddresses": [{"street": "Main Street 1", "country": "BE"}],
        "vehicles": [{"make": "audi"}],
        "favorites": [{"type": "item", "item": "PLU-1"}],
        "metadata": {"tier": "gold"},
    }
    response = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def read(client: TestClient, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    return dict(client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers).json())


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "context"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"].strip()
    assert isinstance(body["context"], dict)
    return dict(body)


def validation_errors(response: Any) -> list[dict[str, Any]]:
    """The items of a 422 validation_error, each checked to be {"loc", "msg", "type"}."""
    body = assert_error(response, 422, "validation_error")
    errors = body["context"]["errors"]
    assert isinstance(errors, list) and errors
    for error in errors:
        assert set(error) == {"loc", "msg", "type"}, error
        assert isinstance(error["loc"], list) and error["loc"][0] == "body"
        assert isinstance(error["msg"], str) and error["msg"]
        assert isinstance(error["type"], str) and error["type"]
    return list(errors)


def error_locs(response: Any) -> list[tuple[str | int, ...]]:
    return [tuple(error["loc"]) for error in validation_errors(response)]


def assert_names(response: Any, *locs: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """A 422 whose errors name each of ``locs`` (a loc names a field and everything under it)."""
    errors = validation_errors(response)
    named = [tuple(error["loc"]) for error in errors]
    for loc in locs:
        assert any(found[: len(loc)] == loc for found in named), (loc, named)
    return errors


def no_profile(client: TestClient, tenant: Tenant, email: str) -> None:
    response = client.post(tenant.url("/customers/lookup"), json={"email": email}, headers=tenant.headers)
    assert response.status_code == 404, response.text


def _body_routes(tenant: Tenant, profile_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", tenant.url("/customers")),
        ("POST", tenant.url("/customers/lookup")),
        ("PATCH", tenant.url(f"/customers/{profile_id}")),
        ("PATCH", tenant.url(f"/customers/{profile_id}/deliveryAddresses")),
        ("PATCH", tenant.url(f"/customers/{profile_id}/vehicles")),
        ("PATCH", tenant.url(f"/customers/{profile_id}/favorites")),
        ("POST", tenant.url("/orders")),
    ]


# --- 422 names every bad field ------------------------------------------------------------


def test_create_names_every_bad_field_at_once(client: TestClient, tenant: Tenant) -> None:
    body = {
        "contact": {"phone": "12", "birthdate": "17/05/1990", "firstName": "x" * 101, "lastName": 5},
        "externalId": 123,
        "loyaltyProviderId": "y" * 256,
        "billingAddress": {"country": "XX", "coordinates": [100, 0]},
        "deliveryAddresses": [
            {"street": "A", "default": True},
            {"street": "B", "default": True, "coordinates": [0, 200]},
        ],
        "vehicles": [{"make": 1}, {"color": "x\u0000"}],
        "favorites": [{"type": "item"}, {"type": "store", "orderId": "o"}],
        "metadata": "not an object",
    }
    response = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
    assert_names(
        response,
        ("body", "contact", "email"),  # missing
        ("body", "contact", "phone"),
        ("body", "contact", "birthdate"),
        ("body", "contact", "firstName"),
        ("body", "contact", "lastName"),
        ("body", "externalId"),
        ("body", "loyaltyProviderId"),
        ("body", "billingAddress", "country"),
        ("body", "billingAddress", "coordinates"),
        ("body", "deliveryAddresses", 1, "coordinates"),
        ("body", "vehicles", 0, "make"),
        ("body", "vehicles", 1, "color"),
        ("body", "favorites", 0),
        ("body", "favorites", 1),
        ("body", "metadata"),
    )
    # The list-wide rule (one default) is named too, next to the bad item.
    assert ("body", "deliveryAddresses") in error_locs(response)


def test_create_names_an_email_mismatch_together_with_other_bad_fields(client: TestClient, tenant: Tenant) -> None:
    body = {"email": "ana@example.com", "contact": {"email": "bo@example.com", "phone": "nope"}, "externalId": 1}
    response = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
    assert_names(response, ("body", "email"), ("body", "contact", "phone"), ("body", "externalId"))
    no_profile(client, tenant, "ana@example.com")
    no_profile(client, tenant, "bo@example.com")


def test_patch_names_every_bad_field_and_writes_nothing(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    body = {
        "externalId": "valid change",
        "contact": {"email": "", "phone": "", "birthdate": "", "firstName": None},
        "billingAddress": {"country": ""},
        "vehicles": [{"make": "vw", "default": True}, {"make": "audi", "default": True}, {"model": 5}],
        "favorites": [{"type": "nope", "item": "x"}],
        "metadata": {"k": "\u0000"},
    }
    response = client.patch(tenant.url(f"/customers/{profile['id']}"), json=body, headers=tenant.headers)
    assert_names(
        response,
        ("body", "contact", "email"),
        ("body", "contact", "phone"),
        ("body", "contact", "birthdate"),
        ("body", "billingAddress", "country"),
        ("body", "vehicles"),
        ("body", "vehicles", 2, "model"),
        ("body", "favorites", 0),
        ("body", "metadata"),
    )
    assert read(client, tenant, profile["id"]) == profile


def test_list_endpoints_name_every_bad_item(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    url = tenant.url(f"/customers/{profile['id']}")
    addresses = [{"country": "XX"}, {"coordinates": [1]}, {"street": 5, "default": True}, {"default": True}]
    assert_names(
        client.patch(f"{url}/deliveryAddresses", json=addresses, headers=tenant.headers),
        ("body", 0, "country"),
        ("body", 1, "coordinates"),
        ("body", 2, "street"),
        ("body",),
    )
    vehicles = [{"make": 1}, {"model": "m" * 256}]
    assert_names(
        client.patch(f"{url}/vehicles", json=vehicles, headers=tenant.headers),
        ("body", 0, "make"),
        ("body", 1, "model"),
    )
    favorites = [{"type": "item"}, {"type": "order", "orderId": 1}, {"type": "store", "storeId": "s", "label": 2}]
    assert_names(
        client.patch(f"{url}/favorites", json=favorites, headers=tenant.headers),
        ("body", 0),
        ("body", 1, "orderId"),
        ("body", 2, "label"),
    )
    assert read(client, tenant, profile["id"]) == profile


# --- bodies: 400, 415, 413 ----------------------------------------------------------------

MALFORMED = [
    b'{"email": ',
    b"{'email': 'ana@example.com'}",
    b'{"email": "ana@example.com",}',
    b'{"email": "ana@example.com"}}',
    b'{"email": "ana@example.com"} x',
    b'{"metadata": {"a": NaN}}',
    b'{"email": "\\ud800"}',
    b"\xff\xfe{}",
    b"",
    b"   \n",
]


def test_malformed_or_empty_json_is_400_invalid_json(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    for method, url in _body_routes(tenant, profile["id"]):
        for content in MALFORMED:
            response = client.request(method, url, content=content, headers={**tenant.headers, **JSON})
            assert response.status_code == 400, (method, url, content, response.text)
            assert_error(response, 400, "invalid_json")
    assert read(client, tenant, profile["id"]) == profile


def test_a_body_that_is_not_json_is_415(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    content = b'{"email": "bo@example.com"}'
    for method, url in _body_routes(tenant, profile["id"]):
        for content_type in ("text/plain", "application/xml", "text/xml", None, "multipart/form-data", "text/json"):
            headers = dict(tenant.headers)
            if content_type is not None:
                headers["Content-Type"] = content_type
            response = client.request(method, url, content=content, headers=headers)
            assert response.status_code == 415, (method, url, content_type, response.text)
            assert_error(response, 415, "unsupported_media_type")
    xml = b"<customer><email>bo@example.com</email></customer>"
    response = client.post(
        tenant.url("/customers"), content=xml, headers={**tenant.headers, "Content-Type": "application/xml"}
    )
    assert_error(response, 415, "unsupported_media_type")
    no_profile(client, tenant, "bo@example.com")
    assert read(client, tenant, profile["id"]) == profile


def test_json_with_a_charset_parameter_is_accepted(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json; charset=utf-8"}
    response = client.post(tenant.url("/customers"), content=b'{"email": "bo@example.com"}', headers=headers)
    assert response.status_code == 200, response.text


def _padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON, padded with whitespace to exactly ``size`` bytes."""
    raw = orjson.dumps(body)
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_a_body_over_1_mib_is_413_and_exactly_1_mib_is_read(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    over = _padded({"email": "bo@example.com"}, MIB + 1)
    for method, url in _body_routes(tenant, profile["id"]):
        response = client.request(method, url, content=over, headers={**tenant.headers, **JSON})
        assert response.status_code == 413, (method, url, response.text)
        assert_error(response, 413, "payload_too_large")
    no_profile(client, tenant, "bo@example.com")
    assert read(client, tenant, profile["id"]) == profile

    exact = _padded({"email": "bo@example.com"}, MIB)
    assert len(exact) == MIB
    response = client.post(tenant.url("/customers"), content=exact, headers={**tenant.headers, **JSON})
    assert response.status_code == 200, response.text


def test_a_streamed_body_over_1_mib_is_413(client: TestClient, tenant: Tenant) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "bo@example.com", "externalId": "'
        for _ in range(20):
            yield b"x" * 64 * 1024
        yield b'"}'

    response = client.post(tenant.url("/customers"), content=chunks(), headers={**tenant.headers, **JSON})
    assert_error(response, 413, "payload_too_large")
    no_profile(client, tenant, "bo@example.com")


# --- routes: 404, 405 ---------------------------------------------------------------------


def test_unknown_routes_and_trailing_slashes_are_404_never_a_redirect(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    pid = profile["id"]
    paths = [
        "/",
        "/nope",
        "/crm",
        "/crm/",
        tenant.url(""),
        tenant.url("/"),
        tenant.url("/unknown"),
        tenant.url("/customers/"),
        tenant.url("/customers/lookup/"),
        tenant.url(f"/customers/{pid}/"),
        tenant.url(f"/customers/{pid}/deliveryAddresses/"),
        tenant.url(f"/customers/{pid}/vehicles/"),
        tenant.url(f"/customers/{pid}/favorites/"),
        tenant.url(f"/customers/{pid}/orders/"),
        tenant.url(f"/customers/{pid}/orders/favorites/"),
        tenant.url(f"/customers/{pid}/unknown"),
        tenant.url("/orders/"),
        "/oauth/token/",
        "/healthz/",
    ]
    for path in paths:
        for method in ("GET", "POST", "PATCH"):
            for headers in (tenant.headers, {}):
                response = client.request(
                    method, path, headers={**headers, **JSON}, content=b"{}", follow_redirects=False
                )
                assert response.status_code == 404, (method, path, response.status_code, response.text)
                assert "location" not in response.headers
                assert_error(response, 404, "not_found")


def test_a_wrong_method_is_405_with_allow(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    pid = profile["id"]
    cases = [
        ("GET", tenant.url("/customers"), {"POST"}),
        ("PUT", tenant.url("/customers"), {"POST"}),
        ("DELETE", tenant.url("/customers"), {"POST"}),
        ("PATCH", tenant.url("/customers"), {"POST"}),
        ("PUT", tenant.url("/customers/lookup"), {"POST", "GET", "PATCH"}),
        ("DELETE", tenant.url(f"/customers/{pid}"), {"GET", "PATCH"}),
        ("POST", tenant.url(f"/customers/{pid}"), {"GET", "PATCH"}),
        ("PUT", tenant.url(f"/customers/{pid}"), {"GET", "PATCH"}),
        ("GET", tenant.url(f"/customers/{pid}/deliveryAddresses"), {"PATCH"}),
        ("POST", tenant.url(f"/customers/{pid}/vehicles"), {"PATCH"}),
        ("PUT", tenant.url(f"/customers/{pid}/favorites"), {"PATCH"}),
        ("POST", tenant.url(f"/customers/{pid}/orders"), {"GET"}),
        ("DELETE", tenant.url(f"/customers/{pid}/orders/favorites"), {"GET"}),
        ("GET", tenant.url("/orders"), {"POST"}),
        ("DELETE", tenant.url(f"/orders/{'0' * 24}"), {"GET"}),
    ]
    for method, url, allowed in cases:
        for headers in (tenant.headers, {}):
            response = client.request(method, url, headers=headers)
            assert response.status_code == 405, (method, url, response.text)
            assert_error(response, 405, "method_not_allowed")
            allow = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed <= allow, (method, url, allow)
            assert method not in allow
    assert read(client, tenant, pid) == profile


# --- limits -------------------------------------------------------------------------------


def test_names_are_limited_to_100_characters(client: TestClient, tenant: Tenant) -> None:
    at_limit = {"email": "ana@example.com", "contact": {"firstName": "é" * 100, "lastName": "L" * 100}}
    response = client.post(tenant.url("/customers"), json=at_limit, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["contact"]["firstName"] == "é" * 100
    for field in ("firstName", "lastName"):
        over = {"email": "bo@example.com", "contact": {field: "n" * 101}}
        assert_names(
            client.post(tenant.url("/customers"), json=over, headers=tenant.headers), ("body", "contact", field)
        )
    no_profile(client, tenant, "bo@example.com")


def _strings_at(size: int) -> dict[str, Any]:
    text = "s" * size
    address = {k: text for k in ("street", "subpremise", "area", "city", "postalCode", "stateOrProvince")}
    return {
        "externalId": text,
        "loyaltyProviderId": text,
        "billingAddress": address,
        "deliveryAddresses": [{**address, "id": text}],
        "vehicles": [{"make": text, "model": text, "color": text, "id": text}],
        "favorites": [
            {"type": "item", "item": text, "label": text},
            {"type": "order", "orderId": text},
            {"type": "store", "storeId": text},
        ],
    }


def test_other_strings_are_limited_to_255_characters(client: TestClient, tenant: Tenant) -> None:
    at_limit = {"email": "ana@example.com", **_strings_at(255)}
    response = client.post(tenant.url("/customers"), json=at_limit, headers=tenant.headers)
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["externalId"] == "s" * 255
    assert profile["favorites"][0] == {"type": "item", "item": "s" * 255, "label": "s" * 255}
    assert profile["vehicles"][0]["make"] == "s" * 255

    over = {"email": "bo@example.com", **_strings_at(256)}
    response = client.post(tenant.url("/customers"), json=over, headers=tenant.headers)
    expected = [("body", "externalId"), ("body", "loyaltyProviderId")]
    for key in ("street", "subpremise", "area", "city", "postalCode", "stateOrProvince"):
        expected += [("body", "billingAddress", key), ("body", "deliveryAddresses", 0, key)]
    expected += [("body", "deliveryAddresses", 0, "id"), ("body", "vehicles", 0, "id")]
    expected += [("body", "vehicles", 0, key) for key in ("make", "model", "color")]
    expected += [("body", "favorites", 0, "item"), ("body", "favorites", 0, "label")]
    expected += [("body", "favorites", 1, "orderId"), ("body", "favorites", 2, "storeId")]
    assert_names(response, *expected)
    no_profile(client, tenant, "bo@example.com")


def test_list_lengths_are_limited(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    url = tenant.url(f"/customers/{profile['id']}")
    limits = {
        "deliveryAddresses": (20, lambda i: {"street": f"Street {i}"}),
        "vehicles": (20, lambda i: {"make": f"make {i}"}),
        "favorites": (200, lambda i: {"type": "item", "item": f"PLU-{i}"}),
    }
    for field, (limit, item) in limits.items():
        at_limit = [item(i) for i in range(limit)]
        response = client.patch(f"{url}/{field}", json=at_limit, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert len(response.json()[field]) == limit
        before = read(client, tenant, profile["id"])
        over = [item(i) for i in range(limit + 1)]
        assert_names(client.patch(f"{url}/{field}", json=over, headers=tenant.headers), ("body",))
        assert_names(client.patch(url, json={field: over}, headers=tenant.headers), ("body", field))
        assert read(client, tenant, profile["id"]) == before
    created = client.post(
        tenant.url("/customers"),
        json={"email": "bo@example.com", "vehicles": [{"make": "x"}] * 21},
        headers=tenant.headers,
    )
    assert_names(created, ("body", "vehicles"))
    no_profile(client, tenant, "bo@example.com")


def _nested(depth: int, container: str) -> dict[str, Any]:
    """A metadata object ``depth`` levels deep (the object itself is level 1)."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value} if container == "object" else [value]
    return {"k": value}


def test_metadata_limits(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    url = tenant.url(f"/customers/{profile['id']}")

    def accepted(metadata: dict[str, Any]) -> None:
        response = client.patch(url, json={"metadata": metadata}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert response.json()["metadata"] == metadata

    def refused(metadata: dict[str, Any]) -> None:
        before = read(client, tenant, profile["id"])
        assert_names(client.patch(url, json={"metadata": metadata}, headers=tenant.headers), ("body", "metadata"))
        assert read(client, tenant, profile["id"]) == before

    accepted({f"key{i}": i for i in range(50)})
    refused({f"key{i}": i for i in range(51)})
    # 8 KiB encoded: {"k":"..."} is 8 bytes plus the string.
    accepted({"k": "x" * (8192 - 8)})
    assert len(orjson.dumps({"k": "x" * (8192 - 8)})) == 8192
    refused({"k": "x" * (8192 - 7)})
    # Strings inside metadata are not held to 255 characters.
    accepted({"note": "n" * 1000})
    for container in ("object", "array"):
        accepted(_nested(5, container))
        refused(_nested(6, container))
    accepted({"a": [{"b": [{"c": 1}]}]})  # object, array, object, array, object: 5 levels
    refused({"a": [{"b": [{"c": [1]}]}]})
    created = client.post(
        tenant.url("/customers"),
        json={"email": "bo@example.com", "metadata": {f"key{i}": i for i in range(51)}},
        headers=tenant.headers,
    )
    assert_names(created, ("body", "metadata"))
    no_profile(client, tenant, "bo@example.com")


# --- NUL bytes and wrong JSON types -------------------------------------------------------


def test_nul_bytes_are_refused_everywhere(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    url = tenant.url(f"/customers/{profile['id']}")
    nul = "a\u0000b"
    cases: list[tuple[str, Any, tuple[str | int, ...]]] = [
        ("", {"externalId": nul}, ("body", "externalId")),
        ("", {"loyaltyProviderId": nul}, ("body", "loyaltyProviderId")),
        ("", {"contact": {"firstName": nul}}, ("body", "contact", "firstName")),
        ("", {"contact": {"lastName": nul}}, ("body", "contact", "lastName")),
        ("", {"contact": {"email": "an\u0000a@example.com"}}, ("body", "contact", "email")),
        ("", {"contact": {"phone": "+32470123456\u0000"}}, ("body", "contact", "phone")),
        ("", {"contact": {"birthdate": "1990-05-17\u0000"}}, ("body", "contact", "birthdate")),
        ("", {"billingAddress": {"city": nul}}, ("body", "billingAddress", "city")),
        ("", {"billingAddress": {"country": "B\u0000"}}, ("body", "billingAddress", "country")),
        ("", {"metadata": {"k": nul}}, ("body", "metadata")),
        ("", {"metadata": {nul: 1}}, ("body", "metadata")),
        ("", {"metadata": {"k": [{"deep": nul}]}}, ("body", "metadata")),
        ("/deliveryAddresses", [{"street": nul}], ("body", 0, "street")),
        ("/deliveryAddresses", [{"id": nul}], ("body", 0, "id")),
        ("/vehicles", [{"make": nul}], ("body", 0, "make")),
        ("/favorites", [{"type": "item", "item": nul}], ("body", 0, "item")),
        ("/favorites", [{"type": "order", "orderId": "o", "label": nul}], ("body", 0, "label")),
    ]
    for path, body, loc in cases:
        assert_names(client.patch(url + path, json=body, headers=tenant.headers), loc)
    assert read(client, tenant, profile["id"]) == profile
    created = client.post(
        tenant.url("/customers"), json={"email": "bo@example.com", "externalId": nul}, headers=tenant.headers
    )
    assert_names(created, ("body", "externalId"))
    lookup = client.post(
        tenant.url("/customers/lookup"), json={"email": "an\u0000a@example.com"}, headers=tenant.headers
    )
    assert_names(lookup, ("body", "email"))
    no_profile(client, tenant, "bo@example.com")


def test_non_string_json_where_strings_belong_is_422(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    url = tenant.url(f"/customers/{profile['id']}")
    wrong_values: list[Any] = [1, 1.5, True, ["x"], {"x": 1}]
    fields: list[tuple[str, Any, tuple[str | int, ...]]] = []
    for value in wrong_values:
        fields += [
            ("", {"externalId": value}, ("body", "externalId")),
            ("", {"contact": {"firstName": value}}, ("body", "contact", "firstName")),
            ("", {"contact": {"email": value}}, ("body", "contact", "email")),
            ("", {"contact": {"phone": value}}, ("body", "contact", "phone")),
            ("", {"contact": {"birthdate": value}}, ("body", "contact", "birthdate")),
            ("", {"billingAddress": {"postalCode": value}}, ("body", "billingAddress", "postalCode")),
            ("", {"billingAddress": {"country": value}}, ("body", "billingAddress", "country")),
            ("/deliveryAddresses", [{"city": value}], ("body", 0, "city")),
            ("/vehicles", [{"color": value}], ("body", 0, "color")),
            ("/favorites", [{"type": "store", "storeId": value}], ("body", 0)),
        ]
    for path, body, loc in fields:
        assert_names(client.patch(url + path, json=body, headers=tenant.headers), loc)
    # Objects and lists where they belong, not strings.
    for body, loc in [
        ({"contact": "ana@example.com"}, ("body", "contact")),
        ({"billingAddress": "Main Street 1"}, ("body", "billingAddress")),
        ({"metadata": "gold"}, ("body", "metadata")),
        ({"metadata": ["gold"]}, ("body", "metadata")),
        ({"deliveryAddresses": {"street": "x"}}, ("body", "deliveryAddresses")),
        ({"favorites": "PLU-1"}, ("body", "favorites")),
    ]:
        assert_names(client.patch(url, json=body, headers=tenant.headers), loc)
    assert read(client, tenant, profile["id"]) == profile


# --- a failed request writes nothing ------------------------------------------------------


def test_a_failed_request_leaves_the_data_as_it_was(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    other = client.post(tenant.url("/customers"), json={"email": "bo@example.com"}, headers=tenant.headers).json()
    url = tenant.url(f"/customers/{profile['id']}")
    failures = [
        # valid changes next to one bad field
        (url, {"externalId": "changed", "vehicles": [], "contact": {"phone": "bad"}}, 422),
        (url, {"favorites": [], "metadata": {"k": "v"}, "billingAddress": {"country": "XX"}}, 422),
        # a valid change next to an email another profile has
        (url, {"externalId": "changed", "deliveryAddresses": [], "contact": {"email": "BO@example.com"}}, 409),
        (url + "/deliveryAddresses", [{"street": "ok"}, {"coordinates": [999, 0]}], 422),
        (url + "/vehicles", [{"make": "ok", "default": True}, {"make": "x", "default": True}], 422),
        (url + "/favorites", [{"type": "item", "item": "ok"}, {"type": "item"}], 422),
    ]
    for target, body, status in failures:
        response = client.patch(target, json=body, headers=tenant.headers)
        assert response.status_code == status, (target, body, response.text)
        assert read(client, tenant, profile["id"]) == profile
        assert read(client, tenant, other["id"]) == other
    raw = [
        (b'{"externalId": "changed"', JSON, 400),
        (b'{"externalId": "changed"}', {"Content-Type": "text/plain"}, 415),
        (_padded({"externalId": "changed"}, MIB + 1), JSON, 413),
    ]
    for content, headers, status in raw:
        response = client.patch(url, content=content, headers={**tenant.headers, **headers})
        assert response.status_code == status
        assert read(client, tenant, profile["id"]) == profile
    # A create that fails writes no profile.
    for body in (
        {"email": "cy@example.com", "contact": {"phone": "bad"}},
        {"email": "cy@example.com", "vehicles": [{"make": "a", "default": True}, {"make": "b", "default": True}]},
        {"email": "cy@example.com", "contact": {"email": "di@example.com"}},
    ):
        assert client.post(tenant.url("/customers"), json=body, headers=tenant.headers).status_code == 422
    no_profile(client, tenant, "cy@example.com")
    no_profile(client, tenant, "di@example.com")


# --- X-Request-ID ---------------------------------------------------------------------------


def test_every_response_carries_a_request_id_echoed_when_sent(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    pid = profile["id"]
    requests: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("GET", tenant.url(f"/customers/{pid}"), tenant.headers, None),
        ("POST", tenant.url("/customers"), {**tenant.headers, **JSON}, b'{"email": "bo@example.com"}'),
        ("POST", tenant.url("/customers"), {**tenant.headers, **JSON}, b'{"email": "bo@example.com"}'),  # 409
        ("GET", tenant.url(f"/customers/{pid}"), {}, None),  # 401
        ("GET", f"/crm/{'0' * 24}/customers/{pid}", tenant.headers, None),  # 403
        ("GET", tenant.url(f"/customers/{'0' * 24}"), tenant.headers, None),  # 404
        ("GET", "/nope", {}, None),  # 404 route
        ("DELETE", tenant.url(f"/customers/{pid}"), tenant.headers, None),  # 405
        ("PATCH", tenant.url(f"/customers/{pid}"), {**tenant.headers, **JSON}, b"{"),  # 400
        ("PATCH", tenant.url(f"/customers/{pid}"), {**tenant.headers, "Content-Type": "text/plain"}, b"{}"),  # 415
        ("PATCH", tenant.url(f"/customers/{pid}"), {**tenant.headers, **JSON}, b'{"contact": null}'),  # 422
        ("PATCH", tenant.url(f"/customers/{pid}"), {**tenant.headers, **JSON}, b"[" + b" " * MIB + b"]"),  # 413
        ("POST", "/oauth/token", JSON, b"{}"),
        ("GET", "/oauth/token", {}, None),
        ("GET", "/healthz", {}, None),
    ]
    seen = set()
    for method, url, headers, content in requests:
        generated = client.request(method, url, headers=headers, content=content)
        assert generated.headers.get("x-request-id"), (method, url, generated.status_code)
        seen.add(generated.headers["x-request-id"])
        sent = f"req-{len(seen)}_abc.DEF:9"
        echoed = client.request(method, url, headers={**headers, "X-Request-ID": sent}, content=content)
        assert echoed.headers["x-request-id"] == sent, (method, url, echoed.status_code)
    assert len(seen) == len(requests)  # a new id for every request that did not send one
