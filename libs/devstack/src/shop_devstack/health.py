"""Probes: the standard gRPC health check (grpc.health.v1), HTTP /readyz and plain TCP reachability."""

from __future__ import annotations

import asyncio
import contextlib
import re

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shop_devstack import identities
from shopkit.tls import Tls

SERVING = "SERVING"
UNREACHABLE = "unreachable"
NOT_READY = "not ready"
MAX_PROBE_RESPONSE_BYTES = 64 * 1024

# Reconnect quickly after a restart: the default backoff (1 s growing to 120 s) would hide it.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class HealthProbe:
    """Keeps one channel to a server and asks it `Health/Check` for the whole server ("")."""

    def __init__(self, target: str, tls: Tls | None = None):
        self.target = target
        self.tls = tls
        self._channel: grpc.aio.Channel | None = None

    async def check(self, limit: float = 1.0) -> str:
        if self._channel is None:
            self._channel = identities.channel(self.target, self.tls, CHANNEL_OPTIONS)
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=limit)
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return UNREACHABLE
            return err.code().name
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None


async def check_once(target: str, limit: float = 1.0, tls: Tls | None = None) -> str:
    probe = HealthProbe(target, tls)
    try:
        return await probe.check(limit)
    finally:
        await probe.close()


async def tcp_open(host: str, port: int, limit: float = 0.5) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def http_get(host: str, port: int, path: str, limit: float = 1.0) -> tuple[int, bytes] | None:
    """(status, body) of a plain HTTP/1.1 GET; None when nothing answers. Small on purpose: probes only."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = b""  # `Connection: close`: the response ends where the stream does
        while len(raw) < MAX_PROBE_RESPONSE_BYTES and (chunk := await asyncio.wait_for(reader.read(4096), limit)):
            raw += chunk
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), body


class HttpHealthProbe:
    """GET /readyz: 200 is SERVING; 404 (no readiness route) falls back to the liveness GET /healthz.

    A 503 shows as `not ready`, with the backends that are not SERVING when the process has a metrics
    port (the gateway's `shop_gateway_backend_serving{backend}`: its public /readyz names none).
    """

    def __init__(
        self,
        host: str,
        port: int,
        ready_path: str = "/readyz",
        live_path: str = "/healthz",
        metrics_port: int | None = None,
    ):
        self.host = host
        self.port = port
        self.ready_path = ready_path
        self.live_path = live_path
        self.metrics_port = metrics_port

    async def check(self, limit: float = 1.0) -> str:
        ready = await http_get(self.host, self.port, self.ready_path, limit)
        if ready is None:
            return UNREACHABLE
        status = ready[0]
        if status == 404:
            live = await http_get(self.host, self.port, self.live_path, limit)
            if live is None:
                return UNREACHABLE
            status = live[0]
        if status == 200:
            return SERVING
        if status == 503:
            down = await self._backends_down(limit)
            return f"{NOT_READY} ({', '.join(down)} down)" if down else NOT_READY
        return f"HTTP {status}"

    async def _backends_down(self, limit: float) -> list[str]:
        if self.metrics_port is None:
            return []
        answer = await http_get(self.host, self.metrics_port, "/metrics", limit)
        return _backends_down(answer[1]) if answer is not None and answer[0] == 200 else []

    async def close(self) -> None:
        """Nothing to release: every check uses a connection of its own."""


_BACKEND_DOWN = re.compile(rb'^\w+_backend_serving\{backend="([^"]+)"\} 0(?:\.0)?$', re.MULTILINE)


def _backends_down(metrics: bytes) -> list[str]:
    """The backends a Prometheus text page reports as not serving (`*_backend_serving{backend} 0`)."""
    return sorted({match.decode() for match in _BACKEND_DOWN.findall(metrics)})


async def check_http_once(host: str, port: int, limit: float = 1.0) -> str:
    return await HttpHealthProbe(host, port).check(limit)
