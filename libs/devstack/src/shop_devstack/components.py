"""What the launcher supervises: each service and NATS as a child process, PostgreSQL as a daemon."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Protocol

from shop_devstack.health import SERVING, UNREACHABLE, HealthProbe, HttpHealthProbe, tcp_open
from shop_devstack.layout import LOCAL_HOST, ServiceSpec
from shop_devstack.postgres import EmbeddedPostgres
from shop_devstack.processes import ChildProcess
from shopkit.tls import Tls

STARTING = "starting"
EXITED = "exited"
STOPPED = "stopped"
NOT_BUILT = "not built yet"
EXTERNAL = "external"


class Component(ABC):
    """Something with a pid, a health and a restart count, shown as one row of the status table."""

    kind = "service"

    def __init__(self, name: str, address: str, log_path: Path):
        self.name = name
        self.address = address
        self.log_path = log_path
        self.health = STARTING
        self.restarts = 0
        self.started_at = 0.0
        self.exit_status: int | None = None
        self.retry_at: float | None = None  # set while waiting to restart after an exit
        self.quick_failures = 0  # exits soon after a start, for the backoff
        self.stop_report = ""  # set by stop() when the component did not exit cleanly

    @property
    @abstractmethod
    def pid(self) -> int | None: ...

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    async def probe(self) -> str:
        """The health as shown in the table: SERVING when it answers."""

    @abstractmethod
    async def stop(self, grace: float) -> None:
        """Stop and wait; sets `stop_report` when it didn't go well."""

    async def close(self) -> None:  # noqa: B027 - most components hold no client resources
        """Release client resources (probe channels)."""

    def returncode(self) -> int | None:
        return None

    async def launch(self) -> None:
        self.started_at = time.monotonic()
        self.health = STARTING
        self.exit_status = None
        self.retry_at = None
        await self.start()


class Probe(Protocol):
    async def check(self, limit: float = 1.0) -> str: ...

    async def close(self) -> None: ...


def probe_for(spec: ServiceSpec, tls: Tls | None) -> Probe:
    """gRPC health for the services (with the tooling certificate `tls`); GET /readyz for the HTTP
    processes: the gateway's on its HTTP port, the sandbox's on its plain-HTTP health port (its HTTP
    port speaks TLS)."""
    if spec.http_port is not None:
        port = spec.health_port if spec.health_port is not None else spec.http_port
        return HttpHealthProbe(LOCAL_HOST, port, metrics_port=spec.metrics_port if spec.edge else None)
    return HealthProbe(spec.target, tls)


class ServiceProcess(Component):
    """`shop-<name> serve`, ready when its probe says SERVING."""

    def __init__(self, spec: ServiceSpec, child: ChildProcess, tls: Tls | None):
        super().__init__(spec.name, spec.address, child.log_path)
        self.kind = spec.kind
        self.child = child
        self.probe_client = probe_for(spec, tls)

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child.running() else None

    async def start(self) -> None:
        self.child.start()

    def alive(self) -> bool:
        return self.child.running()

    def returncode(self) -> int | None:
        return self.child.returncode()

    async def probe(self) -> str:
        return await self.probe_client.check()

    async def stop(self, grace: float) -> None:
        self.stop_report = _stop_report(await self.child.stop(grace), self.child.killed, grace)

    async def close(self) -> None:
        await self.probe_client.close()


class NatsProcess(Component):
    """nats-server with JetStream, ready when its client port accepts connections."""

    kind = "infra"

    def __init__(self, child: ChildProcess, host: str, port: int, monitor_port: int):
        super().__init__("nats", f"nats://{host}:{port}", child.log_path)
        self.child = child
        self.host = host
        self.port = port
        self.monitor_port = monitor_port

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child.running() else None

    async def start(self) -> None:
        self.child.start()

    def alive(self) -> bool:
        return self.child.running()

    def returncode(self) -> int | None:
        return self.child.returncode()

    async def probe(self) -> str:
        return SERVING if await tcp_open(self.host, self.port) else UNREACHABLE

    async def stop(self, grace: float) -> None:
        self.stop_report = _stop_report(await self.child.stop(grace), self.child.killed, grace)


def _stop_report(code: int | None, killed: bool, grace: float) -> str:
    if killed:
        return f"did not exit within {grace:g} s of SIGTERM and was killed"
    if code not in (0, None, -15):
        return f"exited with status {code} on SIGTERM"
    return ""


class PostgresDaemon(Component):
    """The embedded PostgreSQL: pg_ctl daemonises it, so it is watched through postmaster.pid."""

    kind = "infra"

    def __init__(self, server: EmbeddedPostgres, log_path: Path):
        super().__init__("postgres", f"unix:{server.pgdata}", log_path)
        self.server = server
        self.admin_url = ""

    @property
    def pid(self) -> int | None:
        return self.server.pid

    async def start(self) -> None:
        self.admin_url = await asyncio.to_thread(self.server.start)

    def alive(self) -> bool:
        return self.server.pid is not None

    async def probe(self) -> str:
        return SERVING if self.server.ready else UNREACHABLE

    async def stop(self, grace: float) -> None:
        await asyncio.to_thread(self.server.stop, grace)


async def probe_once(spec: ServiceSpec, tls: Tls | None) -> str:
    """One health check of a process on its fixed port (`shop-dev status`)."""
    probe = probe_for(spec, tls)
    try:
        return await probe.check()
    finally:
        await probe.close()
