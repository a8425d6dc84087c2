"""PATCH .../deliveryAddresses, .../vehicles, .../favorites: each takes an array, replaces the
stored list and answers 200 with the full profile. Item ids, the one default, coordinates,
countries, the subPremise alias, lower-cased vehicles and favorite shapes."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.factories import Tenant
from tests.test_errors_and_limits import assert_names

ID = re.compile(r"[0-9a-f]{24}")
LISTS = ["deliveryAddresses", "vehicles", "favorites"]


@pytest.fixture
def profile(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    response = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def put_list(client: TestClient, tenant: Tenant, profile_id: str, field: str, items: Any) -> Any:
    return client.patch(tenant.url(f"/customers/{profile_id}/{field}"), json=items, headers=tenant.headers)


def replaced(client: TestClient, tenant: Tenant, profile_id: str, field: str, items: Any) -> dict[str, Any]:
    response = put_list(client, tenant, profile_id, field, items)
    assert response.status_code == 200, response.text
    return dict(response.json())


def read(client: TestClient, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    return dict(client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers).json())


def refused(client: TestClient, tenant: Tenant, profile: dict[str, Any], field: str, items: Any, *locs: Any) -> None:
    """The list is refused with 422 and the stored profile is as it was."""
    before = read(client, tenant, profile["id"])
    assert_names(put_list(client, tenant, profile["id"], field, items), *locs)
    assert read(client, tenant, profile["id"]) == before


# --- every list ---------------------------------------------------------------------------


SAMPLES = {
    "deliveryAddresses": [{"street": "Main Street 1", "city": "Gent"}],
    "vehicles": [{"make": "audi", "model": "tt"}],
    "favorites": [{"type": "item", "item": "PLU-1"}],
}


@pytest.mark.parametrize("field", LISTS)
def test_each_list_endpoint_replaces_the_list_and_answers_the_full_profile(
    client: TestClient, tenant: Tenant, profile: dict[str, Any], field: str
) -> None:
    after = replaced(client, tenant, profile["id"], field, SAMPLES[field])
    assert set(after) == set(profile)
    assert len(after[field]) == 1
    for other in LISTS:
        if other != field:
            assert after[other] == profile[other]
    assert read(client, tenant, profile["id"]) == after
    emptied = replaced(client, tenant, profile["id"], field, [])
    assert emptied[field] == []
    # A body that is not an array, or items that are not objects, are refused.
    for body in ({"items": SAMPLES[field]}, "x", 5, [1], ["x"], [[]], [None]):
        refused(client, tenant, profile, field, body)
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = client.patch(tenant.url(f"/customers/{profile['id']}/{field}"), content=b"null", headers=headers)
    assert_names(response)


# --- ids and the default ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["deliveryAddresses", "vehicles"])
def test_items_naming_an_existing_id_keep_it_and_others_get_new_ids(
    client: TestClient, tenant: Tenant, profile: dict[str, Any], field: str
) -> None:
    key = "street" if field == "deliveryAddresses" else "make"
    first = replaced(client, tenant, profile["id"], field, [{key: "a"}, {key: "b"}, {key: "c"}])[field]
    a, b, c = (item["id"] for item in first)
    assert all(ID.fullmatch(i) for i in (a, b, c)) and len({a, b, c}) == 3

    other = client.post(tenant.url("/customers"), json={"email": "bo@example.com"}, headers=tenant.headers).json()
    foreign = replaced(client, tenant, other["id"], field, [{key: "x"}])[field][0]["id"]

    items = [
        {"id": c, key: "c2"},  # existing: kept, even when moved
        {key: "new"},  # no id: new
        {"id": a, key: "a2"},
        {"id": a, key: "a3"},  # the same existing id twice: only the first keeps it
        {"id": "0" * 24, key: "unknown"},  # unknown id: new
        {"id": foreign, key: "foreign"},  # another profile's id: new
        {"id": "not-an-id", key: "odd"},
        {"id": None, key: "null"},
    ]
    after = replaced(client, tenant, profile["id"], field, items)[field]
    ids = [item["id"] for item in after]
    assert [item[key] for item in after] == ["c2", "new", "a2", "a3", "unknown", "foreign", "odd", "null"]
    assert ids[0] == c and ids[2] == a
    assert len(set(ids)) == len(ids)
    assert all(ID.fullmatch(i) for i in ids)
    assert not {ids[1], *ids[3:]} & {a, b, c, foreign, "0" * 24}
    # b was left out: it is gone, and naming it later does not bring its id back.
    again = replaced(client, tenant, profile["id"], field, [{"id": b, key: "b"}])[field]
    assert again[0]["id"] != b


@pytest.mark.parametrize("field", ["deliveryAddresses", "vehicles"])
def test_one_default_at_most_and_the_first_by_default(
    client: TestClient, tenant: Tenant, profile: dict[str, Any], field: str
) -> None:
    key = "street" if field == "deliveryAddresses" else "make"
    unmarked = replaced(client, tenant, profile["id"], field, [{key: "a"}, {key: "b"}])[field]
    assert [item["default"] for item in unmarked] == [True, False]
    false_only = replaced(client, tenant, profile["id"], field, [{key: "a", "default": False}, {key: "b"}])[field]
    assert [item["default"] for item in false_only] == [True, False]
    second = replaced(client, tenant, profile["id"], field, [{key: "a"}, {key: "b", "default": True}, {key: "c"}])
    assert [item["default"] for item in second[field]] == [False, True, False]
    single = replaced(client, tenant, profile["id"], field, [{key: "only", "default": None}])[field]
    assert single[0]["default"] is True

    refused(client, tenant, profile, field, [{key: "a", "default": True}, {key: "b", "default": True}], ("body",))
    refused(
        client,
        tenant,
        profile,
        field,
        [{key: "a", "default": True}, {key: "b"}, {key: "c", "default": True}],
        ("body",),
    )
    for value in ("true", 1, "yes", [True]):
        refused(client, tenant, profile, field, [{key: "a", "default": value}], ("body", 0, "default"))
    # The profile PATCH applies the same rule.
    response = client.patch(
        tenant.url(f"/customers/{profile['id']}"),
        json={field: [{key: "a", "default": True}, {key: "b", "default": True}]},
        headers=tenant.headers,
    )
    assert_names(response, ("body", field))


# --- addresses ----------------------------------------------------------------------------


def test_coordinates_are_two_numbers_within_range(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    for coordinates in ([51.05, 3.72], [90, 180], [-90, -180], [0, 0], [-33.8688, 151.2093], None):
        after = replaced(client, tenant, profile["id"], "deliveryAddresses", [{"coordinates": coordinates}])
        assert after["deliveryAddresses"][0]["coordinates"] == coordinates
    billing = client.patch(
        tenant.url(f"/customers/{profile['id']}"),
        json={"billingAddress": {"coordinates": [40.6456946, -73.9143276]}},
        headers=tenant.headers,
    )
    assert billing.json()["billingAddress"]["coordinates"] == [40.6456946, -73.9143276]

    for bad in (
        [90.0001, 0],
        [-91, 0],
        [0, 180.5],
        [0, -181],
        [1],
        [1, 2, 3],
        [],
        ["51.05", "3.72"],
        [True, False],
        [None, 1],
        {"lat": 1, "lng": 2},
        "51.05,3.72",
    ):
        refused(client, tenant, profile, "deliveryAddresses", [{"coordinates": bad}], ("body", 0, "coordinates"))
        response = client.patch(
            tenant.url(f"/customers/{profile['id']}"),
            json={"billingAddress": {"coordinates": bad}},
            headers=tenant.headers,
        )
        assert_names(response, ("body", "billingAddress", "coordinates"))


def test_country_is_iso_alpha_2_stored_upper_case(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    for sent, stored in (("be", "BE"), ("US", "US"), ("Nl", "NL"), (None, None)):
        after = replaced(client, tenant, profile["id"], "deliveryAddresses", [{"country": sent}])
        assert after["deliveryAddresses"][0]["country"] == stored
        billing = client.patch(
            tenant.url(f"/customers/{profile['id']}"),
            json={"billingAddress": {"country": sent}},
            headers=tenant.headers,
        )
        assert billing.json()["billingAddress"]["country"] == stored
    for bad in ("BEL", "Belgium", "XX", "B", "", "1", "ÉÉ", 32, ["BE"]):
        refused(client, tenant, profile, "deliveryAddresses", [{"country": bad}], ("body", 0, "country"))


def test_sub_premise_is_accepted_as_an_alias_and_answered_as_subpremise(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    after = replaced(
        client, tenant, profile["id"], "deliveryAddresses", [{"subPremise": "Apt 5B"}, {"subpremise": "Unit 210"}]
    )
    assert [a["subpremise"] for a in after["deliveryAddresses"]] == ["Apt 5B", "Unit 210"]
    assert all("subPremise" not in a for a in after["deliveryAddresses"])
    billing = client.patch(
        tenant.url(f"/customers/{profile['id']}"),
        json={"billingAddress": {"subPremise": "Suite 12"}},
        headers=tenant.headers,
    ).json()["billingAddress"]
    assert billing["subpremise"] == "Suite 12" and "subPremise" not in billing


def test_an_address_answers_every_field(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    sent = {
        "street": "Main Street",
        "subPremise": "Unit 210",
        "area": "Irvine Business Complex",
        "city": "Irvine",
        "postalCode": "92614",
        "stateOrProvince": "CA",
        "country": "us",
        "coordinates": [40.6456946, -73.9143276],
        "default": True,
    }
    [address] = replaced(client, tenant, profile["id"], "deliveryAddresses", [sent])["deliveryAddresses"]
    assert address == {
        "street": "Main Street",
        "subpremise": "Unit 210",
        "area": "Irvine Business Complex",
        "city": "Irvine",
        "postalCode": "92614",
        "stateOrProvince": "CA",
        "country": "US",
        "coordinates": [40.6456946, -73.9143276],
        "id": address["id"],
        "default": True,
    }


# --- vehicles -----------------------------------------------------------------------------


def test_vehicle_make_model_and_color_are_stored_lower_case(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    items = [
        {"make": "Volkswagen", "model": "Beetle", "color": "Yellow", "default": True},
        {"make": "ŠKODA", "model": "Octavia RS", "color": "BLUE"},
        {"make": None, "model": None, "color": None},
    ]
    vehicles = replaced(client, tenant, profile["id"], "vehicles", items)["vehicles"]
    assert [(v["make"], v["model"], v["color"], v["default"]) for v in vehicles] == [
        ("volkswagen", "beetle", "yellow", True),
        ("škoda", "octavia rs", "blue", False),
        (None, None, None, False),
    ]
    assert set(vehicles[0]) == {"id", "make", "model", "color", "default"}
    for bad in ({"make": 5}, {"model": ["tt"]}, {"color": True}):
        refused(client, tenant, profile, "vehicles", [bad], ("body", 0))


# --- favorites ----------------------------------------------------------------------------


def test_favorites_take_three_shapes_with_an_optional_label(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    items = [
        {"type": "order", "orderId": "62****1o", "label": "My favorite order"},
        {"type": "item", "item": "PLU-1"},
        {"type": "store", "storeId": "65********************88", "label": "Home"},
        {"type": "item", "item": "ABC", "label": None},
    ]
    favorites = replaced(client, tenant, profile["id"], "favorites", items)["favorites"]
    assert favorites == [
        {"type": "order", "orderId": "62****1o", "label": "My favorite order"},
        {"type": "item", "item": "PLU-1"},
        {"type": "store", "storeId": "65********************88", "label": "Home"},
        {"type": "item", "item": "ABC"},
    ]


def test_a_missing_or_wrong_key_for_the_type_is_422(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    replaced(client, tenant, profile["id"], "favorites", [{"type": "item", "item": "kept"}])
    bad_items: list[Any] = [
        {"type": "item"},
        {"type": "order"},
        {"type": "store", "label": "x"},
        {"type": "item", "orderId": "o-1"},
        {"type": "order", "item": "PLU-1"},
        {"type": "store", "orderId": "o-1"},
        {"type": "item", "item": "PLU-1", "orderId": "o-1"},
        {"type": "item", "item": None},
        {"item": "PLU-1"},
        {"type": "product", "item": "PLU-1"},
        {"type": "ITEM", "item": "PLU-1"},
        {"type": None, "item": "PLU-1"},
        {"type": "item", "item": 123},
        {"type": "order", "orderId": ["o-1"]},
        {"type": "item", "item": "PLU-1", "label": 5},
    ]
    for bad in bad_items:
        refused(client, tenant, profile, "favorites", [{"type": "item", "item": "ok"}, bad], ("body", 1))


def test_exact_duplicate_favorites_are_kept_once_in_order(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    a = {"type": "item", "item": "A"}
    b = {"type": "order", "orderId": "B"}
    c = {"type": "store", "storeId": "C"}
    a_labelled = {"type": "item", "item": "A", "label": "usual"}
    items = [b, a, b, c, a, a_labelled, {"label": "usual", "item": "A", "type": "item"}, {"type": "item", "item": "a"}]
    favorites = replaced(client, tenant, profile["id"], "favorites", items)["favorites"]
    assert favorites == [b, a, c, a_labelled, {"type": "item", "item": "a"}]
    # A favorite of one type and one of another with the same value are not duplicates.
    mixed = [{"type": "order", "orderId": "X"}, {"type": "store", "storeId": "X"}, {"type": "item", "item": "X"}]
    assert replaced(client, tenant, profile["id"], "favorites", mixed)["favorites"] == mixed


def test_favorites_in_the_profile_patch_follow_the_same_rules(
    client: TestClient, tenant: Tenant, profile: dict[str, Any]
) -> None:
    url = tenant.url(f"/customers/{profile['id']}")
    body = {"favorites": [{"type": "item", "item": "A"}, {"type": "item", "item": "A"}]}
    assert client.patch(url, json=body, headers=tenant.headers).json()["favorites"] == [{"type": "item", "item": "A"}]
    wrong = client.patch(url, json={"favorites": [{"type": "store", "item": "A"}]}, headers=tenant.headers)
    assert_names(wrong, ("body", "favorites", 0))


def test_list_bodies_ignore_unknown_keys(client: TestClient, tenant: Tenant, profile: dict[str, Any]) -> None:
    body = orjson.dumps([{"type": "item", "item": "A", "extra": {"deep": 1}}])
    response = client.patch(
        tenant.url(f"/customers/{profile['id']}/favorites"),
        content=body,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["favorites"] == [{"type": "item", "item": "A"}]
