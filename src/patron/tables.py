"""The schema. Account-scoped tables lead their primary key and every index with account_id,
so every query is tenant-scoped by construction and the schema can be sharded by account.
Client-scoped bookkeeping (idempotency, rate limits) leads with the client id instead."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(24)
# Timestamps are stored as the API writes them (UTC, microseconds, "Z"): they sort as text.
TIMESTAMP = String(27)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("name", String(255), nullable=False),
    Column("default_country", String(2), nullable=True),
    Column("created", TIMESTAMP, nullable=False),
    PrimaryKeyConstraint("account_id"),
)

customers = Table(
    "customers",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    # The email as matched: local part case-folded, domain in lower-case IDNA form.
    Column("email_key", String(320), nullable=False),
    Column("phone", String(32), nullable=True),
    Column("version", Integer, nullable=False),
    # The profile exactly as the API serves it (JSON), so reads need no re-serialisation.
    Column("document", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index(None, "account_id", "email_key", unique=True),
    Index(None, "account_id", "phone"),
)

crm_orders = Table(
    "crm_orders",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("crm_profile_id", ID, nullable=False),
    Column("order_id", String(255), nullable=False),
    Column("order_date", TIMESTAMP, nullable=False),
    Column("document", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index(None, "account_id", "order_id", unique=True),
    Index(None, "account_id", "crm_profile_id", "order_date", "id"),
)

api_clients = Table(
    "api_clients",
    metadata,
    Column("client_id", ID, nullable=False),
    Column("name", String(255), nullable=False),
    Column("secret_hash", String(255), nullable=False),
    # Space separated, as in the token: "crm:read crm:write".
    Column("scope", String(255), nullable=False),
    # JSON list of the account ids this client may use.
    Column("accounts", Text, nullable=False),
    Column("channel", Integer, nullable=False),
    Column("created", TIMESTAMP, nullable=False),
    Column("revoked", TIMESTAMP, nullable=True),
    PrimaryKeyConstraint("client_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(32), nullable=False),
    Column("secret", LargeBinary, nullable=False),
    Column("created", TIMESTAMP, nullable=False),
    PrimaryKeyConstraint("kid"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client_id", ID, nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # Unix seconds; rows older than 24 hours are expired and pruned.
    Column("created_at", Float, nullable=False),
    # Null while the first request is still running.
    Column("status", Integer, nullable=True),
    Column("headers", Text, nullable=True),
    Column("body", LargeBinary, nullable=True),
    PrimaryKeyConstraint("client_id", "key"),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    # A client id for request limits, "token:" + the client_id tried for token failures.
    Column("subject", String(300), nullable=False),
    # Request limit: the theoretical arrival time of GCRA, in Unix seconds.
    # Token failures: the start of the current one-minute window.
    Column("moment", Float, nullable=False),
    Column("hits", BigInteger, nullable=False, default=0),
    PrimaryKeyConstraint("subject"),
)

ACCOUNT_SCOPED = (accounts, customers, crm_orders)
CLIENT_SCOPED = (api_clients, idempotency_keys, rate_limits)
GLOBAL = (signing_keys,)
