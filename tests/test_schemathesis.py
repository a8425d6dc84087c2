"""Patron's own /openapi.json, fuzzed by schemathesis against a real ``patron serve``: no answer
is a server error, and every answer is one the document describes, in the shape it describes.

It runs once, on a SQLite database of its own, not on both backends: what it checks is a
property of the API document and of the code that answers it, which is the same on both
databases. What differs between the databases (locking, uniqueness races, crashes) is proven on
both by the rest of the suite. PATRON_FUZZ_SEED replays another seed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patron.migrate import upgrade
from tests.factories import Tenant, create_tenant
from tests.server import Server, serving

pytestmark = pytest.mark.server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        # The document is no looser than the API: what it calls invalid is refused,
        "negative_data_rejection",
        # and the token is needed wherever the document says so.
        "ignored_auth",
        "unsupported_method",
    )
)
# Per operation and phase; with the coverage and stateful phases this is about a minute on two cores.
MAX_EXAMPLES = 40


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database of its own, built by the migrations: this test runs once, not per backend."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    upgrade(url)
    return url


@pytest.fixture
def server(sqlite_url: str) -> Iterator[Server]:
    with serving(sqlite_url) as started:
        yield started


def _config(tenant: Tenant, profile_id: str, crm_order_id: str) -> str:
    """schemathesis.toml: every request carries the tenant's token, and the path's account and
    ids are the tenant's own, so the fuzzing reaches past 403 and 404 into the routes' logic."""
    return f"""
headers = {{ Authorization = "Bearer {tenant.token}" }}

[parameters]
"path.accountId" = "{tenant.account_id}"
"path.crmProfileId" = "{profile_id}"
"path.crmOrderId" = "{crm_order_id}"
"""


def test_every_answer_is_described_by_the_openapi_document(sqlite_url: str, server: Server, tmp_path: Path) -> None:
    tenant = create_tenant(sqlite_url)
    with server.client(headers=tenant.headers) as http:
        profile = http.post(tenant.url("/customers"), json={"contact": {"email": "fuzz@example.com"}})
        assert profile.status_code == 200, profile.text
        order = http.post(
            tenant.url("/orders"),
            json={
                "crmProfileId": profile.json()["id"],
                "orderId": "order-1",
                "orderDate": "2025-10-24T16:45:14Z",
                "payment": {"amount": {"value": 1999, "currency": "EUR"}},
            },
        )
        assert order.status_code == 201, order.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(tenant, profile.json()["id"], order.json()["id"]))

    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            server.base_url + "/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            os.environ.get("PATRON_FUZZ_SEED", "20261203"),
            # One worker: CPython 3.11's ast.parse (used by Hypothesis) is not thread-safe.
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, f"schemathesis found failures:\n{run.stdout}\n{run.stderr}\n{server.output()}"
