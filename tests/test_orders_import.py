"""``patron orders import`` through the real command, on both databases (CONTRACT.md section 4)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from starlette.testclient import TestClient

from patron import tables
from patron.body import validate
from patron.db import Database
from patron.errors import OrderConflict
from patron.orders import service
from patron.orders.schemas import OrderCreate
from tests.conftest import Backend, make_settings
from tests.factories import Tenant

PATRON = Path(sys.executable).with_name("patron")


def run_import(
    database_url: str, *args: str, stdin: bytes | None = None
) -> tuple[int, dict[str, Any], subprocess.CompletedProcess[bytes]]:
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}
    done = subprocess.run(
        [str(PATRON), "orders", "import", *args], input=stdin, capture_output=True, env=env, timeout=300, check=False
    )
    assert done.stdout, done.stderr.decode()
    return done.returncode, json.loads(done.stdout), done


def write_lines(path: Path, lines: list[Any]) -> Path:
    """One JSON document a line; a str is written as it is (for broken lines)."""
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def new_profile(client: TestClient, tenant: Tenant, email: str = "ana@example.com") -> str:
    answer = client.post(tenant.url("/customers"), json={"email": email}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def line(profile_id: str, order_id: str, account_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "crmProfileId": profile_id,
        "orderId": order_id,
        "orderDate": "2025-10-24T18:45:14.665+02:00",
        "payment": {"amount": {"value": 3100, "currency": "eur"}},
    }
    if account_id is not None:
        body["accountId"] = account_id
    body.update(fields)
    return body


def history(client: TestClient, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    answer = client.get(tenant.url(f"/customers/{profile_id}/orders"), params={"size": 100}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def codes_by_line(summary: dict[str, Any]) -> dict[int, str]:
    return {rejection["line"]: rejection["code"] for rejection in summary["rejections"]}


def test_import_reports_every_line_and_imports_nothing_twice(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    ana = new_profile(client, tenant)
    theirs = new_profile(client, other_tenant, "bram@example.com")
    account = tenant.account_id
    lines: list[Any] = [
        line(ana, "o-1", account, orderType=2, itemQuantity=3, locationId="loc-1", orderDisplayId="#1"),  # 1
        line(ana, "o-2", account),  # 2: no channel, so 10000
        "",  # 3: blank lines are skipped
        '{"crmProfileId": "' + ana + '", "orderId": ',  # 4: not JSON
        "[1, 2, 3]",  # 5: not an object
        line(ana, "o-3"),  # 6: no account and no --account
        line(ana, "o-4", account, payment={"amount": {"value": 19.99, "currency": "EUR"}}),  # 7
        line("0123456789abcdef01234567", "o-5", account),  # 8: unknown profile
        line(ana, "o-1", account, orderType=2, itemQuantity=3, locationId="loc-1", orderDisplayId="#1"),  # 9: same
        line(ana, "o-1", account, orderType=1),  # 10: same orderId, other content
        line(ana, "o-6", account, orderDate="2025-10-24T16:45:14"),  # 11: naive
        line(ana, "o-7", account, channel=20002),  # 12
        line(theirs, "o-8", account),  # 13: another account's profile
        line(theirs, "o-8", other_tenant.account_id),  # 14: a line for the other account
        line(ana, "o-9", account, payment={"amount": {"value": -1, "currency": "EUR"}}),  # 15
        line(ana, "o-10", account, payment={"amount": {"value": 100, "currency": "EURO"}}),  # 16
        line(ana, "o-11", "0123456789abcdef01234567"),  # 17: no such account
        json.dumps(line(ana, "o-12", account, payment={"amount": {"value": 0, "currency": "EUR"}})).replace(
            '"value": 0', '"value": 18446744073709551616'
        ),  # 18: past 64 bits
        json.dumps(line(ana, "o-13", account, locationId="x" * 1024 * 1024)),  # 19: over 1 MiB
    ]
    source = write_lines(tmp_path / "orders.ndjson", lines)

    code, summary, done = run_import(database_url, str(source))
    assert code != 0, done.stderr.decode()
    assert summary["imported"] == 4  # lines 1, 2, 12, 14
    assert summary["alreadyPresent"] == 1  # line 9
    assert summary["rejected"] == 13
    assert codes_by_line(summary) == {
        4: "invalid_json",
        5: "invalid_json",
        6: "missing_account",
        7: "validation_error",
        8: "customer_not_found",
        10: "order_conflict",
        11: "validation_error",
        13: "customer_not_found",
        15: "validation_error",
        16: "validation_error",
        17: "account_not_found",
        18: "validation_error",
        19: "payload_too_large",
    }
    assert [rejection["line"] for rejection in summary["rejections"]] == [4, 5, 6, 7, 8, 10, 11, 13, 15, 16, 17, 18, 19]
    reasons = {rejection["line"]: rejection for rejection in summary["rejections"]}
    assert all(reason["message"] for reason in reasons.values())
    assert ["body", "payment", "amount", "value"] in [e["loc"] for e in reasons[7]["context"]["errors"]]
    assert ["body", "orderDate"] in [e["loc"] for e in reasons[11]["context"]["errors"]]
    assert ["body", "payment", "amount", "currency"] in [e["loc"] for e in reasons[16]["context"]["errors"]]

    stored = {order["orderId"]: order for order in history(client, tenant, ana)["items"]}
    assert set(stored) == {"o-1", "o-2", "o-7"}
    assert reasons[10]["context"]["crmOrderId"] == stored["o-1"]["id"]
    assert stored["o-1"] == {
        "id": stored["o-1"]["id"],
        "crmProfileId": ana,
        "orderId": "o-1",
        "accountId": account,
        "channel": 10000,
        "payment": {"amount": {"value": 3100, "currency": "EUR", "display": "31.00"}},
        "orderDisplayId": "#1",
        "orderDate": "2025-10-24T16:45:14.665000Z",
        "orderType": 2,
        "itemQuantity": 3,
        "locationId": "loc-1",
    }
    assert (stored["o-2"]["channel"], stored["o-2"]["orderType"], stored["o-2"]["itemQuantity"]) == (10000, 0, 0)
    assert stored["o-7"]["channel"] == 20002
    assert [o["orderId"] for o in history(client, other_tenant, theirs)["items"]] == ["o-8"]

    # The same file again: nothing new, and the same lines refused for the same reasons.
    code, again, _ = run_import(database_url, str(source))
    assert code != 0
    assert (again["imported"], again["alreadyPresent"], again["rejected"]) == (0, 5, 13)
    assert codes_by_line(again) == codes_by_line(summary)
    assert history(client, tenant, ana)["items"] == sorted(
        stored.values(), key=lambda o: (o["orderDate"], o["id"]), reverse=True
    )

    # The corrected file: only the corrected lines are new, and a clean run exits 0.
    corrected = [
        lines[0],
        lines[1],
        line(ana, "o-3", account),
        line(ana, "o-4", account, payment={"amount": {"value": 1999, "currency": "EUR"}}),
        lines[8],
        line(ana, "o-6", account, orderDate="2025-10-24T16:45:14Z"),
        lines[11],
        lines[13],
        line(ana, "o-9", account, payment={"amount": {"value": 1, "currency": "EUR"}}),
        line(ana, "o-10", account, payment={"amount": {"value": 100, "currency": "KWD"}}),
    ]
    code, fixed, done = run_import(database_url, str(write_lines(tmp_path / "fixed.ndjson", corrected)))
    assert code == 0, done.stdout.decode()
    assert (fixed["imported"], fixed["alreadyPresent"], fixed["rejected"], fixed["rejections"]) == (5, 5, 0, [])
    after = {order["orderId"]: order for order in history(client, tenant, ana)["items"]}
    assert set(after) == {"o-1", "o-2", "o-3", "o-4", "o-6", "o-7", "o-9", "o-10"}
    assert after["o-1"] == stored["o-1"]
    assert after["o-4"]["payment"]["amount"]["display"] == "19.99"
    assert after["o-10"]["payment"]["amount"]["display"] == "0.100"


def test_account_option_and_stdin(client: TestClient, tenant: Tenant, other_tenant: Tenant, database_url: str) -> None:
    ana = new_profile(client, tenant)
    lines = [
        line(ana, "s-1"),  # 1: filled by --account
        line(ana, "s-2", tenant.account_id),  # 2: names the same account
        line(ana, "s-3", other_tenant.account_id),  # 3: names another account
        line(ana, "s-4", accountId=None),  # 4: null is "not named"
    ]
    # As some editors save it: a byte order mark first, and CRLF line ends.
    data = "\ufeff".encode() + "".join(json.dumps(item) + "\r\n" for item in lines).encode()
    code, summary, done = run_import(database_url, "-", "--account", tenant.account_id, stdin=data)
    assert code != 0, done.stderr.decode()
    assert (summary["imported"], summary["alreadyPresent"], summary["rejected"]) == (3, 0, 1)
    assert codes_by_line(summary) == {3: "wrong_account"}
    assert {o["orderId"] for o in history(client, tenant, ana)["items"]} == {"s-1", "s-2", "s-4"}

    good = b"".join(json.dumps(line(ana, f"t-{n}")).encode() + b"\n" for n in range(3))
    code, summary, _ = run_import(database_url, "-", "--account", tenant.account_id, stdin=good)
    assert (code, summary["imported"], summary["rejected"]) == (0, 3, 0)
    assert history(client, tenant, ana)["total"] == 6


def test_a_malformed_account_option_is_refused_before_importing(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    ana = new_profile(client, tenant)
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}
    done = subprocess.run(
        [str(PATRON), "orders", "import", "-", "--account", "not-an-account"],
        input=json.dumps(line(ana, "x-1")).encode(),
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert b"--account" in done.stderr
    assert history(client, tenant, ana)["total"] == 0


def test_api_orders_posted_during_an_import_are_kept(
    client: TestClient, tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    profiles = [new_profile(client, tenant, f"guest{n}@example.com") for n in range(4)]
    count = 3000
    source = write_lines(
        tmp_path / "bulk.ndjson",
        [
            line(profiles[n % 4], f"bulk-{n}", tenant.account_id, orderDate=f"2025-10-{1 + n % 28:02d}T12:00:00Z")
            for n in range(count)
        ],
    )
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}
    importer = subprocess.Popen(
        [str(PATRON), "orders", "import", str(source), "--batch-size", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    answered: dict[str, str] = {}
    statuses: list[int] = []
    try:
        # Start posting once the import's first batch is in, so the two overlap.
        for _ in range(600):
            if importer.poll() is not None or any(history(client, tenant, p)["total"] for p in profiles):
                break
            time.sleep(0.05)
        n = 0
        # Post while the import runs (and a few after), bounded whatever happens.
        while n < 600 and (importer.poll() is None or n < 20):
            body = line(profiles[n % 4], f"api-{n}", orderDate="2025-11-01T12:00:00+01:00")
            answer = client.post(tenant.url("/orders"), json=body, headers=tenant.headers)
            statuses.append(answer.status_code)
            if 200 <= answer.status_code < 300:
                answered[f"api-{n}"] = answer.json()["id"]
            n += 1
        out, err = importer.communicate(timeout=300)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    assert importer.returncode == 0, err.decode()
    summary = json.loads(out)
    assert (summary["imported"], summary["rejected"]) == (count, 0)
    assert [status for status in statuses if status >= 500] == []
    assert set(statuses) == {201}
    for order_id, crm_order_id in answered.items():
        read = client.get(tenant.url(f"/orders/{crm_order_id}"), headers=tenant.headers)
        assert read.status_code == 200, order_id
        assert read.json()["orderId"] == order_id
    total = sum(history(client, tenant, profile_id)["total"] for profile_id in profiles)
    assert total == count + len(answered)


def test_an_order_id_recorded_while_a_batch_is_written_is_neither_duplicated_nor_lost(
    client: TestClient, tenant: Tenant, database_url: str, backend: Backend
) -> None:
    """The API records orderIds while a batch has read but not yet written them: each line still gets
    the answer the API would give (already present, or a conflict), and the other lines are written."""
    ana = new_profile(client, tenant)
    account = tenant.account_id
    api_same = validate(OrderCreate, line(ana, "race-same"))
    api_other = validate(OrderCreate, line(ana, "race-other", orderType=4))
    batch = [validate(OrderCreate, line(ana, order_id)) for order_id in ("race-same", "race-other", "race-new")]

    async def scenario() -> tuple[list[Any], list[tuple[bool, str]]]:
        db = Database(make_settings(database_url))

        async def import_batch() -> list[Any]:
            async with db.write() as conn:
                return await service.record_many(conn, account, batch, default_channel=10000)

        try:
            async with db.write() as api:
                recorded = [
                    await service.record(api, account, body, default_channel=10000) for body in (api_same, api_other)
                ]
                importing = asyncio.create_task(import_batch())
                await wait_until_waiting(db, backend)
            return await asyncio.wait_for(importing, 30), recorded
        finally:
            await db.dispose()

    outcomes, recorded = asyncio.run(scenario())
    same, conflict, new = outcomes
    assert same == (False, recorded[0][1])
    assert isinstance(conflict, OrderConflict)
    assert conflict.context["crmOrderId"] == json.loads(recorded[1][1])["id"]
    assert isinstance(new, tuple) and new[0] is True
    stored = history(client, tenant, ana)
    assert sorted(order["orderId"] for order in stored["items"]) == ["race-new", "race-other", "race-same"]
    assert {order["orderId"]: order["orderType"] for order in stored["items"]}["race-other"] == 4


async def wait_until_waiting(db: Database, backend: Backend) -> None:
    """Until the other transaction waits on our uncommitted rows (PostgreSQL) or on the write lock (SQLite)."""
    if backend.name == "sqlite":
        # The batch's BEGIN IMMEDIATE polls for the lock; give it a few turns of the loop.
        await asyncio.sleep(0.2)
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(300):
        async with db.read() as conn:
            if (await conn.execute(waiting)).scalar():
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the batch never waited for the API's transaction")


def test_demo_data_fills_an_account_again_with_orders_the_api_serves(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}

    def demo_data(account_id: str) -> subprocess.CompletedProcess[bytes]:
        command = [str(PATRON), "demo-data", "--account", account_id, "--customers", "3", "--orders-per-customer", "2"]
        return subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)

    for _ in range(2):  # the second run adds guests instead of tripping over the first run's emails
        done = demo_data(tenant.account_id)
        assert done.returncode == 0, done.stderr.decode()
        assert json.loads(done.stdout) == {"accountId": tenant.account_id, "customers": 3, "orders": 6}
    profiles = profile_ids(database_url, tenant.account_id)
    orders = [order for profile_id in profiles for order in history(client, tenant, profile_id)["items"]]
    assert (len(profiles), len(orders)) == (6, 12)
    for order in orders:
        assert order["accountId"] == tenant.account_id
        assert order["channel"] == 10000
        assert order["payment"]["amount"]["currency"] == "EUR"

    unknown = demo_data("0123456789abcdef01234567")
    assert unknown.returncode != 0
    assert b"no such account" in unknown.stderr


def profile_ids(database_url: str, account_id: str) -> list[str]:
    async def read() -> list[str]:
        db = Database(make_settings(database_url))
        try:
            async with db.read() as conn:
                stmt = select(tables.customers.c.id).where(tables.customers.c.account_id == account_id)
                return [row.id for row in await conn.execute(stmt)]
        finally:
            await db.dispose()

    return asyncio.run(read())
