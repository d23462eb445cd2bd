"""Probes: the standard gRPC health check (grpc.health.v1) and plain TCP reachability."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = "SERVING"
UNREACHABLE = "unreachable"

# Reconnect quickly after a restart: the default backoff (1 s growing to 120 s) would hide it.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class HealthProbe:
    """Keeps one channel to a server and asks it `Health/Check` for the whole server ("")."""

    def __init__(self, target: str):
        self.target = target
        self._channel: grpc.aio.Channel | None = None

    async def check(self, limit: float = 1.0) -> str:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
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


async def check_once(target: str, limit: float = 1.0) -> str:
    probe = HealthProbe(target)
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
