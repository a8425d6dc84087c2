"""The ``patron`` command. Every subcommand honours PATRON_DATABASE_URL (default ./patron.db)
and prints JSON on stdout where it creates something."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from patron import ids
from patron.config import Settings
from patron.db import Database
from patron.migrate import upgrade

T = TypeVar("T")


def _print(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(Settings())
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group()
def main() -> None:
    """Patron: a self-hosted guest CRM that speaks the Deliverect CRM API."""
    try:
        Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PATRON_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise click.ClickException(f"bad setting: {problems}") from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
def serve(host: str, port: int, workers: int) -> None:
    """Apply migrations, then serve the API."""
    import uvicorn

    settings = Settings()
    upgrade(settings.database_url)
    uvicorn.run(
        "patron.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        server_header=False,
        # Requests in flight get this long to finish on SIGTERM; a stalled client does not hold
        # the process up for ever.
        timeout_graceful_shutdown=10,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the newest version."""
    upgrade(Settings().database_url)
    click.echo("database is up to date", err=True)


@main.group()
def accounts() -> None:
    """Restaurant accounts (tenants)."""


@accounts.command("create")
@click.option("--name", required=True)
@click.option("--id", "account_id", default=None, help="24 lowercase hex characters; generated when absent.")
@click.option("--default-country", default=None, help="ISO 3166-1 alpha-2, for national phone numbers.")
def accounts_create(name: str, account_id: str | None, default_country: str | None) -> None:
    """Create an account; prints {"accountId", "name"}."""
    from patron import accounts as accounts_service
    from patron.fields import normalize_country

    if account_id is not None and not ids.is_id(account_id):
        _fail("--id must be 24 lowercase hex characters")
    if not name.strip() or len(name) > 255:
        _fail("--name must be 1 to 255 characters")
    if default_country is not None:
        try:
            default_country = normalize_country(default_country)
        except ValueError as exc:
            _fail(f"--default-country {exc}")
    upgrade(Settings().database_url)

    async def work(database: Database) -> dict[str, Any]:
        async with database.write() as conn:
            return await accounts_service.create(
                conn, name=name, account_id=account_id, default_country=default_country
            )

    try:
        _print(_run(work))
    except accounts_service.AccountExists:
        _fail(f"account {account_id} already exists")


@main.group()
def clients() -> None:
    """API clients (OAuth client credentials)."""


@clients.command("create")
@click.option("--account", "account_ids", multiple=True, required=True, help="Repeat for several accounts.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["crm:read", "crm:write"]))
@click.option("--channel", default=10000, show_default=True, type=click.IntRange(0, 2**31 - 1))
@click.option("--name", default="")
def clients_create(account_ids: tuple[str, ...], scopes: tuple[str, ...], channel: int, name: str) -> None:
    """Create a client; the secret is printed once and only its hash is kept."""
    from patron import accounts as accounts_service
    from patron.auth import clients as clients_service

    for account_id in account_ids:
        if not ids.is_id(account_id):
            _fail(f"--account {account_id!r} is not an account id (24 lowercase hex characters)")
    upgrade(Settings().database_url)

    async def work(database: Database) -> dict[str, Any]:
        async with database.write() as conn:
            missing = set(account_ids) - await accounts_service.existing(conn, list(account_ids))
            if missing:
                _fail(f"no such account: {', '.join(sorted(missing))}")
            client, secret = await clients_service.create(
                conn,
                accounts=list(account_ids),
                scope=list(scopes or clients_service.SCOPES),
                channel=channel,
                name=name,
            )
        return {
            "client_id": client.client_id,
            "client_secret": secret,
            "accounts": list(client.accounts),
            "scope": " ".join(client.scope),
            "channel": client.channel,
            "name": client.name,
        }

    _print(_run(work))


@clients.command("revoke")
@click.argument("client_id")
def clients_revoke(client_id: str) -> None:
    """Revoke a client: its tokens stop working at once, and it gets no new ones."""
    from patron.auth import clients as clients_service

    async def work(database: Database) -> bool:
        async with database.write() as conn:
            return await clients_service.revoke(conn, client_id)

    if not _run(work):
        _fail(f"no active client {client_id}")
    _print({"client_id": client_id, "revoked": True})


@main.group()
def keys() -> None:
    """Token signing keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Sign new tokens with a new key; tokens of older keys stay valid until they expire."""
    from patron.auth.tokens import SigningKeys

    upgrade(Settings().database_url)

    async def work(database: Database) -> str:
        async with database.write() as conn:
            kid, _ = await SigningKeys().rotate(conn)
        return kid

    _print({"kid": _run(work)})


@main.group()
def orders() -> None:
    """CRM orders."""


@orders.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--account", "account_id", default=None, help="Account for lines that name none.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10000))
def orders_import(source: Any, account_id: str | None, batch_size: int) -> None:
    """Import NDJSON orders (one API order body per line, "-" for stdin); prints a JSON summary."""
    from patron.orders.importer import import_orders

    if account_id is not None and not ids.is_id(account_id):
        _fail("--account must be 24 lowercase hex characters")
    upgrade(Settings().database_url)
    show_progress = sys.stderr.isatty()

    async def work(database: Database) -> dict[str, Any]:
        return await import_orders(
            database, source, account_id=account_id, batch_size=batch_size, progress=show_progress
        )

    summary = _run(work)
    _print(summary)
    if summary["rejected"]:
        sys.exit(1)


