"""Schema upgrades by Alembic, from code (no alembic.ini needed at run time)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest schema (safe to run on every start)."""
    command.upgrade(alembic_config(database_url), "head")
    _owner_only(database_url)


def _owner_only(database_url: str) -> None:
    # The file holds the token signing keys: whoever reads it can sign tokens. SQLite gives its
    # -wal and -shm files the database file's permissions.
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        path = Path(database_url[len("sqlite:///") :])
        if path.exists():
            path.chmod(0o600)


async def upgrade_async(database_url: str) -> None:
    # env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(upgrade, database_url)
