"""Samples of every server process of the stack, every few seconds: its memory, its open file descriptors
and its TCP connections, read from /proc, and PostgreSQL's backends per database.

PostgreSQL is a tree of processes (the postmaster and a backend per connection): its memory is the
anonymous memory (RssAnon) of the whole tree, since the shared buffers every backend maps would count once
per backend in their RSS; its connections are its client backends. Every other process is one process.
Its descriptors are the postmaster's: each backend keeps its own files in a cache PostgreSQL bounds
(max_files_per_process) and fills as it touches relations, which is no leak. The pids come from the
launcher's state file at each sample, so a restarted process shows as a new pid.

NATS keeps the block each stream is writing in memory (its write cache: up to 8 MiB per stream, dropped
when the block is full and the next begins), so its memory follows the bytes in those blocks until they
roll over; they are sampled from its monitoring endpoint so that the report can tell that from a leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from shop_devstack.bench.cpu import children
from shop_devstack.bench.stack import SERVER_PROCESSES
from shop_devstack.chaos.facts import socket_dir
from shop_devstack.harness import read_state

BACKENDS = """
SELECT datname, count(*) AS backends FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname IS NOT NULL
GROUP BY datname
"""


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    process: str
    pid: int
    rss: int  # bytes
    fds: int
    connections: int  # inet sockets (PostgreSQL: client backends)


@dataclass
class Samples:
    processes: list[Sample] = field(default_factory=list)
    backends: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (at, database -> backends)
    stream_blocks: list[tuple[float, int]] = field(default_factory=list)  # (at, bytes in NATS's current blocks)
    restarts: dict[str, int] = field(default_factory=dict)  # process -> times it came back with a new pid
    missed: list[str] = field(default_factory=list)  # samples that could not be read, and why

    def of(self, process: str) -> list[Sample]:
        return [s for s in self.processes if s.process == process]


def _status_bytes(pid: int, field: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, RssAnon) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def _inet_inodes() -> set[str]:
    """Inodes of every TCP socket of this network namespace (the stack shares the machine's)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
                inodes.add(line.split()[9])
    return inodes


def _fd_targets(pid: int) -> list[str]:
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed between the listing and the read
            targets.append(os.readlink(fd))
    return targets


def _one(at: float, name: str, pid: int, inet: set[str]) -> Sample:
    targets = _fd_targets(pid)
    sockets = sum(1 for t in targets if t.startswith("socket:[") and t[8:-1] in inet)
    return Sample(at, name, pid, _status_bytes(pid, "VmRSS"), len(targets), sockets)


def _postgres(at: float, pid: int, backends: int) -> Sample:
    anonymous = _status_bytes(pid, "RssAnon")
    for child in children(pid):
        with contextlib.suppress(OSError, ValueError):  # a backend that ended meanwhile
            anonymous += _status_bytes(child, "RssAnon")
    return Sample(at, "postgres", pid, anonymous, len(_fd_targets(pid)), backends)


NATS_BLOCK_BYTES = 8 * 1024 * 1024  # nats-server's block for a limits stream without max_bytes


def current_block_bytes(monitor_url: str) -> int:
    """The bytes in the block each JetStream stream is writing, summed: NATS's write cache."""
    with urllib.request.urlopen(f"{monitor_url}/jsz?streams=true", timeout=5.0) as response:
        report = json.load(response)
    return sum(
        int((stream.get("state") or {}).get("bytes", 0)) % NATS_BLOCK_BYTES
        for account in report.get("account_details") or []
        for stream in account.get("stream_detail") or []
    )


def read_pids(data_dir: Path) -> dict[str, int]:
    rows = {row["name"]: row for row in read_state(data_dir).get("rows", [])}
    return {name: int(rows[name]["pid"]) for name in SERVER_PROCESSES if rows.get(name, {}).get("pid")}


class Sampler:
    """Samples the stack in `data_dir` every `every` seconds until `stop` is set (and once more then)."""

    def __init__(self, data_dir: Path, every: float, nats_monitor_url: str):
        self.data_dir = data_dir
        self.every = every
        self.nats_monitor_url = nats_monitor_url
        self.samples = Samples()
        self.pids: dict[str, int] = {}
        self.stop = asyncio.Event()

    async def run(self) -> Samples:
        conn: Any = await asyncpg.connect(host=socket_dir(self.data_dir), user="postgres", database="postgres")
        try:
            while True:
                await self.sample(conn)
                if self.stop.is_set():
                    return self.samples
                with contextlib.suppress(TimeoutError):  # the pause between two samples, cut short by `stop`
                    await asyncio.wait_for(self.stop.wait(), self.every)
        finally:
            await conn.close()

    async def sample(self, conn: Any) -> None:
        at = time.monotonic()
        try:
            per_database = {str(row["datname"]): int(row["backends"]) for row in await conn.fetch(BACKENDS)}
        except (OSError, asyncpg.PostgresError) as error:
            self.samples.missed.append(f"backends: {type(error).__name__}")
            per_database = {}
        else:
            self.samples.backends.append((at, per_database))
        try:
            self.samples.stream_blocks.append((at, await asyncio.to_thread(current_block_bytes, self.nats_monitor_url)))
        except (OSError, ValueError) as error:
            self.samples.missed.append(f"nats streams: {type(error).__name__}")
        pids = read_pids(self.data_dir)
        self._count_restarts(pids)
        taken = await asyncio.to_thread(self._processes, at, pids, sum(per_database.values()))
        self.samples.processes.extend(taken)

    def _count_restarts(self, pids: Mapping[str, int]) -> None:
        for name, pid in pids.items():
            if name in self.pids and self.pids[name] != pid:
                self.samples.restarts[name] = self.samples.restarts.get(name, 0) + 1
        self.pids.update(pids)

    def _processes(self, at: float, pids: Mapping[str, int], backends: int) -> list[Sample]:
        taken = []
        inet = _inet_inodes()
        for name, pid in pids.items():
            try:
                taken.append(_postgres(at, pid, backends) if name == "postgres" else _one(at, name, pid, inet))
            except (OSError, ValueError) as error:  # gone (being restarted) as it was read
                self.samples.missed.append(f"{name}: {type(error).__name__}")
        return taken
