"""The machine the numbers come from, and the results as markdown and JSON in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dataset, load
from bench.plan import GENERATION_TARGET_S, P50_TARGET, READ_MIX, WRITE_MIX, WRK_CPU, Plan, can_pin, server_cpus

RESULTS = Path(__file__).with_name("results")


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _output(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else None


def machine(postgres_version: str | None) -> dict[str, Any]:
    memory_kb = _first("/proc/meminfo", "MemTotal")
    commit = _output(["git", "-C", str(RESULTS.parent.parent), "rev-parse", "--short", "HEAD"])
    changed = _output(["git", "-C", str(RESULTS.parent.parent), "status", "--porcelain", "src"])
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory_kb.split()[0]) / 1024**2, 1) if memory_kb else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version,
        "wrk": (_output(["wrk", "-v"]) or "wrk ?").split(" Copyright")[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "patron_commit": f"{commit}{' (src changed since)' if changed else ''}" if commit else None,
    }


def small_comparison(plan: Plan, full_rows: list[dict[str, Any]], small_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The read mix's p50 on the small dataset against the full one, per database."""

    def p50(rows: list[dict[str, Any]], name: str) -> float | None:
        for r in rows:
            if (r["database"], r["mix"], r["workers"], r["connections"]) == (name, "read", 1, plan.connections[0]):
                return float(r["p50_ms"])
        return None

    lines = [
        f"Read mix, one worker, {plan.connections[0]} connections: p50 on {plan.small_profiles:,} profiles "
        f"versus {plan.profiles:,} (target: within {P50_TARGET}x).",
        "",
        f"| Database | p50 ms, {plan.small_profiles:,} | p50 ms, {plan.profiles:,} | Ratio | Within {P50_TARGET}x |",
        "|---|---|---|---|---|",
    ]
    found = []
    for name in plan.databases:
        small, full = p50(small_rows, name), p50(full_rows, name)
        if small is None or full is None:
            continue
        ratio = full / small if small else float("inf")
        found.append({"database": name, "small_p50_ms": small, "full_p50_ms": full, "ratio": ratio})
        lines.append(f"| {name} | {small:.2f} | {full:.2f} | {ratio:.2f} | {'yes' if ratio <= P50_TARGET else 'no'} |")
    return {"rows": found, "detail": small_rows, "text": "\n".join(lines)}


def token_summary(plan: Plan, run: load.Run, database: str) -> dict[str, Any]:
    measured = (
        f"{run.rps:,.1f} requests/s, p50 {run.latency_us['p50'] / 1000:.0f} ms, "
        f"p99 {run.latency_us['p99'] / 1000:.0f} ms, {run.failed} errors"
        if run.requests
        else f"no answer within {plan.token_seconds:g} s"
    )
    text = (
        f"POST /oauth/token, {plan.token_connections} connections for {plan.token_seconds:g} s, one worker on "
        f"{database} (CPU {server_cpus(1) or 'any'}): {measured}. Slow by design: each request "
        "verifies an argon2id hash. Clients keep a token for its lifetime (3600 s by default) and send it "
        "with every call, so this cost is paid once per client per hour, not per request."
    )
    return {"rps": run.rps, "detail": run.as_json(), "text": text}


def conditions(plan: Plan, sample_size: int) -> str:
    pin = (
        f"wrk runs with one thread pinned to CPU {WRK_CPU}; the servers run where the Server CPUs column says"
        if can_pin()
        else "no CPU pinning (taskset missing or one CPU)"
    )
    return (
        "Servers run with PATRON_RATE_LIMIT_PER_SECOND=0 (the per-client limit, 50 requests/s by default, "
        "would otherwise cap the load) and PATRON_ACCESS_LOG=0. "
        f"{pin}; PostgreSQL runs unpinned on the same machine. "
        f"Each run lasts {plan.seconds:g} s, after a {plan.warmup:g} s warm-up per server start. "
        f"Read mix: {READ_MIX}. Write mix: {WRITE_MIX}. Requests are spread over {sample_size:,} guests "
        f"sampled from all {dataset.ACCOUNTS} accounts, each with its account's own token. "
        "Errors count non-2xx answers, socket errors and time-outs (10 s). "
        "Peak RSS is VmHWM of every server process, reset before each run. "
        "The floor ratio divides by the one-worker floor at the same connection count."
    )


