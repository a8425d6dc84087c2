"""Plain keyword-only factories that write through Patron's own services (as the CLI does)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from patron import accounts
from patron.auth import clients, tokens
from patron.config import Settings
from patron.db import Database

# Still argon2id, at a cost that keeps a suite creating hundreds of clients fast.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

# Every profile answer has exactly these keys, as the seed's examples do.
PROFILE_KEYS = {
    "externalId",
    "loyaltyProviderId",
    "deliveryAddresses",
    "billingAddress",
    "metadata",
    "vehicles",
    "id",
    "accountId",
    "channel",
    "created",
    "updated",
    "contact",
    "favorites",
}


def on_database(database_url: str, work: Any) -> Any:
    """Run ``work(conn)`` in one write transaction on that database."""

    async def main() -> Any:
        db = Database(Settings(database_url=database_url))
        try:
            async with db.write() as conn:
                return await work(conn)
        finally:
            await db.dispose()

    return asyncio.run(main())


def create_account(database_url: str, *, name: str = "Test restaurant", default_country: str | None = None) -> str:
    async def work(conn: Any) -> str:
        return (await accounts.create(conn, name=name, default_country=default_country))["accountId"]

    return on_database(database_url, work)


def create_api_client(
    database_url: str,
    *,
    account_ids: list[str],
    scope: tuple[str, ...] = clients.SCOPES,
    channel: int = clients.DEFAULT_CHANNEL,
) -> tuple[str, str]:
    """(client_id, client_secret)."""

    async def work(conn: Any) -> tuple[str, str]:
        client, secret = await clients.create(
            conn, accounts=account_ids, scope=list(scope), channel=channel, hasher=CHEAP_HASHER
        )
        return client.client_id, secret

    return on_database(database_url, work)


def mint_token(database_url: str, client_id: str, *, ttl_seconds: int = 3600) -> str:
    """A token as /oauth/token would issue it, without paying for argon2 in every test."""

    async def work(conn: Any) -> str:
        found = await clients.get(conn, client_id)
        assert found is not None
        kid, secret = await tokens.SigningKeys().current(conn)
        client = found[0]
        return tokens.issue(client, kid=kid, secret=secret, ttl_seconds=ttl_seconds, scope=client.scope).access_token

    return on_database(database_url, work)


@dataclass
class Tenant:
    account_id: str
    client_id: str
    client_secret: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"/crm/{self.account_id}{path}"


def create_tenant(
    database_url: str,
    *,
    name: str = "Test restaurant",
    default_country: str | None = None,
    scope: tuple[str, ...] = clients.SCOPES,
    channel: int = clients.DEFAULT_CHANNEL,
) -> Tenant:
    account_id = create_account(database_url, name=name, default_country=default_country)
    client_id, secret = create_api_client(database_url, account_ids=[account_id], scope=scope, channel=channel)
    token = mint_token(database_url, client_id)
    return Tenant(account_id, client_id, secret, token, {"Authorization": f"Bearer {token}"})
