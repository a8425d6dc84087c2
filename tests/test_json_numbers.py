"""Numbers are kept exactly or refused: never silently rounded."""

from starlette.testclient import TestClient

from tests.factories import Tenant

JSON = {"content-type": "application/json"}


def test_an_integer_past_64_bits_is_refused_and_nothing_is_written(client: TestClient, tenant: Tenant) -> None:
    body = b'{"email": "ana@example.com", "metadata": {"points": 123456789012345678901234567890}}'
    answer = client.post(tenant.url("/customers"), content=body, headers={**tenant.headers, **JSON})
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_error"
    lookup = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert lookup.status_code == 404


def test_large_integers_and_long_fractions_are_kept_as_sent(client: TestClient, tenant: Tenant) -> None:
    body = b'{"email": "ana@example.com", "metadata": {"big": 18446744073709551615, "small": -9223372036854775808}}'
    answer = client.post(tenant.url("/customers"), content=body, headers={**tenant.headers, **JSON})
    assert answer.status_code == 200, answer.text
    read = client.get(tenant.url(f"/customers/{answer.json()['id']}"), headers=tenant.headers)
    assert read.json()["metadata"] == {"big": 18446744073709551615, "small": -9223372036854775808}


def test_an_amount_past_64_bits_is_a_validation_error(client: TestClient, tenant: Tenant) -> None:
    profile = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers).json()
    body = (
        b'{"crmProfileId": "' + profile["id"].encode() + b'", "orderId": "o-1", "orderDate": "2025-10-24T16:45:14Z",'
        b' "payment": {"amount": {"value": 99999999999999999999999, "currency": "EUR"}}}'
    )
    answer = client.post(tenant.url("/orders"), content=body, headers={**tenant.headers, **JSON})
    assert answer.status_code == 422


def test_an_integer_just_past_the_64_bit_minimum_is_refused(client: TestClient, tenant: Tenant) -> None:
    body = b'{"email": "ana@example.com", "metadata": {"neg": -9223372036854775809}}'
    answer = client.post(tenant.url("/customers"), content=body, headers={**tenant.headers, **JSON})
    assert answer.status_code == 422
