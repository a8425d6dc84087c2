"""Driving the load: the data file bench/mix.lua reads, and one wrk run read back as numbers."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.databases import Tenant
from bench.dataset import addresses_patch, contact_patch, guest_body

SCRIPT = Path(__file__).with_name("mix.lua")
TEMPLATES = 200
_EMAIL = "@@EMAIL@@"


def write_data(path: Path, tenants: list[Tenant], sample: list[tuple[str, str, str]], *, seed: int) -> None:
    """Tokens, the sampled guests, and body templates for the write mix."""
    rng = random.Random(seed)
    lines = [f"T\t{t.account_id}\t{t.token}" for t in tenants]
    lines += [f"P\t{account}\t{profile}\t{orjson.dumps(email).decode()}" for account, profile, email in sample]
    for n in range(TEMPLATES):
        body = guest_body(rng, n)
        body["contact"]["email"] = _EMAIL
        before, after = orjson.dumps(body).decode().split(f'"{_EMAIL}"')
        lines.append(f"C\t{before}\t{after}")
        lines.append(f"N\t{orjson.dumps(contact_patch(rng)).decode()}")
        lines.append(f"A\t{orjson.dumps(addresses_patch(rng)).decode()}")
    lines.append(f"S\t{tenants[0].client_id}\t{tenants[0].client_secret}")
    path.write_text("\n".join(lines) + "\n")


@dataclass
class Run:
    """One wrk run, as bench/mix.lua's done() reported it."""

    requests: int
    seconds: float
    latency_us: dict[str, float]
    errors: dict[str, int]
    statuses: dict[str, int]
    kinds: dict[str, int]
    samples: dict[str, str] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= int(status) <= 299)

    @property
    def failed(self) -> int:
        """Non-2xx answers plus requests that got no answer (connect, read, write, timeout)."""
        socket = sum(self.errors.get(kind, 0) for kind in ("connect", "read", "write", "timeout"))
        return self.non_2xx + socket

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "latency_ms": {k: round(v / 1000, 3) for k, v in self.latency_us.items()},
            "errors": self.errors,
            "non_2xx": self.non_2xx,
            "statuses": self.statuses,
            "kinds": self.kinds,
            "samples": self.samples,
        }


def wrk_command(cpu: int | None) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu), wrk] if cpu is not None and taskset else [wrk]


def run(
    url: str,
    data: Path,
    *,
    mix: str,
    connections: int,
    seconds: float,
    tag: str,
    cpu: int | None,
    timeout_s: int = 10,
) -> Run:
    command = [
        *wrk_command(cpu),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(data),
        mix,
        tag,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line.removeprefix("BENCH-RESULT "))
            return Run(
                requests=result["requests"],
                seconds=result["duration_us"] / 1e6,
                latency_us=result["latency_us"],
                errors=result["errors"],
                statuses=result["statuses"],
                kinds=result["kinds"],
                samples=result["samples"],
            )
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
