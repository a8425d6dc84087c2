"""Order history and favorite orders of a profile (CONTRACT.md section 4): order, paging, envelope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from starlette.testclient import TestClient

from tests.factories import Tenant, create_tenant

SEED = Path(__file__).parents[1] / "docs" / "seed" / "deliverect-crm.openapi.yaml"
HISTORY_PATH = "/crm/{accountId}/customers/{crmProfileId}/orders"


def seed_history() -> dict[str, Any]:
    """The seed's example answer of the order history (its ids are masked: only Patron's own ids differ)."""
    document = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    examples = document["paths"][HISTORY_PATH]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
    example: dict[str, Any] = examples["OK"]["value"]
    return example


def new_profile(client: TestClient, tenant: Tenant, email: str = "ana@example.com") -> str:
    answer = client.post(tenant.url("/customers"), json={"email": email}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def record(
    client: TestClient, tenant: Tenant, profile_id: str, order_id: str, order_date: str, value: int = 100
) -> dict[str, Any]:
    body = {
        "crmProfileId": profile_id,
        "orderId": order_id,
        "orderDate": order_date,
        "payment": {"amount": {"value": value, "currency": "EUR"}},
    }
    answer = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def page_of(client: TestClient, tenant: Tenant, path: str, **params: Any) -> dict[str, Any]:
    answer = client.get(tenant.url(path), params=params, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def set_favorites(client: TestClient, tenant: Tenant, profile_id: str, favorites: list[dict[str, Any]]) -> None:
    answer = client.patch(tenant.url(f"/customers/{profile_id}/favorites"), json=favorites, headers=tenant.headers)
    assert answer.status_code == 200, answer.text


def moment(minutes: int) -> str:
    return (datetime(2025, 10, 24, 16, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


# --- history -----------------------------------------------------------------------------


def test_newest_order_date_first_with_the_envelope(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    middle = record(client, tenant, profile_id, "b", moment(10))
    newest = record(client, tenant, profile_id, "c", moment(20))
    oldest = record(client, tenant, profile_id, "a", moment(0))
    listed = page_of(client, tenant, f"/customers/{profile_id}/orders")
    assert listed == {"total": 3, "page": 1, "size": 50, "items": [newest, middle, oldest]}


def test_history_holds_only_the_profiles_own_orders(client: TestClient, tenant: Tenant) -> None:
    ana = new_profile(client, tenant, "ana@example.com")
    bram = new_profile(client, tenant, "bram@example.com")
    anas = record(client, tenant, ana, "a", moment(0))
    record(client, tenant, bram, "b", moment(1))
    assert page_of(client, tenant, f"/customers/{ana}/orders")["items"] == [anas]
    empty = new_profile(client, tenant, "chloe@example.com")
    assert page_of(client, tenant, f"/customers/{empty}/orders") == {"total": 0, "page": 1, "size": 50, "items": []}


def test_paging_counts_all_and_a_page_past_the_end_is_empty(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    orders = [record(client, tenant, profile_id, f"o{n}", moment(n)) for n in range(5)]
    newest_first = orders[::-1]
    path = f"/customers/{profile_id}/orders"
    assert page_of(client, tenant, path, page=1, size=2) == {
        "total": 5,
        "page": 1,
        "size": 2,
        "items": newest_first[:2],
    }
    assert page_of(client, tenant, path, page=2, size=2)["items"] == newest_first[2:4]
    assert page_of(client, tenant, path, page=3, size=2)["items"] == newest_first[4:]
    assert page_of(client, tenant, path, page=4, size=2) == {"total": 5, "page": 4, "size": 2, "items": []}
    assert page_of(client, tenant, path, page=10**9, size=100) == {"total": 5, "page": 10**9, "size": 100, "items": []}
    assert page_of(client, tenant, path, size=100)["items"] == newest_first


def test_invalid_paging_is_422_naming_the_parameter(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    record(client, tenant, profile_id, "o", moment(0))
    cases = [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": ""}, "page"),
        ({"size": "0"}, "size"),
        ({"size": "101"}, "size"),
        ({"size": "1000"}, "size"),
        ({"size": "-5"}, "size"),
        ({"size": "ten"}, "size"),
    ]
    for path in (f"/customers/{profile_id}/orders", f"/customers/{profile_id}/orders/favorites"):
        for params, name in cases:
            answer = client.get(tenant.url(path), params=params, headers=tenant.headers)
            assert answer.status_code == 422, (path, params, answer.text)
            error = answer.json()
            assert error["code"] == "validation_error"
            assert any(name in e["loc"] for e in error["context"]["errors"]), (params, error)


def test_25_orders_sharing_one_date_page_the_same_way_every_time(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    recorded = [record(client, tenant, profile_id, f"same-{n}", "2025-10-24T16:45:14.665Z") for n in range(25)]
    expected_ids = sorted((order["id"] for order in recorded), reverse=True)
    path = f"/customers/{profile_id}/orders"
    walks = []
    for _ in range(3):
        seen: list[str] = []
        for page in range(1, 5):
            listed = page_of(client, tenant, path, page=page, size=7)
            assert listed["total"] == 25
            assert len(listed["items"]) == (7 if page < 4 else 4)
            seen.extend(item["id"] for item in listed["items"])
        assert len(seen) == len(set(seen)) == 25
        assert seen == expected_ids
        walks.append(seen)
    assert walks[0] == walks[1] == walks[2]


def test_orders_written_with_different_offsets_come_back_in_true_time_order(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    # As written, the local clock readings sort the other way round from the instants they name.
    sent = [
        ("tokyo", "2025-10-25T01:30:00+09:00"),  # 16:30Z
        ("brussels", "2025-10-24T18:40:00+02:00"),  # 16:40Z
        ("utc", "2025-10-24T16:50:00Z"),  # 16:50Z
        ("new-york", "2025-10-24T13:00:00-04:00"),  # 17:00Z
        ("kathmandu", "2025-10-24T22:55:00.5+05:45"),  # 17:10:00.5Z
    ]
    for order_id, order_date in sent:
        record(client, tenant, profile_id, order_id, order_date)
    listed = page_of(client, tenant, f"/customers/{profile_id}/orders")
    assert [item["orderId"] for item in listed["items"]] == ["kathmandu", "new-york", "utc", "brussels", "tokyo"]
    instants = [datetime.fromisoformat(item["orderDate"]) for item in listed["items"]]
    assert instants == sorted(instants, reverse=True)
    expected = [datetime.fromisoformat(d).astimezone(UTC) for _, d in reversed(sent)]
    assert instants == expected


def test_an_unknown_or_foreign_profile_is_404(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = new_profile(client, other_tenant)
    record(client, other_tenant, theirs, "o", moment(0))
    for profile_id in (theirs, "0123456789abcdef01234567", "nope"):
        for path in (f"/customers/{profile_id}/orders", f"/customers/{profile_id}/orders/favorites"):
            answer = client.get(tenant.url(path), headers=tenant.headers)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["code"] == "customer_not_found"


# --- favorites ---------------------------------------------------------------------------


def test_favorite_orders_are_the_recorded_orders_among_the_order_favorites(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    first = record(client, tenant, profile_id, "first", moment(0))
    record(client, tenant, profile_id, "plain", moment(5))
    third = record(client, tenant, profile_id, "third", moment(10))
    set_favorites(
        client,
        tenant,
        profile_id,
        [
            {"type": "order", "orderId": "first"},
            {"type": "item", "item": "plain"},
            {"type": "store", "storeId": "plain"},
            {"type": "order", "orderId": "third", "label": "Friday"},
            {"type": "order", "orderId": "not-yet-recorded"},
        ],
    )
    path = f"/customers/{profile_id}/orders/favorites"
    assert page_of(client, tenant, path) == {"total": 2, "page": 1, "size": 50, "items": [third, first]}
    assert page_of(client, tenant, path, page=2, size=1) == {"total": 2, "page": 2, "size": 1, "items": [first]}
    assert page_of(client, tenant, path, page=3, size=1) == {"total": 2, "page": 3, "size": 1, "items": []}

    later = record(client, tenant, profile_id, "not-yet-recorded", moment(20))
    assert page_of(client, tenant, path)["items"] == [later, third, first]


def test_favorite_orders_without_favorites_is_an_empty_page(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    record(client, tenant, profile_id, "o", moment(0))
    path = f"/customers/{profile_id}/orders/favorites"
    assert page_of(client, tenant, path) == {"total": 0, "page": 1, "size": 50, "items": []}
    set_favorites(client, tenant, profile_id, [{"type": "order", "orderId": "o"}])
    assert page_of(client, tenant, path)["total"] == 1
    set_favorites(client, tenant, profile_id, [])
    assert page_of(client, tenant, path) == {"total": 0, "page": 1, "size": 50, "items": []}


def test_another_profiles_order_is_not_a_favorite_order(client: TestClient, tenant: Tenant) -> None:
    ana = new_profile(client, tenant, "ana@example.com")
    bram = new_profile(client, tenant, "bram@example.com")
    record(client, tenant, bram, "brams-order", moment(0))
    set_favorites(client, tenant, ana, [{"type": "order", "orderId": "brams-order"}])
    assert page_of(client, tenant, f"/customers/{ana}/orders/favorites")["items"] == []


def test_favorite_orders_page_like_the_history(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    orders = [record(client, tenant, profile_id, f"o{n}", "2025-10-24T16:45:14Z") for n in range(6)]
    set_favorites(client, tenant, profile_id, [{"type": "order", "orderId": f"o{n}"} for n in range(6)])
    path = f"/customers/{profile_id}/orders/favorites"
    expected = sorted(orders, key=lambda order: order["id"], reverse=True)
    pages = [page_of(client, tenant, path, page=page, size=4) for page in (1, 2)]
    assert [page["total"] for page in pages] == [6, 6]
    assert pages[0]["items"] + pages[1]["items"] == expected
    assert page_of(client, tenant, f"/customers/{profile_id}/orders")["items"] == expected


# --- the seed's example ------------------------------------------------------------------


def keys_of(value: Any) -> Any:
    """The shape of a JSON value: its keys at every level."""
    if isinstance(value, dict):
        return {key: keys_of(item) for key, item in value.items()}
    if isinstance(value, list):
        return [keys_of(item) for item in value]
    return None


def test_the_seeds_order_history_example_reads_back_with_the_same_shape(client: TestClient, database_url: str) -> None:
    seed = seed_history()
    assert len(seed["items"]) == 6
    tenant = create_tenant(database_url, channel=20002)
    profile_id = new_profile(client, tenant)
    # Recorded oldest first, and with the seed's orderDates in another offset, to prove the order is by time.
    brussels = timezone(timedelta(hours=2))
    for example in reversed(seed["items"]):
        when = datetime.fromisoformat(example["orderDate"]).astimezone(brussels).isoformat()
        body = {
            "crmProfileId": profile_id,
            "orderId": example["orderId"],
            "orderDisplayId": example["orderDisplayId"],
            "orderDate": when,
            "orderType": example["orderType"],
            "itemQuantity": example["itemQuantity"],
            "locationId": example["locationId"],
            "payment": {
                "amount": {
                    "value": example["payment"]["amount"]["value"],
                    "currency": example["payment"]["amount"]["currency"].lower(),
                }
            },
        }
        answer = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
        assert answer.status_code == 201, answer.text

    listed = page_of(client, tenant, f"/customers/{profile_id}/orders")
    assert keys_of(listed) == keys_of(seed)
    assert (listed["total"], listed["page"], listed["size"]) == (6, 1, 50)
    for got, example in zip(listed["items"], seed["items"], strict=True):
        assert got["payment"] == example["payment"]
        for key in ("orderId", "orderDisplayId", "orderDate", "orderType", "itemQuantity", "channel", "locationId"):
            assert got[key] == example[key], key
        assert (got["crmProfileId"], got["accountId"]) == (profile_id, tenant.account_id)
        one = client.get(tenant.url(f"/orders/{got['id']}"), headers=tenant.headers)
        assert one.status_code == 200
        assert one.json() == got
        assert keys_of(one.json()) == keys_of(seed["items"][0])


def seed_order_example(path: str) -> dict[str, Any]:
    document = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    examples = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
    example: dict[str, Any] = examples["OK"]["value"]
    return example


def test_the_seeds_single_order_and_favorite_order_examples_read_back(client: TestClient, database_url: str) -> None:
    one = seed_order_example("/crm/{accountId}/orders/{crmOrderId}")
    favorite = seed_order_example("/crm/{accountId}/customers/{crmProfileId}/orders/favorites")
    tenant = create_tenant(database_url, channel=one["channel"])
    profile_id = new_profile(client, tenant)
    body = {
        "crmProfileId": profile_id,
        "orderId": "698aa0b1c2d3e4f5a6b7ce6f",  # the seed masks its ids
        "orderDisplayId": one["orderDisplayId"],
        "orderDate": one["orderDate"],
        "orderType": one["orderType"],
        "itemQuantity": one["itemQuantity"],
        "locationId": one["locationId"],
        "payment": {"amount": {"value": one["payment"]["amount"]["value"], "currency": "EUR"}},
    }
    created = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    read = client.get(tenant.url(f"/orders/{created.json()['id']}"), headers=tenant.headers)
    assert keys_of(read.json()) == keys_of(one)
    for key in ("channel", "payment", "orderDisplayId", "orderDate", "orderType", "itemQuantity", "locationId"):
        assert read.json()[key] == one[key], key

    set_favorites(client, tenant, profile_id, [{"type": "order", "orderId": body["orderId"]}])
    favorites = page_of(client, tenant, f"/customers/{profile_id}/orders/favorites")
    # The seed shows one bare order; Patron answers the history's envelope with orders of that shape.
    assert [keys_of(item) for item in favorites["items"]] == [keys_of(favorite)]
    assert favorites["items"] == [read.json()]
