"""What one benchmark run does: sizes, lengths, databases, and where each process runs."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.databases import Target

GENERATION_TARGET_S = 600
P50_TARGET = 1.25
READ_MIX = "GET profile 40%, lookup by email 40%, order history page (size 20) 20%"
WRITE_MIX = "create 50% (unique emails), PATCH contact 30%, PATCH deliveryAddresses 20%"
WRK_CPU = 1


@dataclass(frozen=True)
class Plan:
    quick: bool
    profiles: int
    orders: int
    small_profiles: int
    seconds: float
    warmup: float
    token_seconds: float
    sample: int
    processes: int
    databases: tuple[str, ...]
    postgres_url: str
    seed: int = 1
    connections: tuple[int, ...] = (32, 128)
    workers: tuple[int, ...] = (1, 2)
    token_connections: int = 4

    def targets(self, work: Path, suffix: str = "") -> list[Target]:
        found = []
        for name in self.databases:
            if name == "sqlite":
                found.append(Target("sqlite", f"sqlite:///{work / f'patron_bench{suffix}.db'}"))
            else:
                found.append(Target("postgresql", f"{self.postgres_url.rstrip('/')}/patron_bench{suffix}"))
        return found


def can_pin() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def server_cpus(workers: int) -> str | None:
    """One worker on CPU 0, wrk on CPU 1. Two workers get every CPU, as they would be deployed on
    this machine: pinned to one CPU they could only take turns."""
    if not can_pin():
        return None
    return "0" if workers == 1 else f"0-{(os.cpu_count() or 1) - 1}"


def wrk_cpu() -> int | None:
    return WRK_CPU if can_pin() else None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
