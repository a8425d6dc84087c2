"""The seed's own request examples, replayed in order against Patron: every one is accepted, and
every answer has the key structure of the seed's response example (same keys at every level),
with real ids and timestamps where the seed shows masked ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from tests.factories import Tenant

SEED = Path(__file__).parents[1] / "docs" / "seed" / "deliverect-crm.openapi.yaml"
ID = re.compile(r"[0-9a-f]{24}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return dict(yaml.safe_load(SEED.read_text(encoding="utf-8")))


def operation(seed: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return dict(seed["paths"][path][method])


def request_example(seed: dict[str, Any], path: str, method: str) -> Any:
    examples = operation(seed, path, method)["requestBody"]["content"]["application/json"]["examples"]
    [example] = examples.values()
    return example["value"]


def response_example(seed: dict[str, Any], path: str, method: str) -> Any:
    examples = operation(seed, path, method)["responses"]["200"]["content"]["application/json"]["examples"]
    [example] = examples.values()
    return example["value"]


def _counterpart(item: Any, seed_items: list[Any]) -> Any:
    """The seed item to compare one of our list items with."""
    if not isinstance(item, dict):
        return seed_items[0]
    for candidate in seed_items:
        if isinstance(candidate, dict) and set(candidate) == set(item):
            return candidate
    # A favorite's label is optional (the seed shows favorites with and without one).
    same_type = [c for c in seed_items if isinstance(c, dict) and c.get("type") == item.get("type")]
    assert same_type, f"no seed item of type {item.get('type')!r}"
    return {k: v for k, v in same_type[0].items() if k != "label"} | ({"label": ""} if "label" in item else {})


def assert_same_shape(ours: Any, seed: Any, where: str = "$") -> None:
    """Same keys at every level; null on either side stands for a value that is not set."""
    if ours is None or seed is None:
        return
    if isinstance(seed, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(seed), (where, sorted(set(ours) ^ set(seed)))
        for key in seed:
            assert_same_shape(ours[key], seed[key], f"{where}.{key}")
    elif isinstance(seed, list):
        assert isinstance(ours, list), where
        if seed:
            for index, item in enumerate(ours):
                assert_same_shape(item, _counterpart(item, seed), f"{where}[{index}]")
    elif isinstance(seed, bool) or isinstance(ours, bool):
        assert type(ours) is type(seed), where
    elif isinstance(seed, int | float):
        assert isinstance(ours, int | float), where
    else:
        assert type(ours) is type(seed), where


def assert_real_values(profile: dict[str, Any], tenant: Tenant) -> None:
    assert ID.fullmatch(profile["id"])
    assert profile["accountId"] == tenant.account_id
    assert TIMESTAMP.fullmatch(profile["created"]) and TIMESTAMP.fullmatch(profile["updated"])
    for item in profile["deliveryAddresses"] + profile["vehicles"]:
        assert ID.fullmatch(item["id"]), item


def test_the_seeds_request_examples_replay_with_the_seeds_response_shapes(
    client: TestClient, tenant: Tenant, seed: dict[str, Any]
) -> None:
    customers = "/crm/{accountId}/customers"
    one = customers + "/{crmProfileId}"

    # Create, with the seed's bare {"email": ...}.
    body = request_example(seed, customers, "post")
    created = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
    assert created.status_code == 200, created.text
    profile = created.json()
    assert_same_shape(profile, response_example(seed, customers, "post"))
    assert_real_values(profile, tenant)
    assert profile["contact"]["email"] == body["email"]
    profile_url = tenant.url(f"/customers/{profile['id']}")

    # Lookup by the same email.
    body = request_example(seed, customers + "/lookup", "post")
    found = client.post(tenant.url("/customers/lookup"), json=body, headers=tenant.headers)
    assert found.status_code == 200, found.text
    assert found.json() == profile
    assert_same_shape(found.json(), response_example(seed, customers + "/lookup", "post"))

    # Update the profile with everything the seed's example sends.
    body = request_example(seed, one, "patch")
    updated = client.patch(profile_url, json=body, headers=tenant.headers)
    assert updated.status_code == 200, updated.text
    profile = updated.json()
    assert_same_shape(profile, response_example(seed, one, "patch"))
    assert_real_values(profile, tenant)
    assert profile["contact"]["fullName"] == "John Doe"
    assert profile["contact"]["birthdate"] == "1970-01-01"
    assert [a["subpremise"] for a in profile["deliveryAddresses"]] == ["Unit 210", "Apt 5B"]
    assert [a["default"] for a in profile["deliveryAddresses"]] == [True, False]
    assert profile["billingAddress"]["subpremise"] == "Suite 12"
    assert [(v["make"], v["model"], v["color"]) for v in profile["vehicles"]] == [
        ("honda", "civic", "yellow"),
        ("toyota", "corolla", "blue"),
    ]
    assert profile["favorites"] == body["favorites"]

    # Replace the delivery addresses.
    path = one + "/deliveryAddresses"
    body = request_example(seed, path, "patch")
    addresses = client.patch(profile_url + "/deliveryAddresses", json=body, headers=tenant.headers)
    assert addresses.status_code == 200, addresses.text
    profile = addresses.json()
    assert_same_shape(profile, response_example(seed, path, "patch"))
    assert_real_values(profile, tenant)
    assert [(a["street"], a["subpremise"], a["area"]) for a in profile["deliveryAddresses"]] == [
        ("8719 Avenue D", "", ""),
        ("5678 Ocean View Drive", "Apt 5B", "Pacific Beach"),
    ]

    # Replace the vehicles.
    path = one + "/vehicles"
    body = request_example(seed, path, "patch")
    vehicles = client.patch(profile_url + "/vehicles", json=body, headers=tenant.headers)
    assert vehicles.status_code == 200, vehicles.text
    profile = vehicles.json()
    assert_same_shape(profile, response_example(seed, path, "patch"))
    assert_real_values(profile, tenant)
    assert [(v["make"], v["model"], v["color"], v["default"]) for v in profile["vehicles"]] == [
        ("volkswagen", "beetle", "yellow", True),
        ("audi", "tt", "black", False),
    ]

    # Replace the favorites (the seed's masked ids are plain strings to Patron).
    path = one + "/favorites"
    body = request_example(seed, path, "patch")
    favorites = client.patch(profile_url + "/favorites", json=body, headers=tenant.headers)
    assert favorites.status_code == 200, favorites.text
    profile = favorites.json()
    assert_same_shape(profile, response_example(seed, path, "patch"))
    assert_real_values(profile, tenant)
    assert profile["favorites"] == body

    # The profile as read back has the seed's profile shape too.
    read = client.get(profile_url, headers=tenant.headers)
    assert read.status_code == 200
    assert read.json() == profile
    assert_same_shape(read.json(), response_example(seed, one, "get"))


def test_the_shape_check_notices_a_missing_or_extra_key(seed: dict[str, Any]) -> None:
    example = response_example(seed, "/crm/{accountId}/customers/{crmProfileId}", "get")
    assert_same_shape(example, example)
    missing = {k: v for k, v in example.items() if k != "loyaltyProviderId"}
    extra = {**example, "contact": {**example["contact"], "nickname": "J"}}
    for broken in (missing, extra):
        with pytest.raises(AssertionError):
            assert_same_shape(broken, example)
