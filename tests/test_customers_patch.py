"""PATCH /crm/{accountId}/customers/{id}: absent is unchanged, null clears, contact merges,
billingAddress and metadata are replaced whole, lists are replaced, and `updated` moves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import Tenant
from tests.test_errors_and_limits import assert_names

FULL = {
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
        {"street": "Main Street 1", "city": "Gent", "country": "BE", "coordinates": [51.05, 3.72]},
        {"street": "Side Street 2", "city": "Brugge", "country": "BE"},
    ],
    "billingAddress": {"street": "Main Street 1", "subpremise": "Box 3", "city": "Gent", "country": "BE"},
    "metadata": {"tier": "gold", "tags": ["a", "b"]},
    "vehicles": [{"make": "Audi", "model": "TT", "color": "Black"}],
    "favorites": [{"type": "item", "item": "PLU-1", "label": "Usual"}, {"type": "store", "storeId": "s-1"}],
}


@pytest.fixture
def profile(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    response = client.post(tenant.url("/customers"), json=FULL, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def patch(client: TestClient, tenant: Tenant, profile_id: str, body: Any, path: str = "") -> Any:
    return client.patch(tenant.url(f"/customers/{profile_id}{path}"), json=body, headers=tenant.headers)


def patched(client: TestClient, tenant: Tenant, profile_id: str, body: Any, path: str = "") -> dict[str, Any]:
    response = patch(client, tenant, profile_id, body, path)
    assert response.status_code == 200, response.text
    return dict(response.json())


def read(client: TestClient, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    response = client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def without_updated(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in profile.items() if k != "updated"}


def _moment(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# --- absent, null, merge ------------------------------------------------------------------


def test_absent_fields_are_unchanged(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], {"externalId": "ext-2"})
    assert after["externalId"] == "ext-2"
    assert without_updated(after) == without_updated({**profile, "externalId": "ext-2"})
    assert read(client, tenant, profile["id"]) == after


def test_an_empty_patch_changes_no_field(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], {})
    assert without_updated(after) == without_updated(profile)
    after = patched(client, tenant, profile["id"], {"contact": {}})
    assert without_updated(after) == without_updated(profile)


def test_null_clears_an_optional_top_level_field(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    expected = profile
    for field in ("externalId", "loyaltyProviderId"):
        after = patched(client, tenant, profile["id"], {field: None})
        expected = {**expected, field: None}
        assert without_updated(after) == without_updated(expected)


def test_null_clears_optional_contact_fields(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], {"contact": {"firstName": None, "birthdate": None, "phone": None}})
    assert after["contact"] == {
        "email": "ana@example.com",
        "firstName": None,
        "lastName": "Silva",
        "birthdate": None,
        "phone": None,
        "fullName": "Silva",
    }
    # The cleared phone no longer finds the guest.
    found = client.post(tenant.url("/customers/lookup"), json={"phone": "+32470123456"}, headers=tenant.headers)
    assert found.status_code == 404


def test_contact_merges_field_by_field(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], {"contact": {"lastName": "Costa"}})
    assert after["contact"] == {**profile["contact"], "lastName": "Costa", "fullName": "Ana Costa"}
    after = patched(client, tenant, profile["id"], {"contact": {"phone": "0032 499 11 22 33"}})
    assert after["contact"] == {
        **profile["contact"],
        "lastName": "Costa",
        "fullName": "Ana Costa",
        "phone": "+32499112233",
    }


def test_full_name_is_never_stale_and_never_taken_from_the_client(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    steps = [
        ({"firstName": "Bea"}, "Bea Silva"),
        ({"lastName": None}, "Bea"),
        ({"firstName": None}, None),
        ({"lastName": "Costa", "fullName": "Someone Else"}, "Costa"),
        ({"fullName": "Someone Else"}, "Costa"),
        ({"firstName": "", "lastName": "  "}, None),
    ]
    for change, full_name in steps:
        after = patched(client, tenant, profile["id"], {"contact": change})
        assert after["contact"]["fullName"] == full_name, change
        assert read(client, tenant, profile["id"])["contact"]["fullName"] == full_name


def test_null_email_is_422_and_changes_nothing(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    assert_names(patch(client, tenant, profile["id"], {"contact": {"email": None}}), ("body", "contact", "email"))
    assert read(client, tenant, profile["id"]) == profile


def test_null_contact_is_422_and_changes_nothing(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    assert_names(patch(client, tenant, profile["id"], {"contact": None, "externalId": "x"}), ("body", "contact"))
    assert read(client, tenant, profile["id"]) == profile


def test_billing_address_is_replaced_whole_and_null_clears_it(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    after = patched(client, tenant, profile["id"], {"billingAddress": {"city": "Antwerpen", "subPremise": "Box 9"}})
    assert after["billingAddress"] == {
        "street": None,
        "subpremise": "Box 9",
        "area": None,
        "city": "Antwerpen",
        "postalCode": None,
        "stateOrProvince": None,
        "country": None,
        "coordinates": None,
    }
    cleared = patched(client, tenant, profile["id"], {"billingAddress": None})
    assert cleared["billingAddress"] is None
    assert without_updated(cleared) == without_updated({**profile, "billingAddress": None})


def test_metadata_is_replaced_whole_and_null_empties_it(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    after = patched(client, tenant, profile["id"], {"metadata": {"visits": 4}})
    assert after["metadata"] == {"visits": 4}
    assert patched(client, tenant, profile["id"], {"metadata": None})["metadata"] == {}
    assert patched(client, tenant, profile["id"], {"metadata": {"a": {"b": 1}}})["metadata"] == {"a": {"b": 1}}
    assert patched(client, tenant, profile["id"], {"metadata": {}})["metadata"] == {}


def test_a_list_sent_as_null_becomes_empty(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    expected = profile
    for field in ("deliveryAddresses", "vehicles", "favorites"):
        after = patched(client, tenant, profile["id"], {field: None})
        expected = {**expected, field: []}
        assert without_updated(after) == without_updated(expected)


def test_lists_in_the_profile_patch_replace_the_list_as_their_own_endpoints_do(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    kept = profile["deliveryAddresses"][1]
    body = {
        "deliveryAddresses": [{"id": kept["id"], "street": "Side Street 3"}, {"street": "New Street"}],
        "vehicles": [{"make": "VW", "model": "Golf", "default": True}],
        "favorites": [{"type": "order", "orderId": "o-1"}, {"type": "order", "orderId": "o-1"}],
    }
    after = patched(client, tenant, profile["id"], body)
    first, second = after["deliveryAddresses"]
    assert first["id"] == kept["id"] and first["street"] == "Side Street 3" and first["default"] is True
    assert second["id"] not in {a["id"] for a in profile["deliveryAddresses"]} and second["default"] is False
    [vehicle] = after["vehicles"]
    assert vehicle["id"] != profile["vehicles"][0]["id"]
    assert (vehicle["make"], vehicle["model"], vehicle["default"]) == ("vw", "golf", True)
    assert after["favorites"] == [{"type": "order", "orderId": "o-1"}]


# --- empty strings ------------------------------------------------------------------------


def test_empty_strings_are_kept_in_free_text_fields(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    body = {
        "externalId": "",
        "loyaltyProviderId": "",
        "contact": {"firstName": "", "lastName": ""},
        "billingAddress": {
            "street": "",
            "subpremise": "",
            "area": "",
            "city": "",
            "postalCode": "",
            "stateOrProvince": "",
        },
        "deliveryAddresses": [{"street": "", "area": "", "city": "", "subPremise": ""}],
        "vehicles": [{"make": "", "model": "", "color": ""}],
        "favorites": [{"type": "item", "item": "", "label": ""}],
    }
    after = patched(client, tenant, profile["id"], body)
    assert after["externalId"] == "" and after["loyaltyProviderId"] == ""
    assert after["contact"]["firstName"] == "" and after["contact"]["lastName"] == ""
    assert after["contact"]["fullName"] is None
    assert after["billingAddress"]["street"] == "" and after["billingAddress"]["city"] == ""
    assert after["billingAddress"]["subpremise"] == "" and after["billingAddress"]["postalCode"] == ""
    assert after["deliveryAddresses"][0]["street"] == "" and after["deliveryAddresses"][0]["subpremise"] == ""
    assert after["vehicles"][0]["make"] == "" and after["vehicles"][0]["color"] == ""
    assert after["favorites"] == [{"type": "item", "item": "", "label": ""}]
    assert read(client, tenant, profile["id"]) == after


def test_empty_strings_in_checked_fields_are_422_and_change_nothing(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    cases: list[tuple[str, Any, tuple[str | int, ...]]] = [
        ("", {"contact": {"email": ""}}, ("body", "contact", "email")),
        ("", {"contact": {"phone": ""}}, ("body", "contact", "phone")),
        ("", {"contact": {"birthdate": ""}}, ("body", "contact", "birthdate")),
        ("", {"billingAddress": {"country": ""}}, ("body", "billingAddress", "country")),
        ("", {"deliveryAddresses": [{"country": ""}]}, ("body", "deliveryAddresses", 0, "country")),
        ("/deliveryAddresses", [{"street": "A", "country": ""}], ("body", 0, "country")),
    ]
    for path, body, loc in cases:
        assert_names(patch(client, tenant, profile["id"], body, path), loc)
    assert read(client, tenant, profile["id"]) == profile


# --- unknown fields -----------------------------------------------------------------------


def test_unknown_fields_are_ignored_everywhere(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    body = {
        "nickname": "Annie",
        "id": "0" * 24,
        "accountId": "1" * 24,
        "channel": 1,
        "created": "2000-01-01T00:00:00.000000Z",
        "contact": {"lastName": "Costa", "fullName": "X Y", "title": "Dr"},
        "billingAddress": {"street": "A", "houseNumber": "12"},
        "deliveryAddresses": [{"street": "B", "floor": 3}],
        "vehicles": [{"make": "vw", "plate": "1-ABC-123"}],
        "favorites": [{"type": "item", "item": "PLU-2", "quantity": 2}],
    }
    after = patched(client, tenant, profile["id"], body)
    assert set(after) == set(profile)
    assert after["id"] == profile["id"] and after["accountId"] == tenant.account_id
    assert after["channel"] == profile["channel"] and after["created"] == profile["created"]
    assert after["contact"]["fullName"] == "Ana Costa" and "title" not in after["contact"]
    assert "houseNumber" not in after["billingAddress"]
    assert "floor" not in after["deliveryAddresses"][0]
    assert "plate" not in after["vehicles"][0]
    assert after["favorites"] == [{"type": "item", "item": "PLU-2"}]


# --- email ----------------------------------------------------------------------------------


def test_email_can_change_and_frees_the_old_one(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], {"contact": {"email": "  Ana.Silva@Example.org "}})
    assert after["contact"]["email"] == "Ana.Silva@Example.org"
    found = client.post(
        tenant.url("/customers/lookup"), json={"email": "ana.silva@example.ORG"}, headers=tenant.headers
    )
    assert found.json()["id"] == profile["id"]
    old = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert old.status_code == 404
    again = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert again.status_code == 200, again.text


def test_a_profile_may_recase_its_own_email(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], {"contact": {"email": "ANA@EXAMPLE.COM"}})
    assert after["contact"]["email"] == "ANA@EXAMPLE.COM"


def test_moving_an_email_onto_another_profiles_email_is_409_and_changes_nothing(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    bo = client.post(tenant.url("/customers"), json={"email": "bo@example.com"}, headers=tenant.headers).json()
    cy = client.post(tenant.url("/customers"), json={"email": "cy@bücher.example"}, headers=tenant.headers).json()
    for taken, owner in [
        ("bo@example.com", bo),
        (" BO@Example.com ", bo),
        ("bo@EXAMPLE.com", bo),
        ("cy@xn--bcher-kva.example", cy),
        ("CY@BÜCHER.EXAMPLE", cy),
    ]:
        body = {"contact": {"email": taken, "firstName": "Changed"}, "externalId": "x"}
        response = patch(client, tenant, profile["id"], body)
        assert response.status_code == 409, (taken, response.text)
        error = response.json()
        assert set(error) == {"code", "message", "context"}
        assert error["code"] == "customer_already_exists"
        assert error["context"]["crmProfileId"] == owner["id"]
    assert read(client, tenant, profile["id"]) == profile
    assert read(client, tenant, bo["id"]) == bo
    assert read(client, tenant, cy["id"]) == cy


def test_an_email_taken_in_another_account_is_free_here(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, profile: dict[str, Any]
) -> None:
    theirs = client.post(other_tenant.url("/customers"), json={"email": "bo@example.com"}, headers=other_tenant.headers)
    assert theirs.status_code == 200
    assert (
        patched(client, tenant, profile["id"], {"contact": {"email": "bo@example.com"}})["contact"]["email"]
        == "bo@example.com"
    )


# --- identifiers and time -----------------------------------------------------------------


def test_updated_moves_on_every_write_and_created_never(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    writes: list[tuple[str, Any]] = [
        ("", {"externalId": "ext-2"}),
        ("", {"externalId": "ext-2"}),  # the same value again is still a write
        ("", {"contact": {"firstName": "Bea"}}),
        ("", {}),
        ("/deliveryAddresses", [{"street": "A"}]),
        ("/vehicles", [{"make": "vw"}]),
        ("/favorites", [{"type": "item", "item": "PLU-9"}]),
        ("/favorites", []),
    ]
    previous = profile["updated"]
    for path, body in writes:
        after = patched(client, tenant, profile["id"], body, path)
        assert after["created"] == profile["created"]
        assert _moment(after["updated"]) > _moment(previous), (path, body)
        assert after["updated"].endswith("Z") and len(after["updated"]) == 27
        previous = after["updated"]
        assert read(client, tenant, profile["id"])["updated"] == previous


def test_failed_writes_and_reads_leave_updated_alone(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    assert patch(client, tenant, profile["id"], {"contact": {"phone": "nope"}}).status_code == 422
    assert patch(client, tenant, profile["id"], [{"country": "XX"}], "/deliveryAddresses").status_code == 422
    lookup = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert lookup.status_code == 200
    assert read(client, tenant, profile["id"]) == profile


def test_item_ids_are_24_lowercase_hex(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    after = patched(client, tenant, profile["id"], [{"street": "A"}, {"street": "B"}], "/deliveryAddresses")
    after = patched(client, tenant, profile["id"], [{"make": "a"}, {"make": "b"}], "/vehicles")
    for item in after["deliveryAddresses"] + after["vehicles"]:
        assert len(item["id"]) == 24 and item["id"] == item["id"].lower()
        int(item["id"], 16)


def test_patching_an_unknown_or_malformed_profile_is_404(client: TestClient, tenant: Tenant) -> None:
    for profile_id in ("0" * 24, "nope", "0" * 23):
        for path, body in (("", {"externalId": "x"}), ("/vehicles", []), ("/favorites", [])):
            response = patch(client, tenant, profile_id, body, path)
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "customer_not_found"


def test_a_body_that_is_not_an_object_is_422(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    url = tenant.url(f"/customers/{profile['id']}")
    headers = {**tenant.headers, "Content-Type": "application/json"}
    for body in (b"[]", b'[{"externalId": "x"}]', b'"x"', b"5", b"null", b"true"):
        assert_names(client.patch(url, content=body, headers=headers))
    assert read(client, tenant, profile["id"]) == profile
