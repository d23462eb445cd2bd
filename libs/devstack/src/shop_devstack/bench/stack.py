"""The stacks the suite measures: a whole `shop-dev run` (shop_devstack.harness) in a temporary folder,
configured like a deployment behind a proxy (client IPs from X-Forwarded-For, so that every benchmark
buyer is a separate person to the fraud checks), with rate limits high enough not to refuse a benchmark.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shop_devstack.bench.cpu import Processes
from shop_devstack.harness import Stack, launched, read_state
from shop_devstack.layout import NATS_MONITOR_PORT, SERVICE_PORTS
from shop_devstack.seed import read_backlog

# Every process of the stack that serves (the launcher itself is left out).
SERVER_PROCESSES = ("postgres", "nats", *SERVICE_PORTS, "sandbox", "gateway")
BENCH_ENV = {
    "SHOP_GATEWAY_FORWARDED_HOPS": "1",  # one trusted proxy: each buyer's own IP in X-Forwarded-For
    # The limiter still runs; the bench's clients must not be refused (wrk sends thousands of requests/s).
    "SHOP_GATEWAY_ANONYMOUS_RATE_LIMIT_PER_SECOND": "1000000",
    "SHOP_GATEWAY_ANONYMOUS_RATE_LIMIT_BURST": "1000000",
    "SHOP_GATEWAY_RATE_LIMIT_PER_SECOND": "1000000",
    "SHOP_GATEWAY_RATE_LIMIT_BURST": "1000000",
    "LOG_LEVEL": "WARNING",
}
DRAIN_POLL_SECONDS = 1.0


@dataclass
class BenchStack:
    label: str
    stack: Stack
    ready_at: float  # time.monotonic() when every process was SERVING and the seed was in

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway_url

    @property
    def sandbox_url(self) -> str:
        return self.stack.sandbox_url

    @property
    def ca_file(self) -> Path:
        """The CA the sandbox's certificate is checked against (its public face needs nothing more)."""
        return self.stack.ca_file

    def pids(self) -> dict[str, int]:
        rows = {row["name"]: row for row in read_state(self.stack.data_dir).get("rows", [])}
        return {name: int(rows[name]["pid"]) for name in SERVER_PROCESSES if rows.get(name, {}).get("pid")}

    def processes(self) -> Processes:
        return Processes(self.pids())

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{SERVICE_PORTS[service][0] + self.stack.offset}"

    def admin_url(self) -> str:
        """The embedded PostgreSQL's superuser over its unix socket (line 5 of postmaster.pid)."""
        socket_dir = (self.stack.data_dir / "pg" / "postmaster.pid").read_text().splitlines()[4]
        return f"postgresql://postgres@/postgres?host={socket_dir}"

    @property
    def nats_monitor_url(self) -> str:
        return f"http://127.0.0.1:{NATS_MONITOR_PORT + self.stack.offset}"

    def pending_messages(self) -> dict[str, int]:
        """Durable consumers with messages not yet delivered or not yet acknowledged."""
        backlog = read_backlog(self.nats_monitor_url, limit=5.0)
        if backlog is None:
            raise OSError(f"{self.label}: NATS monitoring does not answer")
        return {name: waiting for name, waiting in backlog.pending.items() if waiting}

    def wait_drained(self, timeout: float, quiet: bool = False) -> float:
        """Wait until every consumer is caught up; the seconds it took. TimeoutError after `timeout`."""
        started = time.monotonic()
        last_said = started
        while pending := self.pending_messages():
            now = time.monotonic()
            if now - started > timeout:
                raise TimeoutError(f"{self.label}: NATS backlog not drained after {timeout:.0f} s: {pending}")
            if not quiet and now - last_said >= 15:
                last_said = now
                print(f"  {self.label}: waiting for the NATS backlog: {pending}", flush=True)
            time.sleep(DRAIN_POLL_SECONDS)
        return time.monotonic() - started


class Stacks:
    """Stacks started at the same time (in threads: each start blocks until SERVING) and stopped together."""

    def __init__(self, root: Path, start_timeout: float):
        self.root = root
        self.start_timeout = start_timeout
        self._exit = contextlib.ExitStack()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="stack")
        self._lock = threading.Lock()

    def start(self, label: str, env: Mapping[str, str], preferred_offset: int) -> Future[BenchStack]:
        folder = self.root / label
        folder.mkdir(parents=True)

        def enter() -> BenchStack:
            manager = launched(
                folder,
                preferred_offset=preferred_offset,
                env={**BENCH_ENV, **env},
                start_timeout=self.start_timeout,
                stop_timeout=90.0,
            )
            stack = manager.__enter__()
            with self._lock:
                self._exit.push(manager.__exit__)
            return BenchStack(label, stack, time.monotonic())

        return self._pool.submit(enter)

    def close(self) -> None:
        """Stop every stack (one still starting is waited for first, so nothing is left running)."""
        self._pool.shutdown(wait=True)
        self._exit.close()
