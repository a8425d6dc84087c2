"""``python -m bench``: Patron under load against the floor, on SQLite and PostgreSQL.

One run generates the dataset, serves it with ``patron serve`` (one worker, then two), drives wrk
over a read mix and a write mix at two connection counts, and writes the table with the machine's
details to bench/results/. docs/PERFORMANCE.md says what each number means."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench import databases, dataset, imports, load, report
from bench.databases import Target
from bench.plan import GENERATION_TARGET_S, Plan, log
from bench.runs import Runner
from patron import ids


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("wrk is missing: installing it with apt-get")
    if subprocess.run(["apt-get", "install", "-y", "wrk"], check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], check=False)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: install it (apt-get install wrk) and run again")


def postgres_version(url: str) -> str | None:
    async def work() -> str:
        conn = await asyncpg.connect(databases.postgres_admin_url(url.rstrip("/") + "/postgres"))
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(work())
    except (OSError, asyncpg.PostgresError):
        return None


def fill(plan: Plan, targets: list[Target], profiles: int, orders: int) -> dict[str, Any]:
    """Fresh databases holding the dataset; their tenants, the sampled guests and the timings."""
    started = time.monotonic()
    shown = [-1]

    def progress(done: int, total: int) -> None:
        if done * 10 // total > shown[0]:
            shown[0] = done * 10 // total
            log(f"  {done:,} / {total:,} profiles built and inserted ({time.monotonic() - started:.0f} s)")

    async def work() -> dict[str, Any]:
        await asyncio.gather(*(databases.recreate(t) for t in targets))
        account_ids = [ids.new_id() for _ in range(dataset.ACCOUNTS)]
        # Each database gets its own clients and signing key, so its own tokens (argon2 runs in threads).
        tenants = await asyncio.gather(
            *(asyncio.to_thread(asyncio.run, databases.create_tenants(t, account_ids)) for t in targets)
        )
        phases = {"schema_and_clients": time.monotonic() - started}
        chunks = dataset.plan(account_ids, profiles, orders, seed=plan.seed, sample=plan.sample)
        sample, timings = await databases.load(targets, chunks, processes=plan.processes, progress=progress)
        phases.update(timings)
        return {
            "tenants": dict(zip([t.name for t in targets], tenants, strict=True)),
            "sample": sample,
            "phases": phases,
            "seconds": time.monotonic() - started,
        }

    return asyncio.run(work())


def drop_all(targets: list[Target]) -> None:
    async def work() -> None:
        await asyncio.gather(*(databases.drop(t) for t in targets), return_exceptions=True)

    asyncio.run(work())


def run_all(plan: Plan, runner: Runner, small_targets: list[Target], full_targets: list[Target]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    work = runner.work

    log(f"small dataset: {plan.small_profiles:,} profiles")
    small = fill(plan, small_targets, plan.small_profiles, round(plan.small_profiles * plan.orders / plan.profiles))
    small_data = {t.name: work / f"{t.name}_small.tsv" for t in small_targets}
    for t in small_targets:
        load.write_data(small_data[t.name], small["tenants"][t.name], small["sample"], seed=2)
    log("floor")
    out["floor"] = runner.floor(small_data[small_targets[0].name])

    log(f"full dataset: {plan.profiles:,} profiles, {plan.orders:,} orders")
    full = fill(plan, full_targets, plan.profiles, plan.orders)
    log(f"  generated in {full['seconds']:.0f} s: {', '.join(f'{k} {v:.0f} s' for k, v in full['phases'].items())}")
    out["dataset"] = {
        "profiles": plan.profiles,
        "orders": plan.orders,
        "accounts": dataset.ACCOUNTS,
        "databases": [t.name for t in full_targets],
        "seconds": full["seconds"],
        "phases": full["phases"],
        "target_seconds": GENERATION_TARGET_S,
        "verdict": report.generation_verdict(plan, full["seconds"]),
        "sample": len(full["sample"]),
    }
    out["conditions"] = report.conditions(plan, len(full["sample"]))
    rows: list[dict[str, Any]] = []
    small_rows: list[dict[str, Any]] = []
    for target, small_target in zip(full_targets, small_targets, strict=True):
        # The small dataset's read run goes right before the full one's, so both see the same machine.
        small_rows += runner.serve(small_target, small_data[target.name], 1, ("read",), plan.connections[:1])[0]
        data = work / f"{target.name}.tsv"
        load.write_data(data, full["tenants"][target.name], full["sample"], seed=3)
        for workers in plan.workers:
            first = target is full_targets[0] and workers == 1
            found, token_run = runner.serve(target, data, workers, ("read", "write"), plan.connections, token=first)
            rows += found
            if token_run is not None:
                out["token"] = report.token_summary(plan, token_run, target.name)
    drop_all(small_targets)
    floor_rps = {f["connections"]: f["rps"] for f in out["floor"]}
    for r in rows:
        r["floor_ratio"] = r["rps"] / floor_rps[r["connections"]] if floor_rps.get(r["connections"]) else None
    out["rows"] = rows
    out["small"] = report.small_comparison(plan, rows, small_rows)

    log("order import")
    out["import"] = imports.measure(full_targets, quick=plan.quick, notes=runner.notes, log=log)
    return out


def parse() -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 profiles and 3 s runs: checks the whole path")
    parser.add_argument("--profiles", type=int, help="default 1,000,000 (quick: 20,000)")
    parser.add_argument("--orders", type=int, help="default five per profile")
    parser.add_argument("--seconds", type=float, help="length of each measured run (default 10, quick: 3)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="either or both, comma-separated")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/"),
        help="a server where the benchmark may create and drop the database patron_bench",
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="processes building documents")
    parser.add_argument("--work-dir", type=Path, help="where the SQLite files go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the full dataset's databases afterwards")
    args = parser.parse_args()
    profiles = args.profiles or (20_000 if args.quick else 1_000_000)
    plan = Plan(
        quick=args.quick,
        profiles=profiles,
        orders=args.orders if args.orders is not None else profiles * 5,
        small_profiles=min(10_000, profiles // 2),
        seconds=args.seconds or (3 if args.quick else 10),
        warmup=1 if args.quick else 2,
        token_seconds=5 if args.quick else 10,
        sample=min(profiles, 50_000),
        processes=max(1, args.processes),
        databases=tuple(d.strip() for d in args.databases.split(",") if d.strip()),
        postgres_url=args.postgres_url,
    )
    return plan, args


def main() -> None:
    plan, args = parse()
    ensure_wrk()
    pg_version = postgres_version(plan.postgres_url) if "postgresql" in plan.databases else None
    if "postgresql" in plan.databases and pg_version is None:
        raise SystemExit(f"PostgreSQL is not reachable at {plan.postgres_url} (or run with --databases sqlite)")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[str, Any] = {"started": started, "quick": plan.quick, "machine": report.machine(pg_version)}
    work = Path(tempfile.mkdtemp(prefix="patron-bench-", dir=args.work_dir))
    runner = Runner(plan, work)
    small_targets, full_targets = plan.targets(work, "_small"), plan.targets(work)
    try:
        results.update(run_all(plan, runner, small_targets, full_targets))
    finally:
        drop_all(small_targets if args.keep else small_targets + full_targets)
        if args.keep:
            log(f"kept: {', '.join(t.url for t in full_targets)}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["notes"] = runner.notes
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    md, js = report.write(results)
    print(report.markdown(results))
    log(f"written: {md} and {js}")


if __name__ == "__main__":
    main()
