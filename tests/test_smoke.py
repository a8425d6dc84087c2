from starlette.testclient import TestClient

from tests.factories import Tenant


def test_create_then_read_a_profile(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert created.status_code == 200, created.text
    profile_id = created.json()["id"]
    read = client.get(tenant.url(f"/customers/{profile_id}"), headers=tenant.headers)
    assert read.status_code == 200
    assert read.json() == created.json()
