"""POST /crm/{accountId}/customers: the full profile, one profile per email, and the checked
contact fields (email, phone, birthdate), the derived fullName and the client's channel."""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.factories import PROFILE_KEYS, Tenant, create_api_client, create_tenant, mint_token
from tests.test_errors_and_limits import assert_names

CONTACT_KEYS = {"email", "firstName", "lastName", "birthdate", "phone", "fullName"}
ID = re.compile(r"[0-9a-f]{24}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def create(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.post(tenant.url("/customers"), json=body, headers=tenant.headers)


def created(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    response = create(client, tenant, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def lookup(client: TestClient, tenant: Tenant, **query: str) -> Any:
    return client.post(tenant.url("/customers/lookup"), json=query, headers=tenant.headers)


_serial = itertools.count(1)


def contact_with(client: TestClient, tenant: Tenant, **contact: Any) -> Any:
    """Create a guest with these contact fields and an email no other guest has."""
    return create(client, tenant, {"contact": {"email": f"guest{next(_serial)}@example.com", **contact}})


# --- the profile --------------------------------------------------------------------------


def test_create_answers_200_with_the_full_profile(client: TestClient, tenant: Tenant) -> None:
    body = {
        "contact": {
            "email": "ana@example.com",
            "firstName": "Ana",
            "lastName": "Silva",
            "birthdate": "1990-05-17",
            "phone": "+32 470 12 34 56",
        },
        "externalId": "ext-1",
        "loyaltyProviderId": "loyal-1",
        "deliveryAddresses": [
            {"street": "Main Street 1", "city": "Gent", "country": "be", "coordinates": [51.05, 3.72]},
        ],
        "billingAddress": {"street": "Main Street 1", "city": "Gent", "country": "BE"},
        "metadata": {"tier": "gold", "visits": 3},
        "vehicles": [{"make": "Audi", "model": "TT", "color": "Black"}],
        "favorites": [{"type": "item", "item": "PLU-1", "label": "Usual"}],
    }
    profile = created(client, tenant, body)
    assert set(profile) == PROFILE_KEYS
    assert set(profile["contact"]) == CONTACT_KEYS
    assert profile["contact"] == {
        "email": "ana@example.com",
        "firstName": "Ana",
        "lastName": "Silva",
        "birthdate": "1990-05-17",
        "phone": "+32470123456",
        "fullName": "Ana Silva",
    }
    assert profile["accountId"] == tenant.account_id
    assert profile["channel"] == 10000
    assert profile["externalId"] == "ext-1"
    assert profile["loyaltyProviderId"] == "loyal-1"
    assert profile["metadata"] == {"tier": "gold", "visits": 3}
    [address] = profile["deliveryAddresses"]
    assert ID.fullmatch(address["id"])
    assert address == {
        "street": "Main Street 1",
        "subpremise": None,
        "area": None,
        "city": "Gent",
        "postalCode": None,
        "stateOrProvince": None,
        "country": "BE",
        "coordinates": [51.05, 3.72],
        "id": address["id"],
        "default": True,
    }
    assert profile["billingAddress"] == {
        "street": "Main Street 1",
        "subpremise": None,
        "area": None,
        "city": "Gent",
        "postalCode": None,
        "stateOrProvince": None,
        "country": "BE",
        "coordinates": None,
    }
    [vehicle] = profile["vehicles"]
    assert vehicle == {"id": vehicle["id"], "make": "audi", "model": "tt", "color": "black", "default": True}
    assert profile["favorites"] == [{"type": "item", "item": "PLU-1", "label": "Usual"}]

    read = client.get(tenant.url(f"/customers/{profile['id']}"), headers=tenant.headers)
    assert read.status_code == 200
    assert read.json() == profile


def test_a_bare_top_level_email_is_enough(client: TestClient, tenant: Tenant) -> None:
    profile = created(client, tenant, {"email": "email@email.com"})
    assert profile["contact"] == {
        "email": "email@email.com",
        "firstName": None,
        "lastName": None,
        "birthdate": None,
        "phone": None,
        "fullName": None,
    }
    assert profile["deliveryAddresses"] == profile["vehicles"] == profile["favorites"] == []
    assert profile["metadata"] == {}
    assert profile["billingAddress"] is None
    assert profile["externalId"] is None and profile["loyaltyProviderId"] is None


def test_top_level_email_fills_a_contact_without_one(client: TestClient, tenant: Tenant) -> None:
    profile = created(client, tenant, {"email": "ana@example.com", "contact": {"firstName": "Ana"}})
    assert profile["contact"]["email"] == "ana@example.com"
    assert profile["contact"]["firstName"] == "Ana"


def test_both_emails_naming_the_same_guest_are_accepted(client: TestClient, tenant: Tenant) -> None:
    profile = created(client, tenant, {"email": " ANA@example.com", "contact": {"email": "Ana@Example.com"}})
    assert profile["contact"]["email"] == "Ana@Example.com"


def test_both_emails_naming_different_guests_is_422_and_writes_nothing(client: TestClient, tenant: Tenant) -> None:
    response = create(client, tenant, {"email": "ana@example.com", "contact": {"email": "bo@example.com"}})
    assert_names(response, ("body", "email"))
    for email in ("ana@example.com", "bo@example.com"):
        assert lookup(client, tenant, email=email).status_code == 404


def test_an_email_is_required(client: TestClient, tenant: Tenant) -> None:
    for body in ({}, {"contact": {}}, {"contact": {"firstName": "Ana"}}, {"email": None}, {"contact": None}):
        errors = assert_names(create(client, tenant, body))
        assert any("email" in error["loc"] for error in errors), (body, errors)


def test_contact_email_null_is_422(client: TestClient, tenant: Tenant) -> None:
    response = create(client, tenant, {"email": "ana@example.com", "contact": {"email": None}})
    assert_names(response, ("body", "contact", "email"))


def test_absent_or_null_lists_are_empty_and_absent_metadata_is_an_empty_object(
    client: TestClient, tenant: Tenant
) -> None:
    nulls = {"deliveryAddresses": None, "vehicles": None, "favorites": None, "metadata": None, "billingAddress": None}
    for body in ({"email": "ana@example.com"}, {"email": "bo@example.com", **nulls}):
        profile = created(client, tenant, body)
        assert profile["deliveryAddresses"] == []
        assert profile["vehicles"] == []
        assert profile["favorites"] == []
        assert profile["metadata"] == {}
        assert profile["billingAddress"] is None


def test_unknown_fields_and_server_owned_fields_are_ignored(client: TestClient, tenant: Tenant) -> None:
    profile = created(
        client,
        tenant,
        {
            "email": "ana@example.com",
            "id": "0" * 24,
            "accountId": "1" * 24,
            "channel": 5,
            "created": "2000-01-01T00:00:00.000000Z",
            "updated": "2000-01-01T00:00:00.000000Z",
            "houseNumber": "12",
            "contact": {"firstName": "Ana", "fullName": "Someone Else", "nickname": "A"},
        },
    )
    assert profile["id"] != "0" * 24
    assert profile["accountId"] == tenant.account_id
    assert profile["channel"] == 10000
    assert profile["created"] != "2000-01-01T00:00:00.000000Z"
    assert profile["contact"]["fullName"] == "Ana"
    assert "houseNumber" not in profile and "nickname" not in profile["contact"]


# --- identifiers and time -----------------------------------------------------------------


def test_ids_are_24_lowercase_hex_in_objectid_layout(client: TestClient, tenant: Tenant) -> None:
    before = int(time.time())
    profile = created(
        client,
        tenant,
        {
            "email": "ana@example.com",
            "deliveryAddresses": [{"street": "A"}, {"street": "B"}],
            "vehicles": [{"make": "audi"}, {"make": "vw"}],
        },
    )
    after = int(time.time())
    item_ids = [a["id"] for a in profile["deliveryAddresses"]] + [v["id"] for v in profile["vehicles"]]
    for value in [profile["id"], *item_ids]:
        assert ID.fullmatch(value), value
        # The first four bytes are the creation second.
        assert before - 1 <= int(value[:8], 16) <= after + 1
    assert len({profile["id"], *item_ids}) == 5


def test_created_and_updated_are_utc_with_microseconds(client: TestClient, tenant: Tenant) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    profile = created(client, tenant, {"email": "ana@example.com"})
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert TIMESTAMP.fullmatch(profile["created"]), profile["created"]
    assert profile["updated"] == profile["created"]
    moment = datetime.strptime(profile["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= moment <= after


# --- one profile per email ----------------------------------------------------------------

SAME_GUEST = [
    ("ana@example.com", "ana@example.com"),
    ("Bo@Example.COM", " bo@example.com "),
    ("cy@example.com", "CY@EXAMPLE.COM"),
    ("di@bücher.example", "di@xn--bcher-kva.example"),
    ("ed@xn--bcher-kva.example", "Ed@BÜCHER.example"),
]


def test_a_second_profile_for_a_known_email_is_409(client: TestClient, tenant: Tenant) -> None:
    for first, second in SAME_GUEST:
        existing = created(client, tenant, {"email": first})
        for body in ({"email": second}, {"contact": {"email": second, "firstName": "Other"}}):
            response = create(client, tenant, body)
            assert response.status_code == 409, (first, second, response.text)
            error = response.json()
            assert set(error) == {"code", "message", "context"}
            assert error["code"] == "customer_already_exists"
            assert error["context"]["crmProfileId"] == existing["id"]
        # The first profile is unchanged.
        read = client.get(tenant.url(f"/customers/{existing['id']}"), headers=tenant.headers)
        assert read.json() == existing


def test_different_addresses_are_different_guests(client: TestClient, tenant: Tenant) -> None:
    addresses = [
        "ana@example.com",
        "ana+orders@example.com",
        "a.na@example.com",
        "ana@example.org",
        "ana@mail.example.com",
        "anna@example.com",
    ]
    profiles = [created(client, tenant, {"email": address}) for address in addresses]
    assert len({p["id"] for p in profiles}) == len(addresses)


def test_the_same_email_in_two_accounts_is_two_guests(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = created(client, tenant, {"email": "ana@example.com"})
    theirs = created(client, other_tenant, {"email": "ana@example.com"})
    assert mine["id"] != theirs["id"]


def test_email_is_stored_trimmed_with_case_and_domain_as_written(client: TestClient, tenant: Tenant) -> None:
    for sent, stored in [
        ("  Ana.Silva@Example.COM  ", "Ana.Silva@Example.COM"),
        ("\tbo@example.com\n", "bo@example.com"),
        ("cy@bücher.example", "cy@bücher.example"),
        ("di@xn--bcher-kva.example", "di@xn--bcher-kva.example"),
    ]:
        assert created(client, tenant, {"email": sent})["contact"]["email"] == stored


INVALID_EMAILS: list[Any] = [
    "not-an-email",
    "ana@",
    "@example.com",
    "ana@@example.com",
    "ana example@example.com",
    "ana@example",
    "ana@exa mple.com",
    "",
    "   ",
    "a" * 250 + "@example.com",
    "ana\u0000@example.com",
    5,
    True,
    ["ana@example.com"],
    {"address": "ana@example.com"},
]


def test_an_invalid_email_is_422(client: TestClient, tenant: Tenant) -> None:
    for email in INVALID_EMAILS:
        assert_names(create(client, tenant, {"email": email}), ("body", "email"))
        assert_names(create(client, tenant, {"contact": {"email": email}}), ("body", "contact", "email"))


# --- phone --------------------------------------------------------------------------------


def test_international_phone_numbers_are_stored_in_e164(client: TestClient, tenant: Tenant) -> None:
    for sent, stored in [
        ("+32 470 12 34 56", "+32470123456"),
        ("+32470123456", "+32470123456"),
        ("0032470123456", "+32470123456"),
        ("0032 470 12 34 56", "+32470123456"),
        ("+32-470-12-34-56", "+32470123456"),
        ("+32 (470) 12.34.56", "+32470123456"),
        ("+1 (404) 809-1678", "+14048091678"),
        ("+55 19 99999-9999", "+5519999999999"),
        (" +44 20 7946 0018 ", "+442079460018"),
    ]:
        response = contact_with(client, tenant, phone=sent)
        assert response.status_code == 200, (sent, response.text)
        assert response.json()["contact"]["phone"] == stored


def test_a_national_number_needs_the_accounts_default_country(client: TestClient, tenant: Tenant) -> None:
    errors = assert_names(contact_with(client, tenant, phone="0470 12 34 56"), ("body", "contact", "phone"))
    assert "international" in " ".join(error["msg"] for error in errors)


def test_a_national_number_is_read_in_the_accounts_default_country(client: TestClient, database_url: str) -> None:
    belgian = create_tenant(database_url, default_country="BE")
    response = contact_with(client, belgian, phone="0470 12 34 56")
    assert response.status_code == 200, response.text
    assert response.json()["contact"]["phone"] == "+32470123456"
    # International numbers from elsewhere are still read as written.
    other = contact_with(client, belgian, phone="+1 404 809 1678")
    assert other.json()["contact"]["phone"] == "+14048091678"
    # A national number that cannot be valid is still refused.
    assert_names(contact_with(client, belgian, phone="0470 12"), ("body", "contact", "phone"))


def test_an_invalid_phone_number_is_422(client: TestClient, tenant: Tenant) -> None:
    invalid: list[Any] = [
        "+32 123",
        "+32 470 12 34 56 78 90",
        "+1 555 555 0123",
        "0032 000 00 00 00",
        "not a phone",
        "+",
        "",
        "   ",
        "+32 470 12 34 5x",
        "+32 470 12 34 56\u0000",
        32470123456,
        3.2,
        True,
        ["+32470123456"],
    ]
    for phone in invalid:
        assert_names(contact_with(client, tenant, phone=phone), ("body", "contact", "phone"))


# --- birthdate ----------------------------------------------------------------------------


def _days_from_today(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def test_birthdate_keeps_the_calendar_date_as_written(client: TestClient, tenant: Tenant) -> None:
    for sent, stored in [
        ("1990-05-17", "1990-05-17"),
        ("1970-01-01T00:00:00Z", "1970-01-01"),
        ("1970-01-01T00:00:00", "1970-01-01"),
        ("1990-05-17T23:30:00-05:00", "1990-05-17"),
        ("1990-05-17T00:30:00+02:00", "1990-05-17"),
        ("1990-05-17T23:59:59+14:00", "1990-05-17"),
        ("2000-02-29", "2000-02-29"),
        (_days_from_today(-1), _days_from_today(-1)),
    ]:
        response = contact_with(client, tenant, birthdate=sent)
        assert response.status_code == 200, (sent, response.text)
        assert response.json()["contact"]["birthdate"] == stored


def test_impossible_future_or_other_form_birthdates_are_422(client: TestClient, tenant: Tenant) -> None:
    invalid: list[Any] = [
        "1990-02-30",
        "1990-13-01",
        "1990-00-10",
        "1900-02-29",
        _days_from_today(2),
        _days_from_today(366),
        "17/05/1990",
        "1990/05/17",
        "19900517",
        "May 17, 1990",
        "1990-5-17",
        "90-05-17",
        "1990-05-17T25:00:00Z",
        "1990-05-17 10:00:00",
        "",
        "   ",
        19900517,
        ["1990-05-17"],
    ]
    for birthdate in invalid:
        response = contact_with(client, tenant, birthdate=birthdate)
        assert_names(response, ("body", "contact", "birthdate"))


# --- fullName -----------------------------------------------------------------------------


def test_full_name_is_derived_from_first_and_last_name(client: TestClient, tenant: Tenant) -> None:
    for first, last, full in [
        ("Ana", "Silva", "Ana Silva"),
        ("Ana", None, "Ana"),
        (None, "Silva", "Silva"),
        (None, None, None),
        ("", "Silva", "Silva"),
        ("   ", "  ", None),
        ("Ana Maria", "da Silva", "Ana Maria da Silva"),
    ]:
        response = contact_with(client, tenant, firstName=first, lastName=last, fullName="Ignored Name")
        assert response.status_code == 200, response.text
        contact = response.json()["contact"]
        assert contact["fullName"] == full, (first, last)
        assert contact["firstName"] == first and contact["lastName"] == last


# --- channel ------------------------------------------------------------------------------


def test_channel_is_the_creating_clients_channel(client: TestClient, database_url: str) -> None:
    tenant = create_tenant(database_url, channel=20002)
    profile = created(client, tenant, {"email": "ana@example.com", "channel": 1})
    assert profile["channel"] == 20002
    # A write by another client of the same account keeps the creator's channel.
    client_id, _ = create_api_client(database_url, account_ids=[tenant.account_id], channel=30000)
    other = {"Authorization": f"Bearer {mint_token(database_url, client_id)}"}
    updated = client.patch(tenant.url(f"/customers/{profile['id']}"), json={"externalId": "x"}, headers=other)
    assert updated.status_code == 200, updated.text
    assert updated.json()["channel"] == 20002
    by_other = client.post(tenant.url("/customers"), json={"email": "bo@example.com"}, headers=other)
    assert by_other.json()["channel"] == 30000
