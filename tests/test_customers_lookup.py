"""POST /crm/{accountId}/customers/lookup: email decides when given, phone alone must name one
guest, exact matching only (never partial or pattern), and the 404 / 409 / 422 answers."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import Tenant, create_tenant
from tests.test_errors_and_limits import assert_error


def create(client: TestClient, tenant: Tenant, email: str, phone: str | None = None) -> dict[str, Any]:
    contact: dict[str, Any] = {"email": email}
    if phone is not None:
        contact["phone"] = phone
    response = client.post(tenant.url("/customers"), json={"contact": contact}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def lookup(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.post(tenant.url("/customers/lookup"), json=body, headers=tenant.headers)


def found(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    response = lookup(client, tenant, body)
    assert response.status_code == 200, (body, response.text)
    return dict(response.json())


@pytest.fixture
def guests(client: TestClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    return {
        "ana": create(client, tenant, "Ana@Example.com", "+32 470 12 34 56"),
        "bo": create(client, tenant, "bo@bücher.example", "+32 499 11 22 33"),
        "cy": create(client, tenant, "cy@example.com", "+32 499 11 22 33"),  # shares bo's phone
        "di": create(client, tenant, "di_x@example.com"),
    }


def test_lookup_answers_the_full_profile(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    response = lookup(client, tenant, {"email": "Ana@Example.com"})
    assert response.status_code == 200
    assert response.json() == guests["ana"]


def test_email_matches_case_and_space_insensitively_and_across_idna_forms(
    client: TestClient, tenant: Tenant, guests: dict[str, Any]
) -> None:
    for email, name in [
        ("ana@example.com", "ana"),
        ("  ANA@EXAMPLE.COM ", "ana"),
        ("bo@xn--bcher-kva.example", "bo"),
        ("BO@BÜCHER.EXAMPLE", "bo"),
        ("di_x@example.com", "di"),
    ]:
        assert found(client, tenant, {"email": email})["id"] == guests[name]["id"], email


def test_email_decides_when_given(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    # The email names ana; the phone names someone else (or several): the email wins.
    body = {"email": "ana@example.com", "phone": "+32 499 11 22 33"}
    assert found(client, tenant, body)["id"] == guests["ana"]["id"]
    # An unknown email is a 404, even though the phone would have matched.
    body = {"email": "nobody@example.com", "phone": "+32 470 12 34 56"}
    assert_error(lookup(client, tenant, body), 404, "customer_not_found")


def test_phone_alone_finds_the_one_guest_in_any_written_form(
    client: TestClient, tenant: Tenant, guests: dict[str, Any]
) -> None:
    for phone in ("+32470123456", "+32 470 12 34 56", "0032 470 12 34 56", "+32-470-12-34-56", "+32 (470) 123456"):
        assert found(client, tenant, {"phone": phone})["id"] == guests["ana"]["id"], phone
    assert found(client, tenant, {"phone": "+32470123456", "email": None})["id"] == guests["ana"]["id"]


def test_phone_alone_matching_several_profiles_is_409(
    client: TestClient, tenant: Tenant, guests: dict[str, Any]
) -> None:
    assert_error(lookup(client, tenant, {"phone": "+32 499 11 22 33"}), 409, "ambiguous_profile_lookup")
    # Once one of them changes number, the phone names a single guest again.
    client.patch(
        tenant.url(f"/customers/{guests['cy']['id']}"),
        json={"contact": {"phone": "+32 470 99 88 77"}},
        headers=tenant.headers,
    )
    assert found(client, tenant, {"phone": "+32499112233"})["id"] == guests["bo"]["id"]


def test_national_phone_numbers_use_the_accounts_default_country(client: TestClient, database_url: str) -> None:
    belgian = create_tenant(database_url, default_country="BE")
    guest = create(client, belgian, "ana@example.com", "+32 470 12 34 56")
    assert found(client, belgian, {"phone": "0470 12 34 56"})["id"] == guest["id"]


def test_a_national_phone_number_without_a_default_country_is_422(
    client: TestClient, tenant: Tenant, guests: dict[str, Any]
) -> None:
    body = assert_error(lookup(client, tenant, {"phone": "0470 12 34 56"}), 422, "validation_error")
    assert [e["loc"] for e in body["context"]["errors"]] == [["body", "phone"]]


def test_neither_email_nor_phone_is_422(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    for body in ({}, {"email": None}, {"phone": None}, {"email": None, "phone": None}, {"name": "Ana"}):
        error = assert_error(lookup(client, tenant, body), 422, "validation_error")
        assert error["context"]["errors"], body


def test_invalid_email_or_phone_is_422_naming_each(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    error = assert_error(lookup(client, tenant, {"email": "not-an-email", "phone": "12"}), 422, "validation_error")
    locs = [e["loc"] for e in error["context"]["errors"]]
    assert ["body", "email"] in locs and ["body", "phone"] in locs
    for body in ({"email": ""}, {"phone": ""}, {"email": 5}, {"phone": 32470123456}, {"email": ["ana@example.com"]}):
        assert_error(lookup(client, tenant, body), 422, "validation_error")
    for body in (b"[]", b'"ana@example.com"', b"null"):
        response = client.post(
            tenant.url("/customers/lookup"),
            content=body,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert_error(response, 422, "validation_error")


def test_no_partial_or_pattern_matching(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    for email in (
        "na@example.com",
        "ana@example.co",
        "ana@ample.com",
        "an%@example.com",
        "%@example.com",
        "ana@%.com",
        "a_a@example.com",
        "di%x@example.com",
        "*@example.com",
        "ana@example.com.evil",
        "ana+x@example.com",
    ):
        response = lookup(client, tenant, {"email": email})
        assert response.status_code in (404, 422), (email, response.text)
        if response.status_code == 404:
            assert response.json()["code"] == "customer_not_found"
    for phone in ("+32 470 12 34 5", "+32 470 12 34 57", "+3247012345"):
        response = lookup(client, tenant, {"phone": phone})
        assert response.status_code in (404, 422), (phone, response.text)


def test_no_match_is_404_customer_not_found(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    assert_error(lookup(client, tenant, {"email": "nobody@example.com"}), 404, "customer_not_found")
    assert_error(lookup(client, tenant, {"phone": "+44 20 7946 0018"}), 404, "customer_not_found")


def test_lookup_stays_inside_the_account(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, guests: dict[str, Any]
) -> None:
    assert_error(lookup(client, other_tenant, {"email": "ana@example.com"}), 404, "customer_not_found")
    assert_error(lookup(client, other_tenant, {"phone": "+32470123456"}), 404, "customer_not_found")
    # The same phone in another account does not make this account's lookup ambiguous.
    create(client, other_tenant, "someone@example.com", "+32 470 12 34 56")
    assert found(client, tenant, {"phone": "+32470123456"})["id"] == guests["ana"]["id"]


def test_lookup_writes_nothing(client: TestClient, tenant: Tenant, guests: dict[str, Any]) -> None:
    found(client, tenant, {"email": "ana@example.com"})
    read = client.get(tenant.url(f"/customers/{guests['ana']['id']}"), headers=tenant.headers)
    assert read.json() == guests["ana"]
