"""``patron orders import`` throughput and peak memory on generated orders.

    .venv/bin/python -m bench.import_orders --orders 100000

Makes a fresh SQLite database (or uses --database-url), fills an account with guests through
``patron demo-data``, writes one NDJSON order a line for them, and times ``patron orders import``
under ``/usr/bin/time -v`` for its peak resident memory. Prints lines/s and peak RSS, and exits
non-zero when any line was not imported."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from patron import tables
from patron.config import Settings
from patron.db import Database

BIN = Path(sys.executable).parent
OFFSETS = [timezone(timedelta(hours=h)) for h in (0, 1, 2, -5, 9)] + [timezone(timedelta(hours=5, minutes=30))]
CURRENCIES = ["EUR", "EUR", "EUR", "GBP", "USD", "JPY", "KWD"]


def patron(database_url: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}
    return subprocess.run([str(BIN / "patron"), *args], env=env, text=True, check=True, capture_output=True, **kwargs)


def profile_ids(database_url: str, account_id: str) -> list[str]:
    async def read() -> list[str]:
        db = Database(Settings(database_url=database_url))
        try:
            async with db.read() as conn:
                stmt = select(tables.customers.c.id).where(tables.customers.c.account_id == account_id)
                return [row.id for row in await conn.execute(stmt)]
        finally:
            await db.dispose()

    return asyncio.run(read())


def write_orders(path: Path, *, account_id: str, profiles: list[str], orders: int, seed: int) -> None:
    """Orders as a point-of-sale export would send them: local offsets, any currency case, a few fields absent."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for n in range(orders):
            when = start + timedelta(seconds=rng.randrange(365 * 24 * 3600), microseconds=rng.randrange(10**6))
            currency = rng.choice(CURRENCIES)
            line: dict[str, Any] = {
                "accountId": account_id,
                "crmProfileId": profiles[n % len(profiles)],
                "orderId": f"bench-{seed}-{n:08d}",
                "orderDisplayId": f"#{n % 100000:05d}",
                "orderDate": when.astimezone(rng.choice(OFFSETS)).isoformat(),
                "orderType": rng.randrange(5),
                "itemQuantity": rng.randint(1, 8),
                "payment": {
                    "amount": {"value": rng.randint(500, 9000), "currency": rng.choice([currency, currency.lower()])}
                },
                "locationId": f"location-{rng.randrange(20)}",
            }
            if n % 3:
                line["channel"] = 20002
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def timed_import(database_url: str, path: Path) -> tuple[float, int, dict[str, Any]]:
    """(wall seconds, peak RSS in KiB, summary) of one ``patron orders import``."""
    env = {**os.environ, "PATRON_DATABASE_URL": database_url}
    command = [str(BIN / "patron"), "orders", "import", str(path)]
    time_v = shutil.which("time", path="/usr/bin")
    if time_v:
        command = [time_v, "-v", *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(command, env=env, text=True, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if not done.stdout.strip():
        raise RuntimeError(f"patron orders import printed no summary: {done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if match:
        peak_kib = int(match.group(1))
    else:
        # Without GNU time: the largest child so far, which is this import once it outgrows demo-data.
        peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return seconds, peak_kib, summary


def measure(
    *, orders: int = 100_000, profiles: int = 1000, database_url: str | None = None, quick: bool = False, seed: int = 1
) -> dict[str, Any]:
    """Import ``orders`` generated lines into a new account; returns the numbers and a one-line text."""
    if quick:
        orders, profiles = min(orders, 10_000), min(profiles, 200)
    with tempfile.TemporaryDirectory(prefix="patron-import-") as workdir:
        url = database_url or f"sqlite:///{Path(workdir) / 'patron.db'}"
        filled = json.loads(patron(url, "demo-data", "--customers", str(profiles), "--orders-per-customer", "0").stdout)
        account_id = filled["accountId"]
        source = Path(workdir) / "orders.ndjson"
        write_orders(source, account_id=account_id, profiles=profile_ids(url, account_id), orders=orders, seed=seed)
        size_mib = source.stat().st_size / 2**20
        seconds, peak_kib, summary = timed_import(url, source)
        # The same file again: every line is found already present, nothing is written twice.
        rerun_seconds, rerun_peak_kib, rerun = timed_import(url, source)
    database = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    result = {
        "database": database,
        "orders": orders,
        "profiles": profiles,
        "fileMiB": round(size_mib, 1),
        "seconds": round(seconds, 2),
        "linesPerSecond": round(orders / seconds),
        "peakRssMiB": round(peak_kib / 1024, 1),
        "imported": summary["imported"],
        "alreadyPresent": summary["alreadyPresent"],
        "rejected": summary["rejected"],
        "rerunSeconds": round(rerun_seconds, 2),
        "rerunPeakRssMiB": round(rerun_peak_kib / 1024, 1),
        "rerunAlreadyPresent": rerun["alreadyPresent"],
    }
    result["text"] = (
        f"{database}: {orders:,} orders ({size_mib:.1f} MiB) for {profiles:,} guests imported in {seconds:.1f} s, "
        f"{result['linesPerSecond']:,} lines/s, peak RSS {result['peakRssMiB']} MiB "
        f"(imported {summary['imported']:,}, already present {summary['alreadyPresent']:,}, "
        f"rejected {summary['rejected']:,}); the same file again in {rerun_seconds:.1f} s "
        f"({rerun['alreadyPresent']:,} already present, peak RSS {result['rerunPeakRssMiB']} MiB)"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_orders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument(
        "--database-url", default=None, help="An existing, migrated database; a fresh SQLite one when absent."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10,000 orders for 200 guests.")
    args = parser.parse_args(argv)
    result = measure(
        orders=args.orders, profiles=args.profiles, database_url=args.database_url, quick=args.quick, seed=args.seed
    )
    print(result["text"])
    print(json.dumps({k: v for k, v in result.items() if k != "text"}))
    complete = result["imported"] == result["rerunAlreadyPresent"] == result["orders"]
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