@main.command("demo-data")
@click.option("--account", "account_id", default=None, help="Fill this account; a new one when absent.")
@click.option("--customers", default=100, show_default=True, type=click.IntRange(0))
@click.option("--orders-per-customer", default=5, show_default=True, type=click.IntRange(0))
@click.option("--seed", default=1, show_default=True, type=int)
def demo_data(account_id: str | None, customers: int, orders_per_customer: int, seed: int) -> None:
    """Fill an account with realistic generated guests and orders."""
    from patron.demo import NoSuchAccount, fill

    if account_id is not None and not ids.is_id(account_id):
        _fail("--account must be 24 lowercase hex characters")
    upgrade(Settings().database_url)

    async def work(database: Database) -> dict[str, Any]:
        return await fill(
            database, account_id=account_id, customers=customers, orders_per_customer=orders_per_customer, seed=seed
        )

    try:
        _print(_run(work))
    except NoSuchAccount:
        _fail(f"no such account: {account_id}")


@main.command()
@click.option("--state-file", default=".patron-demo.json", show_default=True, type=click.Path(path_type=Path))
@click.option("--port", default=8000, show_default=True, type=int)
def quickstart(state_file: Path, port: int) -> None:
    """First run: create a demo account and client, and print how to call the API."""
    from patron import accounts as accounts_service
    from patron.auth import clients as clients_service

    upgrade(Settings().database_url)
    if state_file.exists():
        state = json.loads(state_file.read_text())
    else:

        async def work(database: Database) -> dict[str, Any]:
            async with database.write() as conn:
                account = await accounts_service.create(conn, name="Demo Pizza Place", default_country="BE")
                client, secret = await clients_service.create(
                    conn, accounts=[account["accountId"]], scope=list(clients_service.SCOPES), name="demo"
                )
            return {"accountId": account["accountId"], "client_id": client.client_id, "client_secret": secret}

        state = _run(work)
        state_file.write_text(json.dumps(state, indent=2) + "\n")
        state_file.chmod(0o600)
    base = f"http://127.0.0.1:{port}"
    click.echo(
        f"""
Patron demo credentials (kept in {state_file}):
  accountId      {state["accountId"]}
  client_id      {state["client_id"]}
  client_secret  {state["client_secret"]}

Try it, in another terminal:
  TOKEN=$(curl -s {base}/oauth/token -H 'Content-Type: application/json' \\
    -d '{{"client_id": "{state["client_id"]}", "client_secret": "{state["client_secret"]}", "grant_type": "client_credentials"}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s {base}/crm/{state["accountId"]}/customers -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{{"contact": {{"email": "first.guest@example.com", "firstName": "Sam"}}}}'

API docs: {base}/docs
"""
    )


if __name__ == "__main__":
    main()
