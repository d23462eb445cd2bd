"""A whole stack as `shop-dev run` starts it, for tests that need every process (system tests, the
load smoke run): a temporary data folder, shifted ports, wait until SERVING, SIGINT at the end.

The payment sandbox speaks HTTPS with a certificate of the stack's CA: `Stack.sandbox_client()` is a
client of its public face (it trusts that CA, presents nothing: tokenise a card as a browser does),
`Stack.sandbox_client(TOOLING)` one of its server face (authorisations, payment methods, /metrics)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx

from shop_devstack import identities
from shop_devstack.demo_size import DEMO_PRODUCTS
from shop_devstack.layout import (
    GATEWAY_GRPC_PORT,
    GATEWAY_HTTP_PORT,
    GATEWAY_METRICS_PORT,
    MAIL_HTTP_PORT,
    MAIL_SMTP_PORT,
    NATS_MONITOR_PORT,
    NATS_PORT,
    SANDBOX_HEALTH_PORT,
    SANDBOX_HTTP_PORT,
    SERVICE_PORTS,
    Layout,
)
from shopkit.access import TOOLING

EVERY_PROCESS = frozenset({*SERVICE_PORTS, "mail", "sandbox", "gateway"})


@dataclass(frozen=True)
class Stack:
    offset: int
    data_dir: Path
    output: Path

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{GATEWAY_HTTP_PORT + self.offset}"

    @property
    def gateway_grpc(self) -> str:
        return f"127.0.0.1:{GATEWAY_GRPC_PORT + self.offset}"

    @property
    def sandbox_url(self) -> str:
        """The sandbox's API (HTTPS: verify it against `ca_file`)."""
        return f"https://127.0.0.1:{SANDBOX_HTTP_PORT + self.offset}"

    @property
    def sandbox_health_url(self) -> str:
        """The sandbox's probes (/healthz, /readyz) in plain HTTP."""
        return f"http://127.0.0.1:{SANDBOX_HEALTH_PORT + self.offset}"

    @property
    def mail_dir(self) -> Path:
        """Where the stack's SMTP catcher keeps every mail the services sent (one .eml each)."""
        return Layout(self.data_dir).mail_dir

    @property
    def ca_file(self) -> Path:
        """The stack's CA (PEM), which signed the sandbox's certificate."""
        return identities.ca_file(self.data_dir)

    def certificate_files(self, identity: str = TOOLING) -> tuple[Path, Path]:
        """(certificate, key) files of `identity`, for clients that take paths (requests, curl)."""
        return identities.files(self.data_dir, identity)

    def sandbox_context(self, identity: str | None = None) -> ssl.SSLContext:
        """Trusts the stack's CA alone; with `identity` it presents that certificate (the server face)."""
        return identities.http_context(self.data_dir, identity)

    def sandbox_client(self, identity: str | None = None, timeout: float = 30.0) -> httpx.Client:
        """A client of the sandbox (base URL `sandbox_url`): its public face without `identity`, its
        server face with one (`TOOLING`: the operators' tools)."""
        return httpx.Client(base_url=self.sandbox_url, verify=self.sandbox_context(identity), timeout=timeout)

    def service_channel(self, service: str, identity: str = TOOLING) -> grpc.Channel:
        """A blocking channel to a service's gRPC port with the certificate of `identity` (tooling:
        the operators' tools; a service's name: to call as that service)."""
        tls = identities.load(self.data_dir, identity)
        return grpc.secure_channel(f"127.0.0.1:{SERVICE_PORTS[service][0] + self.offset}", tls.channel_credentials())

    def as_user(self, service: str, metadata: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """Call metadata naming an end user (`shopkit.auth.metadata_for`) as the gateway sends it to
        `service`: a token signed with the gateway's key for that service."""
        return tuple(identities.signer(self.data_dir).metadata(metadata, service))

    def log_tail(self, chars: int = 5000) -> str:
        return self.output.read_text()[-chars:]


# Offsets that put every port of a stack above 60,999 (gRPC, 50051+) or below 32,768 (the rest): outside
# Linux's default ephemeral range, from which an outgoing connection takes its local port and can take a
# port checked free a moment before a server binds it.
SAFE_OFFSETS = range(10950, 15470, 10)
STACK_PORTS = (
    NATS_PORT,
    NATS_MONITOR_PORT,
    SANDBOX_HTTP_PORT,
    SANDBOX_HEALTH_PORT,
    GATEWAY_HTTP_PORT,
    GATEWAY_GRPC_PORT,
    GATEWAY_METRICS_PORT,
    MAIL_SMTP_PORT,
    MAIL_HTTP_PORT,
    *(port for pair in SERVICE_PORTS.values() for port in pair),
)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def ephemeral_ports() -> range:
    """The kernel's range of local ports for outgoing connections."""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port_offset(preferred: int) -> int:
    """`preferred` when all the stack's ports are free there and outside the ephemeral range, else such
    an offset at random (one in the ephemeral range only when no other is free)."""
    ephemeral = ephemeral_ports()
    candidates = [preferred] + [random.choice(SAFE_OFFSETS) for _ in range(50)]
    outside = [offset for offset in candidates if all(port + offset not in ephemeral for port in STACK_PORTS)]
    for offset in outside + [offset for offset in candidates if offset not in outside]:
        if all(_free(port + offset) for port in STACK_PORTS):
            return offset
    raise RuntimeError("no free port range found")


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((data_dir / "run" / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def serving(data_dir: Path, names: Iterable[str]) -> bool:
    state = read_state(data_dir)
    rows = {row["name"]: row for row in state.get("rows", [])}
    return state.get("phase") == "running" and all(rows.get(n, {}).get("health") == "SERVING" for n in names)


@contextmanager
def launched(
    folder: Path,
    *,
    preferred_offset: int,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 240.0,  # the seed and its events take about 100 s on a busy 2-core machine
    stop_timeout: float = 60.0,
    payments: str = "sandbox",
    demo_products: int = DEMO_PRODUCTS,
) -> Iterator[Stack]:
    """Start `shop-dev run` in `folder` and yield once every process is SERVING; on exit stop it with
    SIGINT and check it exited 0 with its state `stopped`. Raises RuntimeError when it cannot start.

    `env` is added to the launcher's environment, which every process inherits: e.g. an OTLP endpoint,
    or `SHOP_<SVC>_<VAR>` overrides of one service's settings. `payments="stripe"`: the Stripe adapter
    against a local fake Stripe (the process `stripe`) instead of the payment sandbox. `demo_products`:
    how many of the demo products it seeds (tests: `demo_size.TEST_DEMO_PRODUCTS`)."""
    stack = Stack(free_port_offset(preferred_offset), folder / "data", folder / "launcher.out")
    shop_dev = Path(sys.executable).parent / "shop-dev"
    with stack.output.open("wb") as out:
        launcher = subprocess.Popen(
            [
                *(str(shop_dev), "run", "--data-dir", str(stack.data_dir), "--port-offset", str(stack.offset)),
                *("--payments", payments, "--demo-products", str(demo_products)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + start_timeout
        processes = EVERY_PROCESS if payments == "sandbox" else (EVERY_PROCESS - {"sandbox"}) | {"stripe"}
        while not serving(stack.data_dir, processes):
            if launcher.poll() is not None:
                raise RuntimeError(f"shop-dev run exited ({launcher.returncode}) during start:\n{stack.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack was not SERVING after {start_timeout} s:\n{stack.log_tail()}")
            time.sleep(0.3)
        yield stack
        if launcher.poll() is not None:
            raise RuntimeError(f"shop-dev run died while in use:\n{stack.log_tail()}")
        launcher.send_signal(signal.SIGINT)
        if launcher.wait(stop_timeout) != 0 or read_state(stack.data_dir).get("phase") != "stopped":
            raise RuntimeError(f"shop-dev run did not stop cleanly:\n{stack.log_tail()}")
    finally:
        if launcher.poll() is None:  # whatever happened, leave nothing running
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()
