"""ETag on every profile answer; If-Match guards writes against lost updates (RFC 9110 strong comparison)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from patron import ids
from tests.factories import Tenant

LIST_BODIES = {
    "deliveryAddresses": [{"street": "Main 1", "city": "Gent", "country": "be"}],
    "vehicles": [{"make": "Volvo", "model": "XC40"}],
    "favorites": [{"type": "store", "storeId": "S1"}],
}


def _create(client: TestClient, tenant: Tenant, email: str = "ana@example.com") -> str:
    created = client.post(tenant.url("/customers"), json={"email": email}, headers=tenant.headers)
    assert created.status_code == 200, created.text
    return created.json()["id"]


def test_every_profile_answer_carries_the_version_as_etag(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert created.headers["etag"] == '"1"'
    profile = tenant.url(f"/customers/{created.json()['id']}")

    assert client.get(profile, headers=tenant.headers).headers["etag"] == '"1"'
    lookup = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert lookup.headers["etag"] == '"1"'

    patched = client.patch(profile, json={"externalId": "E1"}, headers=tenant.headers)
    assert patched.headers["etag"] == '"2"'
    expected = 2
    for field, items in LIST_BODIES.items():
        expected += 1
        replaced = client.patch(f"{profile}/{field}", json=items, headers=tenant.headers)
        assert replaced.status_code == 200
        assert replaced.headers["etag"] == f'"{expected}"'

    read = client.get(profile, headers=tenant.headers)
    assert read.headers["etag"] == '"5"'
    lookup = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert lookup.headers["etag"] == '"5"'


def test_the_matching_tag_succeeds_and_the_etag_moves(client: TestClient, tenant: Tenant) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    first = client.patch(profile, json={"externalId": "E1"}, headers={**tenant.headers, "If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    second = client.patch(profile, json={"externalId": "E2"}, headers={**tenant.headers, "If-Match": '"2"'})
    assert second.status_code == 200
    assert second.headers["etag"] == '"3"'
    assert client.get(profile, headers=tenant.headers).json()["externalId"] == "E2"


def test_a_stale_if_match_is_412_and_changes_nothing(client: TestClient, tenant: Tenant) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    assert client.patch(profile, json={"externalId": "E1"}, headers=tenant.headers).status_code == 200
    before = client.get(profile, headers=tenant.headers)

    stale = client.patch(profile, json={"externalId": "lost"}, headers={**tenant.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert set(stale.json()) == {"code", "message", "context"}

    after = client.get(profile, headers=tenant.headers)
    assert after.content == before.content
    assert after.headers["etag"] == '"2"'


@pytest.mark.parametrize("field", sorted(LIST_BODIES))
def test_list_replacements_honour_if_match(client: TestClient, tenant: Tenant, field: str) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    stale = client.patch(f"{profile}/{field}", json=LIST_BODIES[field], headers={**tenant.headers, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert client.get(profile, headers=tenant.headers).json()[field] == []

    fresh = client.patch(f"{profile}/{field}", json=LIST_BODIES[field], headers={**tenant.headers, "If-Match": '"1"'})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"2"'
    assert len(fresh.json()[field]) == 1


def test_two_writers_from_the_same_version_cannot_both_win(client: TestClient, tenant: Tenant) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    seen = client.get(profile, headers=tenant.headers).headers["etag"]
    one = client.patch(profile, json={"contact": {"firstName": "Ana"}}, headers={**tenant.headers, "If-Match": seen})
    two = client.patch(profile, json={"contact": {"firstName": "Anna"}}, headers={**tenant.headers, "If-Match": seen})
    assert one.status_code == 200
    assert two.status_code == 412
    assert client.get(profile, headers=tenant.headers).json()["contact"]["firstName"] == "Ana"


def test_star_matches_any_existing_profile(client: TestClient, tenant: Tenant) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    assert client.patch(profile, json={"externalId": "E1"}, headers=tenant.headers).status_code == 200
    starred = client.patch(profile, json={"externalId": "E2"}, headers={**tenant.headers, "If-Match": "*"})
    assert starred.status_code == 200
    assert starred.headers["etag"] == '"3"'


def test_star_on_an_unknown_profile_stays_404(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    unknown = client.patch(
        tenant.url(f"/customers/{ids.new_id()}"), json={"externalId": "E"}, headers={**tenant.headers, "If-Match": "*"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "customer_not_found"

    foreign_id = _create(client, other_tenant)
    foreign = client.patch(
        tenant.url(f"/customers/{foreign_id}"), json={"externalId": "E"}, headers={**tenant.headers, "If-Match": "*"}
    )
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "customer_not_found"


def test_a_stale_tag_on_an_unknown_profile_is_404_not_412(client: TestClient, tenant: Tenant) -> None:
    answer = client.patch(
        tenant.url(f"/customers/{ids.new_id()}"),
        json={"externalId": "E"},
        headers={**tenant.headers, "If-Match": '"99"'},
    )
    assert answer.status_code == 404
    assert answer.json()["code"] == "customer_not_found"


@pytest.mark.parametrize(
    "value",
    [
        'W/"1"',  # weak: never matches under strong comparison
        "1",  # unquoted
        '"1',  # unterminated
        "'1'",  # wrong quotes
        '""',  # another (empty) tag
        "",  # empty
        "garbage",
        '"1" garbage',
        '*, "1"',  # "*" is only valid alone
        '"1" "1"',
        'w/"1"',
    ],
)
def test_weak_or_malformed_if_match_is_412(client: TestClient, tenant: Tenant, value: str) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    answer = client.patch(profile, json={"externalId": "E"}, headers={**tenant.headers, "If-Match": value})
    assert answer.status_code == 412, value
    assert answer.json()["code"] == "precondition_failed"
    read = client.get(profile, headers=tenant.headers)
    assert read.headers["etag"] == '"1"'
    assert read.json()["externalId"] is None


@pytest.mark.parametrize("value", ['"9", "1"', '"1","9"', ' "1" ', 'W/"9", "1"'])
def test_a_list_naming_the_current_version_matches(client: TestClient, tenant: Tenant, value: str) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    answer = client.patch(profile, json={"externalId": "E"}, headers={**tenant.headers, "If-Match": value})
    assert answer.status_code == 200, value
    assert answer.headers["etag"] == '"2"'


def test_a_failed_write_does_not_move_the_etag(client: TestClient, tenant: Tenant) -> None:
    profile = tenant.url(f"/customers/{_create(client, tenant)}")
    _create(client, tenant, "bob@example.com")
    taken = client.patch(profile, json={"contact": {"email": "bob@example.com"}}, headers=tenant.headers)
    assert taken.status_code == 409
    invalid = client.patch(profile, json={"contact": {"birthdate": "17/05/1990"}}, headers=tenant.headers)
    assert invalid.status_code == 422
    assert client.get(profile, headers=tenant.headers).headers["etag"] == '"1"'
