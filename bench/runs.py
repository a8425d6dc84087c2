"""Servers started, warmed up and measured with wrk; each measured run becomes a row of the table."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from bench import load, servers
from bench.databases import Target
from bench.plan import Plan, log, server_cpus, wrk_cpu


def row(run: load.Run, *, mix: str, target: str, workers: int, cpus: str | None, connections: int) -> dict[str, Any]:
    return {
        "mix": mix,
        "database": target,
        "workers": workers,
        "server_cpus": cpus,
        "connections": connections,
        "rps": run.rps,
        "p50_ms": run.latency_us["p50"] / 1000,
        "p99_ms": run.latency_us["p99"] / 1000,
        "errors": run.failed,
        "detail": run.as_json(),
    }


class Runner:
    def __init__(self, plan: Plan, work: Path) -> None:
        self.plan, self.work = plan, work
        self.notes: list[str] = []

    def wrk(self, server: servers.Server, data: Path, mix: str, connections: int, seconds: float) -> load.Run:
        tag = f"{mix[0]}{connections}{secrets.token_hex(3)}"
        logged_before = server.log_size()
        run = load.run(server.url, data, mix=mix, connections=connections, seconds=seconds, tag=tag, cpu=wrk_cpu())
        if run.failed:
            self.notes.append(
                f"{server.name} {mix} at {connections} connections: {run.failed:,} errors "
                f"(statuses {run.statuses}, socket errors {run.errors}); first answers: {run.samples}; "
                f"exceptions logged: {server.errors_logged(logged_before) or 'none'}"
            )
        return run

    def measured(
        self, server: servers.Server, data: Path, mix: str, connections: int, seconds: float
    ) -> tuple[load.Run, list[tuple[str, float]]]:
        server.reset_peaks()
        run = self.wrk(server, data, mix, connections, seconds)
        note = "Peak RSS could not be reset between runs: it is the peak since the server started."
        if not server.peaks_reset and note not in self.notes:
            self.notes.append(note)
        return run, server.peak_rss_mb()

    def floor(self, data: Path) -> list[dict[str, Any]]:
        found = []
        with servers.floor(cpus=server_cpus(1), log=self.work / "floor.log") as floor:
            self.wrk(floor, data, "floor", self.plan.connections[0], self.plan.warmup)
            for connections in self.plan.connections:
                run, rss = self.measured(floor, data, "floor", connections, self.plan.seconds)
                log(f"  floor c={connections}: {run.rps:,.0f} requests/s, p50 {run.latency_us['p50'] / 1000:.2f} ms")
                found.append({"connections": connections, "rps": run.rps, "peak_rss_mb": rss, "detail": run.as_json()})
        return found

    def serve(
        self,
        target: Target,
        data: Path,
        workers: int,
        mixes: tuple[str, ...],
        connections: tuple[int, ...],
        *,
        token: bool = False,
    ) -> tuple[list[dict[str, Any]], load.Run | None]:
        """Rows of every mix at every connection count on one ``patron serve``; then the token endpoint."""
        cpus = server_cpus(workers)
        rows, token_run = [], None
        server = servers.patron(target.url, workers=workers, cpus=cpus, log=self.work / f"serve-{target.name}.log")
        with server:
            self.wrk(server, data, "read", connections[0], self.plan.warmup)
            for mix in mixes:
                for n in connections:
                    run, rss = self.measured(server, data, mix, n, self.plan.seconds)
                    rows.append(row(run, mix=mix, target=target.name, workers=workers, cpus=cpus, connections=n))
                    rows[-1]["peak_rss_mb"] = rss
                    log(
                        f"  {mix} {target.name} workers={workers} c={n}: {run.rps:,.0f} requests/s, "
                        f"p50 {run.latency_us['p50'] / 1000:.2f} ms, p99 {run.latency_us['p99'] / 1000:.2f} ms, "
                        f"errors {run.failed}"
                    )
            if token:
                token_run = self.wrk(server, data, "token", self.plan.token_connections, self.plan.token_seconds)
                log(f"  token endpoint: {token_run.rps:,.1f} requests/s")
        return rows, token_run
