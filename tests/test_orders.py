"""POST /crm/{accountId}/orders and GET /crm/{accountId}/orders/{crmOrderId} (CONTRACT.md section 4)."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from tests.factories import Tenant, create_tenant

ID = re.compile(r"[0-9a-f]{24}")
UTC_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
KEYS = {
    "id",
    "crmProfileId",
    "orderId",
    "accountId",
    "channel",
    "payment",
    "orderDisplayId",
    "orderDate",
    "orderType",
    "itemQuantity",
    "locationId",
}


def new_profile(client: TestClient, tenant: Tenant, email: str = "ana@example.com") -> str:
    answer = client.post(tenant.url("/customers"), json={"email": email}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def order_body(profile_id: str, order_id: str = "order-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "crmProfileId": profile_id,
        "orderId": order_id,
        "orderDate": "2025-10-24T16:45:14.665Z",
        "payment": {"amount": {"value": 3100, "currency": "EUR"}},
    }
    body.update(fields)
    return body


def amount(value: Any, currency: Any = "EUR") -> dict[str, Any]:
    return {"amount": {"value": value, "currency": currency}}


def history(client: TestClient, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    answer = client.get(tenant.url(f"/customers/{profile_id}/orders"), headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def error_locs(answer: Any) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "validation_error"
    return [error["loc"] for error in body["context"]["errors"]]


# --- recording ---------------------------------------------------------------------------


def test_record_answers_201_with_the_stored_order(client: TestClient, database_url: str) -> None:
    tenant = create_tenant(database_url, channel=20002)
    profile_id = new_profile(client, tenant)
    body = order_body(
        profile_id,
        "68fbab62a8a2ab7006c48c56",
        channel=20002,
        orderDisplayId="20a2baad-2053-407c-b265-fa21c8a10758",
        orderType=2,
        itemQuantity=3,
        locationId="68d81e687e6400e6581fc5a9",
    )
    created = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    order = created.json()
    assert set(order) == KEYS
    assert ID.fullmatch(order["id"])
    assert order == {
        "id": order["id"],
        "crmProfileId": profile_id,
        "orderId": "68fbab62a8a2ab7006c48c56",
        "accountId": tenant.account_id,
        "channel": 20002,
        "payment": {"amount": {"value": 3100, "currency": "EUR", "display": "31.00"}},
        "orderDisplayId": "20a2baad-2053-407c-b265-fa21c8a10758",
        "orderDate": "2025-10-24T16:45:14.665000Z",
        "orderType": 2,
        "itemQuantity": 3,
        "locationId": "68d81e687e6400e6581fc5a9",
    }
    read = client.get(tenant.url(f"/orders/{order['id']}"), headers=tenant.headers)
    assert read.status_code == 200
    assert read.json() == order


def test_defaults_are_the_clients_channel_order_type_0_and_quantity_0(client: TestClient, database_url: str) -> None:
    tenant = create_tenant(database_url, channel=20002)
    profile_id = new_profile(client, tenant)
    created = client.post(tenant.url("/orders"), json=order_body(profile_id), headers=tenant.headers)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["channel"] == 20002
    assert order["orderType"] == 0
    assert order["itemQuantity"] == 0
    assert order["orderDisplayId"] is None
    assert order["locationId"] is None


def test_an_explicit_channel_wins_over_the_clients(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    created = client.post(tenant.url("/orders"), json=order_body(profile_id, channel=7), headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert created.json()["channel"] == 7


def test_reposting_the_same_content_answers_200_and_writes_nothing(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    first = client.post(tenant.url("/orders"), json=order_body(profile_id), headers=tenant.headers)
    assert first.status_code == 201
    again = client.post(tenant.url("/orders"), json=order_body(profile_id), headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    listed = history(client, tenant, profile_id)
    assert listed["total"] == 1
    assert listed["items"] == [first.json()]


def test_same_content_is_compared_as_stored(client: TestClient, tenant: Tenant) -> None:
    """Lower-case currency, another offset for the same instant, and explicit defaults are the same order."""
    profile_id = new_profile(client, tenant)
    first = client.post(tenant.url("/orders"), json=order_body(profile_id), headers=tenant.headers)
    assert first.status_code == 201
    same = order_body(
        profile_id,
        orderDate="2025-10-24T18:45:14.665000+02:00",
        payment=amount(3100, "eur"),
        channel=10000,
        orderType=0,
        itemQuantity=0,
        orderDisplayId=None,
        locationId=None,
    )
    again = client.post(tenant.url("/orders"), json=same, headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert history(client, tenant, profile_id)["total"] == 1


CHANGES: list[dict[str, Any]] = [
    {"payment": {"amount": {"value": 3101, "currency": "EUR"}}},
    {"payment": {"amount": {"value": 3100, "currency": "USD"}}},
    {"orderDate": "2025-10-24T16:45:14.666Z"},
    {"orderType": 1},
    {"itemQuantity": 2},
    {"channel": 20000},
    {"orderDisplayId": "#42"},
    {"locationId": "elsewhere"},
]


def test_reposting_different_content_is_409_and_keeps_the_stored_order(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    first = client.post(tenant.url("/orders"), json=order_body(profile_id), headers=tenant.headers)
    assert first.status_code == 201
    for change in CHANGES:
        conflict = client.post(tenant.url("/orders"), json=order_body(profile_id, **change), headers=tenant.headers)
        assert conflict.status_code == 409, (change, conflict.text)
        error = conflict.json()
        assert error["code"] == "order_conflict"
        assert error["context"]["crmOrderId"] == first.json()["id"]
        assert error["message"]
    read = client.get(tenant.url(f"/orders/{first.json()['id']}"), headers=tenant.headers)
    assert read.json() == first.json()
    assert history(client, tenant, profile_id)["items"] == [first.json()]


def test_the_same_order_id_for_another_profile_is_a_conflict(client: TestClient, tenant: Tenant) -> None:
    ana = new_profile(client, tenant, "ana@example.com")
    bram = new_profile(client, tenant, "bram@example.com")
    first = client.post(tenant.url("/orders"), json=order_body(ana), headers=tenant.headers)
    assert first.status_code == 201
    conflict = client.post(tenant.url("/orders"), json=order_body(bram), headers=tenant.headers)
    assert conflict.status_code == 409
    assert conflict.json()["context"]["crmOrderId"] == first.json()["id"]
    assert history(client, tenant, bram)["total"] == 0


def test_order_ids_are_unique_per_account_not_globally(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = client.post(tenant.url("/orders"), json=order_body(new_profile(client, tenant)), headers=tenant.headers)
    theirs_profile = new_profile(client, other_tenant)
    theirs = client.post(other_tenant.url("/orders"), json=order_body(theirs_profile), headers=other_tenant.headers)
    assert mine.status_code == 201
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["accountId"] == other_tenant.account_id


def test_an_unknown_profile_is_404(client: TestClient, tenant: Tenant) -> None:
    for profile_id in ("0123456789abcdef01234567", "not-an-id", "0123456789ABCDEF01234567"):
        answer = client.post(tenant.url("/orders"), json=order_body(profile_id), headers=tenant.headers)
        assert answer.status_code == 404, (profile_id, answer.text)
        assert answer.json()["code"] == "customer_not_found"


def test_another_accounts_profile_is_404_and_nothing_is_written(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = new_profile(client, other_tenant)
    answer = client.post(tenant.url("/orders"), json=order_body(theirs), headers=tenant.headers)
    assert answer.status_code == 404
    assert answer.json()["code"] == "customer_not_found"
    assert history(client, other_tenant, theirs)["total"] == 0


# --- money -------------------------------------------------------------------------------

DISPLAYS = [
    (100, "EUR", "EUR", "1.00"),
    (100, "JPY", "JPY", "100"),
    (1000, "KWD", "KWD", "1.000"),
    (1999, "eur", "EUR", "19.99"),
    (5, "Usd", "USD", "0.05"),
    (0, "EUR", "EUR", "0.00"),
    (0, "JPY", "JPY", "0"),
    (1, "BHD", "BHD", "0.001"),
    (2**53 - 1, "EUR", "EUR", "90071992547409.91"),
    (2**53 - 1, "JPY", "JPY", "9007199254740991"),
]


def test_currency_is_returned_upper_case_with_a_display_in_its_minor_unit(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    for n, (value, currency, stored, display) in enumerate(DISPLAYS):
        body = order_body(profile_id, f"order-{n}", payment=amount(value, currency))
        answer = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
        assert answer.status_code == 201, (currency, answer.text)
        expected = {"amount": {"value": value, "currency": stored, "display": display}}
        assert answer.json()["payment"] == expected
        read = client.get(tenant.url(f"/orders/{answer.json()['id']}"), headers=tenant.headers)
        assert read.json()["payment"] == expected


def test_amount_must_be_an_integer_of_minor_units_in_range(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    for value in (19.99, 1999.0, -1, 2**53, 2**63, "1999", True, None):
        answer = client.post(
            tenant.url("/orders"), json=order_body(profile_id, payment=amount(value)), headers=tenant.headers
        )
        assert ["body", "payment", "amount", "value"] in error_locs(answer), value
    # Past 64 bits a JSON parser would round the number; the body is refused before fields are read.
    answer = client.post(
        tenant.url("/orders"), json=order_body(profile_id, payment=amount(2**64)), headers=tenant.headers
    )
    assert error_locs(answer)
    assert history(client, tenant, profile_id)["total"] == 0


def test_a_float_amount_is_refused_even_in_raw_json(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    raw = (
        f'{{"crmProfileId": "{profile_id}", "orderId": "o", "orderDate": "2025-10-24T16:45:14Z",'
        ' "payment": {"amount": {"value": 1999.0, "currency": "EUR"}}}'
    )
    answer = client.post(
        tenant.url("/orders"), content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert ["body", "payment", "amount", "value"] in error_locs(answer)


def test_currency_must_be_iso_4217(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    for currency in ("EURO", "XYZ", "", "€", 978, None):
        answer = client.post(
            tenant.url("/orders"), json=order_body(profile_id, payment=amount(100, currency)), headers=tenant.headers
        )
        assert ["body", "payment", "amount", "currency"] in error_locs(answer), currency


# --- orderDate ---------------------------------------------------------------------------

UTC_DATES = [
    ("2025-10-24T16:45:14.665Z", "2025-10-24T16:45:14.665000Z"),
    ("2025-10-24T18:45:14.665+02:00", "2025-10-24T16:45:14.665000Z"),
    ("2025-10-24T11:45:14-05:00", "2025-10-24T16:45:14.000000Z"),
    ("2025-10-25T01:15:14.5+08:30", "2025-10-24T16:45:14.500000Z"),
    ("2025-01-01T00:30:00+01:00", "2024-12-31T23:30:00.000000Z"),
    ("2025-10-24T16:45:14.123456789Z", "2025-10-24T16:45:14.123456Z"),
    ("2025-10-24t16:45:14z", "2025-10-24T16:45:14.000000Z"),
    ("0999-06-01T12:00:00Z", "0999-06-01T12:00:00.000000Z"),
]


def test_order_date_is_returned_in_utc(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    for n, (sent, stored) in enumerate(UTC_DATES):
        body = order_body(profile_id, f"order-{n}", orderDate=sent)
        answer = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
        assert answer.status_code == 201, (sent, answer.text)
        assert answer.json()["orderDate"] == stored
        assert UTC_FORMAT.fullmatch(answer.json()["orderDate"])


BAD_DATES: list[Any] = [
    "2025-10-24T16:45:14",
    "2025-10-24T16:45:14.665",
    "2025-10-24",
    "2025-10-24 16:45:14Z",
    "2025-02-30T10:00:00Z",
    "2025-10-24T25:00:00Z",
    "2025-10-24T16:45:14+24:00",
    "2025-10-24T16:45:14+0200",
    "\uff12\uff10\uff12\uff15-10-24T16:45:14Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:30:00-01:00",
    "yesterday",
    "",
    1729788314,
    None,
]


def test_order_date_needs_a_real_moment_with_an_offset(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    for order_date in BAD_DATES:
        answer = client.post(
            tenant.url("/orders"), json=order_body(profile_id, orderDate=order_date), headers=tenant.headers
        )
        assert ["body", "orderDate"] in error_locs(answer), order_date
    assert history(client, tenant, profile_id)["total"] == 0


# --- other fields ------------------------------------------------------------------------


def test_every_missing_required_field_is_named(client: TestClient, tenant: Tenant) -> None:
    answer = client.post(tenant.url("/orders"), json={"payment": {"amount": {}}}, headers=tenant.headers)
    locs = error_locs(answer)
    for loc in (
        ["body", "crmProfileId"],
        ["body", "orderId"],
        ["body", "orderDate"],
        ["body", "payment", "amount", "value"],
        ["body", "payment", "amount", "currency"],
    ):
        assert loc in locs


INVALID_FIELDS: list[tuple[str, Any]] = [
    ("orderType", 5),
    ("orderType", -1),
    ("orderType", "2"),
    ("itemQuantity", -1),
    ("itemQuantity", 1.5),
    ("channel", -1),
    ("channel", "20002"),
    ("orderId", ""),
    ("orderId", "x" * 256),
    ("orderId", 12345),
    ("orderDisplayId", "x" * 256),
    ("locationId", "x" * 256),
    ("payment", None),
]


def test_invalid_fields_are_422_and_write_nothing(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    for field, value in INVALID_FIELDS:
        answer = client.post(
            tenant.url("/orders"), json=order_body(profile_id, **{field: value}), headers=tenant.headers
        )
        assert ["body", field] == error_locs(answer)[0][:2], (field, value)
    assert history(client, tenant, profile_id)["total"] == 0


def test_255_character_strings_are_kept_whole(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    long = "x" * 255
    answer = client.post(
        tenant.url("/orders"),
        json=order_body(profile_id, long, orderDisplayId=long, locationId=long),
        headers=tenant.headers,
    )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["orderId"], answer.json()["orderDisplayId"], answer.json()["locationId"]) == (long,) * 3


def test_unknown_fields_are_ignored_and_accountid_comes_from_the_path(client: TestClient, tenant: Tenant) -> None:
    profile_id = new_profile(client, tenant)
    body = order_body(profile_id, accountId="0123456789abcdef01234567", id="fedcba9876543210fedcba98", note="x")
    answer = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["accountId"] == tenant.account_id
    assert answer.json()["id"] != "fedcba9876543210fedcba98"
    assert "note" not in answer.json()


# --- reading one -------------------------------------------------------------------------


def test_another_accounts_order_is_404(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = client.post(
        other_tenant.url("/orders"), json=order_body(new_profile(client, other_tenant)), headers=other_tenant.headers
    )
    assert theirs.status_code == 201
    answer = client.get(tenant.url(f"/orders/{theirs.json()['id']}"), headers=tenant.headers)
    assert answer.status_code == 404
    assert answer.json()["code"] == "order_not_found"


def test_an_unknown_or_malformed_order_id_is_404(client: TestClient, tenant: Tenant) -> None:
    client.post(tenant.url("/orders"), json=order_body(new_profile(client, tenant)), headers=tenant.headers)
    # "order-1" is the commerce orderId just recorded: this route takes Patron's own id only.
    for crm_order_id in ("0123456789abcdef01234567", "order-1", "0123456789ABCDEF01234567"):
        answer = client.get(tenant.url(f"/orders/{crm_order_id}"), headers=tenant.headers)
        assert answer.status_code == 404, crm_order_id
        assert answer.json()["code"] == "order_not_found"
