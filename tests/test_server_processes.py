"""Several ``patron serve`` processes on one database behave as one service: tokens, the
one-profile-per-email rule and concurrent partial updates hold across processes; and
``patron serve --workers 2`` serves one port and shuts down cleanly."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest

from tests.conftest import Backend, _run_sql
from tests.factories import Tenant, create_account, create_api_client, create_tenant
from tests.server import Server, patron_command, server_env, serving, serving_many, stored_profiles

pytestmark = pytest.mark.server


@pytest.fixture
def servers(database_url: str) -> Iterator[list[Server]]:
    with serving_many(database_url, 2) as started:
        yield started


def _in_parallel(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls together (released at once by a barrier); their answers, in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = calls[index]()
        except Exception as exc:  # surfaced by the assertion below
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failed = [a for a in answers if not isinstance(a, httpx.Response)]
    assert not failed, failed
    return answers


def _request(server: Server, tenant: Tenant, method: str, path: str, body: Any) -> Callable[[], httpx.Response]:
    def call() -> httpx.Response:
        with server.client(headers=tenant.headers) as http:
            return http.request(method, tenant.url(path), json=body)

    return call


def _token_answer(server: Server, tenant: Tenant, *, secret: str | None = None) -> httpx.Response:
    credentials = {"client_id": tenant.client_id, "client_secret": secret or tenant.client_secret}
    return httpx.post(
        server.base_url + "/oauth/token", json={**credentials, "grant_type": "client_credentials"}, timeout=30
    )


def _token(server: Server, tenant: Tenant) -> str:
    answer = _token_answer(server, tenant)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _new_profile(server: Server, tenant: Tenant, email: str) -> str:
    with server.client(headers=tenant.headers) as http:
        created = http.post(tenant.url("/customers"), json={"contact": {"email": email}})
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def _fresh_tenant(database_url: str) -> Tenant:
    """An account and its client, and no token yet: no signing key exists until one is asked for."""
    account_id = create_account(database_url)
    client_id, secret = create_api_client(database_url, account_ids=[account_id])
    return Tenant(account_id, client_id, secret, token="")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_from_one_process_works_on_the_other(database_url: str, servers: list[Server]) -> None:
    first, second = servers
    tenant = _fresh_tenant(database_url)
    # Both processes issue their first token at once, on a database that has no signing key yet.
    answers = _in_parallel([lambda server=server: _token_answer(server, tenant) for server in servers])
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    from_first, from_second = (str(a.json()["access_token"]) for a in answers)

    with second.client(headers=_bearer(from_first)) as http:
        created = http.post(tenant.url("/customers"), json={"email": "ana@example.com"})
    assert created.status_code == 200, created.text
    profile_id = created.json()["id"]
    with first.client(headers=_bearer(from_second)) as http:
        read = http.get(tenant.url(f"/customers/{profile_id}"))
    assert read.status_code == 200, read.text
    assert read.json() == created.json()

    # A key neither running process has seen: rotated through the command line, in the database only.
    rotated = subprocess.run(
        [*patron_command(), "keys", "rotate"],
        env=server_env(database_url),
        capture_output=True,
        check=True,
        timeout=60,
    )
    kid = orjson.loads(rotated.stdout)["kid"]
    signed_with_new_key = _token(first, tenant)
    assert jwt.get_unverified_header(signed_with_new_key)["kid"] == kid
    assert jwt.get_unverified_header(_token(second, tenant))["kid"] == kid

    # Tokens of the older keys stay valid on both; a forged one is refused by both.
    forged = jwt.encode({"sub": tenant.client_id}, b"not-the-key" * 4, algorithm="HS256", headers={"kid": kid})
    path = tenant.url(f"/customers/{profile_id}")
    for server in servers:
        with server.client() as http:
            for token in (signed_with_new_key, from_first, from_second):
                assert http.get(path, headers=_bearer(token)).status_code == 200
            refused = http.get(path, headers=_bearer(forged))
            assert refused.status_code == 401
            assert refused.json()["code"] == "invalid_token"

    # Revoking the client through the command line stops its tokens on every process at once.
    subprocess.run(
        [*patron_command(), "clients", "revoke", tenant.client_id],
        env=server_env(database_url),
        capture_output=True,
        check=True,
        timeout=60,
    )
    for server in servers:
        with server.client(headers=_bearer(signed_with_new_key)) as http:
            revoked = http.get(path)
        assert revoked.status_code == 401
        assert revoked.json()["code"] == "invalid_token"


def test_idempotency_keys_and_limits_are_shared_by_the_processes(database_url: str) -> None:
    tenant = create_tenant(database_url)
    # A burst of 4 requests, then one more every 100 s: the fifth /crm request is over the limit.
    limited = {"PATRON_RATE_LIMIT_PER_SECOND": "0.01", "PATRON_RATE_LIMIT_BURST": "4"}
    with serving_many(database_url, 2, env=limited) as (first, second):
        body = {"contact": {"email": "ana@example.com"}}
        keyed = {**tenant.headers, "Idempotency-Key": "create-ana"}
        with first.client(headers=keyed) as http:
            created = http.post(tenant.url("/customers"), json=body)
        assert created.status_code == 200, created.text
        with second.client(headers=keyed) as http:
            replayed = http.post(tenant.url("/customers"), json=body)
            assert replayed.status_code == 200
            assert replayed.headers["Idempotent-Replayed"] == "true"
            assert replayed.content == created.content
            reused = http.post(tenant.url("/customers"), json={"contact": {"email": "bo@example.com"}})
            assert reused.status_code == 422
            assert reused.json()["code"] == "idempotency_key_reused"

        with first.client(headers=tenant.headers) as http:
            assert http.get(tenant.url(f"/customers/{created.json()['id']}")).status_code == 200
        for server in (first, second):
            with server.client(headers=tenant.headers) as http:
                over = http.get(tenant.url(f"/customers/{created.json()['id']}"))
            assert over.status_code == 429, over.text
            assert over.json()["code"] == "rate_limited"
            assert int(over.headers["Retry-After"]) >= 1

        # Ten failed token requests, spread over both, lock the client out of both.
        for n in range(10):
            wrong = _token_answer((first, second)[n % 2], tenant, secret="wrong")
            assert wrong.status_code == 401
        for server in (first, second):
            locked = _token_answer(server, tenant)
            assert locked.status_code == 429, locked.text
            assert int(locked.headers["Retry-After"]) >= 1


def test_concurrent_creates_of_one_email_across_processes_make_one_profile(
    database_url: str, servers: list[Server]
) -> None:
    tenant = create_tenant(database_url)
    # The same guest, written as clients write it: case and surrounding blanks vary.
    spellings = ["ana@example.com", "Ana@Example.COM", " ana@example.com ", "ANA@EXAMPLE.COM"]
    calls = [
        _request(servers[i % 2], tenant, "POST", "/customers", {"contact": {"email": spellings[i % 4]}})
        for i in range(20)
    ]
    answers = _in_parallel(calls)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19, [(a.status_code, a.text) for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["id"]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "customer_already_exists"
            assert answer.json()["context"]["crmProfileId"] == winner
    assert list(stored_profiles(database_url, tenant.account_id)) == [winner]
    for server in servers:
        with server.client(headers=tenant.headers) as http:
            found = http.post(tenant.url("/customers/lookup"), json={"email": "ANA@example.com"})
        assert found.status_code == 200
        assert found.json()["id"] == winner


def test_concurrent_posts_of_one_order_across_processes_record_it_once(
    database_url: str, servers: list[Server]
) -> None:
    tenant = create_tenant(database_url)
    profile_id = _new_profile(servers[0], tenant, "ana@example.com")

    def order(order_id: str, value: int) -> dict[str, Any]:
        return {
            "crmProfileId": profile_id,
            "orderId": order_id,
            "orderDate": "2025-10-24T16:45:14Z",
            "payment": {"amount": {"value": value, "currency": "EUR"}},
        }

    same = _in_parallel([_request(servers[n % 2], tenant, "POST", "/orders", order("o-1", 1999)) for n in range(12)])
    assert sorted(a.status_code for a in same) == [200] * 11 + [201], [a.text for a in same]
    assert len({a.json()["id"] for a in same}) == 1

    differing = _in_parallel(
        [_request(servers[n % 2], tenant, "POST", "/orders", order("o-2", 1000 + n)) for n in range(12)]
    )
    assert sorted(a.status_code for a in differing) == [201] + [409] * 11, [a.text for a in differing]
    recorded = next(a for a in differing if a.status_code == 201).json()
    for answer in differing:
        if answer.status_code == 409:
            assert answer.json()["code"] == "order_conflict"
            assert answer.json()["context"]["crmOrderId"] == recorded["id"]
    with servers[1].client(headers=tenant.headers) as http:
        history = http.get(tenant.url(f"/customers/{profile_id}/orders")).json()
    assert history["total"] == 2
    assert {item["orderId"] for item in history["items"]} == {"o-1", "o-2"}
    assert next(i for i in history["items"] if i["orderId"] == "o-2") == recorded


def test_concurrent_moves_onto_one_email_across_processes_leave_one_owner(
    database_url: str, servers: list[Server]
) -> None:
    tenant = create_tenant(database_url)
    profiles = [_new_profile(servers[0], tenant, f"guest{n}@example.com") for n in range(8)]
    answers = _in_parallel(
        [
            _request(
                servers[n % 2], tenant, "PATCH", f"/customers/{profile_id}", {"contact": {"email": "ana@example.com"}}
            )
            for n, profile_id in enumerate(profiles)
        ]
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7, [(a.status_code, a.text) for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["id"]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "customer_already_exists"
            assert answer.json()["context"]["crmProfileId"] == winner
    # The refused moves changed nothing.
    stored = stored_profiles(database_url, tenant.account_id)
    for n, profile_id in enumerate(profiles):
        version, document = stored[profile_id]
        email = orjson.loads(document)["contact"]["email"]
        if profile_id == winner:
            assert (version, email) == (2, "ana@example.com")
        else:
            assert (version, email) == (1, f"guest{n}@example.com")


def test_concurrent_contact_patches_across_processes_lose_nothing(database_url: str, servers: list[Server]) -> None:
    tenant = create_tenant(database_url)
    profile_id = _new_profile(servers[0], tenant, "ana@example.com")
    path = f"/customers/{profile_id}"
    for round_ in range(1, 4):
        changes = [
            {"firstName": f"Ana {round_}"},
            {"lastName": f"Silva {round_}"},
            {"phone": f"+32 470 12 34 5{round_}"},
            {"birthdate": f"1990-05-1{round_}"},
        ]
        answers = _in_parallel(
            [_request(servers[i % 2], tenant, "PATCH", path, {"contact": c}) for i, c in enumerate(changes)]
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        for server in servers:
            with server.client(headers=tenant.headers) as http:
                contact = http.get(tenant.url(path)).json()["contact"]
            assert contact == {
                "email": "ana@example.com",
                "firstName": f"Ana {round_}",
                "lastName": f"Silva {round_}",
                "fullName": f"Ana {round_} Silva {round_}",
                "phone": f"+3247012345{round_}",
                "birthdate": f"1990-05-1{round_}",
            }


def test_ten_parallel_patches_of_different_fields_all_apply(database_url: str, servers: list[Server]) -> None:
    tenant = create_tenant(database_url)
    profile_id = _new_profile(servers[1], tenant, "bo@example.com")
    path = f"/customers/{profile_id}"
    address = {"street": "Rue Haute 1", "city": "Brussels", "postalCode": "1000", "country": "BE"}
    writes: list[tuple[str, Any]] = [
        ("", {"contact": {"firstName": "Bo"}}),
        ("", {"contact": {"lastName": "Berg"}}),
        ("", {"contact": {"phone": "+32 470 12 34 56"}}),
        ("", {"contact": {"birthdate": "1985-02-03"}}),
        ("", {"externalId": "ext-1"}),
        ("", {"loyaltyProviderId": "loyal-1"}),
        ("", {"metadata": {"tier": "gold"}}),
        ("", {"billingAddress": address}),
        ("/deliveryAddresses", [address]),
        ("/vehicles", [{"make": "Volvo", "model": "V70", "color": "Blue"}]),
    ]
    answers = _in_parallel(
        [_request(servers[i % 2], tenant, "PATCH", path + suffix, body) for i, (suffix, body) in enumerate(writes)]
    )
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    # Every write saw the one before it: the versions are 2..11, each exactly once.
    assert sorted(int(a.headers["ETag"].strip('"')) for a in answers) == list(range(2, 12))

    with servers[0].client(headers=tenant.headers) as http:
        read = http.get(tenant.url(path))
    profile = read.json()
    assert read.headers["ETag"] == '"11"'
    assert profile["contact"] == {
        "email": "bo@example.com",
        "firstName": "Bo",
        "lastName": "Berg",
        "fullName": "Bo Berg",
        "phone": "+32470123456",
        "birthdate": "1985-02-03",
    }
    assert profile["externalId"] == "ext-1"
    assert profile["loyaltyProviderId"] == "loyal-1"
    assert profile["metadata"] == {"tier": "gold"}
    assert profile["billingAddress"]["street"] == "Rue Haute 1"
    assert [a["street"] for a in profile["deliveryAddresses"]] == ["Rue Haute 1"]
    assert [(v["make"], v["model"], v["color"]) for v in profile["vehicles"]] == [("volvo", "v70", "blue")]


def test_writers_queue_for_a_small_pool_instead_of_failing(database_url: str) -> None:
    """More concurrent writes than a process has database connections: they wait their turn."""
    tenant = create_tenant(database_url)
    one_connection = {"PATRON_POOL_SIZE": "1", "PATRON_POOL_MAX_OVERFLOW": "0"}
    with serving_many(database_url, 2, env=one_connection) as servers:
        profiles = [_new_profile(servers[0], tenant, f"guest{n}@example.com") for n in range(24)]
        answers = _in_parallel(
            [
                _request(servers[n % 2], tenant, "PATCH", f"/customers/{profile_id}", {"metadata": {"n": n}})
                for n, profile_id in enumerate(profiles)
            ]
        )
    assert [a.status_code for a in answers] == [200] * 24, [a.text for a in answers if a.status_code != 200]
    stored = stored_profiles(database_url, tenant.account_id)
    assert [orjson.loads(stored[p][1])["metadata"] for p in profiles] == [{"n": n} for n in range(24)]


def _worker_pids(server: Server) -> set[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", server.output())}
        if len(pids) >= 2:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"two workers did not start:\n{server.output()}")


def test_serve_with_two_workers_serves_one_port_and_stops_cleanly(database_url: str) -> None:
    tenant = create_tenant(database_url)
    with serving(database_url, workers=2, env={"PATRON_LOG_LEVEL": "INFO"}) as server:
        workers = _worker_pids(server)
        assert len(workers) == 2
        assert workers <= set(server.children()), "the workers are the supervisor's own processes"

        # A new connection per request, so the kernel spreads them over both workers' listening socket.
        ids = []
        for n in range(12):
            with server.client(headers=tenant.headers) as http:
                created = http.post(tenant.url("/customers"), json={"email": f"guest{n}@example.com"})
            assert created.status_code == 200, created.text
            ids.append(created.json()["id"])
        with server.client(headers=tenant.headers) as http:
            for profile_id in ids:
                assert http.get(tenant.url(f"/customers/{profile_id}")).status_code == 200

        assert server.stop() == 0, server.output()
        assert server.left_behind == []
        for pid in workers:
            assert f"Finished server process [{pid}]" in server.output()


@pytest.fixture
def empty_database_url(backend: Backend) -> Iterator[str]:
    """A database with no schema at all, as on the first deployment."""
    if backend.name == "sqlite":
        yield f"sqlite:///{backend.workdir / uuid.uuid4().hex}.db"
        return
    name = f"patron_empty_{uuid.uuid4().hex[:12]}"
    _run_sql(backend.template, f'CREATE DATABASE "{name}"')
    try:
        yield backend.template.rsplit("/", 1)[0] + "/" + name
    finally:
        _run_sql(backend.template, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_processes_started_together_on_a_new_database_all_serve(empty_database_url: str) -> None:
    # Each `patron serve` migrates on start; started together, they must not trip over each other.
    with serving_many(empty_database_url, 3) as started:
        tenant = create_tenant(empty_database_url)
        for n, server in enumerate(started):
            with server.client(headers=tenant.headers) as http:
                created = http.post(tenant.url("/customers"), json={"email": f"guest{n}@example.com"})
            assert created.status_code == 200, created.text
    assert len(stored_profiles(empty_database_url, tenant.account_id)) == 3
