"""A crash loses nothing that was acknowledged and leaves nothing half-written: a write load on a
real ``patron serve`` is cut by kill -9, and a new process on the same database finds every
answered write, and only whole profiles. A database out of reach is a 503, not a crash."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ADMIN_URL, Backend, _run_sql
from tests.factories import PROFILE_KEYS, Tenant, create_tenant
from tests.server import Server, serving, stored_profiles

pytestmark = pytest.mark.server

WRITERS = 4
# Acknowledged writes to wait for before the crash: enough that the kill lands mid-load.
WRITES_BEFORE_CRASH = 60
PATCHES_PER_PROFILE = 4


@dataclass
class Acknowledged:
    """What the server answered 2xx: per profile, its email and the highest PATCH step."""

    emails: dict[str, str] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    attempted_emails: set[str] = field(default_factory=set)
    count: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _patch_body(step: int) -> dict[str, Any]:
    # Several parts of the document change together, so a torn write would show.
    return {
        "contact": {"lastName": f"Step {step}"},
        "metadata": {"step": step},
        "vehicles": [{"make": "Fiat", "model": f"model {step}", "color": "red"}],
    }


def _writer(server: Server, tenant: Tenant, number: int, acked: Acknowledged, crashed: threading.Event) -> None:
    with server.client(headers=tenant.headers) as http:
        serial = 0
        while not crashed.is_set():
            serial += 1
            email = f"guest-{number}-{serial}@example.com"
            with acked.lock:
                acked.attempted_emails.add(email)
            try:
                created = http.post(
                    tenant.url("/customers"), json={"contact": {"email": email, "firstName": f"Guest {number}"}}
                )
                if created.status_code != 200:
                    acked.failures.append(f"create {created.status_code} {created.text}")
                    return
                profile_id = created.json()["id"]
                with acked.lock:
                    acked.emails[profile_id] = email
                    acked.steps[profile_id] = 0
                    acked.count += 1
                for step in range(1, PATCHES_PER_PROFILE + 1):
                    patched = http.patch(tenant.url(f"/customers/{profile_id}"), json=_patch_body(step))
                    if patched.status_code != 200:
                        acked.failures.append(f"patch {patched.status_code} {patched.text}")
                        return
                    with acked.lock:
                        acked.steps[profile_id] = step
                        acked.count += 1
            except httpx.TransportError:
                if not crashed.is_set():
                    raise
                return


def test_a_killed_server_loses_no_acknowledged_write_and_leaves_no_half_written_profile(database_url: str) -> None:
    tenant = create_tenant(database_url)
    acked = Acknowledged()
    crashed = threading.Event()

    with serving(database_url) as server:
        threads = [
            threading.Thread(target=_writer, args=(server, tenant, n, acked, crashed), daemon=True)
            for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        while acked.count < WRITES_BEFORE_CRASH and not acked.failures and any(t.is_alive() for t in threads):
            threading.Event().wait(0.01)
        crashed.set()
        server.kill()
        for thread in threads:
            thread.join(timeout=60)
        assert not acked.failures, acked.failures
        assert acked.count >= WRITES_BEFORE_CRASH

        server.start()  # a new process on the same database
        with server.client(headers=tenant.headers) as http:
            for profile_id, email in acked.emails.items():
                read = http.get(tenant.url(f"/customers/{profile_id}"))
                assert read.status_code == 200, f"acknowledged profile {profile_id} is lost: {read.text}"
                profile = read.json()
                step = profile["metadata"].get("step", 0)
                # A write in flight at the crash may or may not have landed; an answered one has.
                assert step >= acked.steps[profile_id], f"acknowledged PATCH of {profile_id} is lost"
                assert profile["contact"]["email"] == email
                assert profile["contact"]["firstName"] == f"Guest {email.split('-')[1]}"

            stored = stored_profiles(database_url, tenant.account_id)
            assert set(acked.emails) <= set(stored)
            for profile_id, (version, document_text) in stored.items():
                read = http.get(tenant.url(f"/customers/{profile_id}"))
                assert read.status_code == 200, read.text
                profile = read.json()
                assert profile == orjson.loads(document_text)
                assert set(profile) == PROFILE_KEYS
                assert profile["contact"]["email"] in acked.attempted_emails
                # Every part of a PATCH landed together, and the version counts the writes that landed.
                step = profile["metadata"].get("step", 0)
                assert read.headers["ETag"] == f'"{version}"' == f'"{step + 1}"'
                if step:
                    assert profile["contact"]["lastName"] == f"Step {step}"
                    assert [v["model"] for v in profile["vehicles"]] == [f"model {step}"]
                    assert profile["contact"]["fullName"] == f"{profile['contact']['firstName']} Step {step}"
                else:
                    assert profile["contact"]["lastName"] is None and profile["vehicles"] == []

            # The restarted server takes writes again, the email rule included.
            again = http.post(tenant.url("/customers"), json={"email": "after-the-crash@example.com"})
            assert again.status_code == 200, again.text
            taken_email = next(iter(acked.emails.values()))
            duplicate = http.post(tenant.url("/customers"), json={"email": taken_email})
            assert duplicate.status_code == 409
            assert duplicate.json()["code"] == "customer_already_exists"


@contextmanager
def _database_out_of_reach(backend: Backend, database_url: str) -> Iterator[None]:
    """SQLite: another process holds the write lock. PostgreSQL: the database refuses connections
    and the server's open ones are cut."""
    if backend.name == "sqlite":
        outsider = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        outsider.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            outsider.rollback()
            outsider.close()
        return
    name = database_url.rsplit("/", 1)[1]
    _run_sql(ADMIN_URL, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        _run_sql(ADMIN_URL, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        yield
    finally:
        _run_sql(ADMIN_URL, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_a_database_out_of_reach_answers_503_and_the_server_recovers(backend: Backend, database_url: str) -> None:
    tenant = create_tenant(database_url)
    with serving(database_url, env={"PATRON_BUSY_TIMEOUT_MS": "300"}) as server:
        with server.client(headers=tenant.headers) as http:
            created = http.post(tenant.url("/customers"), json={"email": "ana@example.com"})
            assert created.status_code == 200, created.text
            profile_id = created.json()["id"]

            with _database_out_of_reach(backend, database_url):
                refused = http.patch(tenant.url(f"/customers/{profile_id}"), json={"externalId": "during"})
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "unavailable"
                assert int(refused.headers["Retry-After"]) >= 1
                assert "Traceback" not in refused.text

            # No restart: the same process serves again, and the refused write left nothing behind.
            read = http.get(tenant.url(f"/customers/{profile_id}"))
            assert read.status_code == 200, read.text
            assert read.json()["externalId"] is None
            patched = http.patch(tenant.url(f"/customers/{profile_id}"), json={"externalId": "after"})
            assert patched.status_code == 200, patched.text
            assert patched.json()["externalId"] == "after"
