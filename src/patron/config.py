"""Settings, read once from the environment (prefix ``PATRON_``)."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    database_url: str = "sqlite:///./patron.db"
    token_ttl_seconds: int = Field(default=3600, ge=1, le=86400)
    rate_limit_per_second: float = Field(default=50, ge=0)
    rate_limit_burst: int = Field(default=100, ge=0)
    metrics: bool = True
    pool_size: int = Field(default=10, ge=1)
    pool_max_overflow: int = Field(default=10, ge=0)
    # How long a write waits for the database lock (SQLite) before answering 503.
    busy_timeout_ms: int = Field(default=5000, ge=0)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = "INFO"
    access_log: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url

    @cached_property
    def async_database_url(self) -> str:
        """The PostgreSQL URL with the asyncpg driver (SQLite needs no async driver, see db.py)."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def rate_limit_enabled(self) -> bool:
        # Either number at 0 turns the limit off.
        return self.rate_limit_per_second > 0 and self.rate_limit_burst > 0