def generation_verdict(plan: Plan, seconds: float) -> str:
    minutes = GENERATION_TARGET_S // 60
    if plan.quick:
        return f"(Quick run: the {minutes}-minute target applies to the full dataset.)"
    if seconds <= GENERATION_TARGET_S:
        return f"Within the {minutes}-minute target."
    over = seconds - GENERATION_TARGET_S
    return f"Over the {minutes}-minute target by {over:.0f} s ({over / GENERATION_TARGET_S:.0%})."


def _rss(peaks: list[list[Any]]) -> str:
    """ "96" for one process; "supervisor 78, workers 96 + 96, tracker 12" for several."""
    if len(peaks) == 1:
        return f"{peaks[0][1]:.0f}"
    by_role: dict[str, list[str]] = {}
    for role, mb in peaks:
        by_role.setdefault(role, []).append(f"{mb:.0f}")
    names = {"worker": "workers", "server": "server"}
    return ", ".join(f"{names.get(role, role)} {' + '.join(values)}" for role, values in by_role.items()) or "?"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def load_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| Mix | Database | Workers | Server CPUs | Connections | Requests/s | p50 ms | p99 ms | Errors "
        "| Peak RSS MB per process | vs floor |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        ratio = f"{r['floor_ratio']:.2f}" if r.get("floor_ratio") is not None else "-"
        lines.append(
            f"| {r['mix']} | {r['database']} | {r['workers']} | {r['server_cpus'] or 'any'} | {r['connections']} "
            f"| {r['rps']:,.0f} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | {r['errors']:,} "
            f"| {_rss(r['peak_rss_mb'])} | {ratio} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    m, d = results["machine"], results["dataset"]
    out = [
        f"# Patron benchmark, {results['started']} ({'quick' if results['quick'] else 'full'} run)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; Linux {m['kernel']}; "
        f"Python {m['python']}; SQLite {m['sqlite']}; PostgreSQL {m['postgresql'] or '-'}; {m['wrk']}. "
        f"Load average at start: {', '.join(str(x) for x in m['load_average_at_start'])}; "
        f"at the end: {', '.join(str(x) for x in results.get('load_average_at_end', []))}. "
        f"Patron {m['patron_commit'] or '?'}.",
        "",
        f"Dataset: {d['profiles']:,} guest profiles over {d['accounts']} accounts and {d['orders']:,} orders "
        f"({', '.join(d['databases'])}), generated in {d['seconds']:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in d['phases'].items())}). {d['verdict']}",
        "",
        results["conditions"],
        "",
        "## Load",
        "",
        load_table(results["rows"]),
        "",
        "Floor (constant 1.5 KB JSON, same uvicorn, one worker): "
        + ", ".join(f"{f['rps']:,.0f} requests/s at {f['connections']} connections" for f in results["floor"])
        + ".",
    ]
    if results.get("small"):
        out += ["", "## Dataset size", "", results["small"]["text"]]
    for title, key in (("Token endpoint", "token"), ("Order import", "import")):
        if results.get(key):
            out += ["", f"## {title}", "", results[key]["text"]]
    if results.get("notes"):
        out += ["", "## Notes", "", *(f"- {n}" for n in results["notes"])]
    return "\n".join(out) + "\n"


def write(results: dict[str, Any]) -> tuple[Path, Path]:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M")
    name = f"{stamp}-{'quick' if results['quick'] else 'full'}"
    md, js = RESULTS / f"{name}.md", RESULTS / f"{name}.json"
    md.write_text(markdown(results))
    js.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return md, js
