"""A client that hangs up mid-body gets nothing written and uses up nothing (not even its key)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.testclient import TestClient

from patron.app import create_app
from patron.config import Settings
from tests.factories import Tenant


def _send_half_a_body(settings: Settings, tenant: Tenant, key: str) -> list[dict[str, Any]]:
    """Drive the ASGI app directly: the body's first half arrives, then the client disconnects."""
    app = create_app(settings)
    sent: list[dict[str, Any]] = []
    body = b'{"email": "ana@example.com", "contact": {"firstName": "Ana"}}'
    messages = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": tenant.url("/customers"),
        "raw_path": tenant.url("/customers").encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", tenant.headers["Authorization"].encode()),
            (b"idempotency-key", key.encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }

    async def run() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(run())
    return sent


def test_a_hang_up_mid_body_writes_nothing_and_frees_the_key(
    settings: Settings, client: TestClient, tenant: Tenant
) -> None:
    sent = _send_half_a_body(settings, tenant, key="hang-up-1")
    assert not any(m.get("status") == 500 for m in sent if m["type"] == "http.response.start")

    missing = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert missing.status_code == 404

    retried = client.post(
        tenant.url("/customers"),
        json={"email": "ana@example.com", "contact": {"firstName": "Ana"}},
        headers={**tenant.headers, "Idempotency-Key": "hang-up-1"},
    )
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
