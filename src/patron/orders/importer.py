"""``patron orders import``: NDJSON order lines through exactly the API's rules, in batches.

Each line is validated and recorded like ``POST /crm/{accountId}/orders``; a batch commits
together (short, so API writes interleave), and a rejected line never stops the import."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from patron import accounts, ids
from patron.body import parse_json, validate
from patron.db import Database, retry_busy
from patron.errors import PatronError, PayloadTooLarge
from patron.orders import service
from patron.orders.schemas import OrderCreate

MAX_LINE_BYTES = 1024 * 1024
# The channel of a line that names none (the API's default client channel). Kept here rather than
# imported from patron.auth.clients, whose import hashes a dummy secret with argon2 (64 MiB).
IMPORT_CHANNEL = 10000
MAX_REPORTED_REJECTIONS = 1000


def _reason(exc: PatronError) -> dict[str, Any]:
    reason: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.context:
        reason["context"] = exc.context
    return reason


def _parse(raw: bytes, default_account: str | None) -> tuple[str, OrderCreate]:
    if len(raw) > MAX_LINE_BYTES:
        raise PayloadTooLarge("The line is longer than 1 MiB.")
    # As the API reads a body: invalid_json, or a 422 for integers too large to keep exactly.
    data = parse_json(raw, "line")
    if not isinstance(data, dict):
        error = PatronError("The line must be a JSON object.")
        error.code = "invalid_json"
        raise error
    account_id = data.get("accountId")
    if account_id is None:
        account_id = default_account
    elif default_account is not None and account_id != default_account:
        error = PatronError(f"The line names account {account_id!r}, not the imported account.")
        error.code = "wrong_account"
        raise error
    if not isinstance(account_id, str) or not ids.is_id(account_id):
        error = PatronError("The line needs an accountId (24 lowercase hex characters), or use --account.")
        error.code = "missing_account"
        raise error
    return account_id, validate(OrderCreate, data)


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0

    def show(self, lines: int, summary: dict[str, Any], *, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.2):
            return
        self.last = now
        sys.stderr.write(
            f"\r{lines:>10,} lines  {summary['imported']:>10,} imported  "
            f"{summary['alreadyPresent']:>8,} already present  {summary['rejected']:>6,} rejected"
        )
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


Outcome = tuple[int, str | None, dict[str, Any] | None]


async def _record_batch(
    db: Database, batch: list[tuple[int, str, OrderCreate]], refused: list[Outcome], summary: dict[str, Any]
) -> None:
    """Record a batch in one transaction; report its lines, and the lines refused before it, in line order."""
    by_account: dict[str, list[tuple[int, OrderCreate]]] = {}
    for line_no, account_id, body in batch:
        by_account.setdefault(account_id, []).append((line_no, body))

    async def attempt() -> list[Outcome]:
        outcomes: list[Outcome] = []
        async with db.write() as conn:
            known_accounts = await accounts.existing(conn, list(by_account))
            for account_id, lines in by_account.items():
                if account_id not in known_accounts:
                    reason = {"code": "account_not_found", "message": f"No account {account_id}."}
                    outcomes.extend((line_no, None, reason) for line_no, _ in lines)
                    continue
                recorded = await service.record_many(
                    conn, account_id, [body for _, body in lines], default_channel=IMPORT_CHANNEL
                )
                for (line_no, _), outcome in zip(lines, recorded, strict=True):
                    if isinstance(outcome, PatronError):
                        outcomes.append((line_no, None, _reason(outcome)))
                    else:
                        outcomes.append((line_no, "imported" if outcome[0] else "alreadyPresent", None))
        return outcomes

    # Counted only once the batch has committed, so the summary never reports lost lines.
    outcomes = (await retry_busy(attempt) if batch else []) + refused
    for line_no, outcome, reason in sorted(outcomes, key=lambda outcome: outcome[0]):
        if outcome is not None:
            summary[outcome] += 1
        else:
            _reject(summary, line_no, reason or {})


def _reject(summary: dict[str, Any], line_no: int, reason: dict[str, Any]) -> None:
    summary["rejected"] += 1
    if len(summary["rejections"]) < MAX_REPORTED_REJECTIONS:
        summary["rejections"].append({"line": line_no, **reason})


async def import_orders(
    db: Database,
    source: Iterable[bytes] | IO[bytes],
    *,
    account_id: str | None,
    batch_size: int = 500,
    progress: bool = False,
) -> dict[str, Any]:
    summary: dict[str, Any] = {"lines": 0, "imported": 0, "alreadyPresent": 0, "rejected": 0, "rejections": []}
    meter = _Progress(progress)
    batch: list[tuple[int, str, OrderCreate]] = []
    refused: list[Outcome] = []
    line_no = 0
    for line_no, raw in enumerate(source, start=1):
        if line_no == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # the UTF-8 byte order mark some editors write
        if not raw.strip():
            continue
        summary["lines"] += 1
        try:
            account, body = _parse(raw, account_id)
            batch.append((line_no, account, body))
        except PatronError as exc:
            refused.append((line_no, None, _reason(exc)))
        if len(batch) + len(refused) >= batch_size:
            await _record_batch(db, batch, refused, summary)
            batch, refused = [], []
            meter.show(line_no, summary)
    if batch or refused:
        await _record_batch(db, batch, refused, summary)
    meter.show(line_no, summary, final=True)
    return summary
