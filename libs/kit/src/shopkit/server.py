"""grpc.aio server bootstrap: health, reflection, metrics, background workers, graceful SIGTERM.

On SIGTERM/SIGINT: health turns NOT_SERVING, the server stops taking calls and lets in-flight
calls finish within the grace period, background workers stop, resources close, spans flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from shopkit import metrics, tracing
from shopkit.clients import message_size_options
from shopkit.interceptors import ServerInterceptor
from shopkit.settings import ServiceSettings

log = logging.getLogger("shopkit.server")


def stop_requested() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set in place of their default handlers, so that a process drains
    and exits 0 instead of dying of the signal. Call it before starting to serve: no signal is lost."""
    loop = asyncio.get_running_loop()
    requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, requested.set)
    return requested


Worker = Callable[[], Awaitable[None]]
Hook = Callable[[], Awaitable[Any]]


class GrpcService:
    """One service process: a gRPC server plus the background workers it owns (relay, consumers)."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.server = grpc.aio.server(
            interceptors=[ServerInterceptor()],
            options=[
                ("grpc.max_connection_age_ms", int(settings.max_connection_age_seconds * 1000)),
                ("grpc.max_connection_age_grace_ms", int(settings.shutdown_grace_seconds * 1000)),
                ("grpc.keepalive_permit_without_calls", 0),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                *message_size_options(settings.grpc_max_receive_message_bytes, settings.grpc_max_send_message_bytes),
            ],
        )
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names: list[str] = []
        self._workers: list[tuple[str, Worker]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop: list[Hook] = []
        self._stopping = asyncio.Event()
        self.port = 0

    def add_servicer(self, register: Callable[[Any, grpc.aio.Server], None], servicer: Any, full_name: str) -> None:
        register(servicer, self.server)
        self.service_names.append(full_name)

    def add_worker(self, name: str, worker: Worker) -> None:
        """A coroutine that runs while the server serves (outbox relay, event consumer, sweeper)."""
        self._workers.append((name, worker))

    def on_stop(self, hook: Hook) -> None:
        """Run after the server stopped and workers ended, in reverse order of registration."""
        self._on_stop.append(hook)

    async def start(self) -> int:
        reflection.enable_server_reflection(
            [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server,
        )
        self.port = self.server.add_insecure_port(f"{self.settings.grpc_host}:{self.settings.grpc_port}")
        await self.server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks = [asyncio.create_task(self._supervise(name, w), name=name) for name, w in self._workers]
        log.info("serving", extra={"port": self.port, "services": self.service_names})
        return self.port

    async def _supervise(self, name: str, worker: Worker) -> None:
        """Keep a worker running; a crash is logged and the worker restarted after a pause."""
        while not self._stopping.is_set():
            try:
                await worker()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s failed; restarting", name)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=1.0)

    async def stop(self) -> None:
        self._stopping.set()
        await self.health.enter_graceful_shutdown()
        log.info("draining", extra={"grace_seconds": self.settings.shutdown_grace_seconds})
        await self.server.stop(self.settings.shutdown_grace_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        log.info("stopped")

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        stop = stop_requested()
        metrics.start_metrics_server(self.settings.metrics_port, self.settings.metrics_host)
        await self.start()
        await stop.wait()
        await self.stop()
        tracing.shutdown_tracing()
