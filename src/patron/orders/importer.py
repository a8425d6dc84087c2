"""``patron orders import``: NDJSON order lines through exactly the API's rules, in batches.

Each line is validated and recorded like ``POST /crm/{accountId}/orders``; a batch commits
together (short, so API writes interleave), and a rejected line never stops the import."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import orjson

from patron import ids
from patron.auth.clients import DEFAULT_CHANNEL
from patron.body import validate
from patron.db import Database, retry_busy
from patron.errors import PatronError
from patron.orders import service
from patron.orders.schemas import OrderCreate

MAX_LINE_BYTES = 1024 * 1024
MAX_REPORTED_REJECTIONS = 1000


def _reason(exc: PatronError) -> dict[str, Any]:
    reason: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.context:
        reason["context"] = exc.context
    return reason


def _parse(raw: bytes, default_account: str | None) -> tuple[str, OrderCreate]:
    if len(raw) > MAX_LINE_BYTES:
        raise PatronError("The line is longer than 1 MiB.", context={}) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error = PatronError(f"The line is not valid JSON: {exc.msg}.")
        error.code = "invalid_json"
        raise error from None
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


async def _record_batch(db: Database, batch: list[tuple[int, str, OrderCreate]], summary: dict[str, Any]) -> None:
    async def attempt() -> list[tuple[int, str | None, dict[str, Any] | None]]:
        outcomes: list[tuple[int, str | None, dict[str, Any] | None]] = []
        async with db.write() as conn:
            for line_no, account_id, body in batch:
                try:
                    created, _ = await service.record(conn, account_id, body, default_channel=DEFAULT_CHANNEL)
                    outcomes.append((line_no, "imported" if created else "alreadyPresent", None))
                except PatronError as exc:
                    outcomes.append((line_no, None, _reason(exc)))
        return outcomes

    # Counted only once the batch has committed, so the summary never reports lost lines.
    for line_no, outcome, reason in await retry_busy(attempt):
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
    line_no = 0
    for line_no, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        summary["lines"] += 1
        try:
            account, body = _parse(raw, account_id)
        except PatronError as exc:
            _reject(summary, line_no, _reason(exc))
            continue
        batch.append((line_no, account, body))
        if len(batch) >= batch_size:
            await _record_batch(db, batch, summary)
            batch = []
            meter.show(line_no, summary)
    if batch:
        await _record_batch(db, batch, summary)
    meter.show(line_no, summary, final=True)
    return summary
