"""The servers under load: ``patron serve`` and the floor, each in a process group of its own,
optionally pinned to CPUs, with the peak memory of every one of their processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.databases import patron_command, patron_env

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# The per-client limit (50/s by default) would otherwise cap the load; access logs cost a write per request.
SERVE_SETTINGS = {"PATRON_RATE_LIMIT_PER_SECOND": "0", "PATRON_ACCESS_LOG": "0"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpus: str | None) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *command] if cpus and taskset else command


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _status_kb(pid: int, name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Server:
    """One server: ``patron serve`` (and its workers) or the floor."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    workers: int = 1
    cpus: str | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    peaks_reset: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[int]:
        """The server's process and all its descendants (uvicorn's workers), parent first."""
        assert self.process is not None
        tree, found, queue = _children(), [], [self.process.pid]
        while queue:
            pid = queue.pop(0)
            found.append(pid)
            queue.extend(sorted(tree.get(pid, [])))
        return found

    def roles(self) -> list[tuple[int, str]]:
        """(pid, role): "server" alone, or a "supervisor" with its "worker"s and multiprocessing's "tracker"."""
        found = []
        for pid in self.processes():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append((pid, "worker"))
            elif b"resource_tracker" in command:
                found.append((pid, "tracker"))
            else:
                found.append((pid, "server" if self.workers == 1 else "supervisor"))
        return found

    def start(self) -> Server:
        self.port = free_port()
        command = pinned([*self.command, "--port", str(self.port)], self.cpus)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            workers = sum(1 for _, role in self.roles() if role in ("worker", "server"))
            if workers >= self.workers and self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT:.0f} s; see {self.log}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def reset_peaks(self) -> None:
        """Start every process's peak RSS (VmHWM) again from its current RSS (Linux clear_refs)."""
        self.peaks_reset = True
        for pid in self.processes():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                self.peaks_reset = False

    def peak_rss_mb(self) -> list[tuple[str, float]]:
        """(role, peak RSS in MB) of every process of the server."""
        peaks = [(role, _status_kb(pid, "VmHWM")) for pid, role in self.roles()]
        return [(role, round(kb / 1024, 1)) for role, kb in peaks if kb is not None]

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def errors_logged(self, since: int) -> dict[str, int]:
        """The last line of each exception the server logged after byte ``since``, counted. A client
        that hangs up mid-request (wrk stopping) is left out."""
        found: dict[str, int] = {}
        with self.log.open("rb") as log:
            log.seek(since)
            for line in log:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                lines = str(entry.get("exception", "")).strip().splitlines() if isinstance(entry, dict) else []
                if lines and "ClientDisconnect" not in lines[-1]:
                    found[lines[-1][:300]] = found.get(lines[-1][:300], 0) + 1
        return found

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        group = self.process.pid  # the group this server leads (start_new_session)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        # Workers still draining after their supervisor left.
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def patron(url: str, *, workers: int, cpus: str | None, log: Path) -> Server:
    command = [*patron_command(), "serve", "--host", "127.0.0.1", "--workers", str(workers)]
    return Server("patron serve", command, patron_env(url, **SERVE_SETTINGS), log, workers=workers, cpus=cpus)


def floor(*, cpus: str | None, log: Path) -> Server:
    command = [sys.executable, "-m", "bench.floor", "--host", "127.0.0.1"]
    paths = [str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return Server("floor", command, env, log, cpus=cpus)
