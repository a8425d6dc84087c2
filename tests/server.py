"""Real ``patron serve`` processes for the tests that need more than the in-process app:
crashes, several processes on one database, the HTTP server itself.

``serving(database_url)`` starts one on a free port, waits for ``GET /healthz`` and always
stops it (SIGTERM, then SIGKILL of its whole process group when it does not exit in time)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from patron import tables
from patron.config import Settings
from patron.db import Database

_VENV_PATRON = Path(sys.executable).with_name("patron")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def patron_command() -> list[str]:
    if _VENV_PATRON.exists():
        return [str(_VENV_PATRON)]
    return [sys.executable, "-m", "patron.cli"]


def server_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
    env.update(
        {
            "PATRON_DATABASE_URL": database_url,
            "PATRON_RATE_LIMIT_PER_SECOND": "0",
            "PATRON_ACCESS_LOG": "0",
            "PATRON_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Server:
    """One ``patron serve`` (with its workers, if any) in a process group of its own."""

    database_url: str
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    left_behind: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        """Start on a free port and wait until it answers /healthz."""
        self.launch()
        return self.wait_healthy()

    def launch(self) -> None:
        """Start on a free port without waiting (see ``wait_healthy``)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.port = free_port()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        log = tempfile.NamedTemporaryFile(prefix="patron-serve-", suffix=".log", delete=False)
        self.log_path = Path(log.name)
        command = [*patron_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers != 1:
            command += ["--workers", str(self.workers)]
        with log:
            self.process = subprocess.Popen(
                command,
                env=server_env(self.database_url, self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a kill reaches the workers too
            )

    def wait_healthy(self) -> Server:
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"patron serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"patron serve did not answer /healthz within {START_TIMEOUT:.0f} s:\n{self.output()}")

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)  # type: ignore[arg-type]

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-20000:]

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (a graceful shutdown), then SIGKILL of the group after ``timeout``; the exit code.

        Processes of the group still alive once the server itself has exited are killed too and
        named in ``left_behind``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        code = self.process.poll()
        if code is not None:
            # multiprocessing's resource tracker leaves on its own once the supervisor is gone.
            deadline = time.monotonic() + 5.0
            while (left := self._group()) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.left_behind = left
        self._kill_group()
        if code is None:
            code = self.process.wait()
        return code

    def kill(self) -> None:
        """kill -9, of the server and every worker: a crash, nothing is flushed or shut down."""
        if self.process is None:
            return
        self._kill_group()
        self.process.wait()

    def _kill_group(self) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def children(self) -> list[int]:
        """Pids of the live processes this server started (uvicorn's workers)."""
        return [pid for pid, ppid, _ in _processes() if ppid == self.pid]

    def _group(self) -> list[int]:
        return [pid for pid, _, pgrp in _processes() if pgrp == self.pid]

    def cleanup(self) -> None:
        try:
            self.stop(timeout=5.0)
        finally:
            if self.log_path is not None:
                self.log_path.unlink(missing_ok=True)


def _processes() -> list[tuple[int, int, int]]:
    """(pid, ppid, process group) of every live process, zombies left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in brackets and may hold spaces: the fields that matter follow it.
        state, ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            found.append((int(entry.name), int(ppid), int(pgrp)))
    return found


@contextmanager
def serving(database_url: str, *, workers: int = 1, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(database_url, workers=workers, env=env or {})
    try:
        yield server.start()
    finally:
        server.cleanup()


@contextmanager
def serving_many(database_url: str, count: int, *, env: dict[str, str] | None = None) -> Iterator[list[Server]]:
    """``count`` separate ``patron serve`` processes on the same database, started side by side."""
    servers = [Server(database_url, env=env or {}) for _ in range(count)]
    with ExitStack() as stack:
        for server in servers:
            stack.callback(server.cleanup)
            server.launch()
        for server in servers:
            server.wait_healthy()
        yield servers


def stored_profiles(database_url: str, account_id: str) -> dict[str, tuple[int, str]]:
    """The account's profile rows as the database holds them: id -> (version, document)."""

    async def read() -> dict[str, tuple[int, str]]:
        db = Database(Settings(database_url=database_url))
        try:
            async with db.read() as conn:
                c = tables.customers.c
                rows = await conn.execute(select(c.id, c.version, c.document).where(c.account_id == account_id))
                return {row.id: (row.version, row.document) for row in rows}
        finally:
            await db.dispose()

    return asyncio.run(read())
